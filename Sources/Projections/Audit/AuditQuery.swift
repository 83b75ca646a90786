import EventStore
import Events
import Foundation

/// A question to the audit trail. Every filter is optional; the most selective index answers it.
public struct AuditQuery: Sendable, Equatable {
    public var actor: String?
    public var workspace: String?
    public var action: String?
    public var resourcePrefix: String?
    public var decision: Decision?
    public var kind: AuditKind?
    /// Time range, nanoseconds since the epoch, inclusive.
    public var from: Int64?
    public var through: Int64?
    public var newestFirst = true
    /// At most this many entries (1...1000).
    public var limit = 100
    /// Continue after this seq: the `nextCursor` of the previous page.
    public var cursor: Seq?

    public init(
        actor: String? = nil, workspace: String? = nil, action: String? = nil, resourcePrefix: String? = nil,
        decision: Decision? = nil, kind: AuditKind? = nil, from: Int64? = nil, through: Int64? = nil,
        newestFirst: Bool = true, limit: Int = 100, cursor: Seq? = nil
    ) {
        (self.actor, self.workspace, self.action, self.resourcePrefix, self.decision) = (
            actor, workspace, action, resourcePrefix, decision
        )
        (self.kind, self.from, self.through, self.newestFirst, self.limit, self.cursor) = (
            kind, from, through, newestFirst, limit, cursor
        )
    }
}

public struct AuditPage: Sendable, Equatable {
    public var entries: [AuditEntry]
    /// Pass as `cursor` for the next page; nil when this page is the last.
    public var nextCursor: Seq?
}

extension AuditState {
    /// Answers `query` from the indexes: O(log n + entries examined), never a scan of the log.
    public func query(_ q: AuditQuery) -> AuditPage {
        let limit = min(max(q.limit, 1), 1000)
        // Candidate positions: the shortest index list among the equality filters, else every entry.
        var lists: [[Int32]] = []
        func use(_ value: String?, _ index: NameIndex) -> Bool {
            guard let value else { return true }
            guard let id = id(of: value) else { return false }
            let list = index[id]
            guard !list.isEmpty else { return false }
            lists.append(list)
            return true
        }
        guard use(q.actor, byActor), use(q.workspace, byWorkspace), use(q.action, byAction) else {
            return AuditPage(entries: [], nextCursor: nil)
        }
        if let decision = q.decision {
            let list = byDecision[decision == .allow ? 1 : 2]
            guard !list.isEmpty else { return AuditPage(entries: [], nextCursor: nil) }
            lists.append(list)
        }
        if let prefix = q.resourcePrefix, lists.isEmpty {
            // Only the resource prefix narrows it: merge the lists of the resources that match.
            let ids = byResource.ids.filter { strings[Int($0)].hasPrefix(prefix) }
            lists.append(ids.flatMap { byResource[$0] }.sorted())
        }
        let candidates: Candidates = lists.min(by: { $0.count < $1.count }).map(Candidates.list) ?? .all(records.count)
        var (lower, upper) = (0, candidates.count)  // candidate indexes, half-open
        // Narrow by time and cursor with binary searches: positions, seqs and times all grow together.
        if let from = q.from { lower = max(lower, candidates.firstIndex(in: self) { $0.time >= from }) }
        if let through = q.through { upper = min(upper, candidates.firstIndex(in: self) { $0.time > through }) }
        if let cursor = q.cursor?.rawValue {
            if q.newestFirst {
                upper = min(upper, candidates.firstIndex(in: self) { $0.seq >= cursor })
            } else {
                lower = max(lower, candidates.firstIndex(in: self) { $0.seq > cursor })
            }
        }
        var entries: [AuditEntry] = []
        var i = q.newestFirst ? upper - 1 : lower
        while i >= lower, i < upper {
            let position = Int(candidates[i])
            if matches(records[position], q) {
                if entries.count == limit { return AuditPage(entries: entries, nextCursor: entries.last?.seq) }
                entries.append(entry(at: position))
            }
            i += q.newestFirst ? -1 : 1
        }
        return AuditPage(entries: entries, nextCursor: nil)
    }

    private func matches(_ r: Record, _ q: AuditQuery) -> Bool {
        if let a = q.actor, strings[Int(r.actor)] != a { return false }
        if let w = q.workspace, strings[Int(r.workspace)] != w { return false }
        if let a = q.action, strings[Int(r.action)] != a { return false }
        if let p = q.resourcePrefix, !strings[Int(r.resource)].hasPrefix(p) { return false }
        if let d = q.decision, r.decision != (d == .allow ? 1 : 2) { return false }
        if let k = q.kind, r.kind != k { return false }
        if let from = q.from, r.time < from { return false }
        if let through = q.through, r.time > through { return false }
        return true
    }

    /// Positions to examine, ascending: an index list, or all positions.
    enum Candidates {
        case list([Int32])
        case all(Int)

        var count: Int {
            switch self {
            case .list(let l): l.count
            case .all(let n): n
            }
        }

        subscript(i: Int) -> Int32 {
            switch self {
            case .list(let l): l[i]
            case .all: Int32(i)
            }
        }

        /// The first candidate index whose record satisfies `predicate` (which must be monotonic), or `count`.
        func firstIndex(in state: AuditState, where predicate: (Record) -> Bool) -> Int {
            var (lo, hi) = (0, count)
            while lo < hi {
                let mid = (lo + hi) / 2
                if predicate(state.records[Int(self[mid])]) { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
    }
}
