@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Projections
import Testing

@Suite(.serialized) struct HealthMonitorTests {
    @Test func statusChangesAreRecordedOnceAndUnhealthyServersAreSkipped() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await AgentRuntimeTests.Fixture()
        try await f.store.append(
            [
                MCPServerRegistered(
                    server: MCPServerDefinition(
                        name: "ghost", transport: .stdio, command: ["logbook-no-such-mcp-server"])
                )
                .proposed(metadata: EventMetadata(actor: "user:admin"))
            ], to: "registry/mcp")
        let registry = ProjectionRunner(store: f.store, projections: [RegistryProjection.self])
        let monitor = HealthMonitor(store: f.store, registry: registry, pool: f.pool, timeout: .seconds(60))

        let first = try await monitor.checkOnce()
        #expect(first.map(\.name) == ["ghost", "time"])
        #expect(first.map(\.status) == [.unhealthy, .healthy])
        #expect(first[0].detail?.contains("ghost") == true)
        #expect(try await monitor.checkOnce().isEmpty, "no change, nothing recorded")
        let recorded = try f.store.read(stream: "registry/mcp", maxCount: 100).filter {
            $0.type == MCPHealthChanged.typeName
        }
        #expect(recorded.count == 2)
        #expect(recorded.allSatisfy { $0.metadata.actor == "system:health" })
        try await registry.catchUp()
        #expect(registry.read(RegistryProjection.self) { $0.mcpServers["ghost"]?.health?.status } == .unhealthy)

        // A run offers the healthy server's tools and says the unhealthy one was left out.
        f.server.enqueue(.json(body: Wire.completion(text: "ok", finish: "stop", usage: (1, 1))))
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "h1", text: "hi"), as: AgentRuntimeTests.alice)
        let offered = (f.server.requests.last?.json["tools"] as? [[String: Any]])?.compactMap {
            ($0["function"] as? [String: Any])?["name"] as? String
        }
        #expect(
            offered?.contains("time__get_current_time") == true
                && offered?.contains { $0.hasPrefix("ghost__") } == false)
        let request = try #require(
            f.thread("h1").compactMap { if case .llmRequest(let r) = $0.event { r } else { nil } }.first)
        #expect(request.parameters["tools.unavailable"]?.hasPrefix("ghost: unhealthy") == true, "\(request.parameters)")
        await f.close()
    }
}
