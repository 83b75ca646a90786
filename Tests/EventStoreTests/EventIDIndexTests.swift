import CLMDB
import Foundation
import Testing
@testable import EventStore

/// `EventIDIndex`: ids in order are found through marks, the others through `event_ids`; retries are recognised
/// either way, verify checks both, and a log of format 1 is upgraded in place.
@Suite struct EventIDIndexTests {
    /// Appends `count` events in appends of 1-4, a third of them with random (v4) ids, the rest from `EventID.make()`.
    /// Returns the appends in order with their results, and how many ids were not above the largest before them.
    func appendMixed(
        _ store: EventStore, count: Int, rng: inout SplitMix64, largest: inout EventIDIndex.Key?
    )
        async throws -> (appends: [(StreamID, [ProposedEvent], AppendResult)], outOfOrder: Int)
    {
        var appends: [(StreamID, [ProposedEvent], AppendResult)] = []
        var outOfOrder = 0
        var made = 0
        while made < count {
            let n = min(Int.random(in: 1...4, using: &rng), count - made)
            let events = (0..<n).map { _ in
                var e = randomEvent(&rng)
                e.id = Int.random(in: 0..<3, using: &rng) == 0 ? UUID() : EventID.make()
                return e
            }
            for e in events {
                // The writer's clock is now, so every id from `EventID.make()` is orderable; random ones never are.
                if EventIDIndex.isInOrder(e.id, recordTime: Int64(Date().timeIntervalSince1970 * 1e9), after: largest) {
                    largest = EventIDIndex.Key(e.id)
                } else {
                    outOfOrder += 1
                }
            }
            let stream = try StreamID("s/\(Int.random(in: 0..<7, using: &rng))")
            appends.append((stream, events, try await store.append(events, to: stream)))
            made += n
        }
        return (appends, outOfOrder)
    }

    func indexedCount(_ store: EventStore) throws -> Int {
        try store.env.read { (txn) throws(EventStoreError) in try txn.count(txn.dbs.eventIDs) }
    }

    func seq(of id: UUID, in store: EventStore) throws -> UInt64? {
        try store.env.read { (txn) throws(EventStoreError) in
            try txn.seq(ofEventID: id, lastSeq: try EventStore.lastSeq(txn))
        }
    }

    @Test(arguments: propertySeeds(count: 3))
    func everyEventIsFoundByItsIdAndEveryRetryIsRecognised(seed: UInt64) async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: seed)
        var largest: EventIDIndex.Key?
        var store = try EventStore.openForTest(dir.path)
        var (appends, outOfOrder) = try await appendMixed(store, count: 500, rng: &rng, largest: &largest)
        // Reopened, the writer finds the largest id again from the last mark and the records after it.
        await store.close()
        store = try EventStore.openForTest(dir.path)
        let more = try await appendMixed(store, count: 300, rng: &rng, largest: &largest)
        appends += more.appends
        outOfOrder += more.outOfOrder

        #expect(
            try indexedCount(store) == outOfOrder,
            "only ids at or below the largest before them are indexed (seed \(seed))")
        #expect(outOfOrder > 150, "the mix exercises both paths: \(outOfOrder) of 800 indexed")
        #expect(outOfOrder < 400, "the mix exercises both paths: \(outOfOrder) of 800 indexed")
        for (_, events, result) in appends {
            for (i, e) in events.enumerated() {
                #expect(try seq(of: e.id, in: store) == result.firstSeq.rawValue + UInt64(i), "seed \(seed)")
            }
        }
        for _ in 0..<100 { #expect(try seq(of: UUID(), in: store) == nil) }
        #expect(try seq(of: EventID.make(), in: store) == nil)

        // Retries anywhere in the log return the original positions; the same id with other content is refused.
        for _ in 0..<60 {
            let (stream, events, result) = appends.randomElement(using: &rng)!
            let retry = try await store.append(events, to: stream)
            #expect(
                retry.wasAlreadyAppended,
                "seed \(seed)")
            #expect(
                retry.firstSeq == result.firstSeq,
                "seed \(seed)")
            #expect(
                retry.lastSeq == result.lastSeq,
                "seed \(seed)")
        }
        var changed = appends[appends.count / 2].1[0]
        changed.payload = Data("{\"changed\":true}".utf8)
        let error = await #expect(throws: EventStoreError.self) { try await store.append([changed], to: "s/0") }
        #expect(error?.code == .duplicateEventID)
        #expect(store.lastSeq == 800, "retries appended nothing")

        #expect(try store.verify().isIntact)
        for _ in 0..<8 {
            let from = UInt64.random(in: 1...800, using: &rng)
            let report = try store.verify(from: Seq(from))
            #expect(report.isIntact, "verify from \(from): \(report.firstFailure?.description ?? "")")
        }
        await store.close()
    }

    @Test func verifyNamesAMissingMarkAndAMissingIndexEntry() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 31)
        var largest: EventIDIndex.Key?
        let store = try EventStore.openForTest(dir.path)
        let (appends, _) = try await appendMixed(store, count: 200, rng: &rng, largest: &largest)
        #expect(try store.verify().isIntact)

        // The mark at seq 128 gone: verify stops there.
        let mark = try store.env.read { (txn) throws(EventStoreError) in
            try txn.withCursor(txn.dbs.eventIDMarks!) { (c) throws(EventStoreError) in
                var entry = try c.get(MDB_FIRST)
                while let e = entry, e.key.loadBigEndianUInt64(at: 16) != 128 { entry = try c.get(MDB_NEXT) }
                return entry.map { Array($0.key) }
            }
        }
        let markKey = try #require(mark)
        try delete(markKey, from: store.env, db: { $0.eventIDMarks! })
        var report = try store.verify()
        #expect(report.firstFailure?.seq == 128, "\(report.firstFailure?.description ?? "intact")")
        #expect(report.firstFailure?.reason.contains("mark") == true)
        try store.env.write { (txn) throws(EventStoreError) in try txn.put(txn.dbs.eventIDMarks!, markKey, []) }
        #expect(try store.verify().isIntact)

        // An indexed (out-of-order) event's entry gone: verify names its seq, and a retry of it is no longer recognised.
        var indexed: (UUID, UInt64)?
        for (_, events, result) in appends where indexed == nil {
            for (i, e) in events.enumerated()
            where try store.env.read({ (txn) throws(EventStoreError) in
                try txn.get(txn.dbs.eventIDs, KeyLayout.uuidKey(e.id)) != nil
            }) {
                indexed = (e.id, result.firstSeq.rawValue + UInt64(i))
                break
            }
        }
        let (id, at) = try #require(indexed)
        try delete(KeyLayout.uuidKey(id), from: store.env, db: { $0.eventIDs })
        report = try store.verify()
        #expect(report.firstFailure?.seq == Seq(at), "\(report.firstFailure?.description ?? "intact")")
        #expect(report.firstFailure?.reason.contains("not in order") == true)
        await store.close()
    }

    @Test func aLogOfFormatOneIsUpgradedWhenOpenedForWriting() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 47)
        var largest: EventIDIndex.Key?
        var store = try EventStore.openForTest(dir.path)
        var (appends, _) = try await appendMixed(store, count: 300, rng: &rng, largest: &largest)
        // Turn it into what format 1 wrote: every id indexed, no marks, format 1.
        try store.env.write { (txn) throws(EventStoreError) in
            for (_, events, result) in appends {
                for (i, e) in events.enumerated() {
                    try txn.put(
                        txn.dbs.eventIDs, KeyLayout.uuidKey(e.id), (result.firstSeq.rawValue + UInt64(i)).bigEndianBytes
                    )
                }
            }
            try check(mdb_drop(txn.txn, txn.dbs.eventIDMarks!, 0), "emptying the marks", path: txn.path)
            var k = MDB_val(mv_size: EventIDIndex.marksFromKey.count, mv_data: nil)
            try EventIDIndex.marksFromKey.withBytes { (key) throws(EventStoreError) in
                k = MDB_val(key)
                try check(mdb_del(txn.txn, txn.dbs.meta, &k, nil), "deleting marks_from", path: txn.path)
            }
            try txn.put(txn.dbs.meta, KeyLayout.formatKey, UInt32(1).bigEndianBytes)
        }
        await store.close()
        largest = nil  // in-order ids count from the upgrade on

        // Read-only, format 1 is read as it is.
        let reader = try EventStore.openForTest(dir.path) { $0.readOnly = true }
        #expect(try reader.verify().isIntact)
        await reader.close()

        store = try EventStore.openForTest(dir.path)
        let format = try store.env.read { (txn) throws(EventStoreError) in
            try txn.get(txn.dbs.meta, KeyLayout.formatKey).map { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
        }
        #expect(format == EventStore.formatVersion)
        #expect(try store.env.read { (txn) throws(EventStoreError) in try txn.eventIDMarksFrom() } == 300)
        let before = try indexedCount(store)
        let more = try await appendMixed(store, count: 250, rng: &rng, largest: &largest)
        #expect(try indexedCount(store) == before + more.outOfOrder)
        appends += more.appends
        for (_, events, result) in appends {
            for (i, e) in events.enumerated() {
                #expect(try seq(of: e.id, in: store) == result.firstSeq.rawValue + UInt64(i))
            }
        }
        for (stream, events, result) in [appends[3], appends[appends.count - 3]] {
            let retry = try await store.append(events, to: stream)
            #expect(retry.wasAlreadyAppended)
            #expect(retry.firstSeq == result.firstSeq)
        }
        #expect(try store.verify().isIntact)
        for from: UInt64 in [2, 150, 300, 301, 302, 420, 550] {
            let report = try store.verify(from: Seq(from))
            #expect(report.isIntact, "verify from \(from): \(report.firstFailure?.description ?? "")")
        }
        await store.close()
    }

    /// The writer's memory of recent in-order ids: exact answers above its floor, "ask the log" at or below it.
    @Test func recentIDsAnswerExactlyAboveTheirFloor() {
        func key(_ n: UInt64) -> EventIDIndex.Key {
            EventIDIndex.Key(
                UUID(uuid: withUnsafeBytes(of: (UInt64(1).bigEndian, (n * 2).bigEndian)) { $0.load(as: uuid_t.self) }))
        }
        let recent = RecentEventIDs(capacity: 8, floor: key(0))
        #expect(recent.lookup(key(0)) == .unknown)
        #expect(recent.lookup(key(5)) == .notInOrder)
        for batch in stride(from: UInt64(1), through: 19, by: 3) {
            recent.append((batch..<min(batch + 3, 20)).map { (key($0), 100 + $0) })
        }
        // 19 remembered, capacity 8: the oldest were dropped half a ring at a time, and the floor rose with them.
        let floor = try! #require(recent.floor)
        #expect(floor > key(0))
        #expect(floor < key(19))
        for n in UInt64(1)...19 {
            let answer = recent.lookup(key(n))
            if key(n) <= floor {
                #expect(answer == .unknown, "\(n)")
            } else {
                #expect(answer == .inOrder(100 + n), "\(n)")
            }
        }
        // Between two remembered ids (odd halves) or above them all: not in order.
        let between = EventIDIndex.Key(
            UUID(uuid: withUnsafeBytes(of: (UInt64(1).bigEndian, UInt64(37).bigEndian)) { $0.load(as: uuid_t.self) }))
        #expect(recent.lookup(between) == .notInOrder)
        #expect(recent.lookup(key(40)) == .notInOrder)
    }

    func delete(_ key: [UInt8], from env: LMDBEnvironment, db: @escaping (LMDBDatabases) -> MDB_dbi) throws {
        try env.write { (txn) throws(EventStoreError) in
            try key.withBytes { (raw) throws(EventStoreError) in
                var k = MDB_val(raw)
                try check(mdb_del(txn.txn, db(txn.dbs), &k, nil), "deleting", path: txn.path)
            }
        }
    }
}
