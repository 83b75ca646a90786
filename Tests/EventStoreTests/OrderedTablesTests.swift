import Foundation
import Testing

@testable import EventStore

/// The read models' ordered tables: packed duplicates written many at a time, and tables of an older layout.
@Suite struct OrderedTablesTests {
    private static func key(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    /// Values appended in batches of random sizes (over several transactions, some keys new, some not) read back as
    /// every value of their key, in order, forward and backward, and counted.
    @Test(arguments: propertySeeds())
    func valuesAppendedInBatchesReadBackInOrder(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let dir = TemporaryDirectory()
        let tables = try OrderedTables(directory: dir.path, tables: [.init("index", duplicates: .fixedSize)])
        let index = tables.table("index")
        var expected: [UInt64: [UInt64]] = [:]
        var next: UInt64 = 1
        for _ in 0..<20 {
            try tables.write { w in
                for _ in 0..<Int.random(in: 1...5, using: &random) {
                    let key = UInt64.random(in: 0..<8, using: &random)
                    let count = Int.random(in: 0...3000, using: &random)
                    let values = (0..<count).map { i in next + UInt64(i) * 3 }
                    next += UInt64(count) * 3 + 1
                    try values.map(\.bigEndian).withUnsafeBytes {
                        try w.append(index, key: Self.key(key), values: $0, size: 8)
                    }
                    expected[key, default: []] += values
                }
            }
        }
        try tables.read { (r) throws in
            for key in UInt64(0)..<8 {
                var forward: [UInt64] = []
                try r.scanValues(index, key: Self.key(key)) { value in
                    forward.append(value.loadUnaligned(as: UInt64.self).bigEndian)
                    return true
                }
                var backward: [UInt64] = []
                try r.scanValues(index, key: Self.key(key), reverse: true) { value in
                    backward.append(value.loadUnaligned(as: UInt64.self).bigEndian)
                    return true
                }
                let want = expected[key] ?? []
                #expect(forward == want, "key \(key), seed \(seed)")
                #expect(backward == want.reversed(), "key \(key), seed \(seed)")
                #expect(try r.count(index, key: Self.key(key)) == want.count)
            }
        }
    }

    /// Values out of order fail the write, which then leaves nothing of itself behind.
    @Test func valuesOutOfOrderFailTheWholeWrite() throws {
        let dir = TemporaryDirectory()
        let tables = try OrderedTables(directory: dir.path, tables: [.init("index", duplicates: .fixedSize)])
        let index = tables.table("index")
        try tables.write { w in
            try [UInt64(10), 20].map(\.bigEndian).withUnsafeBytes {
                try w.append(index, key: Self.key(1), values: $0, size: 8)
            }
        }
        #expect(throws: EventStoreError.self) {
            try tables.write { w in
                try [UInt64(30), 40].map(\.bigEndian).withUnsafeBytes {
                    try w.append(index, key: Self.key(2), values: $0, size: 8)
                }
                try [UInt64(5)].map(\.bigEndian).withUnsafeBytes {
                    try w.append(index, key: Self.key(1), values: $0, size: 8)
                }
            }
        }
        try tables.read { (r) throws in
            #expect(try r.count(index, key: Self.key(1)) == 2)
            #expect(try r.count(index, key: Self.key(2)) == 0)
        }
    }

    /// Tables stored with other duplicate settings (an older layout) are all emptied and made anew when opened for
    /// writing; opened read-only, they fail with a message that says how to rebuild them.
    @Test func tablesOfAnOlderLayoutAreEmptiedAndMadeAnew() throws {
        let dir = TemporaryDirectory()
        do {
            let old = try OrderedTables(
                directory: dir.path, tables: [.init("meta"), .init("index", duplicates: .sorted)])
            try old.write { w in
                try w.put(old.table("meta"), key: Array("position".utf8), value: Self.key(42))
                try w.put(old.table("index"), key: Self.key(1), value: Self.key(7))
            }
            old.close()
        }
        let layout: [OrderedTables.Definition] = [.init("meta"), .init("index", duplicates: .fixedSize)]
        #expect {
            _ = try OrderedTables(directory: dir.path, tables: layout, readOnly: true)
        } throws: { error in
            "\(error)".contains("older layout") && "\(error)".contains("rebuild")
        }
        let new = try OrderedTables(directory: dir.path, tables: layout)
        let (meta, index) = (new.table("meta"), new.table("index"))
        try new.read { (r) throws in
            #expect(try r.get(meta, key: Array("position".utf8)) == nil, "the position went with the tables")
            #expect(try r.count(index) == 0)
        }
        try new.write { w in
            try [UInt64(1), 2].map(\.bigEndian).withUnsafeBytes {
                try w.append(index, key: Self.key(1), values: $0, size: 8)
            }
        }
        try new.read { (r) throws in #expect(try r.count(index, key: Self.key(1)) == 2) }
    }
}
