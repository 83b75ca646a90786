import ArgumentParser
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import LoopbackModel
import NIOCore
import Projections
import Synchronization

struct EngineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure the agent loop: turns/s and the latency it adds per turn over calling the model directly.",
        discussion: """
            Serves an OpenAI-compatible model on loopback that answers at once, then times the same model called \
            directly (HTTPChatProvider) and full chat turns through the engine (authorization, model resolution, \
            prompt from the log, the call, every event appended durably), with 1 and 64 concurrent conversations. \
            Conversations are 20 turns long; each direct call sends the prompt the engine sends for the same turn \
            (instructions, the conversation so far, the new message), so the difference is the engine's own work. \
            The log stays in --data.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Turns (and direct calls) per measurement.") var turns = 2_000
    @Flag(help: "Relaxed durability (no fsync per commit) instead of durable.") var relaxed = false

    func run() async throws {
        if FileManager.default.fileExists(atPath: options.data + "/data.mdb") {
            throw Failure("\(options.data) already holds a log; give 'bench engine' a new or empty directory")
        }
        let sent = SentBodies()
        let llm = try await BenchModel.start(reply: { request in
            sent.record(request.body)
            return BenchModel.answer
        })
        var configuration = EventStore.Configuration(directory: options.data)
        configuration.durability = relaxed ? .relaxed : .durable
        let store = try EventStore.open(configuration)
        let model = ModelDefinition(name: "bench-model", provider: "openai-compatible", endpoint: llm.baseURL)
        try await store.append(
            [ModelRegistered(model: model).proposed(), DefaultModelSet(model: "bench-model").proposed()],
            to: "registry/models")
        let runtime = AgentRuntime(
            store: store, registry: ProjectionRunner(store: store, projections: [RegistryProjection.self]),
            policy: try Policy(roles: ["operator": ["chat", "model.use:*"]]), pool: MCPPool())
        // The provider the engine makes for the model (its default max_tokens and deadlines), so both sides send the same body.
        let provider = try AgentRuntime.standardProvider(model, AgentRuntime.Configuration())
        let principal = Principal(subject: "user:bench", roles: ["operator"], workspace: "payments", expiry: Int64.max)
        let prompts = Self.directPrompts(turns: turns, instructions: AgentRuntime.Configuration().defaultInstructions)
        try await Self.checkPrompts(prompts, sent: sent) { i in
            _ = try await runtime.conversations.chat(
                ChatTurn(threadID: "bench-check", text: Self.message(turn: i)), as: principal)
        } direct: { i in
            _ = try await provider.complete(prompts[i], onText: nil)
        }

        print("## logbook bench engine")
        print("")
        print(
            "model: loopback OpenAI-compatible server answering at once; \(turns) turns per row; log \(relaxed ? "relaxed" : "durable") in \(options.data)"
        )
        print("")
        print("| what | concurrent | per second | p50 ms | p99 ms | CPU ms each |")
        print("|---|---:|---:|---:|---:|---:|")
        var direct: [Int: Figures] = [:]
        var engine: [Int: Figures] = [:]
        var writerPhases: [Int: WriterStatistics] = [:]
        for lanes in [1, 64] {
            direct[lanes] = try await Self.measure(lanes: lanes, total: turns) { _, i in
                _ = try await provider.complete(prompts[i], onText: nil)
            }
            let writerBefore = store.writerStatistics
            engine[lanes] = try await Self.measure(lanes: lanes, total: turns) { lane, i in
                let turn = ChatTurn(
                    threadID: try ThreadID("bench-\(lanes)-\(lane)-\(i / 20)"), text: Self.message(turn: i))
                let result = try await runtime.conversations.chat(turn, as: principal)
                guard result.status == .completed else { throw Failure("a turn ended \(result.status)") }
            }
            writerPhases[lanes] = store.writerStatistics.since(writerBefore)
            for (name, figures) in [
                ("model called directly", direct[lanes]!), ("full turn through the engine", engine[lanes]!),
            ] {
                print(
                    "| \(name) | \(lanes) | \(f(figures.rate)) | \(f(figures.p50, 3)) | \(f(figures.p99, 3)) | \(f(figures.cpuMilliseconds, 3)) |"
                )
            }
        }
        print("")
        let (oneCall, oneTurn) = (direct[1]!, engine[1]!)
        let (manyCalls, manyTurns) = (direct[64]!, engine[64]!)
        print(
            "engine overhead per turn, 1 conversation: p50 \(f(oneTurn.p50 - oneCall.p50, 3)) ms beyond the direct call (target ≤ 1 ms); turns' p99 minus direct calls' p99 \(f(oneTurn.p99 - oneCall.p99, 3)) ms"
        )
        print(
            "64 conversations: both cores busy, so latency is mostly queueing; the engine's CPU per turn is \(f(manyTurns.cpuMilliseconds - manyCalls.cpuMilliseconds, 3)) ms beyond a direct call's (\(f(manyTurns.cpuMilliseconds, 3)) against \(f(manyCalls.cpuMilliseconds, 3)) ms, this process's CPU time per operation: the loopback model, the HTTP client, the engine and the log)"
        )
        for lanes in [1, 64] {
            let w = writerPhases[lanes]!
            let commits = Double(max(w.commits, 1))
            print(
                "writer, \(lanes) concurrent: \(w.commits) commits of \(f(w.meanCommitEvents, 1)) events; per commit \(f(w.writeTime.milliseconds / commits, 3)) ms filling + \(f(w.commitTime.milliseconds / commits, 3)) ms committing"
            )
        }
        let writer = store.writerStatistics
        print(
            "appends: \(writer.requests) in \(writer.commits) commits (\(f(writer.meanCommitEvents, 1)) events per commit), \(store.lastSeq) events"
        )
        await store.close()
        await llm.shutdown()
    }

    /// Turn `i` of a lane is turn `i % 20` of its conversation: what the engine sends the model for it is the
    /// instructions, every earlier exchange of the conversation (the loopback model's answer to each), and the new
    /// message. The direct calls send exactly that, so the model and the wire do the same work in both rows.
    static func directPrompts(turns: Int, instructions: String) -> [ChatRequest] {
        (0..<turns).map { i in
            let earlier = (i - i % 20)..<i
            return ChatRequest(
                messages: [.system(instructions)]
                    + earlier.flatMap {
                        [ChatMessage.user(Self.message(turn: $0)), .assistant(BenchModel.answerText)]
                    }
                    + [.user(Self.message(turn: i))])
        }
    }

    /// Makes sure the direct calls send the model what the engine sends: the bodies of a conversation's first three
    /// turns through the engine against those of the matching direct calls, byte for byte.
    static func checkPrompts(
        _ prompts: [ChatRequest], sent: SentBodies, engine: (Int) async throws -> Void,
        direct: (Int) async throws -> Void
    ) async throws {
        for i in 0..<min(3, prompts.count) {
            let viaEngine = try await sent.capture { try await engine(i) }
            let viaDirect = try await sent.capture { try await direct(i) }
            guard viaEngine.count == 1, viaDirect.count == 1 else {
                throw Failure(
                    "turn \(i): the loopback model received \(viaEngine.count) request(s) from the engine and \(viaDirect.count) from the direct call, not one each"
                )
            }
            guard viaEngine == viaDirect else {
                throw Failure(
                    "turn \(i): the direct call would not send the model what the engine sends, so the comparison would be unfair:\n engine: \(viaEngine)\n direct: \(viaDirect)"
                )
            }
        }
    }

    /// The user's message of turn `i` of a lane.
    static func message(turn i: Int) -> String { "Are the payments pods healthy? (\(i))" }

    struct Figures {
        var rate: Double
        var p50: Double
        var p99: Double
        /// This process's CPU time per operation (user + system), every thread included.
        var cpuMilliseconds: Double
    }

    /// Runs `total` operations over `lanes` concurrent tasks (each lane in order) and times each.
    static func measure(
        lanes: Int, total: Int, _ operation: @escaping @Sendable (Int, Int) async throws -> Void
    ) async throws -> Figures {
        let perLane = max(total / lanes, 1)
        let cpuBefore = cpuSeconds()
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var times: [Double] = []
                    times.reserveCapacity(perLane)
                    for i in 0..<perLane {
                        let t = ContinuousClock.now
                        try await operation(lane, i)
                        times.append((ContinuousClock.now - t).seconds * 1000)
                    }
                    return times
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all.sorted()
        }
        let elapsed = (ContinuousClock.now - started).seconds
        return Figures(
            rate: Double(latencies.count) / elapsed, p50: latencies[latencies.count / 2],
            p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)],
            cpuMilliseconds: (cpuSeconds() - cpuBefore) * 1000 / Double(latencies.count))
    }
}

/// The request bodies the loopback model received while capturing.
final class SentBodies: Sendable {
    private let bodies = Mutex<[String]?>(nil)

    func record(_ body: String) {
        bodies.withLock { $0?.append(body) }
    }

    /// The bodies received while `body` ran.
    func capture(_ body: () async throws -> Void) async throws -> [String] {
        bodies.withLock { $0 = [] }
        defer { bodies.withLock { $0 = nil } }
        try await body()
        return bodies.withLock { $0 ?? [] }
    }
}
