@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Projections
import Synchronization
import Testing

/// Tool servers that fail come back: real servers killed and started again in the middle of a conversation, a server
/// that keeps failing backed off, tool lists refreshed when they expire or the server announces a change, and a
/// removed server's process stopped.
@Suite(.serialized) struct MCPRecoveryTests {
    typealias Fixture = AgentRuntimeTests.Fixture

    /// The requests a recording server wrote down: (method, pid, tool name for calls).
    static func requests(_ file: URL) -> [(method: String, pid: Int32, tool: String?)] {
        ((try? String(contentsOf: file, encoding: .utf8))?.split(separator: "\n") ?? []).compactMap { line in
            guard let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let method = r["method"] as? String,
                let pid = r["pid"] as? Int
            else { return nil }
            return (method, Int32(pid), (r["params"] as? [String: Any])?["name"] as? String)
        }
    }

    static func recordingServer(_ log: URL, name: String = "time") -> MCPServerDefinition {
        MCPServerDefinition(
            name: name, transport: .stdio, command: ["python3", MCPStdioTests.fixture, "record", log.path])
    }

    static func temporaryFile() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logbook-mcp-\(UUID().uuidString).ndjson")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        return url
    }

    static func toolResults(_ f: Fixture, _ thread: String) throws -> [ToolResult] {
        try f.thread(thread).compactMap { if case .toolResult(let r) = $0.event { r } else { nil } }
    }

    /// A stdio server SIGKILLed between two turns: the next turn starts it again and its tool call is answered.
    @Test func aKilledStdioServerIsStartedAgainForTheNextTurn() async throws {
        let log = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: log) }
        let f = try await Fixture(mcp: Self.recordingServer(log)) { $0.streaming = false }
        let reported = Mutex<[MCPHealthChanged]>([])
        await f.pool.setRecorder { change in reported.withLock { $0.append(change) } }
        let call = { (id: String) in
            f.server.enqueue(
                .json(
                    body: Wire.completion(
                        toolCall: (id, "time__get_current_time", #"{"timezone": "UTC"}"#), finish: "tool_calls")),
                .json(body: Wire.completion(text: "noon", finish: "stop")))
        }
        call("call_1")
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "k1", text: "time?"), as: AgentRuntimeTests.alice)
        let first = try #require(Self.requests(log).first { $0.method == "tools/call" }?.pid)
        #expect(kill(first, SIGKILL) == 0)
        // Wait until the process is gone (its exit reaches the client as the end of its output).
        for _ in 0..<100 where kill(first, 0) == 0 { try await Task.sleep(for: .milliseconds(20)) }

        call("call_2")
        let started = ContinuousClock.now
        let result = try await f.runtime.conversations.chat(
            ChatTurn(threadID: "k1", text: "and now?"), as: AgentRuntimeTests.alice)
        let recovery = ContinuousClock.now - started
        #expect(result.status == .completed)
        let results = try Self.toolResults(f, "k1")
        #expect(
            results.count == 2 && results.allSatisfy { !$0.isError } && results.last?.output == "12:00 UTC",
            "\(results.map(\.output))")
        let calls = Self.requests(log).filter { $0.method == "tools/call" }
        try #require(calls.count == 2, "the second call reached a new process")
        #expect(calls[1].pid != first, "the second call reached a new process")
        #expect(await f.pool.restarts >= 1)
        let changes = reported.withLock { $0 }
        #expect(changes.map(\.status) == [.unhealthy, .healthy], "\(changes)")
        #expect(changes.last?.detail?.hasPrefix("restarted after") == true, "\(changes)")
        print("MCPRecoveryTests: a killed stdio server answered again within \(recovery) (the whole turn)")
        await f.close()
    }

    /// A server that died a moment before a call (its process reaped, the end of its output not yet read by the
    /// client): the call goes to a new process, once, and is answered. Before, it went into the dead one's pipe and
    /// failed (`aKilledStdioServerIsStartedAgainForTheNextTurn` failed so under load in CI).
    @Test func aCallToAServerThatDiedAMomentAgoGoesToANewProcess() async throws {
        let log = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: log) }
        let server = Self.recordingServer(log)
        let f = try await Fixture(mcp: server) { $0.streaming = false }
        for round in 0..<3 {
            let result = try await f.pool.call(
                server, tool: "get_current_time", arguments: ["timezone": "UTC"], timeout: .seconds(30),
                maxResultBytes: 1 << 20)
            #expect(!result.isError && result.text == "12:00 UTC", "round \(round): \(result)")
            let calls = Self.requests(log).filter { $0.method == "tools/call" }
            try #require(calls.count == round + 1, "each call ran once: \(calls.map(\.pid))")
            #expect(kill(calls[round].pid, SIGKILL) == 0)
            // Reaped (a zombie still answers kill 0), and the next call follows at once.
            for _ in 0..<250 where kill(calls[round].pid, 0) == 0 { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(Set(Self.requests(log).filter { $0.method == "tools/call" }.map(\.pid)).count == 3)
        await f.close()
    }

    /// A stdio connection knows its server is gone once the process has exited, without waiting for the end of its
    /// output to be read: what lets the pool start a new process instead of writing a call into a dead one's pipe.
    @Test func aStdioConnectionKnowsItsServerExitedAsSoonAsItDid() async throws {
        let connection = try StdioConnection(name: "sleeper", command: ["sleep", "300"])
        #expect(!connection.hasEnded)
        #expect(kill(connection.processIdentifier, SIGKILL) == 0)
        for _ in 0..<500 where !connection.hasEnded { try await Task.sleep(for: .milliseconds(10)) }
        #expect(connection.hasEnded, "the killed server is known gone")
        await connection.close()
    }

    /// An HTTP server restarted on the same port forgets the session: the pool initializes a new one and sends the
    /// call again, within the same turn, so the tool call succeeds.
    @Test func anHTTPServerThatForgotTheSessionIsReInitializedTransparently() async throws {
        let first = try await MCPHTTPTests.Server(mode: "json")
        await (try await first.client()).close()  // wait until it answers
        let port = try #require(Int(first.url.split(separator: ":").last?.split(separator: "/").first ?? ""))
        let f = try await Fixture(mcp: MCPServerDefinition(name: "clock", transport: .http, url: first.url)) {
            $0.streaming = false
        }
        let policy = try Policy(roles: ["operator": ["chat", "model.use:*", "tool.call:clock/*"]])
        var configuration = AgentRuntime.Configuration()
        configuration.environment = ["LOGBOOK_SECRET_RUNTIME_TEST": AgentRuntimeTests.key]
        (configuration.retry, configuration.streaming) = (.none, false)
        let runtime = AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: f.pool, configuration: configuration)
        let call = { (id: String) in
            f.server.enqueue(
                .json(
                    body: Wire.completion(
                        toolCall: (id, "clock__get_current_time", #"{"timezone": "UTC"}"#), finish: "tool_calls")),
                .json(body: Wire.completion(text: "noon", finish: "stop")))
        }
        call("call_1")
        _ = try await runtime.conversations.chat(ChatTurn(threadID: "h1", text: "time?"), as: AgentRuntimeTests.alice)
        first.stop()
        let second = try await MCPHTTPTests.Server(mode: "json", port: port)
        defer { second.stop() }
        await (try await second.client()).close()

        call("call_2")
        let restartsBefore = await f.pool.restarts
        _ = try await runtime.conversations.chat(
            ChatTurn(threadID: "h1", text: "and now?"), as: AgentRuntimeTests.alice)
        let results = try Self.toolResults(f, "h1")
        #expect(
            results.count == 2 && results.allSatisfy { !$0.isError } && results.last?.output.contains("UTC") == true,
            "\(results.map(\.output))")
        #expect(await f.pool.restarts == restartsBefore + 1, "one re-initialization")
        await f.close()
    }

    /// A server that fails to start is tried again at once, then after a wait that grows: meanwhile its use fails
    /// fast, saying why and when it is tried again, without starting it.
    @Test func aServerThatKeepsFailingIsBackedOff() async throws {
        let log = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: log) }
        let failing = MCPServerDefinition(
            name: "broken", transport: .stdio,
            command: ["python3", "-c", "open('\(log.path)', 'a').write('started\\n'); raise SystemExit(3)"])
        let pool = MCPPool(startTimeout: .seconds(60))
        var messages: [String] = []
        for _ in 0..<3 {
            do { _ = try await pool.tools(of: failing); Issue.record("a server that exits started") } catch {
                messages.append(error.message)
            }
        }
        let starts = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count
        #expect(starts == 2, "started on first use and once more at once; the third use waits (\(messages))")
        #expect(messages.last?.contains("failed 2 time(s) in a row") == true, "\(messages)")
        #expect(messages.last?.contains("tried again in") == true, "\(messages)")
        await pool.shutdown()
    }

    /// Tool lists are cached for the TTL, listed again after it, when the server announces a change, and when the
    /// server's recorded health moves.
    @Test func toolListsAreRefreshedWhenTheyExpireOrChange() async throws {
        let log = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: log) }
        let server = Self.recordingServer(log)
        let pool = MCPPool(toolListTTL: .milliseconds(400), startTimeout: .seconds(60))
        func lists() -> Int { Self.requests(log).filter { $0.method == "tools/list" }.count }
        _ = try await pool.tools(of: server, healthSeq: 7)  // starts the session and lists; its health not seen yet
        _ = try await pool.tools(of: server, healthSeq: 7)
        #expect(lists() == 2, "listed at start, and once for the health record it had not seen")
        _ = try await pool.tools(of: server, healthSeq: 7)
        #expect(lists() == 2, "cached")
        try await Task.sleep(for: .milliseconds(500))
        _ = try await pool.tools(of: server, healthSeq: 7)
        #expect(lists() == 3, "the TTL passed")
        _ = try await pool.tools(of: server, healthSeq: 9)
        #expect(lists() == 4, "the recorded health moved")
        _ = try await pool.call(
            server, tool: "reload_tools", arguments: .object([:]), timeout: .seconds(30), maxResultBytes: 1 << 16)
        _ = try await pool.tools(of: server, healthSeq: 9)
        #expect(lists() == 5, "the server announced a new list")
        await pool.shutdown()
    }

    /// Removing a stdio server from the registry stops its process at once.
    @Test func removingAServerStopsItsProcess() async throws {
        let log = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: log) }
        let f = try await Fixture(mcp: Self.recordingServer(log))
        let admin = Principal(subject: "user:root", roles: ["admin"], workspace: "payments", expiry: 4_000_000_000)
        let runtime = ReplayTests.engine(f, policy: try Policy(roles: ["admin": ["*"]]))
        _ = try await f.pool.tools(of: Self.recordingServer(log))
        let pid = try #require(Self.requests(log).first?.pid)
        #expect(kill(pid, 0) == 0, "running")
        try await runtime.registry.changeRegistry(
            .mcpServerRemoved(MCPServerRemoved(name: "time")), in: "registry/mcp", resource: "mcp:time", as: admin)
        var gone = false
        for _ in 0..<200 where !gone {
            gone = kill(pid, 0) != 0
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "the server's process ended when it was removed")
        await f.close()
    }
}
