@testable import Engine
import EventStore
import Foundation
import Synchronization
import Testing

/// Runs on one thread are serialized, in the order they asked; runs on different threads are not held up.
@Suite struct ThreadLocksTests {
    @Test func oneRunAtATimeHoldsAThreadsLock() async throws {
        let locks = ThreadLocks()
        let stream = try StreamID("thread/busy")
        let inside = Shared((now: 0, most: 0, done: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await locks.lock(stream)
                    inside.value.withLock {
                        $0.now += 1; $0.most = max($0.most, $0.now)
                    }
                    for _ in 0..<3 { await Task.yield() }
                    // Held across a real suspension, so the others contend for it meanwhile (not a wait for anything).
                    try? await Task.sleep(for: .microseconds(50))
                    inside.value.withLock {
                        $0.now -= 1; $0.done += 1
                    }
                    locks.unlock(stream)
                }
            }
            try await group.waitForAll()
        }
        let seen = inside.value.withLock { $0 }
        #expect(seen.most == 1)
        #expect(seen.done == 64)
        #expect(seen.now == 0)
        #expect(locks.waiters(for: stream) == 0)
        // Released for good: the next run takes it at once.
        try await locks.lock(stream)
        locks.unlock(stream)
    }

    @Test func waitersTakeTheLockInTheOrderTheyCame() async throws {
        let locks = ThreadLocks()
        let stream = try StreamID("thread/queue")
        try await locks.lock(stream)
        let order = Shared<[Int]>([])
        var waiters: [Task<Void, any Error>] = []
        for i in 0..<5 {
            waiters.append(
                Task {
                    try await locks.lock(stream)
                    order.value.withLock { $0.append(i) }
                    locks.unlock(stream)
                })
            try await waitUntil { locks.waiters(for: stream) == i + 1 }  // the next one asks only once this one waits
        }
        #expect(locks.waiters(for: stream) == 5)
        #expect(order.value.withLock { $0 }.isEmpty)
        locks.unlock(stream)
        for waiter in waiters { try await waiter.value }
        #expect(order.value.withLock { $0 } == [0, 1, 2, 3, 4])
    }

    @Test func aCancelledWaiterLeavesTheQueueWithoutTheLock() async throws {
        let locks = ThreadLocks()
        let stream = try StreamID("thread/gave-up")
        try await locks.lock(stream)
        let ran = Shared<[String]>([])
        let first = Task {
            do { try await locks.lock(stream) } catch { return "cancelled" }
            ran.value.withLock { $0.append("first") }
            locks.unlock(stream)
            return "ran"
        }
        try await waitUntil { locks.waiters(for: stream) == 1 }
        let second = Task {
            try await locks.lock(stream)
            ran.value.withLock { $0.append("second") }
            locks.unlock(stream)
        }
        try await waitUntil { locks.waiters(for: stream) == 2 }
        first.cancel()
        // It leaves the queue while the lock is still held.
        try await waitUntil { locks.waiters(for: stream) == 1 }
        #expect(locks.waiters(for: stream) == 1)
        locks.unlock(stream)
        #expect(await first.value == "cancelled")
        try await second.value
        #expect(ran.value.withLock { $0 } == ["second"], "the lock passes over the cancelled waiter to the next")
        try await locks.lock(stream)  // and is free afterwards
        locks.unlock(stream)
    }

    @Test func aTaskCancelledBeforeItAsksDoesNotQueue() async throws {
        let locks = ThreadLocks()
        let stream = try StreamID("thread/late")
        try await locks.lock(stream)
        let state = Shared((go: false, done: false))
        let waiter = Task {
            while !state.value.withLock({ $0.go }) { await Task.yield() }
            defer { state.value.withLock { $0.done = true } }
            do { try await locks.lock(stream) } catch { return false }
            locks.unlock(stream)
            return true
        }
        waiter.cancel()
        state.value.withLock { $0.go = true }
        try await waitUntil { state.value.withLock { $0.done } || locks.waiters(for: stream) > 0 }
        #expect(locks.waiters(for: stream) == 0)
        locks.unlock(stream)
        #expect(await waiter.value == false)
    }

    @Test func anotherThreadsRunIsNotHeldUp() async throws {
        let locks = ThreadLocks()
        let a = try StreamID("thread/a"), b = try StreamID("thread/b")
        try await locks.lock(a)
        let tookB = Task {
            try await locks.lock(b)
            locks.unlock(b)
            return true
        }
        // Would hang (and the suite time out) if b waited for a.
        #expect(try await tookB.value)
        #expect(locks.waiters(for: a) == 0)
        locks.unlock(a)
    }
}

/// Polls `condition` every millisecond, for at most 30 s (nothing signals what these tests wait for).
func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
}

/// A mutex that closures can share.
private final class Shared<T: Sendable>: Sendable {
    let value: Mutex<T>
    init(_ initial: T) { value = Mutex(initial) }
}
