import EventStore
import Events
import Foundation

/// The audit projection kept on disk: entries through the last checkpoint in `AuditTables`, the ones since in memory
/// (`tail`, an `AuditState` folded as ever), written to the tables at each checkpoint together with the position, in
/// one transaction. Memory holds at most a checkpoint interval's entries, whatever the trail's length.
///
/// Invariant (as for every slot): every method is called with the runner's lock for this slot held.
final class AuditTrailSlot: StoredProjectionSlot, @unchecked Sendable {
    typealias P = AuditProjection
    private let tables: AuditTables
    private var tail = AuditProjection.initial
    /// The last seq the tables and the tail reflect, and the one the tables were written through.
    private var seq: Seq = 0
    private var stored: Seq = 0

    init(directory: String) throws {
        tables = try AuditTables(directory: directory)
    }

    func apply(_ event: DomainEvent, _ context: EventContext) {
        guard context.seq > seq else { return }
        AuditProjection.apply(event, context: context, to: &tail)
        seq = context.seq
    }

    func restoreStored(accepting accepts: (Seq, UUID?) throws -> Bool) throws -> Seq {
        guard let (position, id, definitions) = try tables.load(), try accepts(position, id) else {
            try reset()
            return 0
        }
        (tail, seq, stored) = (AuditState(continuingFrom: definitions), position, position)
        return position
    }

    func store(through position: Seq, id: UUID?) throws {
        seq = max(seq, position)
        guard seq > stored || tail.count > 0 else { return }
        try tables.append(tail, through: seq, id: id)
        (tail, stored) = (AuditState(continuingFrom: tail.definitionsByResource), seq)
    }

    func reset() throws {
        try tables.clear()
        (tail, seq, stored) = (AuditProjection.initial, 0, 0)
    }

    /// Answers `q` from the tables and the tail: the tail's entries are all newer than the tables'.
    func query(_ q: AuditQuery) throws -> AuditPage {
        let limit = min(max(q.limit, 1), 1000)
        let (first, second): (AuditPage, (Int) throws -> AuditPage) =
            q.newestFirst
            ? (tail.query(q), { n in try self.tables.query(Self.with(q, limit: n)) })
            : (try tables.query(q), { n in self.tail.query(Self.with(q, limit: n)) })
        if first.nextCursor != nil { return first }
        if first.entries.count == limit {
            // Full: is there one more in the other part?
            let more = try second(1)
            return AuditPage(entries: first.entries, nextCursor: more.entries.isEmpty ? nil : first.entries.last?.seq)
        }
        let rest = try second(limit - first.entries.count)
        return AuditPage(entries: first.entries + rest.entries, nextCursor: rest.nextCursor)
    }

    /// How many entries the trail holds.
    func count() throws -> Int { try tables.count() + tail.count }

    private static func with(_ q: AuditQuery, limit: Int) -> AuditQuery {
        var q = q
        q.limit = limit
        return q
    }
}
