import EventStore
import EventsWorkload
import Foundation
import Testing

@testable import Projections

/// The audit's index lists on disk: what is appended, in blocks over several writes, reads back from any seq, either
/// way, as the list itself.
@Suite struct PostingListsTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func listsReadBackFromAnySeqEitherWay(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let tables = try OrderedTables(directory: dir.path, tables: [.init("index")])
        let lists = PostingLists(table: tables.table("index"))
        var expected: [UInt32: [UInt64]] = [:]
        var next: UInt64 = 1
        for _ in 0..<12 {
            try tables.write { w in
                var added: [UInt32: [UInt64]] = [:]
                // Up to three blocks' worth at once, most of it in list 0, the rest over a few others.
                for _ in 0..<Int.random(in: 0...(3 * PostingLists.blockSeqs), using: &random) {
                    let list = Bool.random(using: &random) ? 0 : UInt32.random(in: 1..<5, using: &random)
                    added[list, default: []].append(next)
                    next += UInt64.random(in: 1...3, using: &random)
                }
                for (list, seqs) in added {
                    try lists.append(w, list: TableKey.bytes(list), seqs: seqs)
                    expected[list, default: []] += seqs
                }
            }
        }
        try tables.read { r in
            for list in UInt32(0)..<6 {
                let all = expected[list] ?? []
                #expect(try lists.count(r, list: TableKey.bytes(list)) == all.count)
                for _ in 0..<40 {
                    let from = UInt64.random(in: 0...(next + 1), using: &random)
                    let limit = Int.random(in: 1...2500, using: &random)
                    for reverse in [false, true] {
                        var got: [UInt64] = []
                        try lists.scan(r, list: TableKey.bytes(list), from: from, reverse: reverse) { seq in
                            got.append(seq)
                            return got.count < limit
                        }
                        let want = reverse ? Array(all.filter { $0 <= from }.reversed()) : all.filter { $0 >= from }
                        #expect(
                            got == Array(want.prefix(limit)),
                            "seed \(seed), list \(list), from \(from), reverse \(reverse)")
                    }
                }
            }
        }
    }
}
