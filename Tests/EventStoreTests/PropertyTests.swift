import Foundation
import Testing
@testable import EventStore

/// Random sequences of appends, checked against a plain in-memory model of the log.
@Suite struct PropertyTests {
    /// The model: what the log must hold after the operations so far.
    struct Model {
        var events: [(stream: StreamID, revision: UInt64, event: ProposedEvent)] = []
        var heads: [StreamID: UInt64] = [:]
        var appends: [(events: [ProposedEvent], stream: StreamID, result: AppendResult)] = []
    }

    @Test(arguments: propertySeeds(), Backend.all)
    func randomAppendsMatchTheModel(seed: UInt64, backend: Backend) async throws {
        var rng = SplitMix64(seed: seed)
        let log = try await TestLog(backend) {
            $0.dictionaryTrainingPoints = [150]; $0.dictionarySampleEvents = 150
        }
        let store = log.store
        var model = Model()
        let streams: [StreamID] = (0..<8).map { try! StreamID("thread/\(seed)-\($0)") }
        for step in 0..<250 {
            let stream = streams.randomElement(using: &rng)!
            let head = model.heads[stream]
            switch rng.next() % 10 {
            case 0 where !model.appends.isEmpty:
                // Retry of an earlier append: same ids, same content, original positions.
                let earlier = model.appends.randomElement(using: &rng)!
                let result = try await store.append(earlier.events, to: earlier.stream, expecting: .noStream)
                #expect(
                    result.firstSeq == earlier.result.firstSeq,
                    "seed \(seed) step \(step)")
                #expect(
                    result.lastSeq == earlier.result.lastSeq,
                    "seed \(seed) step \(step)")
                #expect(result.wasAlreadyAppended)
            case 1:
                // A stale expectation fails and changes nothing.
                let stale: ExpectedRevision = head.map { .exact(StreamRevision($0 + 1)) } ?? .streamExists
                await #expect(throws: EventStoreError.self, "seed \(seed) step \(step)") {
                    try await store.append([randomEvent(&rng)], to: stream, expecting: stale)
                }
            default:
                let events = (0..<Int.random(in: 1...4, using: &rng)).map { _ in randomEvent(&rng) }
                let expected: ExpectedRevision = head.map { .exact(StreamRevision($0)) } ?? .noStream
                let result = try await store.append(
                    events, to: stream, expecting: rng.next() % 2 == 0 ? expected : .any)
                let base = UInt64(model.events.count)
                #expect(
                    result.firstSeq == Seq(base + 1),
                    "seed \(seed) step \(step)")
                #expect(
                    result.lastSeq == Seq(base + UInt64(events.count)),
                    "seed \(seed) step \(step)")
                for (i, event) in events.enumerated() {
                    model.events.append((stream, (head ?? 0) + UInt64(i) + 1, event))
                }
                model.heads[stream] = (head ?? 0) + UInt64(events.count)
                model.appends.append((events, stream, result))
                #expect(result.revision == StreamRevision(model.heads[stream]!))
            }
        }
        try check(store, against: model, seed: seed)
        await store.close()
        // The same after reopening.
        let reopened = try log.openAgain()
        try check(reopened, against: model, seed: seed)
        await reopened.close()
        if let shared = log.shared {
            // A new server's copy, made from the shared log alone, holds the same.
            let other = TemporaryDirectory()
            let copy = try log.openAgain(directory: other.path)
            try await shared.bringUp(copy, through: Seq(UInt64(model.events.count)))
            try check(copy, against: model, seed: seed)
            await copy.close()
            await shared.close()
        }
    }

    private func check(_ store: EventStore, against model: Model, seed: UInt64) throws {
        let all = try store.readAll()
        #expect(all.map(\.seq.rawValue) == Array(1...UInt64(model.events.count)), "seq gap-free from 1, seed \(seed)")
        for (recorded, expected) in zip(all, model.events) {
            expectSame(recorded, expected.event, stream: expected.stream)
            #expect(recorded.revision == StreamRevision(expected.revision), "seed \(seed) seq \(recorded.seq)")
        }
        for (stream, head) in model.heads {
            let events = try store.read(stream: stream, maxCount: 10_000)
            #expect(events.map(\.revision.rawValue) == Array(1...head), "contiguous revisions, seed \(seed)")
            #expect(try store.revision(of: stream) == StreamRevision(head))
        }
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.timeNanoseconds <= $1.timeNanoseconds })
        let report = try store.verify()
        #expect(report.isIntact, "\(report.firstFailure?.description ?? "")")
        #expect(report.checkedEvents == UInt64(model.events.count))
        #expect(report.indexesChecked, "a quiet log gets the whole-log checks too")
    }

    @Test(arguments: Backend.all) func concurrentAppendersNeverLoseOrDuplicateAnEvent(_ backend: Backend) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        let tasks = 64, appendsPerTask = 25
        let results = try await withThrowingTaskGroup(of: [(StreamID, [UUID], AppendResult)].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(t))
                    var mine: [(StreamID, [UUID], AppendResult)] = []
                    for i in 0..<appendsPerTask {
                        // Half the tasks share streams, so appends to one stream interleave across tasks.
                        let stream = try StreamID(t % 2 == 0 ? "shared/\(t % 8)" : "own/\(t)")
                        let events = (0..<(1 + i % 3)).map { _ in randomEvent(&rng) }
                        mine.append((stream, events.map(\.id), try await store.append(events, to: stream)))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let all = try store.readAll()
        let total = results.reduce(0) { $0 + $1.1.count }
        #expect(all.count == total)
        #expect(all.map(\.seq.rawValue) == Array(1...UInt64(total)))
        #expect(Set(all.map(\.id)).count == total)
        let bySeq = Dictionary(uniqueKeysWithValues: all.map { ($0.seq, $0) })
        for (stream, ids, result) in results {
            // Each append's events are contiguous in the log, in order, in the right stream.
            let seqs = (result.firstSeq.rawValue...result.lastSeq.rawValue).map { Seq($0) }
            #expect(seqs.compactMap { bySeq[$0]?.id } == ids)
            #expect(seqs.allSatisfy { bySeq[$0]?.stream == stream })
        }
        #expect(try store.verify().isIntact)
        await log.close()
    }
}
