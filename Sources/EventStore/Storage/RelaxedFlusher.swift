import Foundation
import Synchronization

/// In relaxed mode, flushes the log to the device every `interval` while there are commits it has not flushed, so a
/// power failure loses at most about `interval` of acknowledged appends; LMDB alone (`MDB_NOSYNC`) leaves that to the
/// OS's writeback, which here lets data wait ~30 s. `stop()` flushes what is left, so a clean close loses nothing.
///
/// A flush is LMDB's `mdb_env_sync`: an `fdatasync` of the data file, safe alongside a write transaction. It runs on a
/// thread of its own because it blocks for milliseconds. A failed flush is fatal to writing: the OS may have dropped
/// the pages it could not write, so `onFailure` makes the store refuse further appends.
final class RelaxedFlusher: Sendable {
    private struct State {
        var flushed: UInt64
        var stopping = false
    }

    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let env: LMDBEnvironment
    private let head: HeadWatcher
    private let interval: Duration
    private let onFailure: @Sendable (EventStoreError) -> Void

    /// Flushes once now, so that `flushedThrough` starts at the log's head, then every `interval`.
    init(
        env: LMDBEnvironment, head: HeadWatcher, interval: Duration,
        onFailure: @escaping @Sendable (EventStoreError) -> Void
    ) throws(EventStoreError) {
        let start = head.head
        try env.sync()
        state = Mutex(State(flushed: start))
        self.env = env
        self.head = head
        self.interval = interval
        self.onFailure = onFailure
        let thread = Thread { [self] in run() }
        thread.name = "logbook-flusher"
        thread.start()
    }

    /// The last seq the latest flush covered: every event up to it is on the device.
    var flushedThrough: UInt64 { state.withLock { $0.flushed } }

    /// Flushes what was committed and stops the thread. Call after the writer has stopped, before the environment
    /// closes.
    func stop() {
        let first = state.withLock { s in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        wakeup.signal()
        finished.wait()
    }

    private func run() {
        let nanoseconds = Int(interval / .nanoseconds(1))
        while true {
            let woken = wakeup.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success
            flush()
            if woken && state.withLock({ $0.stopping }) { break }
        }
        finished.signal()
    }

    /// Flushes everything committed so far, now, on the caller's thread.
    func flushNow() throws(EventStoreError) {
        let target = head.head
        do {
            try env.sync()
        } catch {
            onFailure(error)
            throw error
        }
        state.withLock { $0.flushed = max($0.flushed, target) }
    }

    /// Flushes when something was committed since the last flush. The head is read before the flush, so every commit
    /// up to it is covered.
    private func flush() {
        guard head.head > state.withLock({ $0.flushed }) else { return }
        try? flushNow()
    }
}
