import ArgumentParser
import CommandSupport
import EventStore
import Foundation
import PostgresLog

/// `logbook bench`: the benchmarks, each a subcommand, built apart from the rest of the CLI.
public struct BenchCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure Logbook on this machine (build with -c release).",
        subcommands: [
            StoreBenchCommand.self, ReadBenchCommand.self, ProjectionsBenchCommand.self, MCPBenchCommand.self,
            EngineBenchCommand.self,
            ReplayBenchCommand.self, HTTPBenchCommand.self,
        ])
}

struct StoreBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Measure the event store: durable appends, reads, size on disk.",
        discussion: """
            Appends the C reference benchmark's events (../shared/bench/limits, same generator and seed) to a new log in \
            --data with 1, 16 and 256 concurrent appenders, each appending one event at a time and awaiting its \
            acknowledgement; then reads it all back, reads random events, and reports bytes on disk. The log stays in \
            --data for 'logbook stats' and 'logbook verify'. With --reference, compares with the C figures. \
            With --store postgres://…, appends go to the shared log on PostgreSQL (an empty database) and --data is \
            this process's copy; then PostgreSQL's own pgbench inserts rows of the same size into the same database, \
            with as many clients as appenders and as many rows as events, each row its own durable commit, and both \
            are printed side by side.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "How many events to append in all.") var events: Int = 1_000_000
    @Option(help: "Random point reads to time.") var pointReads: Int = 200_000
    @Flag(
        help:
            "Measure relaxed durability (no fsync per commit, a flush every second; survives kill -9, not power loss) instead of durable."
    ) var relaxed = false
    @Option(help: "The zstd level new records are compressed at (1-19; the store's default is 3).")
    var compressionLevel = EventStore.Configuration.defaultCompressionLevel
    @Option(help: ArgumentHelp("The C reference benchmark's markdown output, to compare against.", valueName: "FILE"))
    var reference: String?
    @Option(
        help: ArgumentHelp(
            "Append to the shared log on PostgreSQL (an empty database), next to pgbench on the same database.",
            valueName: "postgres://USER@HOST:PORT/DB"))
    var store: String?

    func validate() throws {
        guard events >= 10_000 else { throw ValidationError("--events must be at least 10000") }
        let levels = EventStore.Configuration.compressionLevels
        guard levels.contains(compressionLevel) else {
            throw ValidationError("--compression-level must be in \(levels)")
        }
        guard pointReads > 0 else { throw ValidationError("--point-reads must be positive") }
    }

    func run() async throws {
        if FileManager.default.fileExists(atPath: options.data + "/data.mdb") {
            throw Failure("\(options.data) already holds a log; give 'bench store' a new or empty directory")
        }
        let reference = try reference.map {
            ReferenceFigures(markdown: try String(contentsOfFile: $0, encoding: .utf8))
        }
        var benchmark = StoreBenchmark(
            directory: options.data, events: events, pointReads: pointReads,
            durability: relaxed ? .relaxed : .durable, compressionLevel: compressionLevel)
        guard let store else {
            let results = try await benchmark.run()
            results.print(against: reference)
            return
        }
        let (results, statistics) = try await PostgresLog.with(store) { shared in
            guard try await shared.lastSeq() == 0 else {
                throw Failure("the shared log at \(shared.location) is not empty; give 'bench store' an empty database")
            }
            benchmark.shared = shared
            return (try await benchmark.run(), try await shared.statistics())
        }
        FileHandle.standardError.write(Data("running pgbench on the same database…\n".utf8))
        let pgbench = try PgBench(url: store, payloadBytes: Int(results.generatedMeanBytes))
            .run(phases: results.appends.map { ($0.appenders, $0.events) })
        results.print(against: reference)
        results.printShared(statistics, pgbench: pgbench)
    }
}

struct ReadBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Measure reads of an existing log: a full sequential read and random point reads.")

    @OptionGroup var options: DataOptions
    @Option(help: "Random point reads to time.") var pointReads: Int = 200_000

    func run() async throws {
        let store = try options.openReadOnly()
        let events = store.lastSeq.rawValue
        guard events > 0 else { throw Failure("\(options.data) holds no events") }
        var results = StoreBenchmark.Results()
        try StoreBenchmark(directory: options.data, events: Int(events), pointReads: pointReads, durability: .durable)
            .measureReads(store, events: events, pointReads: pointReads, into: &results)
        results.statistics = try store.statistics()
        await store.close()
        results.print(against: nil)
    }
}
