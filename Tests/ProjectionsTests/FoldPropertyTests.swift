import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

/// For random workloads: folding incrementally, from a checkpoint plus the tail, and from zero all give the same
/// states; and the state as of any seq equals a fold of exactly the events up to it.
@Suite struct FoldPropertyTests {
    static let seeds: [UInt64] =
        ProcessInfo.processInfo.environment["LOGBOOK_SEED"].flatMap(UInt64.init).map { [$0] } ?? [11, 12, 13]

    @Test(arguments: seeds)
    func incrementalCheckpointedAndFullFoldsAgree(seed: UInt64) async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: seed, activeThreads: 6, registryChangeEvery: 15)
        var rng = SeededGenerator(seed: seed)

        // Incremental: catch up after each of several bursts, checkpointing at odd intervals.
        let incremental = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: 37, sliceEvents: 5)
        try await incremental.start()
        // And with no checkpoint during a catch-up (only those asked for), each burst folded in slices by several
        // threads.
        let unbounded = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: .max, sliceEvents: 7)
        for _ in 0..<5 {
            try await appendWorkload(store, &workload, appends: Int(rng.next() % 80) + 10)
            try await incremental.catchUp()
            try await unbounded.catchUp()
            try await unbounded.checkpoint()
        }
        #expect(incremental.position == store.lastSeq)
        #expect(unbounded.position == store.lastSeq)
        #expect(AllStates(unbounded) == AllStates(incremental), "seed \(seed): catch-ups without checkpoints")

        // From the checkpoint the incremental runner left, plus a tail appended since.
        try await appendWorkload(store, &workload, appends: 60)
        let checkpointed = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: 1000)
        let checkpointSeq = try #require(try store.checkpoint(named: "projection/audit")).seq
        let folded = try await checkpointed.start()
        #expect(
            folded == store.lastSeq.rawValue - checkpointSeq.rawValue, "only the tail after the checkpoint is folded")
        try await incremental.catchUp()

        // From zero: in one slice, and in many (decoded on a second thread while the first folds).
        let full = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: .max, sliceEvents: 1 << 20)
        try await full.rebuild()
        let sliced = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: .max, sliceEvents: 17)
        try await sliced.rebuild()

        let expected = try AllStates(foldingFirst: store.lastSeq.rawValue, of: store)
        #expect(AllStates(full) == expected, "seed \(seed): rebuild")
        #expect(AllStates(sliced) == expected, "seed \(seed): rebuild in slices")
        #expect(sliced.position == store.lastSeq)
        #expect(sliced.skipped == full.skipped)
        #expect(AllStates(incremental) == expected, "seed \(seed): incremental")
        #expect(AllStates(checkpointed) == expected, "seed \(seed): checkpoint + tail")
        #expect(expected.audit.count > 100)
        #expect(!expected.conversations.threads.isEmpty)
        #expect(!expected.registry.models.isEmpty)

        // As of random seqs.
        for _ in 0..<4 {
            let n = 1 + rng.next() % store.lastSeq.rawValue
            let asOf = try AllStates(foldingFirst: n, of: store)
            #expect(
                try ProjectionRunner.state(of: AuditProjection.self, asOf: Seq(n), in: store) == asOf.audit,
                "seed \(seed) as of \(n)")
            #expect(
                try ProjectionRunner.state(of: ConversationProjection.self, asOf: Seq(n), in: store)
                    == asOf.conversations)
            #expect(try ProjectionRunner.state(of: UsageProjection.self, asOf: Seq(n), in: store) == asOf.usage)
            #expect(try ProjectionRunner.state(of: RegistryProjection.self, asOf: Seq(n), in: store) == asOf.registry)
            #expect(
                try ProjectionRunner.state(
                    of: RegistryProjection.self, asOf: Seq(n), in: store, streams: RegistryProjection.streams)
                    == asOf.registry)
        }
        await store.close()
    }

    @Test func followingTheLogLiveMatchesARebuild() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: 21, activeThreads: 4)
        try await appendWorkload(store, &workload, appends: 30)
        let runner = ProjectionRunner(store: store, projections: StandardProjections.all, checkpointEveryEvents: 25)
        try await runner.start()
        let follower = Task { try await runner.follow() }
        try await appendWorkload(store, &workload, appends: 60)
        let end = store.lastSeq
        while runner.position < end { await Task.yield() }
        follower.cancel()
        let full = ProjectionRunner(store: store, projections: StandardProjections.all)
        try await full.rebuild()
        #expect(AllStates(runner) == AllStates(full))
        await store.close()
        _ = try? await follower.value
    }

    @Test func unknownTypesAndNewerSchemasAreSkippedAndCounted() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: 22, activeThreads: 2)
        try await appendWorkload(store, &workload, appends: 10)
        var newer = BinaryWriter()
        newer.write(UInt64(99))
        newer.write("a field from the future")
        try await store.append(
            [
                ProposedEvent(type: "custom.unknown", payload: Data("{}".utf8)),
                ProposedEvent(type: UserMessage.typeName, payload: Data(newer.bytes)),
                ProposedEvent(type: UserMessage.typeName, payload: Data([1, 0xFF])),
            ], to: "thread/odd")
        try await appendWorkload(store, &workload, appends: 10)
        let runner = ProjectionRunner(store: store, projections: StandardProjections.all)
        try await runner.start()
        #expect(runner.skipped == ProjectionRunner.Skipped(unknownType: 1, newerVersion: 1, malformed: 1))
        #expect(runner.position == store.lastSeq)
        await store.close()
    }
}

/// A damaged record stops a catch-up with the store's error, whichever thread decodes it; it never hangs.
@Suite struct DamagedLogTests {
    @Test(arguments: [1 << 20, 16])
    func aCorruptRecordFailsTheRebuildClearly(sliceEvents: Int) async throws {
        let dir = TemporaryDirectory()
        var store = try openStore(dir)
        var workload = DomainWorkload(seed: 23, activeThreads: 3)
        try await appendWorkload(store, &workload, appends: 60)
        // The victim's id is a random UUID, which the log stores as is (not compactly, as it stores this process's ids).
        let step = workload.next()
        let events = step.events.map { e in
            var e = e; e.id = UUID(); return e
        }
        let victimSeq = try await store.append(events, to: step.stream).firstSeq
        try await appendWorkload(store, &workload, appends: 60)
        let victim = try #require(try store.read(from: victimSeq, maxCount: 1).first)
        await store.close()

        // Find the id in the data file (in every page copy LMDB left) and damage the byte after it, which the checksum
        // covers.
        let url = URL(fileURLWithPath: dir.path + "/data.mdb")
        var data = try Data(contentsOf: url)
        var start = data.startIndex
        while let at = data.range(of: withUnsafeBytes(of: victim.id.uuid) { Data($0) }, in: start..<data.endIndex) {
            data[at.upperBound] ^= 0x5A
            start = at.upperBound
        }
        try #require(start > data.startIndex, "the record is not in the data file")
        try data.write(to: url)

        store = try openStore(dir)
        let runner = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: .max, sliceEvents: sliceEvents)
        do {
            try await runner.rebuild()
            Issue.record("the rebuild folded a damaged record")
        } catch let error as EventStoreError {
            #expect(error.code == .corrupt, "\(error)")
            #expect(error.message.contains("event \(victim.seq)"), "\(error)")
        }
        #expect(runner.position.rawValue < victim.seq.rawValue)
        await store.close()
    }
}
