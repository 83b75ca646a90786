import ArgumentParser
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import LoopbackModel
import Projections

struct ReplayBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Measure replay debugging: a long thread as of any seq, and recorded re-execution.",
        discussion: """
            Records one thread of --messages messages (user and assistant, half each) through the engine with a \
            loopback model, then times the thread's state as of random seqs (what GET /v1/threads/{id}?at= does: a \
            fold of the thread's stream up to the seq) and the recorded re-execution of the whole thread (steps/s). \
            The log stays in --data. Target: as-of reconstruction of a 1,000-message thread p99 ≤ 5 ms.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Messages in the thread (user and assistant).") var messages = 1_000
    @Option(help: "As-of reconstructions to time.") var samples = 500

    func run() async throws {
        if FileManager.default.fileExists(atPath: options.data + "/data.mdb") {
            throw Failure("\(options.data) already holds a log; give 'bench replay' a new or empty directory")
        }
        let llm = try await BenchModel.start()
        var configuration = EventStore.Configuration(directory: options.data)
        configuration.durability = .relaxed  // recording is set-up here, not what is measured
        let store = try EventStore.open(configuration)
        let model = ModelDefinition(name: "bench-model", provider: "openai-compatible", endpoint: llm.baseURL)
        try await store.append(
            [ModelRegistered(model: model).proposed(), DefaultModelSet(model: "bench-model").proposed()],
            to: "registry/models")
        let policy = try Policy(roles: ["operator": ["chat", "model.use:*", "thread.read:own"]])
        let pool = MCPPool()
        let runtime = AgentRuntime(
            store: store, registry: ProjectionRunner(store: store, projections: [RegistryProjection.self]),
            policy: policy, pool: pool)
        let principal = Principal(subject: "user:bench", roles: ["operator"], workspace: "payments", expiry: Int64.max)

        let progress = ProgressLine("recording")
        let turns = max(messages / 2, 1)
        for turn in 0..<turns {
            _ = try await runtime.conversations.chat(
                ChatTurn(threadID: "long", text: "Turn \(turn): are the payments pods healthy?"), as: principal)
            progress.update(UInt64(turn + 1), of: UInt64(turns))
        }
        progress.finish()
        let stream = ("long" as ThreadID).stream
        let seqs = try store.read(stream: stream, maxCount: 1_000_000).map(\.seq.rawValue)

        var latencies: [Double] = []
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for _ in 0..<samples {
            let at = seqs.randomElement(using: &generator)!
            let started = ContinuousClock.now
            let state = try ProjectionRunner.state(
                of: ConversationProjection.self, asOf: Seq(at), in: store, streams: [stream])
            latencies.append((ContinuousClock.now - started) / .milliseconds(1))
            checked += state.messages["long"]?.count ?? 0
        }
        latencies.sort()
        let replayStarted = ContinuousClock.now
        let report = try await runtime.debugger.replay(thread: "long", as: principal)
        let seconds = (ContinuousClock.now - replayStarted) / .seconds(1)
        await pool.shutdown()
        await store.close()

        print("## logbook bench replay (\(turns * 2) messages, \(seqs.count) events in the thread)")
        print("")
        print("| what | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|")
        print(
            "| thread as of a random seq | \(f(latencies[latencies.count / 2], 3)) | \(f(latencies[min(latencies.count - 1, latencies.count * 99 / 100)], 3)) | \(f(latencies.last!, 3)) |"
        )
        print("")
        print(
            "target: p99 ≤ 5 ms for a 1,000-message thread (\(checked / max(samples, 1)) messages on average in the views)"
        )
        print(
            "recorded re-execution: \(report.runsReplayed) runs, \(report.stepsMatched) steps in \(f(seconds, 2)) s = \(f(Double(report.stepsMatched) / seconds)) steps/s; divergence: \(report.divergence.map { "\($0.aspect) at step \($0.index)" } ?? "none")"
        )
    }
}
