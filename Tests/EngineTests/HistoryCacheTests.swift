@testable import Engine
import EventStore
import Events
import Foundation
import Testing

/// The history cache stays within its bound, evicting the threads used longest ago, and a history it hands out is
/// the thread's whole history even when the log moved on.
@Suite struct HistoryCacheTests {
    static func events(_ n: Int, from seq: UInt64) -> [(seq: Seq, event: DomainEvent)] {
        (0..<UInt64(n)).map { (Seq(seq + $0), .userMessage(UserMessage(text: "m\(seq + $0)"))) }
    }

    @Test func theCacheKeepsWithinItsBoundAndEvictsTheLeastRecentlyUsed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-history-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try EventStore.open(EventStore.Configuration(directory: dir.path))
        var heads: [StreamID: AppendResult] = [:]
        for i in 0..<5 {
            let stream = try StreamID("thread/t\(i)")
            heads[stream] = try await store.append(
                (0..<4).map { _ in UserMessage(text: "hello \(i)").proposed() }, to: stream)
        }
        let cache = HistoryCache(maxEvents: 40)
        for i in 0..<5 {
            let stream = try StreamID("thread/t\(i)")
            let history = try cache.history(of: stream, in: store)
            #expect(history.events.count == 4)
            #expect(history.revision == 4)
            cache.remember(stream, events: history.events, revision: try #require(history.revision))
        }
        #expect(cache.heldEvents == 20)
        // A smaller bound: only the most recently remembered threads stay.
        let small = HistoryCache(maxEvents: 16)
        for i in 0..<5 {
            let stream = try StreamID("thread/t\(i)")
            small.remember(stream, events: try cache.history(of: stream, in: store).events, revision: 4)
            #expect(small.heldEvents <= 16)
        }
        #expect(small.holds(try StreamID("thread/t4")))
        #expect(small.holds(try StreamID("thread/t3")))
        #expect(!small.holds(try StreamID("thread/t0")))

        // The log moved on behind the cache: the next history has the new events too.
        let t4 = try StreamID("thread/t4")
        try await store.append([UserMessage(text: "later").proposed()], to: t4)
        let later = try small.history(of: t4, in: store)
        #expect(later.events.count == 5)
        #expect(later.revision == 5)
        if case .userMessage(let m) = later.events.last?.event {
            #expect(m.text == "later")
        } else {
            Issue.record("the new event is missing")
        }
        await store.close()
    }
}
