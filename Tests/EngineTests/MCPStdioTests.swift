@testable import Engine
import Foundation
import Testing

/// The MCP client over our stdio connection, against the real `mcp-server-time` (PyPI) and a deliberately broken one.
@Suite struct MCPStdioTests {
    static let timeServer = ["python3", "-m", "mcp_server_time", "--local-timezone", "UTC"]
    static var fixture: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/misbehaving_mcp.py"
        ).path
    }

    /// Fails the test unless `mcp-server-time` is installed. Looked up once per process and without importing it: the
    /// `mcp` package takes seconds of CPU to import, which every started server pays anyway.
    static func requireTimeServer() throws {
        try #require(
            timeServerInstalled,
            "mcp-server-time is not installed: run ./scripts/setup.sh (pip install mcp-server-time)")
    }

    private static let timeServerInstalled: Bool = {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [
            "python3", "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('mcp_server_time') is None)",
        ]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    static func client(_ name: String, _ command: [String]) async throws -> MCPClient {
        let client = MCPClient(serverName: name, connection: try StdioConnection(name: name, command: command))
        try await client.start(timeout: .seconds(30))
        return client
    }

    @Test func listsAndCallsTheToolsOfARealServer() async throws {
        try Self.requireTimeServer()
        let client = try await Self.client("time", Self.timeServer)
        let tools = try await client.listTools()
        #expect(Set(tools.map(\.name)).isSuperset(of: ["get_current_time", "convert_time"]))
        #expect(tools.first { $0.name == "get_current_time" }?.inputSchema["properties"]?["timezone"] != nil)

        let now = try await client.callTool("get_current_time", arguments: .object(["timezone": .string("UTC")]))
        #expect(!now.isError, "\(now.text)")
        #expect(now.text.contains("UTC"), "\(now.text)")
        let converted = try await client.callTool(
            "convert_time",
            arguments: .object([
                "source_timezone": .string("UTC"), "time": .string("12:00"), "target_timezone": .string("Asia/Tokyo"),
            ]))
        #expect(!converted.isError, "\(converted.text)")
        #expect(converted.text.contains("21:00"), "\(converted.text)")

        // Calls overlap: each reply finds its caller.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for zone in ["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"] {
                group.addTask {
                    try await client.callTool("get_current_time", arguments: .object(["timezone": .string(zone)])).text
                        .contains(zone)
                }
            }
            for try await matched in group { #expect(matched) }
        }
        await client.close()
    }

    @Test func aBadArgumentIsAToolErrorNotAClientFailure() async throws {
        try Self.requireTimeServer()
        let client = try await Self.client("time", Self.timeServer)
        do {
            let result = try await client.callTool(
                "get_current_time", arguments: .object(["timezone": .string("Mars/Olympus_Mons")]))
            #expect(result.isError, "\(result.text)")
        } catch {
            guard case .server = error.kind else { Issue.record("unexpected \(error)"); return }
        }
        await client.close()
    }

    @Test func aServerThatCrashesMidCallFailsTheCallWithItsLastWords() async throws {
        let client = try await Self.client("crashy", ["python3", Self.fixture, "crash"])
        #expect(try await client.listTools().map(\.name) == ["poke"])
        let error = try await #require(throws: MCPError.self) {
            try await client.callTool("poke", arguments: .object([:]))
        }
        #expect(error.kind == .disconnected, "\(error)")
        #expect(error.message.contains("status 3"), "\(error)")
        #expect(error.message.contains("crashing on purpose"), "\(error)")
        // Later calls fail at once, with the same reason.
        let again = try await #require(throws: MCPError.self) {
            try await client.callTool("poke", arguments: .object([:]))
        }
        #expect(again.kind == .disconnected)
        await client.close()
    }

    @Test func aServerThatHangsMidCallTimesOut() async throws {
        let client = try await Self.client("stuck", ["python3", Self.fixture, "hang"])
        let started = ContinuousClock.now
        let error = try await #require(throws: MCPError.self) {
            try await client.callTool("poke", arguments: .object([:]), timeout: .milliseconds(300))
        }
        #expect(error.kind == .timeout, "the deadline cut the call short")
        #expect(ContinuousClock.now - started < .seconds(90), "the deadline cut the call short")
        await client.close()
    }

    @Test func anOversizeResultIsCutAtTheLimitAndSaysSo() async throws {
        let client = try await Self.client("flood", ["python3", Self.fixture, "flood"])
        let result = try await client.callTool("poke", arguments: .object([:]), maxResultBytes: 1000)
        #expect(result.text.utf8.count < 1100)
        #expect(result.text.hasSuffix("[truncated: \(2 << 20) bytes, limit 1000]"))
        await client.close()
    }

    @Test func aCommandThatDoesNotExistFailsTheHandshakeClearly() async throws {
        let client = MCPClient(
            serverName: "ghost", connection: try StdioConnection(name: "ghost", command: ["logbook-no-such-mcp-server"])
        )
        let error = try await #require(throws: MCPError.self) { try await client.start(timeout: .seconds(10)) }
        #expect(
            error.kind == .disconnected,
            "\(error)")
        #expect(
            error.message.contains("ghost"),
            "\(error)")
        #expect(
            error.message.contains("status 127"),
            "\(error)")
        await client.close()
    }
}
