import ArgumentParser
import CommandSupport
import EventStore
import Foundation

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
            --data for 'logbook stats' and 'logbook verify'. With --reference, compares with the C figures.
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
        let benchmark = StoreBenchmark(
            directory: options.data, events: events, pointReads: pointReads,
            durability: relaxed ? .relaxed : .durable, compressionLevel: compressionLevel)
        let results = try await benchmark.run()
        results.print(against: reference)
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
