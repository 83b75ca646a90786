import EventStore
import Events
import Synchronization

/// Serializes runs per thread: one lock per thread stream, handed to waiters in the order they came.
///
/// A mutex, not an actor: taking a free lock and releasing one never leaves the caller's thread (an actor cost a hop
/// onto it for each, and releasing from a `defer` needed a task of its own).
final class ThreadLocks: Sendable {
    private struct Waiter {
        let token: UInt64
        /// Resumed with true when the lock passes to it, false when its task was cancelled first.
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var held: Set<StreamID> = []
        var waiting: [StreamID: [Waiter]] = [:]
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Takes the lock of `stream`, waiting for the runs ahead when it is held.
    ///
    /// A caller whose task is cancelled while it waits leaves the queue without the lock (`CancellationError`), so a
    /// request its client gave up on never runs. A free lock is taken whether or not the task is cancelled.
    func lock(_ stream: StreamID) async throws(CancellationError) {
        let token: UInt64? = state.withLock { s in
            if s.held.insert(stream).inserted { return nil }
            s.nextToken += 1
            return s.nextToken
        }
        guard let token else { return }
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.held.insert(stream).inserted { return true }  // released meanwhile: ours at once
                    // cancelled before it queued: `onCancel` found nothing to remove
                    if Task.isCancelled { return false }
                    s.waiting[stream, default: []].append(Waiter(token: token, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard var queue = s.waiting[stream], let i = queue.firstIndex(where: { $0.token == token }) else {
                    return nil
                }
                let waiter = queue.remove(at: i)
                s.waiting[stream] = queue.isEmpty ? nil : queue
                return waiter
            }
            waiter?.continuation.resume(returning: false)
        }
        if !granted { throw CancellationError() }
    }

    /// Releases the lock of `stream`: it passes to the first waiter, if any.
    func unlock(_ stream: StreamID) {
        let next = state.withLock { s -> Waiter? in
            guard var queue = s.waiting[stream], !queue.isEmpty else {
                s.held.remove(stream)
                return nil
            }
            let next = queue.removeFirst()
            s.waiting[stream] = queue.isEmpty ? nil : queue
            return next  // stays held: it passes to `next`
        }
        next?.continuation.resume(returning: true)
    }

    /// Runs waiting for the lock of `stream` (for tests).
    func waiters(for stream: StreamID) -> Int { state.withLock { $0.waiting[stream]?.count ?? 0 } }
}

/// A thread taken for one run (`AgentRuntime.takeThread`).
struct ThreadTurn: Sendable {
    let threadID: ThreadID
    /// The thread's hold across servers, on a shared log.
    let hold: SharedHold?

    /// Runs `body` under the hold (`SharedHold.current`): the shared log then appends its events to the thread only
    /// while this server still holds it, and refuses them (`holdLost`, a conflict) once another server has taken it.
    func fencing<R>(_ body: () async throws(EngineError) -> R) async throws(EngineError) -> R {
        guard let hold else { return try await body() }
        do {
            return try await SharedHold.$current.withValue(hold) { try await body() }
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError(.storage, "the run on '\(threadID)' failed: \(error)")
        }
    }
}

extension AgentRuntime {
    /// Takes `threadID` for one run: this server's lock (its runs on the thread go in the order they came) and, on a
    /// shared log, the thread's hold across every server, after which the copy is brought up to the log's end so the
    /// run sees every turn before it. Give it back with `release`.
    /// - Throws: `cancelled` when the caller gave up while waiting; `storage` when the shared log cannot be reached.
    func takeThread(_ threadID: ThreadID) async throws(EngineError) -> ThreadTurn {
        let stream = threadID.stream
        do { try await locks.lock(stream) } catch { throw .cancelledWaiting(for: threadID) }
        guard let shared = store.shared else { return ThreadTurn(threadID: threadID, hold: nil) }
        do throws(EventStoreError) {
            let hold = try await shared.hold(stream)
            do { try await store.catchUp() } catch {
                await shared.release(hold)
                throw error
            }
            return ThreadTurn(threadID: threadID, hold: hold)
        } catch {
            locks.unlock(stream)
            if Task.isCancelled { throw .cancelledWaiting(for: threadID) }
            throw .recording(error, "taking thread '\(threadID)' for a run across servers")
        }
    }

    /// Runs `body` with `threadID` taken (`takeThread`) and its hold fencing the run's appends (`ThreadTurn.fencing`),
    /// then gives the thread back.
    func withThread<R>(_ threadID: ThreadID, _ body: () async throws(EngineError) -> R) async throws(EngineError) -> R {
        let taken = try await takeThread(threadID)
        defer { release(taken) }
        return try await taken.fencing(body)
    }

    /// Gives the thread back: the hold across servers first, then this server's lock (so the next run here finds
    /// the thread free everywhere).
    func release(_ turn: ThreadTurn) {
        guard let hold = turn.hold, let shared = store.shared else {
            locks.unlock(turn.threadID.stream)
            return
        }
        Task {
            await shared.release(hold)
            locks.unlock(turn.threadID.stream)
        }
    }
}
