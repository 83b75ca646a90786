import EventStore
import Foundation
import Synchronization

/// Brings a server's copy up with the shared log: reads the rows after the copy's last position, checks each one's
/// chain hash against the one before it (a row changed in the database is refused, naming its position), and
/// writes them into the copy. One pull runs at a time; callers that arrive meanwhile wait for it and pull again
/// only if it did not reach what they need. The rows this process has just committed are offered to it
/// (`remember`), so that bringing the copy up after an append reads nothing back from the database unless another
/// server's rows came in between.
final class CopyFeeder: Sendable {
    private struct State {
        var pull: Task<Void, any Error>?
        /// Counts pulls, so that a finished pull clears only itself.
        var pulls: UInt64 = 0
        /// The chain hash at the copy's last position, once read.
        var chain: (position: UInt64, hash: [UInt8])?
        /// Rows this process committed and the copy may not hold yet, by position.
        var recent: [UInt64: LogRow] = [:]
    }

    private let state = Mutex(State())
    static let pageRows = 1_000
    /// At most this many committed rows wait in `recent` (beyond that they are read back from the database).
    static let maxRecentRows = 16_384

    /// Offers rows this process has just committed, so that the copy need not read them back.
    func remember(_ rows: [LogRow]) {
        state.withLock { s in
            // Rows the copy has read back from the database leave on each pull; beyond the bound (a copy far behind)
            // the rows are left to be read back too.
            if s.recent.count + rows.count > Self.maxRecentRows { s.recent = [:] }
            if rows.count <= Self.maxRecentRows {
                for row in rows { s.recent[row.position] = row }
            }
        }
    }

    /// The committed rows from `position` on, without a gap (up to a page), taken out of `recent`.
    private func takeRecent(from position: UInt64) -> [LogRow] {
        state.withLock { s in
            var rows: [LogRow] = []
            var next = position
            while rows.count < Self.pageRows, let row = s.recent.removeValue(forKey: next) {
                rows.append(row)
                next += 1
            }
            return rows
        }
    }

    /// Returns once `copy` holds `target` (nil: everything committed when the call began).
    func bringUp(_ copy: EventStore, through target: UInt64?, from log: PostgresLog) async throws(EventStoreError) {
        var pulledOnce = false
        while true {
            if let target, copy.lastSeq.rawValue >= target { return }
            if target == nil, pulledOnce { return }
            // A pull that began before this call may have read the log before what the caller waits for: it is
            // awaited, and then a pull of the caller's own is made (the pull clears itself from `state` as it ends,
            // so the loop never spins on a finished one).
            let (task, started) = state.withLock { s -> (Task<Void, any Error>, Bool) in
                if let pull = s.pull { return (pull, false) }
                s.pulls += 1
                let number = s.pulls
                let pull = Task {
                    defer { self.state.withLock { if $0.pulls == number { $0.pull = nil } } }
                    try await self.pull(into: copy, from: log, until: target)
                }
                s.pull = pull
                return (pull, true)
            }
            switch await task.result {
            case .success: pulledOnce = pulledOnce || started
            case .failure(let error as EventStoreError): throw error
            case .failure(let error): throw PostgresLog.unavailable("copying new events", error)
            }
        }
    }

    /// Copies pages until the log's end, or, with a `target`, until the copy holds it.
    private func pull(into copy: EventStore, from log: PostgresLog, until target: UInt64?) async throws {
        while true {
            let last = copy.lastSeq.rawValue
            var chain: [UInt8]
            if let known = state.withLock({ $0.chain }), known.position == last {
                chain = known.hash
            } else {
                chain = try await log.chain(at: last)
            }
            let recent = takeRecent(from: last + 1)
            let page =
                recent.isEmpty
                ? try await log.verifiedPage(from: last + 1, previous: chain, maxCount: Self.pageRows)
                : PostgresLog.checked(recent, from: last + 1, previous: chain)
            let events = try page.rows.map { (row) throws(EventStoreError) in
                CopiedEvent(seq: Seq(row.position), stream: try StreamID(row.stream), event: row.proposed)
            }
            if let failure = page.failure {
                // What the chain vouches for is copied; the broken row and what follows it are not.
                try await copy.copy(events)
                throw EventStoreError(
                    .corrupt,
                    "the shared log's row at position \(failure.seq.map { "\($0)" } ?? "?") \(failure.reason); run 'logbook verify --store'"
                )
            }
            guard let lastRow = page.rows.last else { return }
            chain = page.chain
            try await copy.copy(events)
            let end = (lastRow.position, chain)
            state.withLock { s in
                s.chain = end
                // Rows of this process read back from the database (another server's came first) are not needed.
                if !s.recent.isEmpty { s.recent = s.recent.filter { $0.key > end.0 } }
            }
            if let target, lastRow.position >= target { return }
            if recent.isEmpty, page.rows.count < Self.pageRows { return }
        }
    }
}
