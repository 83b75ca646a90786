import EventStore
import Synchronization

/// Serializes runs per thread: one lock per thread stream, handed to waiters in the order they came.
///
/// A mutex, not an actor: taking a free lock and releasing one never leaves the caller's thread (an actor cost a hop
/// onto it for each, and releasing from a `defer` needed a task of its own).
final class ThreadLocks: Sendable {
    private struct State {
        var held: Set<StreamID> = []
        var waiting: [StreamID: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    /// Takes the lock of `stream`, waiting for the runs ahead when it is held.
    func lock(_ stream: StreamID) async {
        let taken = state.withLock { $0.held.insert(stream).inserted }
        if taken { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Released meanwhile: then it is ours at once.
            let now = state.withLock { s -> Bool in
                if s.held.insert(stream).inserted { return true }
                s.waiting[stream, default: []].append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Releases the lock of `stream`: it passes to the first waiter, if any.
    func unlock(_ stream: StreamID) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var queue = s.waiting[stream], !queue.isEmpty else {
                s.held.remove(stream)
                return nil
            }
            let next = queue.removeFirst()
            s.waiting[stream] = queue.isEmpty ? nil : queue
            return next  // stays held: it passes to `next`
        }
        next?.resume()
    }

    /// Runs waiting for the lock of `stream` (for tests).
    func waiters(for stream: StreamID) -> Int { state.withLock { $0.waiting[stream]?.count ?? 0 } }
}
