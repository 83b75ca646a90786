import EventStore
import Foundation

/// Lists of seqs (the entries that carry a name, or a decision) in one table, in blocks: each block under its list's
/// key and its last seq, its seqs ascending as 8-byte big-endian numbers, at most `blockSeqs` of them; the list's
/// length under its key and seq 0. A checkpoint appends each list's new seqs as one or a few blocks (a put per block,
/// not per seq: a per-seq insert into LMDB's sorted duplicates cost about 0.5 µs each, more than folding the entry); a
/// query walks a list from any seq, either way, reading the blocks in place.
struct PostingLists {
    let table: OrderedTables.Table

    /// Seqs per block: 8 KB values (two pages), so that a query near one end of a long list reads little.
    static let blockSeqs = 1024

    /// Appends `seqs` (ascending, each past every seq of the list) to the list under `list`.
    func append(_ w: TableWriter, list: [UInt8], seqs: [UInt64]) throws {
        guard !seqs.isEmpty else { return }
        var start = 0
        while start < seqs.count {
            let end = min(start + Self.blockSeqs, seqs.count)
            let block = [UInt8](unsafeUninitializedCapacity: (end - start) * 8) { bytes, count in
                for (i, seq) in seqs[start..<end].enumerated() {
                    UnsafeMutableRawBufferPointer(bytes).storeBytes(
                        of: seq.bigEndian, toByteOffset: i * 8, as: UInt64.self)
                }
                count = (end - start) * 8
            }
            try w.put(table, key: list + TableKey.bytes(seqs[end - 1]), value: block)
            start = end
        }
        try w.put(
            table, key: list + TableKey.bytes(UInt64(0)),
            value: TableKey.bytes(UInt64(try count(w.reader, list: list) + seqs.count)))
    }

    /// How many seqs the list under `list` holds.
    func count(_ r: TableReader, list: [UInt8]) throws -> Int {
        try r.get(table, key: list + TableKey.bytes(UInt64(0))).map { Int(TableKey.uint($0)) } ?? 0
    }

    /// The seqs of the list under `list`, ascending from the first ≥ `from` (`reverse`: descending from the last ≤
    /// `from`), while `body` returns true.
    func scan(
        _ r: TableReader, list: [UInt8], from: UInt64, reverse: Bool, _ body: (UInt64) throws -> Bool
    ) throws {
        // Seqs start at 1 (the list's length is under seq 0).
        guard from > 0 || !reverse else { return }
        let from = max(from, 1)
        let prefix = list.count
        /// Visits a block's seqs from `from` on (either way); false when `body` stopped.
        func visit(_ value: UnsafeRawBufferPointer, from: UInt64) throws -> Bool {
            let n = value.count / 8
            func seq(_ i: Int) -> UInt64 {
                UInt64(bigEndian: value.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            }
            // The first position whose seq is ≥ from (forward) or > from (reverse), by bisection.
            var (lo, hi) = (0, n)
            while lo < hi {
                let mid = (lo + hi) / 2
                if reverse ? seq(mid) <= from : seq(mid) < from { lo = mid + 1 } else { hi = mid }
            }
            if reverse {
                for i in stride(from: lo - 1, through: 0, by: -1) { guard try body(seq(i)) else { return false } }
            } else {
                for i in lo..<n { guard try body(seq(i)) else { return false } }
            }
            return true
        }
        func isBlock(_ key: UnsafeRawBufferPointer) -> Bool {
            key.count == prefix + 8 && key.starts(with: list) && key.dropFirst(prefix).contains { $0 != 0 }
        }
        func last(_ key: UnsafeRawBufferPointer) -> UInt64 { TableKey.uint([UInt8](key.dropFirst(prefix))) }
        // The first block whose last seq is ≥ from: where a walk either way starts.
        var going = true
        var first: UInt64?
        try r.scan(table, from: list + TableKey.bytes(from)) { key, value in
            guard isBlock(key) else { return false }
            first = last(key)
            going = try visit(value, from: from)
            return !reverse && going
        }
        guard reverse, going else { return }
        // Backwards: the blocks before it (or, with none at or after `from`, the list's last), wholly ≤ from.
        let before = first.map { $0 - 1 } ?? from
        guard before > 0 else { return }
        try r.scan(table, from: list + TableKey.bytes(before), reverse: true) { key, value in
            guard isBlock(key) else { return false }
            return try visit(value, from: .max)
        }
    }
}
