import Foundation
import Testing
@testable import EventStore

@Suite struct SubscriptionTests {
    @Test(arguments: Backend.all) func deliversBacklogThenCaughtUpThenLiveEventsInOrder(_ backend: Backend) async throws
    {
        let log = try await TestLog(backend) { $0.limits.subscriptionChunkEvents = 4 }
        let store = log.store
        var rng = SplitMix64(seed: 10)
        for _ in 0..<10 { try await store.append([randomEvent(&rng)], to: "s") }

        var iterator = store.subscribe(from: 3).makeAsyncIterator()
        var backlog: [Seq] = []
        var afterBacklog: SubscriptionMessage?
        while let message = await iterator.next() {
            guard case .event(let e) = message else { afterBacklog = message; break }
            backlog.append(e.seq)
        }
        #expect(backlog == (3...10).map { Seq($0) })
        #expect(afterBacklog == .caughtUp(10))

        let live = (0..<5).map { _ in randomEvent(&rng) }
        let appender = Task {
            for event in live { try await store.append([event], to: "live") }
        }
        var received: [UUID] = []
        while received.count < live.count, let message = await iterator.next() {
            guard case .event(let e) = message else { Issue.record("unexpected \(message)"); break }
            received.append(e.id)
        }
        try await appender.value
        #expect(received == live.map(\.id))
        await log.close()
        #expect(await iterator.next() == .dropped(.storeClosed))
        #expect(await iterator.next() == nil)
    }

    @Test(arguments: Backend.all) func aHeartbeatReportsIdleWaitsAndLiveEventsStillArrive(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 12)
        try await store.append([randomEvent(&rng)], to: "s")
        var iterator = store.subscribe(from: 1, heartbeat: .milliseconds(20)).makeAsyncIterator()
        guard case .event = await iterator.next() else { Issue.record("the backlog comes first"); return }
        #expect(await iterator.next() == .caughtUp(1))
        // Nothing appended: idle, at the same seq, again and again.
        #expect(await iterator.next() == .idle(1))
        #expect(await iterator.next() == .idle(1))
        let event = randomEvent(&rng)
        try await store.append([event], to: "s")
        var next = await iterator.next()
        while next == .idle(1) { next = await iterator.next() }
        guard case .event(let e) = next else {
            Issue.record("expected the appended event, got \(String(describing: next))"); return
        }
        #expect(e.id == event.id)
        #expect(e.seq == 2)
        // Cancelled while waiting: the iteration ends, it does not report a timeout.
        let waiting = Task { () -> SubscriptionMessage? in
            var it = store.subscribe(from: 3, heartbeat: .seconds(30)).makeAsyncIterator()
            _ = await it.next()  // caughtUp(2)
            return await it.next()
        }
        while store.head.waiterCount == 0 { await Task.yield() }  // it is waiting for an append
        waiting.cancel()
        #expect(await waiting.value == nil)
        await log.close()
    }

    @Test func caughtUpMarksTheHeadExactlyOnce() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 11)
        for _ in 0..<3 { try await store.append([randomEvent(&rng)], to: "s") }
        var messages: [SubscriptionMessage] = []
        for await message in store.subscribe(from: 1) {
            messages.append(message)
            if case .caughtUp = message { break }
        }
        #expect(messages.count == 4)
        #expect(messages.last == .caughtUp(3))

        // An empty log is caught up at 0 at once.
        let emptyDir = TemporaryDirectory()
        let empty = try EventStore.openForTest(emptyDir.path)
        var it = empty.subscribe().makeAsyncIterator()
        #expect(await it.next() == .caughtUp(0))
        await empty.close()
        await store.close()
    }

    @Test(arguments: Backend.all) func aSubscriberThatFallsTooFarBehindIsDroppedWithTheReason(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend) { $0.limits.maxSubscriberLagEvents = 5 }
        let store = log.store
        var rng = SplitMix64(seed: 12)
        try await store.append([randomEvent(&rng)], to: "s")
        var iterator = store.subscribe(from: 1).makeAsyncIterator()
        #expect(await iterator.next().map { if case .event = $0 { true } else { false } } == true)
        #expect(await iterator.next() == .caughtUp(1))
        // Live now; the consumer stalls while 10 events arrive.
        for _ in 0..<10 { try await store.append([randomEvent(&rng)], to: "s") }
        let message = await iterator.next()
        #expect(message == .dropped(.subscriberTooSlow(lagEvents: 10, limit: 5)))
        if case .dropped(let reason)? = message { #expect(reason.description.contains("resubscribe")) }
        #expect(await iterator.next() == nil)
        await log.close()
    }

    @Test(arguments: Backend.all) func cancellingTheConsumerEndsAWaitingSubscription(_ backend: Backend) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        let consumer = Task {
            var count = 0
            for await _ in store.subscribe() { count += 1 }
            return count
        }
        // Wait until the consumer is parked on the head, then cancel it.
        while store.head.waiterCount == 0 { await Task.yield() }
        consumer.cancel()
        #expect(await consumer.value == 1)  // just the caughtUp marker
        await log.close()
    }
}
