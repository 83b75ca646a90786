import EventStore
import Foundation

/// Where a read model's tables stand, kept in their `meta` table: the layout version they were written in, the log
/// position they were written through, and the id of the log's event there (by which the runner tells whether they
/// are of this log). Written in the same transaction as what they describe.
enum TablePosition {
    /// The position and event id, or nil when the tables are empty or of another layout version.
    static func load(_ r: TableReader, meta: OrderedTables.Table, version: UInt64) throws -> (position: Seq, id: UUID?)?
    {
        guard let stored = try r.get(meta, key: Array("version".utf8)), TableKey.uint(stored) == version,
            let position = try r.get(meta, key: Array("position".utf8))
        else { return nil }
        let id = try r.get(meta, key: Array("event".utf8)).flatMap { b in
            b.count == 16 ? UUID(uuid: b.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) }) : nil
        }
        return (Seq(TableKey.uint(position)), id)
    }

    static func write(_ w: TableWriter, meta: OrderedTables.Table, position: Seq, id: UUID?, version: UInt64) throws {
        try w.put(meta, key: Array("position".utf8), value: TableKey.bytes(position.rawValue))
        try w.put(meta, key: Array("event".utf8), value: TableKey.bytes(id))
        try w.put(meta, key: Array("version".utf8), value: TableKey.bytes(version))
    }
}

/// Keys and numbers as the read models' tables store them: big-endian, so that they sort as numbers do.
enum TableKey {
    static func bytes(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func bytes(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func bytes(_ id: UUID?) -> [UInt8] {
        guard let id else { return [0] }
        return withUnsafeBytes(of: id.uuid) { Array($0) }
    }
    static func uint(_ b: [UInt8]) -> UInt64 { b.reduce(0) { $0 << 8 | UInt64($1) } }

    /// The FNV-1a hash of `bytes`: what stands for the end of a name too long for a key (LMDB keys hold 511 bytes).
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Self.bytes(hash)
    }
}
