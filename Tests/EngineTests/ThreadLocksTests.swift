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
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    await locks.lock(stream)
                    inside.value.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                    for _ in 0..<3 { await Task.yield() }
                    try? await Task.sleep(for: .microseconds(50))
                    inside.value.withLock { $0.now -= 1; $0.done += 1 }
                    locks.unlock(stream)
                }
            }
        }
        let seen = inside.value.withLock { $0 }
        #expect(seen.most == 1 && seen.done == 64 && seen.now == 0)
        #expect(locks.waiters(for: stream) == 0)
        // Released for good: the next run takes it at once.
        await locks.lock(stream)
        locks.unlock(stream)
    }

    @Test func waitersTakeTheLockInTheOrderTheyCame() async throws {
        let locks = ThreadLocks()
        let stream = try StreamID("thread/queue")
        await locks.lock(stream)
        let order = Shared<[Int]>([])
        var waiters: [Task<Void, Never>] = []
        for i in 0..<5 {
            waiters.append(Task {
                await locks.lock(stream)
                order.value.withLock { $0.append(i) }
                locks.unlock(stream)
            })
            // The next one asks only once this one waits.
            let deadline = ContinuousClock.now + .seconds(30)
            while locks.waiters(for: stream) < i + 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(locks.waiters(for: stream) == 5)
        #expect(order.value.withLock { $0 }.isEmpty)
        locks.unlock(stream)
        for waiter in waiters { await waiter.value }
        #expect(order.value.withLock { $0 } == [0, 1, 2, 3, 4])
    }

    @Test func anotherThreadsRunIsNotHeldUp() async throws {
        let locks = ThreadLocks()
        let a = try StreamID("thread/a"), b = try StreamID("thread/b")
        await locks.lock(a)
        let tookB = Task {
            await locks.lock(b)
            locks.unlock(b)
            return true
        }
        // Would hang (and the suite time out) if b waited for a.
        #expect(await tookB.value)
        #expect(locks.waiters(for: a) == 0)
        locks.unlock(a)
    }
}

/// A mutex that closures can share.
private final class Shared<T: Sendable>: Sendable {
    let value: Mutex<T>
    init(_ initial: T) { value = Mutex(initial) }
}
