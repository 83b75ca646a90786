import CLMDB
import Foundation

/// Keys and values of the `meta` and index databases.
enum KeyLayout {
    /// meta: format version of the log (u32 big-endian).
    static let formatKey = Array("format".utf8)
    /// meta: running totals, see `Totals`.
    static let totalsKey = Array("totals".utf8)
    /// The id of the shared log a copy follows (`SharedLog.logID`), 16 bytes; absent in a log of its own.
    static let sharedLogKey = Array("shared-log".utf8)
    /// meta: the dictionary new records use (u32 big-endian).
    static let currentDictionaryKey = Array("dictionary.current".utf8)
    /// meta: prefix of `dictionary/<u32 big-endian id>` → trained dictionary bytes.
    static let dictionaryPrefix = Array("dictionary/".utf8)
    /// meta: prefix of `dictionary.trained/<u32 id>` → seq (u64) at which the dictionary was stored.
    static let dictionarySeqPrefix = Array("dictionary.seq/".utf8)

    /// meta: prefix of `checkpoint/<name>` → a projection checkpoint (`CheckpointCodec`).
    static let checkpointPrefix = Array("checkpoint/".utf8)
    static func checkpointKey(_ name: String) -> [UInt8] { checkpointPrefix + Array(name.utf8) }

    static func dictionaryKey(_ id: UInt32) -> [UInt8] { dictionaryPrefix + id.bigEndianBytes }
    static func dictionarySeqKey(_ id: UInt32) -> [UInt8] { dictionarySeqPrefix + id.bigEndianBytes }

    /// Every how many revisions a stream's event is in the stream index (revisions 1, 1 + k, 1 + 2k, …).
    static let checkpointInterval: UInt64 = 32

    static func isCheckpoint(_ revision: UInt64) -> Bool { revision % checkpointInterval == 1 }

    /// The first checkpoint revision at or after `revision`.
    static func checkpoint(atOrAfter revision: UInt64) -> UInt64 {
        revision <= 1 ? 1 : ((revision - 2) / checkpointInterval + 1) * checkpointInterval + 1
    }

    /// stream_heads value: last revision ‖ seq of the last event, both u64 big-endian; built on the stack (the writer
    /// puts one per append).
    static func withStreamHead<T>(
        revision: UInt64, lastSeq: UInt64,
        _ body: (UnsafeRawBufferPointer) throws(EventStoreError) -> T
    ) throws(EventStoreError) -> T {
        var value = (revision.bigEndian, lastSeq.bigEndian)
        return try withUnsafeBytes(of: &value, body)
    }
    static func decodeStreamHead(_ v: UnsafeRawBufferPointer) -> (revision: UInt64, lastSeq: UInt64)? {
        guard v.count == 16 else { return nil }
        return (v.loadBigEndianUInt64(at: 0), v.loadBigEndianUInt64(at: 8))
    }

    /// stream_index duplicate value: revision ‖ seq, both u64 big-endian, so duplicates sort by revision.
    static func streamIndexEntry(revision: UInt64, seq: UInt64) -> [UInt8] {
        revision.bigEndianBytes + seq.bigEndianBytes
    }

    static func uuidKey(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid) { Array($0) } }

    /// Calls `body` with the 16 bytes of `id`, without allocating.
    @inline(__always)
    static func withUUIDKey<T>(
        _ id: UUID, _ body: (UnsafeRawBufferPointer) throws(EventStoreError) -> T
    ) throws(EventStoreError) -> T {
        let result: Result<T, EventStoreError> = withUnsafeBytes(of: id.uuid) { raw in
            Result { () throws(EventStoreError) -> T in try body(raw) }
        }
        return try result.get()
    }
}

/// Running totals kept in `meta` and updated by every commit: what `stats` reports without a scan.
struct Totals: Equatable {
    var rawPayloadBytes: UInt64 = 0
    var storedPayloadBytes: UInt64 = 0
    var recordBytes: UInt64 = 0

    var encoded: [UInt8] {
        rawPayloadBytes.bigEndianBytes + storedPayloadBytes.bigEndianBytes + recordBytes.bigEndianBytes
    }

    init() {}
    init?(_ v: UnsafeRawBufferPointer) {
        guard v.count == 24 else { return nil }
        rawPayloadBytes = v.loadBigEndianUInt64(at: 0)
        storedPayloadBytes = v.loadBigEndianUInt64(at: 8)
        recordBytes = v.loadBigEndianUInt64(at: 16)
    }
}

extension FixedWidthInteger {
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: self.bigEndian) { Array($0) } }
}

extension LMDBTransaction {
    /// The head of `stream` (number, last revision, last seq), or nil when the stream does not exist.
    func streamHead(of stream: StreamID) throws(EventStoreError) -> StreamHead? {
        guard let number = try get(dbs.streams, Array(stream.rawValue.utf8)) else { return nil }
        guard number.count == 8 else {
            throw EventStoreError(.corrupt, "the number of stream '\(stream)' is malformed; run 'logbook verify'")
        }
        let n = number.loadBigEndianUInt64()
        guard let head = try get(dbs.streamHeads, n).flatMap(KeyLayout.decodeStreamHead) else {
            throw EventStoreError(.corrupt, "stream '\(stream)' has no head; run 'logbook verify'")
        }
        return StreamHead(number: n, revision: head.revision, lastSeq: head.lastSeq)
    }

    /// The seq of a stream's checkpoint revision, or nil when the index has none.
    func checkpoint(stream number: UInt64, revision: UInt64) throws(EventStoreError) -> UInt64? {
        try withCursor(dbs.streamIndex) { (c) throws(EventStoreError) in
            try number.bigEndianBytes.withBytes { (k) throws(EventStoreError) in
                try KeyLayout.streamIndexEntry(revision: revision, seq: 0).withBytes { (v) throws(EventStoreError) in
                    guard let found = try c.get(MDB_GET_BOTH_RANGE, key: k, value: v), found.value.count == 16,
                        found.value.loadBigEndianUInt64(at: 0) == revision
                    else { return nil }
                    return found.value.loadBigEndianUInt64(at: 8)
                }
            }
        }
    }
}

extension LMDBTransaction {
    /// The stored bytes of compression dictionary `id`, or nil when the log does not hold it.
    /// (The `ZstdCodec.DictionaryLoader` of reads in this transaction.)
    func dictionary(_ id: UInt32) throws(EventStoreError) -> [UInt8]? {
        try get(dbs.meta, KeyLayout.dictionaryKey(id)).map { Array($0) }
    }
}
