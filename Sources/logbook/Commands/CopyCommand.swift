import ArgumentParser
import CommandSupport
import EventStore
import Foundation
import PostgresLog

/// `logbook copy --from DIR --to postgres://…` (and back): moves a log between the embedded store and the shared log
/// on PostgreSQL, event by event at the same positions, with the same ids, times, streams and metadata.
struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a log between a data directory and PostgreSQL (either way), checking its chain.",
        discussion: """
            DIR → postgres://…: verifies DIR's log, then copies it into the shared log (which must be empty, or hold \
            the start of this same log: an interrupted copy goes on from where it stopped). Works on a log a server \
            has open; what the server appends later is not copied (run copy again before moving the server).
            postgres://… → DIR: reads the shared log with every row's chain hash checked, into a new data directory \
            (written to DIR.copying and moved into place when complete: a failed copy leaves nothing).
            """)

    @Option(help: ArgumentHelp("The log to copy: a data directory or postgres://…", valueName: "DIR|URL"))
    var from: String
    @Option(help: ArgumentHelp("Where to copy it: postgres://… or a new data directory.", valueName: "URL|DIR"))
    var to: String

    static func isShared(_ place: String) -> Bool {
        place.hasPrefix("postgres://") || place.hasPrefix("postgresql://")
    }

    func validate() throws {
        switch (Self.isShared(from), Self.isShared(to)) {
        case (false, false):
            throw ValidationError("both are data directories: use 'logbook backup' to copy an embedded log")
        case (true, true):
            throw ValidationError("both are PostgreSQL: use pg_dump, or copy through a data directory")
        default: break
        }
    }

    func run() async throws {
        if Self.isShared(to) {
            try await PostgresLog.with(to) { try await Self.copy(from: from, into: $0) }
        } else {
            try await PostgresLog.with(from) { try await Self.copy(from: $0, into: to) }
        }
    }

    /// DIR → the shared log.
    static func copy(from directory: String, into shared: PostgresLog) async throws {
        var configuration = EventStore.Configuration(directory: directory)
        configuration.readOnly = true
        let store = try EventStore.open(configuration)
        do { try await copy(from: store, named: directory, into: shared) } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    private static func copy(from store: EventStore, named directory: String, into shared: PostgresLog) async throws {
        let end = store.lastSeq.rawValue
        let there = try await shared.lastSeq().rawValue
        // Already there: the start of this same log (an interrupted copy), else refused.
        if there > 0 {
            let mine = there <= end ? try store.read(from: Seq(there), maxCount: 1).first?.id : nil
            guard let mine, try await shared.eventID(at: there) == mine else {
                throw Failure(
                    "copy: the shared log already holds \(there) events that are not the start of \(directory)'s log; copy into an empty database"
                )
            }
        }
        guard there < end else {
            print("copy: the shared log already holds all \(end) events of \(directory)")
            return
        }
        let verifying = ProgressLine("verifying \(directory)")
        let report = try store.verify(from: 1, through: Seq(end)) { done, total in
            verifying.update(done.rawValue, of: total.rawValue)
        }
        verifying.finish()
        if let failure = report.firstFailure {
            throw Failure("copy: \(directory) fails verification at \(failure); nothing more was copied")
        }
        let progress = ProgressLine("copying")
        var next = there + 1
        let started = ContinuousClock.now
        while next <= end {
            let page = try store.read(from: Seq(next), maxCount: Int(min(2_000, end - next + 1)))
            guard let last = page.last else { break }
            try await shared.copyIn(
                page.map { e in
                    CopiedEvent(
                        seq: e.seq, stream: e.stream,
                        event: ProposedEvent(
                            id: e.id, type: e.type, payload: e.payload, metadata: e.metadata,
                            recordedTime: e.timeNanoseconds))
                })
            next = last.seq.rawValue + 1
            progress.update(last.seq.rawValue, of: end)
        }
        progress.finish()
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print(
            "copy: \(end - there) events of \(directory) into the shared log \(shared.location)\(there > 0 ? " (after the \(there) already there)" : "") in \(String(format: "%.1f", seconds)) s"
        )
    }

    /// The shared log → a new DIR.
    static func copy(from shared: PostgresLog, into directory: String) async throws {
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: target), !existing.isEmpty {
            throw Failure("copy: \(directory) is not empty; copy into a new data directory")
        }
        let staging = target + ".copying"
        try? FileManager.default.removeItem(atPath: staging)
        var configuration = EventStore.Configuration(directory: staging)
        configuration.durability = .relaxed  // flushed once at the end: a copy is all or nothing
        let store = try EventStore.open(configuration)
        let progress = ProgressLine("copying")
        let started = ContinuousClock.now
        let report: VerificationReport
        do {
            report = try await shared.forEachVerified(progress: { progress.update($0, of: $1) }) { events in
                try await append(events, to: store)
            }
            progress.finish()
            if let failure = report.firstFailure {
                throw Failure(
                    "copy: the shared log fails verification at \(failure); nothing was written to \(directory) (run 'logbook verify --store')"
                )
            }
            try store.sync()
            await store.close()
        } catch {
            progress.finish()
            await store.close()
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.moveItem(atPath: staging, toPath: target)
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print(
            "copy: \(report.checkedEvents) events of the shared log into \(directory) in \(String(format: "%.1f", seconds)) s"
        )
    }

    /// Appends a page of the shared log to a log of its own, a run of one stream at a time: each lands at the
    /// position it had.
    private static func append(_ events: [CopiedEvent], to store: EventStore) async throws {
        var start = 0
        while start < events.count {
            var end = start + 1
            while end < events.count, events[end].stream == events[start].stream { end += 1 }
            let run = events[start..<end]
            let result = try await store.append(run.map(\.event), to: run.first!.stream)
            guard result.firstSeq == run.first!.seq else {
                throw Failure(
                    "copy: event \(run.first!.event.id) landed at \(result.firstSeq), not at \(run.first!.seq) as in the shared log"
                )
            }
            start = end
        }
    }
}
