import Foundation

/// Keys and values of the `meta` and index databases.
enum KeyLayout {
    /// meta: format version of the log (u32 big-endian).
    static let formatKey = Array("format".utf8)
    /// meta: running totals, see `Totals`.
    static let totalsKey = Array("totals".utf8)
    /// meta: the dictionary new records use (u32 big-endian).
    static let currentDictionaryKey = Array("dictionary.current".utf8)
    /// meta: prefix of `dictionary/<u32 big-endian id>` → trained dictionary bytes.
    static let dictionaryPrefix = Array("dictionary/".utf8)
    /// meta: prefix of `dictionary.trained/<u32 id>` → seq (u64) at which the dictionary was stored.
    static let dictionarySeqPrefix = Array("dictionary.seq/".utf8)

    static func dictionaryKey(_ id: UInt32) -> [UInt8] { dictionaryPrefix + id.bigEndianBytes }
    static func dictionarySeqKey(_ id: UInt32) -> [UInt8] { dictionarySeqPrefix + id.bigEndianBytes }

    /// streams value: stream number ‖ last revision, both u64 big-endian.
    static func streamHead(number: UInt64, revision: UInt64) -> [UInt8] { number.bigEndianBytes + revision.bigEndianBytes }
    static func decodeStreamHead(_ v: UnsafeRawBufferPointer) -> (number: UInt64, revision: UInt64)? {
        guard v.count == 16 else { return nil }
        return (v.loadBigEndianUInt64(at: 0), v.loadBigEndianUInt64(at: 8))
    }

    /// stream_index duplicate value: revision ‖ seq, both u64 big-endian, so duplicates sort by revision.
    static func streamIndexEntry(revision: UInt64, seq: UInt64) -> [UInt8] { revision.bigEndianBytes + seq.bigEndianBytes }

    static func uuidKey(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid) { Array($0) } }
}

/// Running totals kept in `meta` and updated by every commit: what `stats` reports without a scan.
struct Totals: Equatable {
    var rawPayloadBytes: UInt64 = 0
    var storedPayloadBytes: UInt64 = 0
    var recordBytes: UInt64 = 0

    var encoded: [UInt8] { rawPayloadBytes.bigEndianBytes + storedPayloadBytes.bigEndianBytes + recordBytes.bigEndianBytes }

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
