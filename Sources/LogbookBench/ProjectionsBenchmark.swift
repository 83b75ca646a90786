import ArgumentParser
import CommandSupport
import EventStore
import Events
import EventsWorkload
import Foundation
import Projections

struct ProjectionsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Measure the projections: full rebuild, start-up from a checkpoint, memory, audit queries.",
        discussion: """
            Writes a realistic log of Logbook domain events into --data (or reuses the log there when it holds at least \
            --events events), then rebuilds all projections from zero (--rebuilds times; the median counts, as in the C \
            reference), stores a checkpoint, starts a new runner from it, and times audit queries. With --reference (the C \
            benchmark's output), compares the rebuild rate with its scan.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Events in the log (at least).") var events: Int = 1_000_000
    @Option(help: "Audit queries of each kind to time.") var queries: Int = 2_000
    @Option(help: "Start-ups from the checkpoint to time.") var startups: Int = 5
    @Option(help: "Full rebuilds to time (the median is reported).") var rebuilds: Int = 3
    @Option(help: ArgumentHelp("The C reference benchmark's markdown output, to compare against.", valueName: "FILE"))
    var reference: String?

    func validate() throws {
        guard events >= 10_000 else { throw ValidationError("--events must be at least 10000") }
        guard startups >= 1, queries >= 1, rebuilds >= 1 else {
            throw ValidationError("--startups, --queries and --rebuilds must be at least 1")
        }
    }

    func run() async throws {
        let reference = try reference.map {
            ReferenceFigures(markdown: try String(contentsOfFile: $0, encoding: .utf8))
        }
        var configuration = EventStore.Configuration(directory: options.data)
        configuration.durability = .relaxed  // writing the test log is set-up, not what is measured
        let store = try EventStore.open(configuration)
        let generated = store.lastSeq.rawValue < UInt64(events)
        if generated { try await generate(into: store, events: events) }
        let total = store.lastSeq.rawValue
        print("## logbook bench projections")
        print("")
        print("log: \(total) events in \(options.data) (DomainWorkload, seed 1)")
        // Writing the log leaves its own garbage in this process's heap: memory is measured in a process that only reads.
        if generated {
            print("(the log was written by this run: run again for memory figures of a process that only reads it)")
        }
        print("resident memory before the projections: \(residentSummary())")

        // Full rebuilds, as the server keeps the read models: the audit trail and the conversations on disk (written at
        // each checkpoint, every 100,000 events), the registry and usage in memory; the median of `rebuilds` is reported, as the C reference reports the
        // median of its three runs.
        let tables = options.data + "/read-models"
        let runner = try ProjectionRunner(store: store, projections: StandardProjections.all, tables: tables)
        var runs: [(seconds: Double, cpu: Double)] = []
        for run in 1...rebuilds {
            let progress = ProgressLine("rebuilding (\(run) of \(rebuilds))")
            var clock = Stopwatch()
            let cpuBefore = cpuSeconds()
            try await runner.rebuild { done, end in progress.update(done.rawValue, of: end.rawValue) }
            runs.append((clock.lap(), cpuSeconds() - cpuBefore))
            progress.finish()
        }
        runs.sort { $0.seconds < $1.seconds }
        let (rebuildSeconds, rebuildCPU) = runs[rebuilds / 2]
        var clock = Stopwatch()
        let rate = Double(total) / rebuildSeconds
        print(
            "rebuild of all projections (registry, conversations, audit, usage): \(f(rebuildSeconds, 2)) s, \(f(rate)) events/s "
                + "(median of \(rebuilds); range \(f(Double(total) / runs.last!.seconds))–\(f(Double(total) / runs[0].seconds)); \(f(Double(total) / rebuildCPU)) events per CPU-s)"
        )
        print("resident memory after rebuild: \(residentSummary())")
        if runner.skipped != ProjectionRunner.Skipped() { print("skipped events: \(runner.skipped)") }
        // Each projection alone, and decoding alone: where the rebuild time goes.
        for projection in StandardProjections.all + [DecodeOnly.self] {
            // In memory, without checkpoints: what folding costs.
            let alone = ProjectionRunner(store: store, projections: [projection], checkpointEveryEvents: .max)
            clock = Stopwatch()
            let cpu = cpuSeconds()
            try await alone.rebuild()
            print("  \(projection.name) alone: \(f(clock.lap(), 2)) s, \(f(cpuSeconds() - cpu, 2)) CPU-s")
        }

        // Checkpoint (while another thread keeps querying: how long does a query wait?), then start a new runner from it.
        let querying = QueryDuringCheckpoint(runner: runner)
        clock = Stopwatch()
        try await runner.checkpoint()
        let checkpointSeconds = clock.lap()
        let slowestQuery = querying.stop()
        // The audit trail and the conversations are on disk (their tables); the others in the log's checkpoints.
        let inMemory = StandardProjections.all.filter {
            $0 != AuditProjection.self && $0 != ConversationProjection.self
        }
        let checkpointBytes = inMemory.compactMap {
            try? store.withCheckpoint(named: "projection/\($0.name)") { $1.count }
        }.reduce(0, +)
        let tableBytes = ["audit", "conversations"].map {
            (try? FileManager.default.attributesOfItem(atPath: tables + "/\($0)/data.mdb")[.size] as? Int) ?? 0
        }
        print(
            "checkpoint: \(f(checkpointSeconds * 1000, 1)) ms to store, \(f(Double(checkpointBytes) / 1e6, 1)) MB of state in the log's checkpoints, "
                + "tables on disk: audit \(f(Double(tableBytes[0]) / 1e6, 1)) MB, conversations \(f(Double(tableBytes[1]) / 1e6, 1)) MB; slowest audit query meanwhile \(f(slowestQuery * 1000, 1)) ms"
        )
        print("resident memory after the checkpoint: \(residentSummary())")
        var startupTimes: [Double] = []
        for _ in 0..<startups {
            let fresh = try ProjectionRunner(store: store, projections: StandardProjections.all, tables: tables)
            clock = Stopwatch()
            let folded = try await fresh.start()
            startupTimes.append(clock.lap() * 1000)
            guard folded == 0, fresh.position == store.lastSeq else {
                throw Failure("start-up from the checkpoint folded \(folded) events")
            }
        }
        startupTimes.sort()
        // Where start-up goes: reading each checkpoint, and decoding its state.
        for projection in inMemory {
            clock = Stopwatch()
            let size = try store.withCheckpoint(named: "projection/\(projection.name)") { _, state in
                try projection.decodeForBenchmark(state)
                return state.count
            }
            guard let size else { continue }
            print("  \(projection.name): \(f(Double(size) / 1e6, 1)) MB, loaded in \(f(clock.lap() * 1000, 1)) ms")
        }
        print("resident memory after the start-ups: \(residentSummary())")
        print(
            "start-up from checkpoint: median \(f(startupTimes[startups / 2], 1)) ms, max \(f(startupTimes[startups - 1], 1)) ms (\(startups) runs)"
        )

        // Audit queries.
        let audit = runner
        let entries = try audit.auditEntryCount()
        let actors = DomainWorkload.users.map { "user:\($0)" }
        let (start, end) = (
            try audit.queryAudit(AuditQuery(newestFirst: false, limit: 1)).entries.first?.timeNanoseconds ?? 0,
            try audit.queryAudit(AuditQuery(limit: 1)).entries.first?.timeNanoseconds ?? 0
        )
        var rng = SeededGenerator(seed: 5)
        let selective = try time(queries) { i in
            let page = try audit.queryAudit(AuditQuery(actor: actors[i % actors.count], limit: 100))
            return page.entries.count
        }
        let hour: Int64 = 3_600_000_000_000
        let ranged = try time(queries) { _ in
            let from = start + Int64(rng.next() % UInt64(max(end - start - hour, 1)))
            let page = try audit.queryAudit(AuditQuery(from: from, through: from + hour, limit: 100))
            return page.entries.count
        }
        let combined = try time(queries) { i in
            let page = try audit.queryAudit(
                AuditQuery(
                    workspace: DomainWorkload.workspaces[i % 5], resourcePrefix: "tool:k8s/", decision: .deny,
                    limit: 50))
            return page.entries.count
        }
        print("audit trail: \(entries) entries (on disk)")
        print(
            "audit query, one actor over the whole log, newest 100: p50 \(f(selective.p50, 3)) ms, p99 \(f(selective.p99, 3)) ms"
        )
        print("audit query, a one-hour time range, 100: p50 \(f(ranged.p50, 3)) ms, p99 \(f(ranged.p99, 3)) ms")
        print(
            "audit query, workspace + resource prefix + denied, 50: p50 \(f(combined.p50, 3)) ms, p99 \(f(combined.p99, 3)) ms"
        )
        // Thread state loads: one thread's summary, messages and runs, as GET /v1/threads/{id} reads them.
        let threadIDs = try DomainWorkload.workspaces.flatMap { w in
            try audit.threads(workspace: w, limit: 1_000).threads.map(\.id)
        }
        if !threadIDs.isEmpty {
            let loads = try time(queries) { i in
                try audit.conversation(of: threadIDs[(i * 7_919) % threadIDs.count])?.messages.count ?? 0
            }
            print(
                "thread state load (of \(threadIDs.count) threads): p50 \(f(loads.p50, 3)) ms, p99 \(f(loads.p99, 3)) ms"
            )
        }
        print("resident memory after the queries: \(residentSummary())")
        if let scan = reference?.scanEventsPerSecond {
            print("")
            print("| target | logbook | C reference | ratio | goal |")
            print("|---|---:|---:|---:|---|")
            print("| full rebuild vs C scan + decompress | \(f(rate)) | \(f(scan)) | \(f(rate / scan, 2)) | ≥ 0.50 |")
            print("| start-up from checkpoint (median) | \(f(startupTimes[startups / 2], 1)) ms | | | ≤ 100 ms |")
            print("| selective audit query p99 | \(f(selective.p99, 3)) ms | | | ≤ 5 ms |")
        }
        await store.close()
    }

    private func generate(into store: EventStore, events: Int) async throws {
        let progress = ProgressLine("writing the log")
        var workload = DomainWorkload(seed: 1)
        // 64 appenders, each owning the streams that hash to it, so each stream's events keep their order.
        var queues = [[DomainWorkload.Append]](repeating: [], count: 64)
        var planned = Int(store.lastSeq.rawValue)
        while planned < events {
            let step = workload.next()
            var hasher = Hasher()
            hasher.combine(step.stream.rawValue)
            queues[abs(hasher.finalize() % 64)].append(step)
            planned += step.events.count
        }
        let done = Cursor()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for queue in queues {
                group.addTask {
                    for step in queue {
                        try await store.append(step.events, to: step.stream)
                        _ = done.take()
                    }
                }
            }
            let steps = queues.reduce(0) { $0 + $1.count }
            while !group.isEmpty {
                try await group.next()
                progress.update(UInt64(done.current), of: UInt64(steps))
            }
        }
        progress.finish()
    }

    private func time(_ count: Int, _ body: (Int) throws -> Int) throws -> (p50: Double, p99: Double) {
        var samples: [Double] = []
        samples.reserveCapacity(count)
        for i in 0..<count {
            let started = ContinuousClock.now
            let n = try body(i)
            samples.append((ContinuousClock.now - started).milliseconds)
            if n < 0 { throw Failure("impossible") }
        }
        samples.sort()
        return (samples[count / 2], samples[min(count - 1, count * 99 / 100)])
    }

}

/// Resident set size of this process, from /proc (0 where unavailable).
func residentBytes() -> Int { procStatus("VmRSS:") }

/// Resident memory now, split into the process's own (heap: read models, buffers) and the pages of files it maps (the
/// log, which the kernel may drop and read again), and the peak: "812.3 MB (own 120.1, mapped files 692.2; peak …)".
func residentSummary() -> String {
    let mb = { (bytes: Int) in f(Double(bytes) / 1e6, 1) }
    return
        "\(mb(residentBytes())) MB (own \(mb(procStatus("RssAnon:"))), mapped files \(mb(procStatus("RssFile:") + procStatus("RssShmem:"))); peak \(mb(peakResidentBytes())))"
}
/// Peak resident set size.
func peakResidentBytes() -> Int { procStatus("VmHWM:") }

private func procStatus(_ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

extension Projection {
    /// Decodes a checkpoint's state and drops it (for timing).
    static func decodeForBenchmark(_ raw: UnsafeRawBufferPointer) throws {
        var r = BinaryReader(raw)
        _ = try r.readUInt64()
        _ = try State(from: &r)
    }
}

/// Decodes every domain event and folds nothing: the decoding share of a rebuild.
enum DecodeOnly: Projection {
    struct State: Sendable, Equatable, BinaryCodable {
        init() {}
        func encode(to w: inout BinaryWriter) {}
        init(from r: inout BinaryReader) throws(PayloadDecodingError) {}
    }
    static let name = "decoding only"
    static let eventTypes = EventCatalog.typeNames
    static let initial = State()
    static let readsBulkText = false  // as the standard projections
    static func apply(_ event: DomainEvent, context: EventContext, to state: inout State) {}
}

/// Audit queries on a thread of their own, one after another, until stopped: the slowest shows how long a checkpoint
/// keeps readers waiting.
final class QueryDuringCheckpoint: @unchecked Sendable {
    // Invariant: `slowest` and `running` are guarded by `lock`.
    private let lock = NSLock()
    private var slowest: Double = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(runner: ProjectionRunner) {
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                var clock = Stopwatch()
                _ = try? runner.queryAudit(AuditQuery(limit: 10)).entries.count
                let seconds = clock.lap()
                lock.withLock { slowest = max(slowest, seconds) }
            }
            done.signal()
        }
        thread.start()
    }

    /// Stops querying; returns the slowest query's seconds.
    func stop() -> Double {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { slowest }
    }
}
