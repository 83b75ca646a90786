import CLMDB
import Foundation

/// Applies one group of writer requests inside one write transaction.
///
/// Checks come before writes: a request that fails its own checks has written nothing and fails alone. An error
/// thrown from here is a storage failure that aborts the whole transaction.
struct BatchWriter {
    enum Outcome {
        case appended(AppendResult)
        case dictionary(DictionaryInfo)
        case stored
        case failed(EventStoreError)
    }

    private let txn: LMDBTransaction
    private let dbs: LMDBDatabases
    private let codec: ZstdCodec
    private let limits: Limits
    private let hasher: SHA256Hasher
    private let symbolCache: [String: UInt32]
    private let now: Int64

    private(set) var lastSeq: UInt64
    private var lastHash: [UInt8]
    private var lastTime: Int64
    private var totals: Totals
    /// Stream heads as this batch leaves them: the writer's cache of committed heads, plus this batch's changes.
    private(set) var heads: [StreamID: StreamHead]
    /// The log's event ids as this batch leaves them (`EventIDIndex`), and its new in-order ones, for the writer to
    /// remember after the commit.
    private(set) var ids: EventIDState
    private(set) var newInOrderIDs: [(key: EventIDIndex.Key, seq: UInt64)] = []
    private let marks: MDB_dbi
    /// Reused for every record header of the batch.
    private var scratch = ByteWriter(capacity: 128)
    private var idsInBatch: [UUID: UInt64] = [:]
    private var nextStreamNumber: UInt64?
    private var nextSymbol: UInt32?
    private(set) var newSymbols: [String: UInt32] = [:]
    private(set) var wroteEvents = false
    private(set) var storedDictionary: (info: DictionaryInfo, bytes: [UInt8])?

    /// - Parameters:
    ///   - streamCache: heads of streams as committed (any subset of them); the batch takes it over and leaves it
    ///     updated in `heads`, so pass it uniquely referenced.
    ///   - ids: what the previous batch left (`ids`), nil to read it from the log.
    ///   - end: where the previous batch left the log (`end`), nil to read it from the log.
    init(
        txn: LMDBTransaction, codec: ZstdCodec, limits: Limits, hasher: SHA256Hasher, now: Int64,
        symbolCache: [String: UInt32], streamCache: consuming [StreamID: StreamHead], ids: EventIDState?,
        end: LogEnd?
    ) throws(EventStoreError) {
        self.txn = txn
        self.dbs = txn.dbs
        self.codec = codec
        self.limits = limits
        self.hasher = hasher
        self.symbolCache = symbolCache
        self.heads = streamCache
        self.now = now
        guard let marks = txn.dbs.eventIDMarks else {
            throw EventStoreError(
                .storage, "the log at \(txn.path) was opened for writing without its event id marks; reopen it")
        }
        self.marks = marks
        let start: LogEnd
        if let end { start = end } else { start = try Self.readEnd(txn, hasher: hasher) }
        (lastSeq, lastHash, lastTime, totals) = (start.lastSeq, start.lastHash, start.lastTime, start.totals)
        if let ids { self.ids = ids } else { self.ids = try EventIDState(txn, lastSeq: lastSeq) }
    }

    /// Where the log ends as this batch leaves it: what the next batch of this writer starts from.
    var end: LogEnd { LogEnd(lastSeq: lastSeq, lastHash: lastHash, lastTime: lastTime, totals: totals) }

    /// Where the log ends, read from it: the last record (its seq, chain hash and time) and the totals.
    private static func readEnd(_ txn: LMDBTransaction, hasher: SHA256Hasher) throws(EventStoreError) -> LogEnd {
        let totals = try txn.get(txn.dbs.meta, KeyLayout.totalsKey).flatMap(Totals.init) ?? Totals()
        let last = try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) in try c.get(MDB_LAST) }
        guard let last else {
            return LogEnd(lastSeq: 0, lastHash: RecordCodec.genesisHash, lastTime: 0, totals: totals)
        }
        let lastSeq = last.key.loadBigEndianUInt64()
        let decoded = try RecordCodec.decode(last.value, seq: lastSeq, nodes: txn)
        // The last record of a commit stores its chain hash; recompute it if not.
        var hash = decoded.chainHash.map { Array($0) }
        if hash == nil { hash = try txn.chainHash(through: lastSeq, hasher: hasher) }
        guard let hash else {
            throw EventStoreError(
                .corrupt, "the chain hash of the last event (\(lastSeq)) cannot be computed; run 'logbook verify'")
        }
        return LogEnd(lastSeq: lastSeq, lastHash: hash, lastTime: decoded.envelope.timeNanoseconds, totals: totals)
    }

    mutating func apply(_ request: WriterRequest) throws(EventStoreError) -> Outcome {
        switch request {
        case .append(let r): return try append(r)
        case .storeDictionary(let bytes, _): return try storeDictionary(bytes)
        case .storeCheckpoints(let checkpoints, let removed, _):
            for c in checkpoints {
                guard c.seq.rawValue <= lastSeq else {
                    return .failed(
                        EventStoreError(
                            .invalidArgument,
                            "checkpoint '\(c.name)' is at seq \(c.seq), past the end of the log (\(lastSeq))"))
                }
            }
            for c in checkpoints { try txn.put(dbs.meta, KeyLayout.checkpointKey(c.name), CheckpointCodec.encode(c)) }
            for name in removed { try txn.delete(dbs.meta, KeyLayout.checkpointKey(name)) }
            return .stored
        case .copy(let events, _): return try copy(events)
        }
    }

    /// Stores the chain hash in the commit's last record (it covers every record before it) and writes the totals;
    /// call once after the last request.
    mutating func finish() throws(EventStoreError) {
        guard wroteEvents else { return }
        guard let last = try txn.get(dbs.events, lastSeq) else {
            throw EventStoreError(.storage, "event \(lastSeq), just written, is missing from the transaction")
        }
        let sealed = RecordCodec.storingHash(last, lastHash, seq: lastSeq)
        try txn.put(dbs.events, lastSeq.bigEndianBytes, sealed)
        totals.recordBytes += UInt64(sealed.count - last.count)
        try txn.put(dbs.meta, KeyLayout.totalsKey, totals.encoded)
    }

    // MARK: - Append

    private mutating func append(_ r: AppendRequest) throws(EventStoreError) -> Outcome {
        let events: [PreparedEvent]
        switch try withClosingEvent(r) {
        case .success(let all): events = all
        case .failure(let error): return .failed(error)
        }
        // Idempotency: all of the request's ids are new, or all were appended before with the same content.
        var existing: [UInt64] = []
        for event in events {
            if let seq = try seqOfEventID(event.proposed.id) { existing.append(seq) }
        }
        if !existing.isEmpty {
            guard existing.count == events.count else {
                return .failed(
                    EventStoreError(
                        .duplicateEventID,
                        "event \(events[0].proposed.id) and others: the request mixes new events with events already in the log (e.g. at seq \(existing[0])); retry with exactly the original events or with new ids"
                    ))
            }
            return try replayOfEarlierAppend(r, events, seqs: existing)
        }
        let head = try streamHead(r.stream)
        guard r.expected.isSatisfied(by: head.map { StreamRevision($0.revision) }) else {
            let actual = head.map { "is at revision \($0.revision)" } ?? "does not exist"
            return .failed(
                EventStoreError(
                    .wrongExpectedRevision,
                    "append to '\(r.stream)' expected \(r.expected), but the stream \(actual); read the stream and decide again"
                ))
        }
        let time = max(now, lastTime)
        // Recorded times (restoring an export) must keep the log's times in order and not run ahead of the clock.
        var previous = lastTime
        for event in events {
            guard let recorded = event.proposed.recordedTime else { previous = time; continue }
            guard recorded >= previous, recorded <= time else {
                return .failed(
                    EventStoreError(
                        .invalidArgument,
                        "event \(event.proposed.id): its recorded time \(recorded) is \(recorded < previous ? "before the event before it (\(previous))" : "after now (\(time))"); times in the log never go back or ahead of the clock"
                    ))
            }
            previous = recorded
        }
        var current: StreamHead
        if let head { current = head } else { current = try startStream(r.stream) }
        let firstSeq = lastSeq + 1
        for event in events {
            current.revision += 1
            try write(event, stream: current, time: event.proposed.recordedTime ?? time)
            current.lastSeq = lastSeq
        }
        heads[r.stream] = current
        try withBigEndian(current.number) { (key) throws(EventStoreError) in
            try KeyLayout.withStreamHead(revision: current.revision, lastSeq: current.lastSeq) {
                (value) throws(EventStoreError) in
                try txn.put(dbs.streamHeads, key, value, flags: 0)
            }
        }
        wroteEvents = true
        return .appended(
            AppendResult(
                firstSeq: Seq(firstSeq), lastSeq: Seq(lastSeq), revision: StreamRevision(current.revision),
                wasAlreadyAppended: false))
    }

    /// Writes events of the shared log at their positions, which must follow on from the copy's last one. The shared
    /// log checked revisions and ids; times are the shared log's.
    private mutating func copy(_ events: [PreparedCopy]) throws(EventStoreError) -> Outcome {
        guard let first = events.first, first.seq == lastSeq + 1 else {
            return .failed(
                EventStoreError(
                    .invalidArgument,
                    "the copy ends at seq \(lastSeq) but the events copied into it start at \(events.first?.seq ?? 0); copy from \(lastSeq + 1)"
                ))
        }
        for (offset, e) in events.enumerated() where e.seq != first.seq + UInt64(offset) {
            return .failed(
                EventStoreError(
                    .invalidArgument, "the events copied skip from seq \(e.seq - 1) to \(e.seq); copy them in order"))
        }
        var touched: [StreamID: StreamHead] = [:]
        for e in events {
            var current: StreamHead
            if let head = try streamHead(e.stream) { current = head } else { current = try startStream(e.stream) }
            current.revision += 1
            try write(e.event, stream: current, time: e.event.proposed.recordedTime ?? now)
            current.lastSeq = lastSeq
            heads[e.stream] = current
            touched[e.stream] = current
        }
        for current in touched.values {
            try withBigEndian(current.number) { (key) throws(EventStoreError) in
                try KeyLayout.withStreamHead(revision: current.revision, lastSeq: current.lastSeq) {
                    (value) throws(EventStoreError) in
                    try txn.put(dbs.streamHeads, key, value, flags: 0)
                }
            }
        }
        wroteEvents = true
        return .stored
    }

    /// The request's events, its closing event (if any) built, checked and compressed last. The closing event is
    /// built from the seq its first event has (a retried append) or will have.
    private func withClosingEvent(
        _ r: AppendRequest
    ) throws(EventStoreError) -> Result<[PreparedEvent], EventStoreError> {
        guard let closing = r.closing else { return .success(r.events) }
        let firstSeq = try seqOfEventID(r.events[0].proposed.id) ?? lastSeq + 1
        let event = closing(Seq(firstSeq))
        do { try limits.validate(event) } catch { return .failure(error) }
        if r.events.contains(where: { $0.proposed.id == event.id }) {
            return .failure(
                EventStoreError(
                    .duplicateEventID,
                    "the closing event of an append to '\(r.stream)' reuses the id \(event.id) of an event before it; give it its own id"
                ))
        }
        let (compression, stored) = try codec.compress(event.payload)
        return .success(r.events + [PreparedEvent(proposed: event, compression: compression, stored: stored)])
    }

    /// Writes one event as the next seq; `stream.revision` is the event's revision, `stream.lastSeq` its predecessor's seq.
    private mutating func write(_ event: PreparedEvent, stream: StreamHead, time: Int64) throws(EventStoreError) {
        let p = event.proposed
        let seq = lastSeq + 1
        let revision = stream.revision
        let envelope = RecordCodec.Envelope(
            streamNumber: stream.number, revision: revision, previousSeq: stream.lastSeq,
            typeSymbol: try symbol(p.type),
            timeNanoseconds: time, id: p.id,
            actorSymbol: try p.metadata.actor.map { (s) throws(EventStoreError) in try symbol(s) },
            workspaceSymbol: try p.metadata.workspace.map { (s) throws(EventStoreError) in try symbol(s) },
            correlationID: p.metadata.correlationID, causationID: p.metadata.causationID)
        scratch.bytes.removeAll(keepingCapacity: true)
        RecordCodec.header(
            envelope, seq: seq, compression: event.compression, rawLength: p.payload.count, nodes: txn, into: &scratch)
        let header = scratch.bytes
        var hash: [UInt8] = []
        let previous = lastHash
        let hasher = self.hasher
        try withBigEndian(seq) { (key) throws(EventStoreError) in
            // MDB_APPEND: keys only grow; LMDB rejects a non-increasing seq with MDB_KEYEXIST.
            try txn.reserve(dbs.events, key, count: header.count + event.stored.count, flags: MDB_APPEND) { record in
                header.withUnsafeBytes { record.copyMemory(from: $0) }
                event.stored.withUnsafeBytes { stored in
                    UnsafeMutableRawBufferPointer(rebasing: record[header.count...]).copyMemory(from: stored)
                }
                hash = RecordCodec.seal(record, seq: seq, previousHash: previous, hasher: hasher)
            }
            if KeyLayout.isCheckpoint(revision) {
                // MDB_APPENDDUP: a stream's revisions only grow; LMDB rejects anything else.
                try txn.put(
                    dbs.streamIndex, stream.number.bigEndianBytes,
                    KeyLayout.streamIndexEntry(revision: revision, seq: seq),
                    flags: MDB_APPENDDUP)
            }
            let id = EventIDIndex.Key(p.id)
            if EventIDIndex.isInOrder(p.id, recordTime: time, after: ids.largestInOrder) {
                ids.largestInOrder = id
                newInOrderIDs.append((id, seq))
            } else {
                // Indexed one by one. `MDB_NOOVERWRITE`: an id maps to one seq, forever (the caller checked it is new).
                try KeyLayout.withUUIDKey(p.id) { (k) throws(EventStoreError) in
                    try txn.put(dbs.eventIDs, k, key, flags: MDB_NOOVERWRITE)
                }
                ids.largestIndexed = max(ids.largestIndexed ?? id, id)
            }
            if EventIDIndex.isMarkSeq(seq), let largest = ids.largestInOrder {
                // Keys only grow (the largest id never shrinks, seqs grow): MDB_APPEND.
                try txn.put(marks, largest.mark(seq: seq), [], flags: MDB_APPEND)
            }
        }
        lastSeq = seq
        lastHash = hash
        lastTime = time
        idsInBatch[p.id] = seq
        totals.rawPayloadBytes += UInt64(p.payload.count)
        totals.storedPayloadBytes += UInt64(event.stored.count)
        totals.recordBytes += UInt64(header.count + event.stored.count)
    }

    /// Answers a retried append with its original positions, after checking the content is the same.
    private func replayOfEarlierAppend(
        _ r: AppendRequest, _ events: [PreparedEvent], seqs: [UInt64]
    ) throws(EventStoreError) -> Outcome {
        var lastRevision: UInt64 = 0
        for (event, seq) in zip(events, seqs) {
            guard let stored = try txn.get(dbs.events, seq) else {
                throw EventStoreError(
                    .corrupt,
                    "event id \(event.proposed.id) points to seq \(seq), which is missing; run 'logbook verify'")
            }
            let decoded = try RecordCodec.decode(stored, seq: seq, nodes: txn)
            let payload = try codec.decompress(
                decoded.payload, decoded.compression, rawLength: decoded.rawLength, load: txn.dictionary)
            let e = decoded.envelope
            let p = event.proposed
            let streamNumber = try streamHead(r.stream)?.number
            let typeSymbol = try existingSymbol(p.type)
            let actorSymbol = try p.metadata.actor.flatMap { (s) throws(EventStoreError) in try existingSymbol(s) }
            let workspaceSymbol = try p.metadata.workspace.flatMap { (s) throws(EventStoreError) in
                try existingSymbol(s)
            }
            let same =
                e.streamNumber == streamNumber && e.typeSymbol == typeSymbol
                && e.actorSymbol == actorSymbol && e.workspaceSymbol == workspaceSymbol
                && e.correlationID == p.metadata.correlationID && e.causationID == p.metadata.causationID
                && payload == p.payload
            guard same else {
                return .failed(
                    EventStoreError(
                        .duplicateEventID,
                        "event id \(p.id) was appended before (seq \(seq)) with different content; give a new event a new id"
                    ))
            }
            lastRevision = max(lastRevision, e.revision)
        }
        return .appended(
            AppendResult(
                firstSeq: Seq(seqs.min()!), lastSeq: Seq(seqs.max()!), revision: StreamRevision(lastRevision),
                wasAlreadyAppended: true))
    }

    private func seqOfEventID(_ id: UUID) throws(EventStoreError) -> UInt64? {
        if let seq = idsInBatch[id] { return seq }
        // Ids from `EventID.make()` grow: most new ids are above every id in the log and cannot be there.
        let key = EventIDIndex.Key(id)
        if ids.largestInOrder.map({ key > $0 }) ?? true, ids.largestIndexed.map({ key > $0 }) ?? true { return nil }
        switch ids.recent.lookup(key) {
        case .inOrder(let seq): return seq
        case .notInOrder:
            return try KeyLayout.withUUIDKey(id) { (k) throws(EventStoreError) in
                try txn.get(dbs.eventIDs, k)?.loadBigEndianUInt64()
            }
        case .unknown: return try txn.seq(ofEventID: id, lastSeq: lastSeq)
        }
    }

    // MARK: - Streams and symbols

    /// The stream's number, last revision and last seq, or nil when it does not exist.
    private func streamHead(_ stream: StreamID) throws(EventStoreError) -> StreamHead? {
        if let head = heads[stream] { return head }
        return try txn.streamHead(of: stream)
    }

    /// Gives a new stream the next number; it has no events yet.
    private mutating func startStream(_ stream: StreamID) throws(EventStoreError) -> StreamHead {
        if nextStreamNumber == nil {
            let last = try txn.withCursor(dbs.streamNames) { (c) throws(EventStoreError) in try c.get(MDB_LAST) }
            nextStreamNumber = (last?.key.loadBigEndianUInt64() ?? 0) + 1
        }
        let number = nextStreamNumber!
        nextStreamNumber = number + 1
        try txn.put(dbs.streamNames, number.bigEndianBytes, Array(stream.rawValue.utf8), flags: MDB_APPEND)
        try txn.put(dbs.streams, Array(stream.rawValue.utf8), number.bigEndianBytes, flags: MDB_NOOVERWRITE)
        return StreamHead(number: number, revision: 0, lastSeq: 0)
    }

    private func existingSymbol(_ name: String) throws(EventStoreError) -> UInt32? {
        if let s = symbolCache[name] ?? newSymbols[name] { return s }
        return try txn.get(dbs.symbols, Array(name.utf8)).map { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    private mutating func symbol(_ name: String) throws(EventStoreError) -> UInt32 {
        if let s = try existingSymbol(name) { return s }
        if nextSymbol == nil {
            let last = try txn.withCursor(dbs.symbolNames) { (c) throws(EventStoreError) in try c.get(MDB_LAST) }
            nextSymbol = (last.map { UInt32(bigEndian: $0.key.loadUnaligned(as: UInt32.self)) } ?? 0) + 1
        }
        let s = nextSymbol!
        nextSymbol = s + 1
        try txn.put(dbs.symbols, Array(name.utf8), s.bigEndianBytes)
        try txn.put(dbs.symbolNames, s.bigEndianBytes, Array(name.utf8))
        newSymbols[name] = s
        return s
    }

    // MARK: - Dictionaries

    private mutating func storeDictionary(_ bytes: [UInt8]) throws(EventStoreError) -> Outcome {
        let last = try txn.withCursor(dbs.meta) { (c) throws(EventStoreError) -> UInt32 in
            // The largest id under the dictionary prefix: seek past it and step back.
            let after = KeyLayout.dictionaryPrefix + UInt32.max.bigEndianBytes + [0]
            let found = try after.withBytes { (k) throws(EventStoreError) in try c.get(MDB_SET_RANGE, key: k) }
            let previous = try found == nil ? c.get(MDB_LAST) : c.get(MDB_PREV)
            guard let key = previous?.key, key.count == KeyLayout.dictionaryPrefix.count + 4,
                key.starts(with: KeyLayout.dictionaryPrefix)
            else { return 0 }
            return UInt32(
                bigEndian: key.loadUnaligned(fromByteOffset: KeyLayout.dictionaryPrefix.count, as: UInt32.self))
        }
        let id = last + 1
        try txn.put(dbs.meta, KeyLayout.dictionaryKey(id), bytes)
        try txn.put(dbs.meta, KeyLayout.dictionarySeqKey(id), lastSeq.bigEndianBytes)
        try txn.put(dbs.meta, KeyLayout.currentDictionaryKey, id.bigEndianBytes)
        let info = DictionaryInfo(id: id, sizeBytes: bytes.count, storedAfterSeq: Seq(lastSeq))
        storedDictionary = (info, bytes)
        return .dictionary(info)
    }
}

/// A stream's position: its number, last revision and the seq of its last event (0 and 0 before its first).
struct StreamHead {
    let number: UInt64
    var revision: UInt64
    var lastSeq: UInt64
}

/// Where a log ends after a commit: its last seq, chain hash and time, and its totals. The writer keeps it from one
/// batch to the next (it is the log's only writer), so a batch need not read the last record again.
struct LogEnd {
    var lastSeq: UInt64
    var lastHash: [UInt8]
    var lastTime: Int64
    var totals: Totals
}
