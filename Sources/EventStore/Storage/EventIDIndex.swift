import CLMDB
import Foundation

/// Finding an event by its id without indexing every id.
///
/// Ids from `EventID.make()` (UUIDv7) grow with time, so nearly every event's id is larger than every such id appended
/// before it ("in order"; 98 % with 256 concurrent appenders in `logbook bench store`). Those ids are not indexed one
/// by one: every `markInterval`-th seq gets a mark, (the largest in-order id so far ‖ seq) in `event_id_marks`. The
/// first mark whose id reaches an in-order id closes the window of `markInterval` seqs that holds it, so a lookup is
/// one seek and a walk over at most `markInterval` record envelopes. Every other id goes into `event_ids` (id → seq):
/// ids that are not UUIDv7 (a caller's own), v7 ids at or below the largest so far (a slow appender's) or more than a
/// minute ahead of their record's time (another clock's: it would stop every later id being in order), and all ids of
/// a log written before format 2. A new id above both the largest in-order id and the largest indexed one cannot be in
/// the log, so needs no lookup at all.
///
/// This saves ~37 of ~350 bytes per event on disk and one index write per append.
enum EventIDIndex {
    /// Seqs between two marks.
    static let markInterval: UInt64 = 64

    /// meta: the seq after which marks are kept (u64): 0 for a log created with format 2, the last seq at the upgrade
    /// for a log written before (whose ids up to there are all in `event_ids`); absent before format 2.
    static let marksFromKey = Array("event_ids.marks_from".utf8)

    /// An event id as two big-endian halves: compares like the id's bytes (LMDB's key order), without a memcmp.
    struct Key: Comparable, Sendable {
        let high: UInt64
        let low: UInt64

        init(_ id: UUID) {
            (high, low) = withUnsafeBytes(of: id.uuid) {
                ($0.loadBigEndianUInt64(at: 0), $0.loadBigEndianUInt64(at: 8))
            }
        }

        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count >= 16 else { return nil }
            high = bytes.loadBigEndianUInt64(at: 0)
            low = bytes.loadBigEndianUInt64(at: 8)
        }

        static func < (a: Key, b: Key) -> Bool { (a.high, a.low) < (b.high, b.low) }

        /// The mark key: these 16 bytes ‖ seq (u64 big-endian).
        func mark(seq: UInt64) -> [UInt8] { high.bigEndianBytes + low.bigEndianBytes + seq.bigEndianBytes }
    }

    static func isMarkSeq(_ seq: UInt64) -> Bool { seq % markInterval == 0 }

    /// The Unix time in milliseconds a UUIDv7 (version nibble 7) carries in its first 48 bits; nil for other versions.
    static func milliseconds(ofVersion7 id: UUID) -> UInt64? {
        guard id.uuid.6 >> 4 == 7 else { return nil }
        return withUnsafeBytes(of: id.uuid) { $0.loadBigEndianUInt64(at: 0) >> 16 }
    }

    /// Whether `id` may be in order at all: a UUIDv7 whose time is at most a minute after `recordTime` (ns).
    static func isOrderable(_ id: UUID, recordTime: Int64) -> Bool {
        guard id.uuid.8 >> 6 == 2, let milliseconds = milliseconds(ofVersion7: id) else { return false }
        return milliseconds <= UInt64(max(recordTime, 0) / 1_000_000) + 60_000
    }

    /// Whether an id appended after `largest` (the largest in-order id before it) is in order; then it becomes the largest.
    static func isInOrder(_ id: UUID, recordTime: Int64, after largest: Key?) -> Bool {
        guard isOrderable(id, recordTime: recordTime) else { return false }
        return largest.map { Key(id) > $0 } ?? true
    }
}

extension LMDBTransaction {
    /// The seq after which this log keeps marks, or nil for a log without them (format 1, read-only).
    func eventIDMarksFrom() throws(EventStoreError) -> UInt64? {
        guard dbs.eventIDMarks != nil else { return nil }
        return try get(dbs.meta, EventIDIndex.marksFromKey).map { $0.loadBigEndianUInt64() }
    }

    /// The seq of the event with `id`, or nil when the log has none. `lastSeq` is the last seq this transaction sees.
    func seq(ofEventID id: UUID, lastSeq: UInt64) throws(EventStoreError) -> UInt64? {
        if let seq = try KeyLayout.withUUIDKey(id, { (k) throws(EventStoreError) in try get(dbs.eventIDs, k) }) {
            return seq.loadBigEndianUInt64()
        }
        guard EventIDIndex.milliseconds(ofVersion7: id) != nil, let marks = dbs.eventIDMarks,
            let marksFrom = try eventIDMarksFrom()
        else { return nil }
        // The first mark whose largest id reaches `id` closes the window that would hold it; past the last mark, the tail.
        let key = EventIDIndex.Key(id).mark(seq: 0)
        let window: ClosedRange<UInt64>? = try withCursor(marks) { (c) throws(EventStoreError) in
            if let mark = try key.withBytes({ (k) throws(EventStoreError) in try c.get(MDB_SET_RANGE, key: k) }) {
                let end = mark.key.loadBigEndianUInt64(at: 16)
                return max(
                    end > EventIDIndex.markInterval ? end - EventIDIndex.markInterval + 1 : 1, marksFrom + 1)...end
            }
            let after = try c.get(MDB_LAST).map { $0.key.loadBigEndianUInt64(at: 16) } ?? marksFrom
            return after < lastSeq ? (after + 1)...lastSeq : nil
        }
        guard let window else { return nil }
        return try firstSeq(in: window) { $0.id == id }
    }

    /// The largest in-order event id in the log (`EventIDIndex`), or nil when it has none: the last mark's, then the
    /// records after that mark replayed.
    func largestInOrderEventID(before end: UInt64) throws(EventStoreError) -> EventIDIndex.Key? {
        guard let marks = dbs.eventIDMarks, let marksFrom = try eventIDMarksFrom() else { return nil }
        var largest: EventIDIndex.Key?
        var from = marksFrom + 1
        try withCursor(marks) { (c) throws(EventStoreError) in
            // Marks sort by seq too (their ids never shrink): the last one before `end`.
            var entry = try c.get(MDB_LAST)
            while let e = entry, e.key.count == 24, e.key.loadBigEndianUInt64(at: 16) >= end {
                entry = try c.get(MDB_PREV)
            }
            if let e = entry, e.key.count == 24 {
                largest = EventIDIndex.Key(e.key)
                from = e.key.loadBigEndianUInt64(at: 16) + 1
            }
        }
        if from < end {
            _ = try firstSeq(in: from...(end - 1)) { (e) -> Bool in
                if EventIDIndex.isInOrder(e.id, recordTime: e.timeNanoseconds, after: largest) {
                    largest = EventIDIndex.Key(e.id)
                }
                return false
            }
        }
        return largest
    }

    /// The largest id in `event_ids`, or nil when it is empty.
    func largestIndexedEventID() throws(EventStoreError) -> EventIDIndex.Key? {
        try withCursor(dbs.eventIDs) { (c) throws(EventStoreError) in
            try c.get(MDB_LAST).flatMap { EventIDIndex.Key($0.key) }
        }
    }

    /// The first seq in `range` whose envelope satisfies `matches` (records are read and checksummed, not decompressed).
    private func firstSeq(
        in range: ClosedRange<UInt64>, where matches: (RecordCodec.Envelope) -> Bool
    ) throws(EventStoreError) -> UInt64? {
        try withCursor(dbs.events) { (c) throws(EventStoreError) in
            var entry = try withBigEndian(range.lowerBound) { (k) throws(EventStoreError) in
                try c.get(MDB_SET_RANGE, key: k)
            }
            while let e = entry {
                let seq = e.key.loadBigEndianUInt64()
                guard seq <= range.upperBound else { return nil }
                if matches(try RecordCodec.decode(e.value, seq: seq, nodes: self).envelope) { return seq }
                entry = try c.get(MDB_NEXT)
            }
            return nil
        }
    }
}

/// What the writer knows of the log's event ids from one batch to the next (read from the log by the first batch).
struct EventIDState {
    /// The largest in-order id and the largest indexed id: a new id above both cannot be in the log.
    var largestInOrder: EventIDIndex.Key?
    var largestIndexed: EventIDIndex.Key?
    /// The latest committed in-order ids and their seqs.
    let recent: RecentEventIDs

    init(_ txn: LMDBTransaction, lastSeq: UInt64) throws(EventStoreError) {
        largestInOrder = try txn.largestInOrderEventID(before: lastSeq + 1)
        largestIndexed = try txn.largestIndexedEventID()
        recent = RecentEventIDs(floor: largestInOrder)
    }
}

/// The writer's memory of the latest in-order ids and their seqs, so that an id a little below the largest (a slow
/// appender's: new, or a retry) is checked by a binary search and one index read instead of a walk over a window of
/// records. In-order ids only grow, so the ring is sorted. Touched by the writer only.
final class RecentEventIDs {
    /// Every in-order id above `floor` is here; at or below it, ask the log (nil: the ring holds every one).
    private(set) var floor: EventIDIndex.Key?
    private var keys: [EventIDIndex.Key] = []
    private var seqs: [UInt64] = []
    private let capacity: Int

    /// - Parameter floor: the largest in-order id when the writer starts (those up to it are not here).
    init(capacity: Int = 4_096, floor: EventIDIndex.Key?) {
        self.capacity = capacity
        self.floor = floor
        keys.reserveCapacity(capacity)
        seqs.reserveCapacity(capacity)
    }

    enum Answer: Equatable {
        /// The id is in order at this seq.
        case inOrder(UInt64)
        /// It is not among the in-order ids: only `event_ids` can hold it.
        case notInOrder
        /// Below what the ring remembers.
        case unknown
    }

    /// Where a committed id stands; ids written in the current batch are the batch's to know.
    func lookup(_ key: EventIDIndex.Key) -> Answer {
        if let floor, key <= floor { return .unknown }
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low < keys.count && keys[low] == key ? .inOrder(seqs[low]) : .notInOrder
    }

    /// Remembers a commit's new in-order ids (in seq order, so in key order), forgetting the oldest beyond capacity.
    func append(_ entries: [(key: EventIDIndex.Key, seq: UInt64)]) {
        guard !entries.isEmpty else { return }
        keys += entries.map(\.key)
        seqs += entries.map(\.seq)
        if keys.count > capacity {
            let drop = keys.count - capacity / 2  // amortised: drop half at a time
            floor = keys[drop - 1]
            keys.removeFirst(drop)
            seqs.removeFirst(drop)
        }
    }
}
