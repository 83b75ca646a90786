import AsyncHTTPClient
import Foundation
import NIOCore

/// Thrown by `withDeadline` when time ran out.
struct DeadlineExceeded: Error {}

/// Runs `body`, throwing `DeadlineExceeded` once `limit` has passed (or `CancellationError` when the caller is
/// cancelled) without waiting for `body` to wind down: it is cancelled and left to finish on its own, so a peer that
/// is slow to notice cannot stretch the deadline.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            // A timer on an event loop, not a task of its own: no task to start (and wake a thread for) per call.
            let timer = HTTPClient.defaultEventLoopGroup.any().scheduleTask(in: limit.timeAmount) {
                race.finish(.failure(DeadlineExceeded()))
            }
            race.onFinish {
                work.cancel()
                timer.cancel()
            }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of several outcomes resumes the continuation; the rest are dropped.
private final class Race<T: Sendable>: @unchecked Sendable {
    // Invariant: every var is accessed with `lock` held.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var done = false
    private var cleanups: [@Sendable () -> Void] = []

    func start(_ c: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = lock.withLock {
            if let early { return early }
            continuation = c
            return nil
        }
        if let ready { c.resume(with: ready) }
    }

    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let now = lock.withLock { () -> Bool in
            if done { return true }
            cleanups.append(cleanup)
            return false
        }
        if now { cleanup() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (c, run): (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) = lock.withLock {
            guard !done else { return (nil, []) }
            done = true
            defer { (continuation, cleanups) = (nil, []) }
            if continuation == nil { early = result }
            return (continuation, cleanups)
        }
        c?.resume(with: result)
        for cleanup in run { cleanup() }
    }
}

extension Duration {
    /// As NIO's time amount (AsyncHTTPClient's request timeouts, event-loop timers), to the nanosecond.
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    /// Whole milliseconds.
    var milliseconds: Int { Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000) }
}
