import CLMDB
import Foundation

/// The outcome of `EventStore.verify`.
public struct VerificationReport: Sendable, Equatable {
    /// How many events were checked.
    public var checkedEvents: UInt64
    /// The first problem found: the seq it concerns (nil for log-wide checks) and what is wrong.
    public var firstFailure: Failure?

    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public var seq: Seq?
        public var reason: String
        public var description: String { seq.map { "event \($0): \(reason)" } ?? reason }

        public init(seq: Seq?, reason: String) {
            self.seq = seq
            self.reason = reason
        }
    }

    public init(checkedEvents: UInt64, firstFailure: Failure? = nil, indexesChecked: Bool = false) {
        self.checkedEvents = checkedEvents
        self.firstFailure = firstFailure
        self.indexesChecked = indexesChecked
    }

    /// Whether the whole-log checks (index sizes, stream heads) ran: only over the whole log, and not when it kept
    /// growing under a live writer.
    public var indexesChecked = false

    public var isIntact: Bool { firstFailure == nil }
}

extension EventStore {
    /// Walks the log from `from` through `through` (default: the end) and checks every record: seqs gap-free, checksum,
    /// hash chain link, payload decompresses, stream index and event id index point back to it, stream revisions
    /// contiguous. Over the whole log it also checks that stream heads and index sizes match the events.
    ///
    /// Reads in short transactions, so the writer — in this process or another — is never held up. When the log grows
    /// during the walk, the walk follows it, and the whole-log checks run against a snapshot whose end it reached
    /// (after a few tries on a log that keeps growing, they are skipped: `indexesChecked` says so).
    /// - Parameter progress: called now and then with (checked up to, last seq).
    /// - Complexity: O(N log N).
    public func verify(
        from: Seq = 1, through: Seq? = nil, progress: ((Seq, Seq) -> Void)? = nil
    ) throws(EventStoreError) -> VerificationReport {
        let last = try env.read { (txn) throws(EventStoreError) in try Self.lastSeq(txn) }
        var end = min(through?.rawValue ?? last, last)
        let start = max(from.rawValue, 1)
        var state = VerifyState(expectedSeq: start, wholeLog: start == 1 && end == last, lastStoredHash: start - 1)
        if start > 1 {
            guard
                let previous = try env.read({ (txn) throws(EventStoreError) in
                    try txn.chainHash(through: start - 1, hasher: SHA256Hasher())
                })
            else {
                return VerificationReport(
                    checkedEvents: 0,
                    firstFailure: .init(
                        seq: Seq(start - 1), reason: "missing: the range's predecessor is not in the log"),
                    indexesChecked: false)
            }
            state.previousHash = previous
        }
        try env.read { (txn) throws(EventStoreError) in try state.startEventIDs(txn, before: start) }
        let hasher = SHA256Hasher()
        func walk() throws(EventStoreError) {
            while state.expectedSeq <= end, state.failure == nil {
                try env.read { (txn) throws(EventStoreError) in
                    try verifyChunk(txn, through: end, state: &state, hasher: hasher)
                }
                progress?(Seq(state.expectedSeq - 1), Seq(end))
            }
        }
        try walk()
        try followChainPastEnd(state: &state, hasher: hasher)
        var indexesChecked = false
        // Index sizes and stream heads must be compared in a snapshot that holds exactly the walked events.
        for _ in 0..<5 where state.failure == nil && state.wholeLog && !indexesChecked {
            let grown: UInt64? = try env.read { (txn) throws(EventStoreError) in
                let now = try Self.lastSeq(txn)
                guard now == end else { return now }
                state.failure = try verifyHeads(txn, state: state, events: end)
                indexesChecked = true
                return nil
            }
            if let grown {
                end = grown
                try walk()
            }
        }
        return VerificationReport(
            checkedEvents: state.checked, firstFailure: state.failure, indexesChecked: indexesChecked)
    }

    /// A range that ends inside a commit is proven only by the hash stored at the commit's end: follows the chain
    /// (links only) to it.
    private func followChainPastEnd(state: inout VerifyState, hasher: SHA256Hasher) throws(EventStoreError) {
        guard state.failure == nil, state.lastStoredHash + 1 < state.expectedSeq else { return }
        try env.read { (txn) throws(EventStoreError) in
            try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) in
                var entry = try withBigEndian(state.expectedSeq) { (k) throws(EventStoreError) in
                    try c.get(MDB_SET_RANGE, key: k)
                }
                while let e = entry {
                    let seq = e.key.loadBigEndianUInt64()
                    let expected = RecordCodec.chainHash(
                        e.value, seq: seq, previousHash: state.previousHash, hasher: hasher)
                    if let stored = RecordCodec.storedHash(e.value) {
                        if stored != expected { state.fail(seq, state.chainBroken(at: seq)) }
                        return
                    }
                    state.previousHash = expected
                    entry = try c.get(MDB_NEXT)
                }
            }
        }
    }

    private func verifyChunk(
        _ txn: LMDBTransaction, through end: UInt64, state: inout VerifyState, hasher: SHA256Hasher
    ) throws(EventStoreError) {
        let chunkEnd = min(end, state.expectedSeq + 16_383)
        try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) in
            var entry = try withBigEndian(state.expectedSeq) { (k) throws(EventStoreError) in
                try c.get(MDB_SET_RANGE, key: k)
            }
            while state.expectedSeq <= chunkEnd {
                guard let e = entry, e.key.count == 8 else {
                    state.fail(state.expectedSeq, "missing: the log ends before the last seq")
                    return
                }
                let seq = e.key.loadBigEndianUInt64()
                guard seq == state.expectedSeq else {
                    state.fail(state.expectedSeq, "missing: the next record is seq \(seq) (a gap)")
                    return
                }
                if let problem = check(e.value, seq: seq, txn: txn, state: &state, hasher: hasher) {
                    state.fail(seq, problem)
                    return
                }
                state.checked += 1
                state.expectedSeq += 1
                entry = try c.get(MDB_NEXT)
            }
        }
    }

    /// Checks one record; returns what is wrong with it, or nil.
    private func check(
        _ record: UnsafeRawBufferPointer, seq: UInt64, txn: LMDBTransaction, state: inout VerifyState,
        hasher: SHA256Hasher
    ) -> String? {
        let d: RecordCodec.Decoded
        do { d = try RecordCodec.decode(record, seq: seq, nodes: txn) } catch { return error.message }
        let expectedHash = RecordCodec.chainHash(record, seq: seq, previousHash: state.previousHash, hasher: hasher)
        if let stored = d.chainHash {
            guard stored.elementsEqual(expectedHash) else { return state.chainBroken(at: seq) }
            state.lastStoredHash = seq
        }
        state.previousHash = expectedHash
        do {
            _ = try codec.decompress(d.payload, d.compression, rawLength: d.rawLength, load: txn.dictionary)
            let e = d.envelope
            if KeyLayout.isCheckpoint(e.revision) {
                guard try txn.checkpoint(stream: e.streamNumber, revision: e.revision) == seq else {
                    return "stream index has no checkpoint for stream \(e.streamNumber) revision \(e.revision)"
                }
            }
            if let problem = try state.checkEventID(e.id, seq: seq, time: e.timeNanoseconds, txn: txn) {
                return problem
            }
            _ = try names.stream(e.streamNumber, txn: txn)
            _ = try names.symbol(e.typeSymbol, txn: txn)
            if let previous = state.streams[e.streamNumber] {
                guard e.revision == previous.revision + 1 else {
                    return "stream \(e.streamNumber) jumps from revision \(previous.revision) to \(e.revision)"
                }
                guard e.previousSeq == previous.lastSeq else {
                    return
                        "links back to seq \(e.previousSeq), but the stream's previous event is seq \(previous.lastSeq)"
                }
            } else if state.wholeLog, e.revision != 1 || e.previousSeq != 0 {
                return
                    "stream \(e.streamNumber) starts at revision \(e.revision) (back link \(e.previousSeq)), not at revision 1"
            }
            state.streams[e.streamNumber] = (e.revision, seq)
        } catch {
            return error.message
        }
        return nil
    }

    private func verifyHeads(
        _ txn: LMDBTransaction, state: VerifyState, events: UInt64
    ) throws(EventStoreError) -> VerificationReport.Failure? {
        let dbs = txn.dbs
        let ids = try txn.count(dbs.eventIDs)
        if UInt64(ids) != state.indexedIDs {
            return .init(
                seq: nil, reason: "the event id index holds \(ids) entries, \(state.indexedIDs) events are indexed")
        }
        if let marks = dbs.eventIDMarks {
            let count = try txn.count(marks)
            if UInt64(count) != state.marks {
                return .init(seq: nil, reason: "there are \(count) event id marks, the events call for \(state.marks)")
            }
        }
        let checkpoints = state.streams.values.reduce(0) { $0 + ($1.revision - 1) / KeyLayout.checkpointInterval + 1 }
        let indexed = try txn.count(dbs.streamIndex)
        if UInt64(indexed) != checkpoints {
            return .init(
                seq: nil, reason: "the stream index holds \(indexed) checkpoints, the events call for \(checkpoints)")
        }
        for (db, name) in [
            (dbs.streams, "streams"), (dbs.streamNames, "stream names"), (dbs.streamHeads, "stream heads"),
        ] {
            let count = try txn.count(db)
            if count != state.streams.count {
                return .init(
                    seq: nil, reason: "\(state.streams.count) streams hold events but there are \(count) \(name)")
            }
        }
        return try txn.withCursor(dbs.streams) { (c) throws(EventStoreError) -> VerificationReport.Failure? in
            var entry = try c.get(MDB_FIRST)
            while let e = entry {
                let name = String(decoding: e.key, as: UTF8.self)
                guard let head = try txn.streamHead(of: StreamID(unchecked: name)),
                    let seen = state.streams[head.number]
                else {
                    return .init(seq: nil, reason: "stream '\(name)' has a head but no events")
                }
                guard seen.revision == head.revision, seen.lastSeq == head.lastSeq else {
                    return .init(
                        seq: nil,
                        reason:
                            "stream '\(name)' says revision \(head.revision) at seq \(head.lastSeq), its events end at revision \(seen.revision), seq \(seen.lastSeq)"
                    )
                }
                entry = try c.get(MDB_NEXT)
            }
            return nil
        }
    }
}

private struct VerifyState {
    var expectedSeq: UInt64
    var wholeLog: Bool
    var previousHash = RecordCodec.genesisHash
    /// The last seq walked whose record stores its chain hash (before the first: the seq before the walk).
    var lastStoredHash: UInt64
    /// Per stream number: the last revision and seq seen.
    var streams: [UInt64: (revision: UInt64, lastSeq: UInt64)] = [:]
    var checked: UInt64 = 0
    var failure: VerificationReport.Failure?
    /// `EventIDIndex`: where marks start (nil: a log without them), the largest in-order id so far, events
    /// found in `event_ids` and marks seen.
    var marksFrom: UInt64?
    var largestID: EventIDIndex.Key?
    var indexedIDs: UInt64 = 0
    var marks: UInt64 = 0

    mutating func fail(_ seq: UInt64, _ reason: String) { failure = .init(seq: Seq(seq), reason: reason) }

    /// What is wrong when the hash stored at `seq` does not follow from the records since the last stored one.
    func chainBroken(at seq: UInt64) -> String {
        let since = lastStoredHash + 1
        return since >= seq
            ? "hash chain broken: the stored hash does not follow from the previous record"
            : "hash chain broken: the stored hash does not follow from events \(since)…\(seq) (it covers them all): one of them was altered"
    }
}

extension VerifyState {
    /// Prepares the event id checks of a walk from `start`: where marks start and the largest in-order id before it.
    mutating func startEventIDs(_ txn: LMDBTransaction, before start: UInt64) throws(EventStoreError) {
        marksFrom = try txn.eventIDMarksFrom()
        largestID = try txn.largestInOrderEventID(before: start)
    }

    /// Checks that the event can be found by its id (indexed, or in order and so found through the marks) and the
    /// mark its seq calls for. Returns what is wrong, or nil.
    mutating func checkEventID(
        _ uuid: UUID, seq: UInt64, time: Int64, txn: LMDBTransaction
    ) throws(EventStoreError) -> String? {
        let inOrder =
            marksFrom.map { seq > $0 } == true && EventIDIndex.isInOrder(uuid, recordTime: time, after: largestID)
        if let indexed = try txn.get(txn.dbs.eventIDs, KeyLayout.uuidKey(uuid)).map({ $0.loadBigEndianUInt64() }) {
            guard indexed == seq else { return "event id index maps \(uuid) to \(indexed), not to this seq" }
            guard !inOrder else { return "event id \(uuid) is in order, yet the event id index holds it" }
            indexedIDs += 1
        } else {
            guard inOrder else {
                return
                    "event id \(uuid) is not in order (a UUIDv7 above the ids before it), yet the event id index does not hold it"
            }
            largestID = EventIDIndex.Key(uuid)
        }
        guard let marksFrom, seq > marksFrom, EventIDIndex.isMarkSeq(seq), let largest = largestID,
            let marksDB = txn.dbs.eventIDMarks
        else { return nil }
        guard try txn.get(marksDB, largest.mark(seq: seq)) != nil else {
            return "the event id marks have no mark here naming the largest id so far"
        }
        marks += 1
        return nil
    }
}
