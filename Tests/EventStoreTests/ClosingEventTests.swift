import Foundation
import Testing
@testable import EventStore

/// `append(_:closingWith:to:expecting:)`: an append whose last event is built from the seqs the others get.
@Suite struct ClosingEventTests {
    /// A closing event that names the seqs of the append's other events in its payload.
    static func naming(_ count: Int, id: UUID) -> @Sendable (Seq) -> ProposedEvent {
        { first in
            let seqs = (0..<UInt64(count)).map { String(first.rawValue + $0) }.joined(separator: ",")
            return ProposedEvent(id: id, type: "test.closing", payload: Data("{\"names\":[\(seqs)]}".utf8))
        }
    }

    @Test(arguments: Backend.all) func theClosingEventNamesTheSeqsItsEventsGotAmongConcurrentAppends(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        // Appends to other streams race with the closing appends, so seqs cannot be guessed ahead.
        let results = try await withThrowingTaskGroup(of: (AppendResult, [ProposedEvent], UUID)?.self) { group in
            for lane in 0..<16 {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(100 + lane))
                    if lane % 2 == 0 {
                        try await store.append([randomEvent(&rng)], to: StreamID("noise/\(lane)"))
                        return nil
                    }
                    let events = (0..<(1 + lane % 4)).map { _ in randomEvent(&rng) }
                    let id = EventID.make()
                    let result = try await store.append(
                        events, closingWith: Self.naming(events.count, id: id), to: StreamID("thread/\(lane)"))
                    return (result, events, id)
                }
            }
            var all: [(AppendResult, [ProposedEvent], UUID)] = []
            for try await r in group { if let r { all.append(r) } }
            return all
        }
        #expect(results.count == 8)
        for (result, events, id) in results {
            #expect(result.lastSeq.rawValue == result.firstSeq.rawValue + UInt64(events.count))
            let recorded = try store.read(from: result.firstSeq, maxCount: events.count + 1)
            for (r, p) in zip(recorded, events) { #expect(r.id == p.id && r.payload == p.payload) }
            let closing = try #require(recorded.last)
            #expect(closing.id == id)
            #expect(closing.seq == result.lastSeq)
            #expect(closing.type == "test.closing")
            let named = (0..<UInt64(events.count)).map { String(result.firstSeq.rawValue + $0) }.joined(separator: ",")
            #expect(String(decoding: closing.payload, as: UTF8.self) == "{\"names\":[\(named)]}")
        }
        #expect(try store.verify().isIntact)
        await log.close()
    }

    @Test(arguments: Backend.all) func aRetryIsRecognisedAndABadClosingEventFailsAloneWritingNothing(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend) { $0.limits.maxEventBytes = 200 }
        let store = log.store
        try await store.append([ProposedEvent(type: "test.message", payload: Data("{}".utf8))], to: "s")
        let events = [
            ProposedEvent(type: "test.message", payload: Data("{}".utf8)),
            ProposedEvent(type: "test.message", payload: Data("{}".utf8)),
        ]
        let id = EventID.make()
        let first = try await store.append(events, closingWith: Self.naming(2, id: id), to: "t", expecting: .noStream)
        #expect(first == AppendResult(firstSeq: 2, lastSeq: 4, revision: 3, wasAlreadyAppended: false))
        try await store.append([ProposedEvent(type: "test.message", payload: Data("{}".utf8))], to: "t")
        // The retry rebuilds the closing event from the original first seq: the same event, so the original positions.
        let retry = try await store.append(events, closingWith: Self.naming(2, id: id), to: "t", expecting: .noStream)
        #expect(retry == AppendResult(firstSeq: 2, lastSeq: 4, revision: 3, wasAlreadyAppended: true))
        // Built differently on the retry: a duplicate id with other content.
        let changed = await #expect(throws: EventStoreError.self) {
            try await store.append(events, closingWith: Self.naming(1, id: id), to: "t")
        }
        #expect(changed?.code == .duplicateEventID)

        let before = store.lastSeq
        let tooBig: @Sendable (Seq) -> ProposedEvent = { _ in
            ProposedEvent(type: "test.closing", payload: Data(repeating: 65, count: 500))
        }
        let oversize = await #expect(throws: EventStoreError.self) {
            try await store.append(
                [ProposedEvent(type: "test.message", payload: Data("{}".utf8))], closingWith: tooBig, to: "t")
        }
        #expect(oversize?.code == .invalidArgument)
        #expect(oversize?.message.contains("more than the limit of 200") == true)
        let reused = EventID.make()
        let sameID = await #expect(throws: EventStoreError.self) {
            try await store.append(
                [ProposedEvent(id: reused, type: "test.message", payload: Data("{}".utf8))],
                closingWith: Self.naming(1, id: reused), to: "t")
        }
        #expect(sameID?.code == .duplicateEventID)
        #expect(store.lastSeq == before)
        #expect(try store.verify().isIntact)
        await log.close()
    }
}
