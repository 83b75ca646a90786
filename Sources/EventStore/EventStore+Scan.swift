import CLMDB
import Foundation

/// One event seen during `EventStore.scan`: its envelope at once, its payload on demand.
///
/// Valid only inside the scan's closure (it points into the log's memory and a reused buffer): copy out what you keep,
/// or call `recordedEvent()`. Using it after the closure returned traps.
public struct EventView {
    public let seq: Seq
    public let revision: StreamRevision
    public let id: UUID
    public let timeNanoseconds: Int64
    public let correlationID: UUID?
    public let causationID: UUID?
    fileprivate let decoded: RecordCodec.Decoded
    fileprivate let scanner: Scanner

    fileprivate init(seq: UInt64, decoded: RecordCodec.Decoded, scanner: Scanner) {
        self.seq = Seq(seq)
        let e = decoded.envelope
        revision = StreamRevision(e.revision)
        id = e.id
        timeNanoseconds = e.timeNanoseconds
        correlationID = e.correlationID
        causationID = e.causationID
        self.decoded = decoded
        self.scanner = scanner
    }

    /// The log's number for the event's type name: small, dense, stable within this log (never across logs).
    /// Lets a reader that sees millions of events key tables by number instead of hashing names.
    public var typeID: UInt32 { decoded.envelope.typeSymbol }
    /// The log's numbers for the actor and workspace names (same space as `typeID`), nil when absent.
    public var actorID: UInt32? { decoded.envelope.actorSymbol }
    public var workspaceID: UInt32? { decoded.envelope.workspaceSymbol }
    /// The log's number for the event's stream: dense, stable within this log.
    public var streamNumber: UInt64 { decoded.envelope.streamNumber }
    /// The name behind a `typeID`, `actorID` or `workspaceID`.
    public func name(_ id: UInt32) throws(EventStoreError) -> String { try scanner.symbol(id) }

    /// The event's type name (cached: no decoding, no allocation).
    public func type() throws(EventStoreError) -> String { try scanner.symbol(decoded.envelope.typeSymbol) }
    /// The event's stream (cached).
    public func stream() throws(EventStoreError) -> StreamID { try scanner.stream(decoded.envelope.streamNumber) }
    public func actor() throws(EventStoreError) -> String? {
        try decoded.envelope.actorSymbol.map { (s) throws(EventStoreError) in try scanner.symbol(s) }
    }
    public func workspace() throws(EventStoreError) -> String? {
        try decoded.envelope.workspaceSymbol.map { (s) throws(EventStoreError) in try scanner.symbol(s) }
    }

    /// Decompresses the payload into the scan's reused buffer and calls `body` with it.
    public func withPayload<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try body(try scanner.payload(decoded))
    }

    /// The whole event, copied out.
    public func recordedEvent() throws(EventStoreError) -> RecordedEvent {
        precondition(scanner.active, "an EventView was used after its scan's closure returned")
        return try scanner.store.decode(decoded, seq: seq.rawValue, txn: scanner.txn)
    }
}

/// The state of one scan chunk: its transaction, decompression context and payload buffer.
fileprivate final class Scanner {
    let store: EventStore
    let txn: LMDBTransaction
    let context: ZstdCodec.DecompressionContext
    /// Reads a compression dictionary the codec does not hold yet: made once per scanner (passing `txn.dictionary`
    /// per payload copied the transaction, retaining its fields: 1.7 % of a rebuild).
    private let loadDictionary: ZstdCodec.DictionaryLoader
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
    /// False once the chunk's transaction ended: views must not be used then.
    var active = true

    init(store: EventStore, txn: LMDBTransaction, context: ZstdCodec.DecompressionContext) {
        self.store = store
        self.txn = txn
        self.context = context
        loadDictionary = { [txn] (id) throws(EventStoreError) in try txn.dictionary(id) }
    }

    deinit { buffer.deallocate() }

    func symbol(_ s: UInt32) throws(EventStoreError) -> String {
        precondition(active, "an EventView was used after its scan's closure returned")
        return try store.names.symbol(s, txn: txn)
    }

    func stream(_ n: UInt64) throws(EventStoreError) -> StreamID {
        precondition(active, "an EventView was used after its scan's closure returned")
        return try store.names.stream(n, txn: txn)
    }

    func payload(_ d: RecordCodec.Decoded) throws(EventStoreError) -> UnsafeRawBufferPointer {
        precondition(active, "an EventView was used after its scan's closure returned")
        if buffer.count < d.rawLength {
            buffer.deallocate()
            buffer = .allocate(byteCount: max(d.rawLength, buffer.count * 2), alignment: 16)
        }
        try store.codec.decompress(
            d.payload, d.compression, rawLength: d.rawLength, into: buffer, context: context, load: loadDictionary)
        return UnsafeRawBufferPointer(rebasing: buffer[..<d.rawLength])
    }
}

extension EventStore {
    /// Calls `body` with every event from `from` through `through` (default: the last committed), in order, without
    /// copying: the fast path for projections, which look at the envelope and decode only the payloads they need.
    /// `body` returns false to stop early.
    ///
    /// Reads in short transactions of `chunkEvents` events, so it never holds up the writer.
    /// - Returns: the last seq passed to `body` (0 when none).
    /// - Throws: `corrupt` for a damaged record; whatever `body` throws.
    /// - Complexity: O(log N + n).
    @discardableResult
    public func scan(
        from: Seq = 1, through: Seq? = nil, chunkEvents: Int = 8192,
        _ body: (EventView) throws -> Bool
    ) throws -> Seq {
        let end = through?.rawValue ?? UInt64.max
        var next = max(from.rawValue, 1)
        let context = try codec.borrowDecompressionContext()
        var stopped = false
        while !stopped, next <= end {
            let delivered = try env.read { (txn) throws(EventStoreError) -> Result<UInt64, any Error> in
                let scanner = Scanner(store: self, txn: txn, context: context)
                defer { scanner.active = false }
                return try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) -> Result<UInt64, any Error> in
                    var count = 0
                    var last: UInt64 = 0
                    var entry = try withBigEndian(next) { (k) throws(EventStoreError) in
                        try c.get(MDB_SET_RANGE, key: k)
                    }
                    while let e = entry, count < chunkEvents {
                        let seq = e.key.loadBigEndianUInt64()
                        if seq > end { break }
                        let view = EventView(
                            seq: seq, decoded: try RecordCodec.decode(e.value, seq: seq, nodes: txn), scanner: scanner)
                        do {
                            if try !body(view) { stopped = true; return .success(seq) }
                        } catch {
                            return .failure(error)
                        }
                        last = seq
                        count += 1
                        entry = try c.get(MDB_NEXT)
                    }
                    if count < chunkEvents { stopped = true }
                    return .success(last)
                }
            }
            let last = try delivered.get()
            if last == 0 { break }
            next = last + 1
            if stopped { return Seq(last) }
        }
        return Seq(next - 1)
    }
}

extension EventStore {
    /// Calls `body` with every event of `streams` up to `through` (default: all), in log order, without copying —
    /// the fast path for a view of a few streams as of a seq (a thread, the registry). A stream is walked back from
    /// its first checkpoint past `through` (found by binary search), so later events cost nothing and at most
    /// `KeyLayout.checkpointInterval` of them a header read. One read transaction.
    /// `body` returns false to stop early.
    /// - Throws: `corrupt` for a damaged record or a broken stream link; whatever `body` throws.
    /// - Complexity: O(n log N) for the streams' n events.
    public func scan(streams: [StreamID], through: Seq? = nil, _ body: (EventView) throws -> Bool) throws {
        let end = through?.rawValue ?? UInt64.max
        let context = try codec.borrowDecompressionContext()
        let outcome = try env.read { (txn) throws(EventStoreError) -> Result<Void, any Error> in
            // Record pointers stay valid for the read transaction (they point into the map): each is decoded once.
            var records: [(seq: UInt64, decoded: RecordCodec.Decoded)] = []
            for stream in streams {
                guard let head = try txn.streamHead(of: stream) else { continue }
                var (seq, rev) = (head.lastSeq, head.revision)
                if seq > end, let start = try firstCheckpoint(after: end, of: head, in: txn) { (rev, seq) = start }
                while rev >= 1 {
                    guard let record = try txn.get(txn.dbs.events, seq) else {
                        throw EventStoreError(
                            .corrupt, "stream '\(stream)' links to seq \(seq), which is missing; run 'logbook verify'")
                    }
                    let decoded = try RecordCodec.decode(record, seq: seq, nodes: txn)
                    if seq <= end { records.append((seq, decoded)) }
                    seq = decoded.envelope.previousSeq
                    rev -= 1
                }
            }
            records.sort { $0.seq < $1.seq }
            let scanner = Scanner(store: self, txn: txn, context: context)
            defer { scanner.active = false }
            for (seq, decoded) in records {
                let view = EventView(seq: seq, decoded: decoded, scanner: scanner)
                do {
                    if try !body(view) { break }
                } catch {
                    return .failure(error)
                }
            }
            return .success(())
        }
        try outcome.get()
    }
}

extension EventStore {
    /// The stream's first checkpoint (revision, seq) whose seq is past `end`, by binary search; nil when none is.
    fileprivate func firstCheckpoint(
        after end: UInt64, of head: StreamHead, in txn: LMDBTransaction
    ) throws(EventStoreError) -> (UInt64, UInt64)? {
        var (lo, hi) = (UInt64(0), (head.revision - 1) / KeyLayout.checkpointInterval)
        var found: (UInt64, UInt64)?
        while lo <= hi {
            let mid = lo + (hi - lo) / 2
            let revision = mid * KeyLayout.checkpointInterval + 1
            guard let seq = try txn.checkpoint(stream: head.number, revision: revision) else {
                throw EventStoreError(
                    .corrupt, "a stream has no checkpoint for revision \(revision); run 'logbook verify'")
            }
            if seq > end {
                found = (revision, seq)
                if mid == 0 { break }
                hi = mid - 1
            } else {
                lo = mid + 1
            }
        }
        return found
    }
}
