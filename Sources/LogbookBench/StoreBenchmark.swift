import CommandSupport
import EventStore
import Foundation
import Synchronization

/// `logbook bench store`: the phases and their figures.
struct StoreBenchmark {
    let directory: String
    let events: Int
    let pointReads: Int
    let durability: Durability
    var compressionLevel = EventStore.Configuration.defaultCompressionLevel
    /// Appends go to this shared log (PostgreSQL), and reads to the copy in `directory`.
    var shared: (any SharedLog)? = nil

    struct AppendPhase {
        let appenders: Int
        let events: Int
        let seconds: Double
        let cpuSeconds: Double
        let latencies: [Duration]
        let commits: UInt64
        let writeTime: Duration
        let commitTime: Duration
        var eventsPerSecond: Double { Double(events) / seconds }
        var eventsPerCPUSecond: Double { Double(events) / cpuSeconds }
    }

    struct Results {
        var appends: [AppendPhase] = []
        var scanSeconds = 0.0
        var scanEvents = 0
        var scanRawBytes = 0
        var viewSeconds = 0.0
        var pointReadSeconds = 0.0
        var pointReads = 0
        var statistics: StoreStatistics?
        var generatedMeanBytes = 0.0
        var durability = Durability.durable
        /// The level the benchmark appended at (nil: it read a log it did not write).
        var compressionLevel: Int?
    }

    func run() async throws -> Results {
        var results = Results()
        let generation = ProgressLine("generating events")
        let workload = Workload.generate(count: events) { generation.update(UInt64($0), of: UInt64(events)) }
        generation.finish()
        results.generatedMeanBytes = Double(workload.reduce(0) { $0 + $1.payload.count }) / Double(workload.count)

        var configuration = EventStore.Configuration(directory: directory)
        configuration.durability = durability
        configuration.compressionLevel = compressionLevel
        configuration.shared = shared
        let store = try EventStore.open(configuration)
        results.durability = durability
        results.compressionLevel = compressionLevel
        let single = min(max(events / 200, 1_000), 5_000)
        let sixteen = min(max(events / 20, 5_000), 50_000)
        var next = 0
        for (appenders, count) in [(1, single), (16, sixteen), (256, events - single - sixteen)] {
            let phase = try await appendPhase(store, workload[next..<(next + count)], appenders: appenders)
            results.appends.append(phase)
            next += count
        }

        try measureReads(store, events: UInt64(events), pointReads: pointReads, into: &results)
        results.statistics = try store.statistics()
        await store.close()
        return results
    }

    /// Reads the whole log back in order, then `pointReads` random events.
    func measureReads(_ store: EventStore, events: UInt64, pointReads: Int, into results: inout Results) throws {
        let scanProgress = ProgressLine("reading back")
        var clock = Stopwatch()
        var position: UInt64 = 1
        while true {
            let chunk = try store.read(from: Seq(position), maxCount: 4096)
            guard let last = chunk.last else { break }
            results.scanEvents += chunk.count
            results.scanRawBytes += chunk.reduce(0) { $0 + $1.payload.count }
            position = last.seq.rawValue + 1
            scanProgress.update(UInt64(results.scanEvents), of: events)
        }
        results.scanSeconds = clock.lap()
        scanProgress.finish()

        // The same through `scan`: envelope views and each payload decompressed into a reused buffer.
        clock = Stopwatch()
        var viewed = 0
        var viewedBytes = 0
        try store.scan { view in
            viewedBytes += try view.withPayload { $0.count }
            viewed += 1
            return true
        }
        results.viewSeconds = clock.lap()
        guard viewed == results.scanEvents, viewedBytes == results.scanRawBytes else {
            throw Failure(
                "scan saw \(viewed) events (\(viewedBytes) bytes), read saw \(results.scanEvents) (\(results.scanRawBytes) bytes)"
            )
        }

        var rng = SystemRandomNumberGenerator()
        let seqs = (0..<pointReads).map { _ in Seq(UInt64.random(in: 1...events, using: &rng)) }
        clock = Stopwatch()
        for seq in seqs where try store.event(at: seq) == nil {
            throw Failure("event \(seq) is missing from the log")
        }
        results.pointReadSeconds = clock.lap()
        results.pointReads = pointReads
    }

    /// Appends `slice` with `appenders` tasks, each appending one event at a time and awaiting its acknowledgement.
    private func appendPhase(
        _ store: EventStore, _ slice: ArraySlice<Workload.Event>, appenders: Int
    ) async throws -> AppendPhase {
        let events = Array(slice)
        let cursor = Cursor()
        let progress = ProgressLine("appending with \(appenders) appender\(appenders == 1 ? "" : "s")")
        let cpuBefore = cpuSeconds()
        let writerBefore = store.writerStatistics
        var clock = Stopwatch()
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for _ in 0..<appenders {
                group.addTask {
                    var mine: [Duration] = []
                    mine.reserveCapacity(events.count / appenders + 1)
                    while true {
                        let i = cursor.take()
                        guard i < events.count else { return mine }
                        let e = events[i]
                        let started = ContinuousClock.now
                        try await store.append([ProposedEvent(type: e.type, payload: e.payload)], to: e.stream)
                        mine.append(ContinuousClock.now - started)
                    }
                }
            }
            var all: [Duration] = []
            all.reserveCapacity(events.count)
            for try await mine in group {
                all += mine
                progress.update(UInt64(all.count), of: UInt64(events.count))
            }
            return all
        }
        let seconds = clock.lap()
        progress.finish()
        let writer = store.writerStatistics
        return AppendPhase(
            appenders: appenders, events: events.count, seconds: seconds, cpuSeconds: cpuSeconds() - cpuBefore,
            latencies: latencies.sorted(), commits: writer.commits - writerBefore.commits,
            writeTime: writer.writeTime - writerBefore.writeTime,
            commitTime: writer.commitTime - writerBefore.commitTime)
    }
}

/// Wall-clock seconds since it was made or last lapped.
struct Stopwatch {
    private var start = ContinuousClock.now
    mutating func lap() -> Double {
        let now = ContinuousClock.now
        defer { start = now }
        return (now - start) / .seconds(1)
    }
}

/// This process's user + system CPU time, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

extension Duration {
    var milliseconds: Double { self / .milliseconds(1) }
}

/// Hands out the next event index to concurrent appenders.
final class Cursor: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
    var current: Int { next.load(ordering: .relaxed) }
}
