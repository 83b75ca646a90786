@testable import Engine
import CHashing
import Foundation
import Testing

/// The MCP client over streamable HTTP against the real Python MCP server (mcp-server-time's tools), answering with
/// JSON or with SSE.
@Suite struct MCPHTTPTests {
    /// A running fixture server; stopped by `stop`.
    final class Server: @unchecked Sendable {
        let process = Process()
        let url: String

        /// Starts the fixture and waits for the port it prints (Python takes seconds to import `mcp`; the wait is on a
        /// thread of its own, not the cooperative pool).
        init(mode: String, port: Int? = nil) async throws {
            try MCPStdioTests.requireTimeServer()
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "Fixtures/http_mcp.py"
            ).path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, mode] + (port.map { [String($0)] } ?? [])
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let text = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
                Thread.detachNewThread {
                    var line = Data()
                    while let byte = try? output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty,
                        byte != Data([0x0A])
                    { line += byte }
                    continuation.resume(returning: String(decoding: line, as: UTF8.self))
                }
            }
            guard text.hasPrefix("port "), let port = Int(text.dropFirst(5)) else {
                throw MCPError(.unavailable, "fixture said '\(text)'")
            }
            url = "http://127.0.0.1:\(port)/mcp"
        }

        /// A started client; retries while the server is still starting.
        func client() async throws -> MCPClient {
            for _ in 0..<100 {
                let client = MCPClient(
                    serverName: "time-http", connection: try HTTPMCPConnection(name: "time-http", url: url))
                do {
                    try await client.start(timeout: .seconds(60))
                    return client
                } catch {
                    await client.close()
                    guard error.kind == .unavailable else { throw error }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            throw MCPError(.unavailable, "the fixture server never answered at \(url)")
        }

        /// SIGKILL: uvicorn would wait for keep-alive connections on SIGTERM.
        func stop() { kill(process.processIdentifier, SIGKILL) }
    }

    /// What `whoami` saw when called with `token` bound for the task.
    static func whoami(_ client: MCPClient, token: String) async throws -> String {
        return try await MCPCallContext.$bearerToken.withValue(
            token,
            operation: { () async throws -> String in
                let result: MCPToolResult = try await client.callTool("whoami", arguments: .object([:]))
                return result.text
            })
    }

    static func sha256Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let bytes = Array(text.utf8)
        _ = EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha256(), nil)
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    @Test(arguments: ["json", "sse"])
    func callsToolsAndForwardsTheCallersToken(mode: String) async throws {
        let server = try await Server(mode: mode)
        defer { server.stop() }
        let client = try await server.client()
        let tools = try await client.listTools().map(\.name)
        #expect(Set(tools).isSuperset(of: ["get_current_time", "convert_time", "whoami"]), "\(tools)")
        let now = try await client.callTool("get_current_time", arguments: .object(["timezone": .string("UTC")]))
        #expect(!now.isError)
        #expect(now.text.contains("UTC"))

        #expect(try await client.callTool("whoami", arguments: .object([:])).text == "none")
        let seen = try await Self.whoami(client, token: "tok-abc.def")
        #expect(seen == Self.sha256Hex("Bearer tok-abc.def"), "the caller's token reached the server")
        await client.close()
    }

    @Test func anUnreachableServerIsUnavailable() async throws {
        let client = MCPClient(
            serverName: "nowhere", connection: try HTTPMCPConnection(name: "nowhere", url: "http://127.0.0.1:9/mcp"))
        let error = try await #require(throws: MCPError.self) { try await client.start(timeout: .seconds(60)) }
        #expect(error.kind == .unavailable)
        #expect(error.message.contains("nowhere"))
        #expect(throws: MCPError.self) { try HTTPMCPConnection(name: "bad", url: "ftp://x") }
    }
}
