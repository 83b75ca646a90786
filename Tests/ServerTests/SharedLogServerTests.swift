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
import Synchronization
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

        /// SIGKILL, and reaped here within a bounded wait (`waitUntilExit` spins forever when Foundation's reaper
        /// misses the child, as it has been seen to).
        func kill() {
            let pid = process.processIdentifier
            Foundation.kill(pid, SIGKILL)
            for _ in 0..<500 {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid || !process.isRunning { return }
                usleep(10_000)
            }
        }

        /// SIGTERM, and whether it stopped within 20 seconds (else it is killed).
        /// Waits without blocking a thread of the cooperative pool (other tests run on it meanwhile).
        @discardableResult
        func stop() async -> Bool {
            process.terminate()
            for _ in 0..<400 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            guard process.isRunning else { return true }
            kill()
            return false
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

    /// The model: asked about the time, it calls the clock; told to hang on, it never answers; given a tool's
    /// result or anything else, it answers.
    static func model() async throws -> ScriptedLLMServer {
        try await ScriptedLLMServer(fallback: { request in
            let messages = request.json["messages"] as? [[String: Any]] ?? []
            let last = messages.last ?? [:]
            if last["role"] as? String == "user", (last["content"] as? String)?.contains("hang on") == true {
                return .hang
            }
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
        let location = try await PostgresTestServer.newDatabase()
        try await Self.withTwoServers(store: "\(location)") { http, a, b in
            try await Self.twoServers(a, b, location: location, http: http)
        }
    }

    /// Two `logbook serve` processes on `store` with one scripted model, both ready; after `body` (also when it
    /// throws) they are killed and removed, and the client and the model shut down.
    static func withTwoServers(
        store: String, _ body: (HTTPClient, Server, Server) async throws -> Void
    ) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let llm = try await model()
        let (a, b) = (try await Server(store: store, llm: llm), try await Server(store: store, llm: llm))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer {
            for server in [a, b] {
                server.kill()
                server.remove()
            }
        }
        do {
            try await waitUntilReady(http, a)
            try await waitUntilReady(http, b)
            try await body(http, a, b)
        } catch {
            try? await http.shutdown()
            await llm.shutdown()
            throw error
        }
        try await http.shutdown()
        await llm.shutdown()
    }

    static func twoServers(_ a: Server, _ b: Server, location: PostgresLocation, http: HTTPClient) async throws {
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

        await a.stop()
        await b.stop()
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
    /// Posts turns to `server` on threads `prefix-0`, `prefix-1`, … one after another until `stop` says so: each
    /// outcome, with the run's id when it was acknowledged.
    static func load(
        _ http: HTTPClient, _ server: Server, prefix: String, stop: @escaping @Sendable () -> Bool
    ) async -> [(thread: String, status: Int, runID: String?, body: String)] {
        var outcomes: [(String, Int, String?, String)] = []
        var i = 0
        while !stop() {
            let thread = "\(prefix)-\(i)"
            i += 1
            do {
                let r = try await send(
                    http, server, .POST, "/v1/threads/\(thread)/messages", #"{"text": "hello"}"#, timeout: 30)
                let runID = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])?["runID"]
                outcomes.append((thread, r.status, runID as? String, r.body))
            } catch {
                outcomes.append((thread, 0, nil, "\(error)"))
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return outcomes
    }

    /// The runs the copy's events show finished, by id (lowercased, as the API gives them).
    static func finishedRuns(_ events: [RecordedEvent]) -> Set<String> {
        Set(
            events.compactMap { e -> String? in
                guard case .event(.runFinished(let r)) = EventCatalog.decode(e) else { return nil }
                return r.runID.uuidString.lowercased()
            })
    }

    /// A server killed (SIGKILL) in the middle of appends: every turn it acknowledged is in the log, and the other
    /// server goes on serving.
    @Test func aServerKilledMidAppendsLosesNothingItAcknowledged() async throws {
        let location = try await PostgresTestServer.newDatabase()
        try await Self.withTwoServers(store: "\(location)") { http, a, b in
            let stopped = StopFlag()
            let loads = (0..<2).map { n in
                Task { await Self.load(http, a, prefix: "k\(n)", stop: { stopped.isSet }) }
            }
            try await Task.sleep(for: .milliseconds(1500))
            a.kill()
            stopped.set()
            var outcomes: [(thread: String, status: Int, runID: String?, body: String)] = []
            for load in loads { outcomes += await load.value }
            let acknowledged = outcomes.compactMap { $0.status == 200 ? $0.runID : nil }
            #expect(acknowledged.count >= 2, "turns were acknowledged before the kill: \(outcomes.map(\.status))")

            let after = try await Self.send(http, b, .POST, "/v1/threads/after/messages", #"{"text": "still there?"}"#)
            #expect(after.status == 200, "the other server serves on: \(after.body)")
            await b.stop()
            let events = try Self.events(in: b.dir)
            let finished = Self.finishedRuns(events)
            for runID in acknowledged { #expect(finished.contains(runID), "acknowledged run \(runID) is in the log") }
            #expect(events.map(\.seq.rawValue) == Array(1...UInt64(events.count)))
        }
    }

    /// A server killed in the middle of a run leaves it open; another server, serving on, closes it as interrupted
    /// once the dead server's hold has lapsed (15 s), without a restart of any server.
    @Test func aRunLeftOpenByAKilledServerIsClosedByAnotherWhileItServes() async throws {
        let location = try await PostgresTestServer.newDatabase()
        try await Self.withTwoServers(store: "\(location)") { http, a, b in
            let hanging = Task {
                try? await Self.send(http, a, .POST, "/v1/threads/stuck/messages", #"{"text": "hang on"}"#, timeout: 90)
            }
            func runs() async throws -> [String] {
                let r = try await Self.send(http, b, .GET, "/v1/threads/stuck")
                let body = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]
                return (body?["runs"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
            }
            var seen: [String] = []
            for _ in 0..<200 where seen != ["running"] {
                seen = try await runs()
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(seen == ["running"], "the other server sees the run under way")
            a.kill()
            hanging.cancel()
            for _ in 0..<120 where seen != ["interrupted"] {
                try await Task.sleep(for: .milliseconds(500))
                seen = try await runs()
            }
            #expect(seen == ["interrupted"], "the surviving server closed the dead server's run")
            let next = try await Self.send(http, b, .POST, "/v1/threads/stuck/messages", #"{"text": "again"}"#)
            #expect(next.status == 200, "the thread takes turns again: \(next.body)")
        }
    }

    /// PostgreSQL stopped and started again under load: callers get a 503 that says why, /readyz says 503 while it
    /// is away, nothing acknowledged is lost, and both servers' copies (following by LISTEN and polling) hold the
    /// same log afterwards.
    @Test func postgresStoppedAndRestartedUnderLoadLosesNothing() async throws {
        let cluster = try await PrivateCluster.start()
        do {
            try await Self.withTwoServers(store: cluster.url) { http, a, b in
                let stopped = StopFlag()
                let load = Task { await Self.load(http, a, prefix: "o", stop: { stopped.isSet }) }
                try await Task.sleep(for: .milliseconds(800))
                try await cluster.pause()
                var notReady: (status: Int, body: String)?
                for _ in 0..<300 {
                    let r = try await Self.send(http, a, .GET, "/readyz", timeout: 15)
                    if r.status == 503 {
                        notReady = r
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(notReady?.body.contains("the shared log cannot be reached") == true, "\(notReady?.body ?? "")")
                try await Task.sleep(for: .seconds(1))
                try await cluster.resume()
                var ready = false
                for _ in 0..<600 where !ready {
                    ready = (try? await Self.send(http, a, .GET, "/readyz", timeout: 15))?.status == 200
                    if !ready { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(ready, "ready again once the database is back")
                try await Task.sleep(for: .seconds(1))
                stopped.set()
                let outcomes = await load.value
                let statuses = Set(outcomes.map(\.status))
                #expect(statuses.isSubset(of: [200, 503]), "\(outcomes.filter { $0.status != 200 }.map(\.body))")
                #expect(outcomes.contains { $0.status == 503 }, "the outage was seen")
                for o in outcomes where o.status == 503 { #expect(o.body.contains("storage"), "\(o.body)") }
                #expect(outcomes.last?.status == 200, "turns succeed again after the outage")

                // B followed through the outage: the same log as A once both have caught up.
                let head = try await Self.send(http, a, .GET, "/readyz").body
                var same = false
                for _ in 0..<200 where !same {
                    let events = { (body: String) in
                        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["events"] as? Int
                    }
                    let (ea, eb) = (
                        events(try await Self.send(http, a, .GET, "/readyz").body),
                        events(try await Self.send(http, b, .GET, "/readyz").body)
                    )
                    same = ea != nil && ea == eb
                    if !same { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(same, "the other server's copy caught up after the outage: \(head)")
                #expect(await a.stop(), "stops on SIGTERM after the outage: \(a.output.suffix(2000))")
                #expect(await b.stop(), "stops on SIGTERM after the outage")
                let (copyA, copyB) = (try Self.events(in: a.dir), try Self.events(in: b.dir))
                #expect(copyA.map(\.id) == copyB.map(\.id))
                #expect(copyA.map(\.seq.rawValue) == Array(1...UInt64(copyA.count)))
                let finished = Self.finishedRuns(copyA)
                for o in outcomes where o.status == 200 {
                    #expect(o.runID.map(finished.contains) == true, "acknowledged turn on \(o.thread) is in the log")
                }
            }
        } catch {
            await cluster.remove()
            throw error
        }
        await cluster.remove()
    }
}

/// A PostgreSQL cluster of one test's own (`scripts/postgres.sh`), which it may stop and start again.
final class PrivateCluster: Sendable {
    let dir: String
    let port: Int
    let bin: String
    var url: String { "postgres://logbook@127.0.0.1:\(port)/postgres?sslmode=disable" }
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres.sh").path

    private init(dir: String, port: Int, bin: String) {
        (self.dir, self.port, self.bin) = (dir, port, bin)
    }

    static func start() async throws -> PrivateCluster {
        let started = try await LiveProcess.run([
            "bash", "-c", "source \(script) && postgres_start && echo \"$POSTGRES_DIR $POSTGRES_PORT $POSTGRES_BIN\"",
        ])
        let parts = started.output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard started.status == 0, parts.count == 3, let port = Int(parts[1]) else {
            throw EventStoreError(.unavailable, "a private PostgreSQL did not start: \(started.errors)")
        }
        return PrivateCluster(dir: parts[0], port: port, bin: parts[2])
    }

    private func run(_ function: String) async throws {
        let r = try await LiveProcess.run(
            ["bash", "-c", "source \(Self.script) && \(function)"],
            environment: ["POSTGRES_DIR": dir, "POSTGRES_BIN": bin, "POSTGRES_PORT": String(port)])
        guard r.status == 0 else { throw EventStoreError(.unavailable, "\(function) failed: \(r.errors)") }
    }

    func pause() async throws { try await run("postgres_pause") }
    func resume() async throws { try await run("postgres_resume") }
    func remove() async { try? await run("postgres_stop") }
}

/// Tells the load loops to stop.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
