import ArgumentParser
import AsyncHTTPClient
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import Logging
import LoopbackModel
import NIOCore
import NIOPosix
import OpenAIWire
import PostgresLog
import Projections
import Server
import ServiceLifecycle

struct HTTPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Measure the HTTP API: chat turns/s, thread and audit reads/s, and the shared conversation workload.",
        discussion: """
            Runs the server (durable log in --data) on loopback with an OpenAI-compatible model that answers at once, \
            and times requests over real sockets: chat turns (POST /v1/threads/{id}/messages) with 1 and 64 \
            concurrent clients, GET /v1/threads/{id} and a selective audit query. Then replays the shared workload \
            (../shared/bench/workload: 200 threads × 20 turns, round-robin, seed 42) through /v1/chat/completions — \
            each user message, tool call, tool result and answer recorded once — and prints turns/s, bytes on disk per \
            stored message and thread state-load latency, to compare with other systems on the same workload. \
            With --store postgres://… (an empty database), two servers run on that shared log (their copies in \
            --data/a and --data/b): the chat and read rows go to the first, the workload's threads alternate between \
            them, and bytes per message are the log's tables in PostgreSQL.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Chat turns (and reads) per row.") var requests = 2_000
    @Option(
        help: ArgumentHelp(
            "The shared workload: its generator (run with -T 200 -K 20 --seed 42) or a JSON file it wrote.",
            valueName: "FILE"))
    var workload = "../shared/bench/workload/workload.py"
    @Option(
        help: ArgumentHelp(
            "The workload's replays: clients at once in each, comma-separated (1: sequential).", valueName: "LIST"))
    var workloadClients = "1,64"
    @Option(
        help: ArgumentHelp(
            "Figures of another system on the same workload, printed beside Logbook's (JSON as scripts/langgraph_reference.py writes it).",
            valueName: "FILE"))
    var reference: String?
    @Flag(help: "Skip the shared workload.") var skipWorkload = false
    @Option(
        help: ArgumentHelp(
            "Run two servers on the shared log on PostgreSQL (an empty database) instead of one on LMDB.",
            valueName: "postgres://USER@HOST:PORT/DB"))
    var store: String?
    @Option(
        help: ArgumentHelp(
            "Trace the server as `serve --otlp-endpoint` does, sending spans to this collector (to measure what tracing costs).",
            valueName: "URL"))
    var otlpEndpoint: String?

    func run() async throws {
        if FileManager.default.fileExists(atPath: options.data + "/data.mdb") {
            throw Failure("\(options.data) already holds a log; give 'bench http' a new or empty directory")
        }
        var exporter: ServiceGroup?
        if let otlpEndpoint {
            var logger = Logger(label: "logbook.telemetry")
            logger.logLevel = .warning
            if let service = try Telemetry.start(endpoint: otlpEndpoint, serviceName: "logbook-bench", logger: logger) {
                exporter = ServiceGroup(services: [service], logger: logger)
            }
        }
        let exporting = exporter.map { group in Task { try await group.run() } }
        let turns = skipWorkload ? nil : try SharedWorkload.load(workload)
        let llm = try await BenchModel.start(reply: { request in
            turns.map { SharedWorkload.reply(to: request, in: $0.replies) } ?? BenchModel.answer
        })
        let servers = try await startServers()
        let server = servers[0]
        let api = server.client
        try await api.send(
            "PUT", "/v1/registry/models/bench-model",
            #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#)
        try await api.send("PUT", "/v1/registry/default-model", #"{"model": "bench-model"}"#)
        // The other server uses the model once its copy has the registry change (within the follow delay).
        let registry = try await api.send("GET", "/v1/registry")
        for other in servers.dropFirst() {
            var theirs: ByteBuffer?
            for _ in 0..<100 {
                theirs = try? await other.client.send("GET", "/v1/registry")
                if let theirs, Self.sameJSON(theirs, registry) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard let theirs, Self.sameJSON(theirs, registry) else {
                throw Failure(
                    "the second server did not see the registry change within 5 s: \(theirs.map { String(buffer: $0) } ?? "-"), not \(String(buffer: registry))"
                )
            }
        }

        print("## logbook bench http")
        print("")
        print(
            "\(store == nil ? "server on 127.0.0.1 (HTTP/1.1, keep-alive), durable log in \(options.data)" : "two servers on 127.0.0.1 sharing one log on PostgreSQL (\(servers[0].shared?.location.description ?? "")); chat and read rows through the first") ; model: loopback OpenAI-compatible, answers at once; \(otlpEndpoint.map { "traced, spans sent to \($0)" } ?? "not traced")"
        )
        print("")
        print("| request | concurrent | per second | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for lanes in [1, 64] {
            let chat = try await EngineBenchCommand.measure(lanes: lanes, total: requests) { lane, i in
                try await api.send(
                    "POST", "/v1/threads/h\(lanes)-\(lane)-\(i / 20)/messages",
                    #"{"text": "Are the payments pods healthy? (\#(i))"}"#)
            }
            print("| chat turn (POST messages) | \(lanes) | \(f(chat.rate)) | \(f(chat.p50, 3)) | \(f(chat.p99, 3)) |")
            // The same turn through the OpenAI-compatible endpoint: one user message, a thread of its own.
            let compatible = try await EngineBenchCommand.measure(lanes: lanes, total: requests) { lane, i in
                try await api.send(
                    "POST", "/v1/chat/completions",
                    #"{"model": "bench-model", "messages": [{"role": "user", "content": "Are the payments pods healthy? (\#(i))"}]}"#,
                    headers: [("X-Logbook-Thread", "o\(lanes)-\(lane)-\(i)")])
            }
            print(
                "| the same turn, POST /v1/chat/completions | \(lanes) | \(f(compatible.rate)) | \(f(compatible.p50, 3)) | \(f(compatible.p99, 3)) |"
            )
        }
        for lanes in [1, 64] {
            let thread = try await EngineBenchCommand.measure(lanes: lanes, total: requests) { lane, i in
                try await api.send("GET", "/v1/threads/h64-\(lane % 64)-0")
            }
            print("| GET thread | \(lanes) | \(f(thread.rate)) | \(f(thread.p50, 3)) | \(f(thread.p99, 3)) |")
            let audit = try await EngineBenchCommand.measure(lanes: lanes, total: requests) { _, _ in
                try await api.send("GET", "/v1/audit?actor=user:bench&action=chat&limit=50")
            }
            print(
                "| audit query (one actor and action, 50) | \(lanes) | \(f(audit.rate)) | \(f(audit.p50, 3)) | \(f(audit.p99, 3)) |"
            )
        }
        if let turns {
            let passes = try workloadClients.split(separator: ",").map { (text) throws -> Int in
                guard let n = Int(text.trimmingCharacters(in: .whitespaces)), (1...512).contains(n) else {
                    throw Failure("--workload-clients takes numbers of clients from 1 to 512, like 1,64")
                }
                return n
            }
            var figures: [WorkloadFigures] = []
            for clients in passes {
                figures.append(try await replay(turns, through: servers, clients: clients, prefix: "c\(clients)-"))
            }
            try report(turns, figures)
        }
        for server in servers { await server.stop() }
        await llm.shutdown()
        if let exporter {
            await exporter.triggerGracefulShutdown()
            _ = try? await exporting?.value
        }
    }

    /// Whether two JSON bodies hold the same value (keys in any order).
    static func sameJSON(_ a: ByteBuffer, _ b: ByteBuffer) -> Bool {
        let parse = { (x: ByteBuffer) in try? JSONSerialization.jsonObject(with: Data(buffer: x)) as? NSDictionary }
        guard let x = parse(a), let y = parse(b) else { return false }
        return x.isEqual(y)
    }

    /// One server on LMDB in --data, or with --store two on the shared log (copies in --data/a and --data/b), with
    /// one signing secret so that one token serves both.
    private func startServers() async throws -> [BenchServer] {
        guard let store else { return [try await BenchServer.start(data: options.data)] }
        let secret = BenchServer.randomSecret()
        var servers: [BenchServer] = []
        for name in ["a", "b"] {
            let shared = try await PostgresLog.connect(store, logLevel: .error)
            if servers.isEmpty, try await shared.lastSeq() != 0 {
                await shared.close()
                throw Failure("the shared log at \(shared.location) is not empty; give 'bench http' an empty database")
            }
            servers.append(try await BenchServer.start(data: options.data + "/" + name, shared: shared, secret: secret))
        }
        return servers
    }

    /// What one replay of the shared workload measured.
    struct WorkloadFigures {
        var clients: Int
        var turnsPerSecond: Double
        /// CPU time (user + system) of the whole process — servers and clients — per turn, milliseconds.
        var cpuPerTurn: Double
        var stored: Int
        var events: UInt64
        var bytesPerMessage: Double
        var bytesPerTextByte: Double
        var folded: (p50: Double, p99: Double)
        var fetched: (p50: Double, p99: Double)
    }

    /// The shared workload through `/v1/chat/completions`, as an OpenAI client with its own tool would send it, with
    /// `clients` threads at once, their ids prefixed with `prefix`.
    private func replay(
        _ workload: SharedWorkload, through servers: [BenchServer], clients workloadClients: Int, prefix: String
    ) async throws -> WorkloadFigures {
        let server = servers[0]
        let api = server.client
        let before = try server.store.statistics()
        let sharedBefore = try await server.shared?.statistics()
        let seqBefore = server.store.lastSeq.rawValue
        let threadNames = Array(Set(workload.turns.map(\.thread))).sorted()
        let serverOf = Dictionary(
            uniqueKeysWithValues: threadNames.enumerated().map { ($1, servers[$0 % servers.count].client) })
        var histories: [String: [ChatCompletions.Message]] = [:]
        let cpuBefore = cpuSeconds()
        let started = ContinuousClock.now
        // Round-robin order: turn k of every thread before turn k+1 of any; up to `workloadClients` threads at once.
        for round in workload.rounds {
            for batch in stride(from: 0, to: round.count, by: workloadClients).map({
                Array(round[$0..<min($0 + workloadClients, round.count)])
            }) {
                let updated = try await withThrowingTaskGroup(of: (String, [ChatCompletions.Message]).self) { group in
                    for turn in batch {
                        let history = histories[turn.thread] ?? []
                        let api = serverOf[turn.thread] ?? api
                        group.addTask {
                            (
                                turn.thread,
                                try await SharedWorkload.play(turn, after: history, api: api, threadPrefix: prefix)
                            )
                        }
                    }
                    var all: [(String, [ChatCompletions.Message])] = []
                    for try await result in group { all.append(result) }
                    return all
                }
                for (thread, history) in updated { histories[thread] = history }
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        let cpu = cpuSeconds() - cpuBefore
        try await server.store.catchUp()  // the other server's turns, on a shared log
        let after = try server.store.statistics()
        let stored = try SharedWorkload.countMessages(in: server.store, after: seqBefore)
        // State load: a thread's conversation as of now, folded from its stream (what GET /v1/threads/{id} and the
        // engine's prompt building read), in process and over HTTP.
        var folded: [Double] = [], fetched: [Double] = []
        let threads = Array(histories.keys.sorted())
        for thread in threads.map({ prefix + $0 }) {
            let stream = try ThreadID(thread).stream
            let t0 = ContinuousClock.now
            _ = try ProjectionRunner.state(
                of: ConversationProjection.self, asOf: server.store.lastSeq, in: server.store, streams: [stream])
            folded.append((ContinuousClock.now - t0).seconds * 1000)
            let t1 = ContinuousClock.now
            try await api.send("GET", "/v1/threads/\(thread)")
            fetched.append((ContinuousClock.now - t1).seconds * 1000)
        }
        folded.sort(); fetched.sort()
        var usedBytes = after.usedBytes - before.usedBytes
        if let shared = server.shared, let sharedBefore {
            usedBytes = Int(try await shared.statistics().totalBytes) - Int(sharedBefore.totalBytes)
        }
        return WorkloadFigures(
            clients: workloadClients, turnsPerSecond: Double(workload.turns.count) / seconds,
            cpuPerTurn: cpu * 1000 / Double(workload.turns.count), stored: stored,
            events: server.store.lastSeq.rawValue - seqBefore,
            bytesPerMessage: Double(usedBytes) / Double(max(stored, 1)),
            bytesPerTextByte: Double(usedBytes) / Double(max(workload.contentBytes, 1)),
            folded: (folded[folded.count / 2], folded[folded.count * 99 / 100]),
            fetched: (fetched[fetched.count / 2], fetched[fetched.count * 99 / 100]))
    }

    /// The replays' figures side by side, and the reference's when one was given.
    private func report(_ workload: SharedWorkload, _ figures: [WorkloadFigures]) throws {
        struct Reference: Decodable {
            let system: String
            let langgraph: String?
            let sequential_turns_per_s: Double
            let concurrent_turns_per_s: Double
            let concurrent_threads: Int
            let bytes_per_message: Double
            let state_load_p50_ms: Double
        }
        let other = try reference.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure("cannot read the reference figures \(path)")
            }
            do { return try JSONDecoder().decode(Reference.self, from: data) } catch {
                throw Failure("\(path) is not figures as scripts/langgraph_reference.py writes them: \(error)")
            }
        }
        print("")
        print("### shared workload (\(workload.source))")
        print("")
        print(
            "\(workload.turns.count) turns, \(workload.toolTurns) with a tool call, \(workload.messageCount) messages, \(workload.contentBytes) bytes of text; sha256 \(workload.sha256); through /v1/chat/completions"
        )
        print("")
        let columns = figures.map { $0.clients == 1 ? "Logbook, sequential" : "Logbook, \($0.clients) clients" }
        let referenceColumns =
            other.map { ["\($0.system) \($0.langgraph ?? ""), sequential / \($0.concurrent_threads) threads"] } ?? []
        print("| figure | " + (columns + referenceColumns).joined(separator: " | ") + " |")
        print("|---|" + String(repeating: "---:|", count: columns.count + referenceColumns.count))
        func row(_ name: String, _ value: (WorkloadFigures) -> String, _ theirs: String? = nil) {
            print(
                "| \(name) | " + (figures.map(value) + (other == nil ? [] : [theirs ?? "—"])).joined(separator: " | ")
                    + " |")
        }
        let ratio = { (mine: Double, theirs: Double) in theirs > 0 ? " (\(f(mine / theirs, 1))×)" : "" }
        row(
            "turns/s",
            { mine in
                f(mine.turnsPerSecond, 1)
                    + (other.map { o in
                        ratio(
                            mine.turnsPerSecond,
                            mine.clients == 1 ? o.sequential_turns_per_s : o.concurrent_turns_per_s)
                    } ?? "")
            },
            other.map { "\(f($0.sequential_turns_per_s, 1)) / \(f($0.concurrent_turns_per_s, 1))" })
        row("CPU per turn, ms (user + system, servers and clients)", { f($0.cpuPerTurn, 2) })
        row("messages stored (user, tool call, tool result, answer; each once)", { "\($0.stored)" })
        row("events appended (with model requests/responses, authorizations, runs)", { "\($0.events)" })
        row(
            "bytes on disk per stored message (\(store == nil ? "data file pages in use" : "the shared log's tables"))",
            { mine in
                f(mine.bytesPerMessage)
                    + (other.map { o in " (\(f(o.bytes_per_message / max(mine.bytesPerMessage, 1), 1))× smaller)" }
                        ?? "")
            },
            other.map { f($0.bytes_per_message) })
        row("… per byte of message text", { f($0.bytesPerTextByte, 2) })
        row(
            "thread state load, in process, p50 / p99 ms", { "\(f($0.folded.p50, 3)) / \(f($0.folded.p99, 3))" },
            other.map { "\(f($0.state_load_p50_ms, 3)) (p50)" })
        row("GET /v1/threads/{id}, p50 / p99 ms", { "\(f($0.fetched.p50, 3)) / \(f($0.fetched.p99, 3))" })
        print("")
        if other == nil {
            print(
                "reference (../shared/bench/workload/README.md): LangGraph + SqliteSaver ≈ 26,000 bytes per message, 30–45 turns/s sequential, state load ≈ 1 ms p50; measure it beside these with scripts/bench.sh http (--reference FILE)"
            )
        }
    }
}

/// The Logbook server for a benchmark: in process, on a free loopback port, durable log, an admin token.
struct BenchServer {
    let app: LogbookApplication
    let task: Task<Void, any Error>
    let client: BenchClient
    var store: EventStore { app.store }
    var shared: PostgresLog? { store.shared as? PostgresLog }

    /// - Parameters:
    ///   - shared: the shared log this server's copy in `data` follows (nil: a log of its own).
    ///   - secret: the tokens' signing secret.
    static func start(
        data: String, shared: PostgresLog? = nil, secret: [UInt8] = randomSecret()
    ) async throws -> BenchServer {
        var configuration = ServerConfiguration(
            verifier: TokenVerifier(keys: [try .hmac(secret)], issuer: "logbook", audience: "logbook"),
            policy: try Policy(roles: ["admin": ["*"]]))
        configuration.dataDirectory = data
        configuration.port = try await freePort()
        configuration.rateLimit = nil
        configuration.shared = shared
        let app: LogbookApplication
        do { app = try await buildApplication(configuration: configuration) } catch {
            await shared?.close()
            throw error
        }
        let task = Task { try await app.application.runService() }
        let token = DevelopmentToken.mint(
            secret: secret, subject: "user:bench", roles: ["admin"], workspace: "payments", issuer: "logbook",
            audience: "logbook")
        let client = BenchClient(base: "http://127.0.0.1:\(configuration.port)", token: token)
        for _ in 0..<100 {
            if (try? await client.send("GET", "/healthz")) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return BenchServer(app: app, task: task, client: client)
    }

    /// 32 random bytes, a token signing secret.
    static func randomSecret() -> [UInt8] { (0..<32).map { _ in .random(in: 0...255) } }

    func stop() async {
        task.cancel()
        _ = await task.result
        await app.close()
    }

    /// A port nothing listens on (bound and released).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
            host: "127.0.0.1", port: 0
        ).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}

/// Requests to the benchmark's server; anything but 2xx stops the benchmark with the server's answer.
struct BenchClient: Sendable {
    let base: String
    let token: String

    @discardableResult
    func send(
        _ method: String, _ path: String, _ json: String? = nil, headers: [(String, String)] = []
    ) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status.code / 100 == 2 else {
            throw Failure("\(method) \(path): \(response.status.code) \(String(buffer: body).prefix(300))")
        }
        return body
    }
}
