import Synchronization

/// The last committed seq, and the tasks waiting for it to move past a position.
///
/// The writer calls `advance(to:)` after each commit; subscriptions `await` the head instead of polling.
final class HeadWatcher: Sendable {
    private struct State {
        var head: UInt64
        var closed = false
        var waiters: [UInt64: (after: UInt64, continuation: CheckedContinuation<UInt64?, Never>)] = [:]
        var nextToken: UInt64 = 0
    }

    private let state: Mutex<State>

    init(head: UInt64) { state = Mutex(State(head: head)) }

    var head: UInt64 { state.withLock { $0.head } }

    /// How many tasks are waiting (for tests and metrics).
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    func advance(to head: UInt64) {
        let ready = state.withLock { s -> [CheckedContinuation<UInt64?, Never>] in
            s.head = max(s.head, head)
            let due = s.waiters.filter { $0.value.after < s.head }
            for key in due.keys { s.waiters[key] = nil }
            return due.values.map(\.continuation)
        }
        for c in ready { c.resume(returning: head) }
    }

    /// Wakes every waiter with nil; later waits return nil at once.
    func close() {
        let all = state.withLock { s -> [CheckedContinuation<UInt64?, Never>] in
            s.closed = true
            defer { s.waiters = [:] }
            return s.waiters.values.map(\.continuation)
        }
        for c in all { c.resume(returning: nil) }
    }

    /// Returns the head once it is past `position`; nil when the store closes or the task is cancelled.
    func wait(after position: UInt64) async -> UInt64? {
        let token = state.withLock { s -> UInt64 in
            s.nextToken += 1
            return s.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<UInt64?, Never>) in
                let immediate: UInt64?? = state.withLock { s in
                    if s.closed || Task.isCancelled { return .some(nil) }
                    if s.head > position { return .some(s.head) }
                    s.waiters[token] = (position, c)
                    return .none
                }
                if let immediate { c.resume(returning: immediate) }
            }
        } onCancel: {
            // Project outside the lock: see `ZstdCodec.dictionary(_:)` for the miscompile this avoids.
            let c = state.withLock { s in s.waiters.removeValue(forKey: token) }?.continuation
            c?.resume(returning: nil)
        }
    }

    /// What `wait(after:timeout:)` saw.
    enum Outcome: Sendable, Equatable { case advanced(UInt64), timedOut, ended }

    /// Like `wait(after:)`, giving up after `timeout`.
    func wait(after position: UInt64, timeout: Duration) async -> Outcome {
        await withTaskGroup(of: Outcome.self) { group in
            group.addTask { await self.wait(after: position).map(Outcome.advanced) ?? .ended }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return .ended }
                return .timedOut
            }
            let first = await group.next() ?? .ended
            group.cancelAll()
            // Cancelled by the caller: report the end, not a timeout.
            return Task.isCancelled ? .ended : first
        }
    }
}
