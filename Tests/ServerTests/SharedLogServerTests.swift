import AsyncHTTPClient
import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import NIOCore
import NIOHTTP1
import PostgresLog
import PostgresNIO
import Testing

/// Several `logbook serve` processes on one PostgreSQL database: one log, served by all of them.
@Suite(.serialized, .enabled(if: PostgresTestServer.isAvailable, "\(PostgresTestServer.skipReason)"))
struct SharedLogServerTests {
    static let secret = "shared-log-test-secret-0123456789abcdef"

    /// A `logbook serve --store` process.
    final class Server: Sendable {
        let process: Process
        let port: Int
        let dir: String

        init(store: String, llm: ScriptedLLMServer, dir: String? = nil) async throws {
            self.dir =
                dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("logbook-shared-\(UUID())").path
            port = try await CrashRecoveryTests.freePort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: CLITests.binary)
            process.arguments = [
                "serve", "--store", store, "--data", self.dir, "--port", String(port), "--rate-limit", "0",
                "--health-check-interval", "0",
            ]
            process.environment = ProcessInfo.processInfo.environment.merging([
                "LOGBOOK_JWT_SECRET": SharedLogServerTests.secret, "LOGBOOK_LLM_BASE_URL": llm.baseURL,
                "LOGBOOK_LLM_MODEL": "local",
            ]) { _, new in new }
            // Its output, for a failure's message (`output`).
            let log = self.dir + ".log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = process.standardOutput
            try process.run()
        }

        /// What the server wrote (its start, warnings, errors).
        var output: String { (try? String(contentsOfFile: dir + ".log", encoding: .utf8)) ?? "" }

        func remove() {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".log")
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    static let token = DevelopmentToken.mint(
        secret: Array(secret.utf8), subject: "user:root", roles: ["admin"], workspace: "ops", issuer: "logbook",
        audience: "logbook", lifetime: .seconds(600))

    static func send(
        _ http: HTTPClient, _ server: Server, _ method: HTTPMethod, _ path: String, _ body: String? = nil,
        timeout: Int64 = 60
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(timeout))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    static func waitUntilReady(_ http: HTTPClient, _ server: Server) async throws {
        for _ in 0..<600 {
            if (try? await send(http, server, .GET, "/readyz", timeout: 2))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the server on port \(server.port) did not get ready: \(server.output)")
    }

    /// The model: asked about the time, it calls the clock; given a tool's result or anything else, it answers.
    static func model() async throws -> ScriptedLLMServer {
        try await ScriptedLLMServer(fallback: { request in
            let messages = request.json["messages"] as? [[String: Any]] ?? []
            let last = messages.last ?? [:]
            if last["role"] as? String == "user", (last["content"] as? String)?.contains("time") == true {
                return .json(
                    body: Wire.completion(
                        toolCall: (
                            "call_\(UUID().uuidString.prefix(8))", "time__get_current_time",
                            #"{"timezone": "UTC"}"#
                        ), finish: "tool_calls", usage: (5, 3)))
            }
            return .json(body: Wire.completion(text: "Done.", finish: "stop", usage: (5, 1)))
        })
    }

    /// The copy in `dir`, read-only, after its server stopped: every event decoded.
    static func events(in dir: String) throws -> [RecordedEvent] {
        var configuration = EventStore.Configuration(directory: dir)
        configuration.readOnly = true
        let store = try EventStore.open(configuration)
        defer { Task { await store.close() } }
        #expect(try store.verify().isIntact, "the copy in \(dir) verifies")
        return try store.read(from: 1, maxCount: 1_000_000)
    }

    @Test func twoServersServeOneLogAndNeverInterleaveAThreadsTurns() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let location = try await PostgresTestServer.newDatabase()
        let store = "\(location)"
        let llm = try await Self.model()
        let (a, b) = (try await Server(store: store, llm: llm), try await Server(store: store, llm: llm))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            for server in [a, b] {
                server.kill()
                server.remove()
            }
        }
        do {
            try await Self.twoServers(a, b, location: location, http: http)
        } catch {
            try? await http.shutdown()
            await llm.shutdown()
            throw error
        }
        try await http.shutdown()
        await llm.shutdown()
    }

    static func twoServers(_ a: Server, _ b: Server, location: PostgresLocation, http: HTTPClient) async throws {
        try await Self.waitUntilReady(http, a)
        try await Self.waitUntilReady(http, b)

        // A tool server registered through one server is used through the other.
        let time = #"{"transport": "stdio", "command": ["mcp-server-time", "--local-timezone", "UTC"]}"#
        #expect(try await Self.send(http, a, .PUT, "/v1/registry/mcp/time", time).status == 201)

        // Threads through both servers at once, and one thread posted to through both at once.
        let outcomes = try await withThrowingTaskGroup(of: (String, Int, String).self) { group in
            for i in 0..<6 {
                group.addTask {
                    let (first, second) = i % 2 == 0 ? (a, b) : (b, a)
                    let asked = try await Self.send(
                        http, first, .POST, "/v1/threads/s-\(i)/messages", #"{"text": "what time is it?"}"#)
                    let thanked = try await Self.send(
                        http, second, .POST, "/v1/threads/s-\(i)/messages", #"{"text": "thanks"}"#)
                    return ("s-\(i)", max(asked.status, thanked.status), asked.body + thanked.body)
                }
            }
            for i in 0..<6 {
                group.addTask {
                    let r = try await Self.send(
                        http, i % 2 == 0 ? a : b, .POST, "/v1/threads/both/messages",
                        #"{"text": "what time is it, \#(i)?"}"#)
                    return ("both", r.status, r.body)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (thread, status, body) in outcomes { #expect(status == 200, "\(thread): \(body)") }

        // Each server lists the other's threads and the same audit trail (once it has followed the other's appends).
        for server in [a, b] {
            let threads = try await Self.send(http, server, .GET, "/v1/threads?limit=100").body
            for i in 0..<6 { #expect(threads.contains("\"s-\(i)\""), "\(threads)") }
            #expect(threads.contains("\"both\""))
        }
        var audits: [String] = []
        for _ in 0..<100 {
            audits = []
            for server in [a, b] {
                let body = try await Self.send(http, server, .GET, "/v1/audit?limit=1000&action=tool.call").body
                // The same entries, whatever order each process's encoder wrote their keys in.
                let object = try JSONSerialization.jsonObject(with: Data(body.utf8))
                audits.append(
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys),
                        as: UTF8.self))
            }
            if audits[0] == audits[1] { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(audits[0] == audits[1], "both servers show the same audit trail")
        #expect(audits[0].components(separatedBy: "\"decision\":\"allow\"").count - 1 >= 12, "\(audits[0])")

        // Dense, gap-free positions in the database.
        let (count, last) = try await PostgresTestServer.withClient(location) { client in
            let rows = try await client.query("SELECT count(*), coalesce(max(position), 0) FROM logbook_events")
            for try await (count, last) in rows.decode((Int64, Int64).self) { return (count, last) }
            return (Int64(-1), Int64(-2))
        }
        #expect(count == last && count > 0)

        a.stop()
        b.stop()
        let (copyA, copyB) = (try Self.events(in: a.dir), try Self.events(in: b.dir))
        #expect(UInt64(copyA.count) == UInt64(last) && copyA.map(\.id) == copyB.map(\.id), "both copies hold the log")
        // The thread posted to through both servers: each run's events come together, never interleaved.
        var open: UUID?
        var runs = 0
        for event in copyA where event.stream == "thread/both" {
            guard case .event(let domain) = EventCatalog.decode(event) else { continue }
            switch domain {
            case .runStarted(let r):
                #expect(open == nil, "run \(r.runID) started while run \(open!) was running")
                open = r.runID
                runs += 1
            case .runFinished(let r):
                #expect(open == r.runID)
                open = nil
            default: break
            }
        }
        #expect(runs == 6)
    }
}
