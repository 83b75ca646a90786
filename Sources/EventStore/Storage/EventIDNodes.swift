import CLMDB
import Foundation
import Synchronization

/// One registered id node: the 62 random bits that end every id one writing process made (`EventID.node`), and the
/// Unix milliseconds when it was registered, which its ids' times are stored relative to.
struct EventIDNode: Equatable, Sendable {
    var index: UInt32
    var node: UInt64
    var baseMilliseconds: UInt64
}

/// Finds registered id nodes, for writing a compact event id (by node) and for reading one (by index).
protocol EventIDNodeLookup {
    /// The registered node `node`, if any.
    func registered(node: UInt64) -> EventIDNode?
    /// The node a record names; `corrupt` when the log has none with that index.
    func node(at index: UInt32, seq: UInt64) throws(EventStoreError) -> EventIDNode
}

/// The log's registered id nodes (meta `id_node/<u32 index>` → node u64 ‖ base milliseconds u64, both big-endian).
///
/// A writer registers its process's `EventID.node` when it opens the log, so the ids that process makes are stored in
/// ~6 bytes (index, milliseconds since the base, counter) instead of 16: ~10 bytes of ~260 per event. Other ids are
/// stored whole. A log gains one entry per writing process that ever opened it (a few hundred bytes a year for a server
/// restarted daily), so the whole table is kept in memory; entries are never changed or removed once committed.
final class EventIDNodes: Sendable {
    /// The nodes known at one moment: transactions read through such a snapshot, without a lock per id.
    struct Table: EventIDNodeLookup, Sendable {
        private(set) var byIndex: [EventIDNode] = []
        private var byNode: [UInt64: EventIDNode] = [:]

        init(_ nodes: [EventIDNode] = []) { for n in nodes { insert(n) } }

        func registered(node: UInt64) -> EventIDNode? { byNode[node] }

        func node(at index: UInt32, seq: UInt64) throws(EventStoreError) -> EventIDNode {
            guard Int(index) < byIndex.count else {
                throw RecordCodec.corrupt(seq, "its event id names id node \(index), which the log does not have")
            }
            return byIndex[Int(index)]
        }

        fileprivate mutating func insert(_ n: EventIDNode) {
            precondition(Int(n.index) == byIndex.count, "id nodes are numbered from 0 without gaps")
            byIndex.append(n)
            byNode[n.node] = n
        }
    }

    private let table = Mutex(Table())

    static let keyPrefix = Array("id_node/".utf8)
    static func key(_ index: UInt32) -> [UInt8] { keyPrefix + index.bigEndianBytes }

    /// The nodes loaded so far.
    var current: Table { table.withLock { $0 } }

    var count: Int { current.byIndex.count }

    /// Reads every committed entry (those another process registered since, too).
    func load(_ txn: LMDBTransaction) throws(EventStoreError) {
        let stored = try txn.withCursor(txn.dbs.meta) { (c) throws(EventStoreError) -> [EventIDNode] in
            var found: [EventIDNode] = []
            var entry = try Self.keyPrefix.withBytes { (k) throws(EventStoreError) in try c.get(MDB_SET_RANGE, key: k) }
            while let e = entry, e.key.starts(with: Self.keyPrefix) {
                guard e.key.count == Self.keyPrefix.count + 4, e.value.count == 16 else {
                    throw EventStoreError(
                        .corrupt,
                        "id node entry of \(e.key.count) and \(e.value.count) bytes is malformed; run 'logbook verify'")
                }
                let index = UInt32(
                    bigEndian: UnsafeRawBufferPointer(rebasing: e.key[Self.keyPrefix.count...]).loadUnaligned(
                        as: UInt32.self))
                guard index == found.count else {
                    throw EventStoreError(
                        .corrupt,
                        "id node \(found.count) is missing (the next is \(index)); run 'logbook verify' and restore from a backup"
                    )
                }
                found.append(
                    EventIDNode(
                        index: index, node: e.value.loadBigEndianUInt64(at: 0),
                        baseMilliseconds: e.value.loadBigEndianUInt64(at: 8)))
                entry = try c.get(MDB_NEXT)
            }
            return found
        }
        table.withLock { t in for n in stored where Int(n.index) >= t.byIndex.count { t.insert(n) } }
    }

    /// Registers `node` in a write transaction unless the log has it; the caller commits, then `load`s.
    func register(_ node: UInt64, now milliseconds: UInt64, txn: LMDBTransaction) throws(EventStoreError) {
        try load(txn)
        let known = current
        guard known.registered(node: node) == nil else { return }
        try txn.put(
            txn.dbs.meta, Self.key(UInt32(known.byIndex.count)), node.bigEndianBytes + milliseconds.bigEndianBytes)
    }
}

/// A transaction finds nodes in its log's table; one registered after this process loaded the table (by a writer in
/// another process) is read from the log.
extension LMDBTransaction: EventIDNodeLookup {
    func registered(node: UInt64) -> EventIDNode? { knownIDNodes.registered(node: node) }

    func node(at index: UInt32, seq: UInt64) throws(EventStoreError) -> EventIDNode {
        if Int(index) < knownIDNodes.byIndex.count { return knownIDNodes.byIndex[Int(index)] }
        try idNodes.load(self)
        return try idNodes.current.node(at: index, seq: seq)
    }
}
