import Foundation
import Testing
@testable import EventStore

/// Event ids a writing process makes are stored compactly through its registered node (`EventIDNodes`); every id,
/// compact or not, reads back exactly, after reopening and in a reader that opened before the writer registered.
@Suite struct EventIDNodeTests {
    func recordBytes(_ store: EventStore, _ seq: UInt64) throws -> Int {
        try store.env.read { (txn) throws(EventStoreError) in try txn.get(txn.dbs.events, seq)!.count }
    }

    func registeredNodes(_ store: EventStore) throws -> Int {
        try store.env.read { (txn) throws(EventStoreError) in
            let nodes = EventIDNodes()
            try nodes.load(txn)
            return nodes.count
        }
    }

    @Test func idsThisProcessMakesAreStoredInAFewBytesAndReadBackExactly() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 71)
        let payload = Data(#"{"text":"the same payload for both"}"#.utf8)
        let correlation = EventID.make()
        // Same stream, type, payload and metadata; one id from this process, one v7 id of another node.
        let own = ProposedEvent(
            id: EventID.make(), type: "message.user", payload: payload,
            metadata: EventMetadata(correlationID: correlation))
        let foreign = ProposedEvent(
            id: EventID.make(unixMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000), using: &rng),
            type: "message.user", payload: payload, metadata: EventMetadata(correlationID: correlation))
        let plain = ProposedEvent(
            id: UUID(), type: "message.user", payload: payload, metadata: EventMetadata(correlationID: UUID()))
        var store = try EventStore.openForTest(dir.path)
        for e in [own, foreign, plain] { try await store.append([e], to: "s") }
        // Seq 3 stores the commit's chain hash (each append is its own commit): compare 1 and 2, both without it.
        let ownBytes = try recordBytes(store, 1)
        let foreignBytes = try recordBytes(store, 2)
        #expect(foreignBytes - ownBytes >= 9, "\(ownBytes) vs \(foreignBytes) bytes")
        #expect(try registeredNodes(store) == 1)
        let stats = try store.statistics()
        #expect(stats.idNodes == 1)
        #expect(stats.formatVersion == EventStore.formatVersion)
        await store.close()

        for _ in 0..<3 {  // reopening in the same process registers nothing new
            store = try EventStore.openForTest(dir.path)
            let all = try store.readAll()
            #expect(all.map(\.id) == [own.id, foreign.id, plain.id])
            #expect(all.map(\.metadata.correlationID) == [correlation, correlation, plain.metadata.correlationID])
            #expect(try store.verify().isIntact)
            // A retry of the compact one is recognised.
            let retry = try await store.append([own], to: "s")
            #expect(retry.wasAlreadyAppended)
            #expect(retry.firstSeq == 1)
            #expect(try registeredNodes(store) == 1)
            await store.close()
        }
    }

    @Test func aGapInTheNodeTableIsReportedNotTrustedOrCrashedOn() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        try await store.append([ProposedEvent(type: "t", payload: Data("{}".utf8))], to: "s")
        try store.env.write { (txn) throws(EventStoreError) in
            try txn.put(txn.dbs.meta, EventIDNodes.key(5), UInt64(9).bigEndianBytes + UInt64(0).bigEndianBytes)
        }
        await store.close()
        #expect {
            try EventStore.openForTest(dir.path) { $0.readOnly = true }
        } throws: { error in
            guard let e = error as? EventStoreError else { return false }
            return e.code == .corrupt && e.message.contains("id node 1 is missing")
        }
    }

    /// A reader loads the nodes when it opens; another process registering its node later is found when a record names it.
    @Test func aReaderOpenedBeforeAnotherWriterReadsThatWritersIds() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: CrashTests.helperPath),
            "build the StoreCrashHelper product first")
        let dir = TemporaryDirectory()
        let first = ProposedEvent(type: "start", payload: Data("{}".utf8))
        do {
            let store = try EventStore.openForTest(dir.path)
            try await store.append([first], to: "s")
            await store.close()
        }
        let reader = try EventStore.openForTest(dir.path) { $0.readOnly = true }
        #expect(reader.env.idNodes.count == 1)

        let lines = try await CrashTests.runAndKill(arguments: [dir.path, "2", "durable"], afterAcks: 20)
        let acks = lines.compactMap(CrashTests.parse)
        try #require(acks.count >= 20, "\(lines.prefix(5))")
        let all = try reader.readAll()
        var idsBySeq: [UInt64: UUID] = [1: first.id]
        for ack in acks { for (i, id) in ack.ids.enumerated() { idsBySeq[ack.firstSeq + UInt64(i)] = id } }
        for (seq, id) in idsBySeq { #expect(all.count >= Int(seq) && all[Int(seq) - 1].id == id, "seq \(seq)") }
        #expect(reader.env.idNodes.count == 2, "the helper's node, found when its first record was read")
        #expect(try reader.verify().isIntact)
        await reader.close()
    }
}
