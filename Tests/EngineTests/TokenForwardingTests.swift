@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Projections
import Testing

/// Whose credentials an HTTP MCP server sees, read off the real Python server's `whoami` tool (the SHA-256 of the
/// `Authorization` header it received): the caller's token goes to internal servers only; an external server gets
/// its own credentials from a secret reference, or none.
@Suite(.serialized) struct TokenForwardingTests {
    /// What `whoami` on a server registered as `definition` saw when alice called it with `token`.
    static func whoami(
        _ mcp: MCPHTTPTests.Server, isInternal: Bool, headers: [String: String] = [:],
        environment: [String: String] = [:],
        token: String
    ) async throws -> String {
        let f = try await AgentRuntimeTests.Fixture(
            mcp: MCPServerDefinition(
                name: "clock", transport: .http, url: mcp.url, isInternal: isInternal,
                headers: headers))
        let policy = try Policy(roles: ["operator": ["chat", "model.use:*", "tool.call:clock/whoami"]])
        var configuration = AgentRuntime.Configuration()
        configuration.environment = environment.merging(["LOGBOOK_SECRET_RUNTIME_TEST": AgentRuntimeTests.key]) {
            a, _ in a
        }
        (configuration.retry, configuration.streaming) = (.none, false)
        let pool = MCPPool(startTimeout: .seconds(120), environment: configuration.environment)
        let runtime = AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: pool, configuration: configuration)
        f.server.enqueue(
            .json(body: Wire.completion(toolCall: ("call_w", "clock__whoami", "{}"), finish: "tool_calls")),
            .json(body: Wire.completion(text: "done", finish: "stop")))
        _ = try await runtime.conversations.chat(
            ChatTurn(threadID: "w1", text: "who am I?"), as: AgentRuntimeTests.alice, token: token)
        let result = try #require(
            f.thread("w1").compactMap { if case .toolResult(let r) = $0.event { r } else { nil } }.first)
        let everything = try f.store.read(from: 1, maxCount: 100_000)
        #expect(
            !everything.contains { String(decoding: $0.payload, as: UTF8.self).contains(token) },
            "the caller's token is not in the log")
        for secret in environment.values {
            #expect(
                !everything.contains { String(decoding: $0.payload, as: UTF8.self).contains(secret) },
                "the server's credential is not in the log")
        }
        await pool.shutdown()
        await f.close()
        return result.output
    }

    @Test func theCallersTokenGoesToInternalServersOnlyAndExternalOnesGetTheirOwn() async throws {
        let mcp = try await MCPHTTPTests.Server(mode: "json")
        defer { mcp.stop() }
        await (try await mcp.client()).close()  // wait until it answers
        let token = "eyJ.caller-token.sig"
        #expect(try await Self.whoami(mcp, isInternal: true, token: token) == MCPHTTPTests.sha256Hex("Bearer \(token)"))
        #expect(
            try await Self.whoami(mcp, isInternal: false, token: token) == "none",
            "an external server never sees the caller's token")
        let vendor = "Bearer vendor-credential-0123456789"
        let own = try await Self.whoami(
            mcp, isInternal: false, headers: ["Authorization": "env:LOGBOOK_SECRET_VENDOR"],
            environment: ["LOGBOOK_SECRET_VENDOR": vendor], token: token)
        #expect(
            own == MCPHTTPTests.sha256Hex(vendor), "an external server gets the credential its registry entry names")
        // A header naming a secret outside the scope: the server is not used (the agent answers without its tools).
        let refused = try await Self.whoami(
            mcp, isInternal: false, headers: ["Authorization": "env:LOGBOOK_JWT_SECRET"],
            environment: ["LOGBOOK_JWT_SECRET": "the-signing-secret"], token: token)
        #expect(refused.contains("not available") || refused.contains("no tool"), "\(refused)")
    }
}
