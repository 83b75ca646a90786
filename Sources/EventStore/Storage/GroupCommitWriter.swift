import CLMDB
import Foundation
import Synchronization

/// The single writer of a log: a dedicated thread that drains every pending request into one LMDB transaction and
/// one durable commit (group commit), then answers each caller.
///
/// When nothing is queued and no batch is being written, a request is written on its caller's thread instead (the
/// leader of a group of one): two thread hand-offs fewer (~40 µs each here) for an append that would have waited for
/// nobody. Requests that arrive meanwhile queue for the writer thread as usual, so at most one caller's thread is ever
/// blocked in a commit.
///
/// In durable mode a commit returns once its pages and its meta page are on the device; only then are the group's
/// callers answered and subscribers told.
///
/// It runs on its own thread, not the cooperative pool, because a commit blocks in `fdatasync` for milliseconds.
/// A request that fails its own checks (wrong expected revision, duplicate id) fails alone; a storage failure
/// (map full at its maximum, disk full, I/O error) fails the whole group and leaves the log as it was.
final class GroupCommitWriter: @unchecked Sendable {
    // Invariant: `pending` and `metrics` are guarded by their mutexes; `hasher`, `symbolCache`, `streamCache`,
    // `eventIDs` and `end` are touched only by whoever writes the current batch (`Pending.busy`: the writer thread or
    // a caller), one at a time.
    private struct Pending {
        var requests: [WriterRequest] = []
        var queuedEvents = 0
        var closing = false
        var refusal: EventStoreError?
        /// A batch is being written, by the writer thread or by a caller.
        var busy = false
    }

    private let pending = Mutex(Pending())
    private let metrics = Mutex(WriterStatistics())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let env: LMDBEnvironment
    private let codec: ZstdCodec
    private let limits: Limits
    private let clock: @Sendable () -> Int64
    private let onCommit: @Sendable (_ lastSeq: UInt64) -> Void
    private let onRefusal: (@Sendable (EventStoreError) -> Void)?
    private let report: CommitObserver?
    private let hasher = SHA256Hasher()
    private var symbolCache: [String: UInt32] = [:]
    /// Heads of recently written streams as committed: saves two lookups per append. A batch takes it over (so that
    /// it stays uniquely referenced and is not copied) and hands it back only when it commits.
    private var streamCache: [StreamID: StreamHead] = [:]
    /// The log's event ids after the last commit; nil until the first batch reads them.
    private var eventIDs: EventIDState?
    /// Where the log ended after the last commit; nil until the first batch reads it. Set only by a commit: a failed
    /// batch is aborted, so it leaves this (like `eventIDs`) true.
    private var end: LogEnd?
    private static let symbolCacheCapacity = 65_536
    private static let streamCacheCapacity = 16_384

    /// A committed group and what to tell its callers.
    private struct Committed {
        let batch: [WriterRequest]
        let results: [BatchWriter.Outcome]
        let lastSeq: UInt64?
    }

    init(
        env: LMDBEnvironment, codec: ZstdCodec, limits: Limits, clock: @escaping @Sendable () -> Int64,
        onRefusal: (@Sendable (EventStoreError) -> Void)? = nil, report: CommitObserver? = nil,
        onCommit: @escaping @Sendable (UInt64) -> Void
    ) {
        self.onRefusal = onRefusal
        self.report = report
        self.env = env
        self.codec = codec
        self.limits = limits
        self.clock = clock
        self.onCommit = onCommit
        let thread = Thread { [self] in run() }
        thread.name = "logbook-writer"
        thread.start()
    }

    /// Writes a request on this thread when the writer is idle and nothing is queued, else queues it for the writer
    /// thread; either way it is answered through its continuation. Throws `overloaded` when the queue is full and
    /// `closed` after `shutdown` or a fatal error.
    func submit(_ request: WriterRequest) throws(EventStoreError) {
        let route: Result<Bool, EventStoreError> = pending.withLock { p in
            if let refusal = p.refusal { return .failure(refusal) }
            if p.closing { return .failure(EventStoreError(.closed, "the log at \(env.path) is closed")) }
            if !p.busy && p.requests.isEmpty {
                p.busy = true
                return .success(true)
            }
            if p.queuedEvents + request.eventCount > limits.maxQueuedEvents {
                return .failure(
                    EventStoreError(
                        .overloaded,
                        "the writer has \(p.queuedEvents) events queued (limit \(limits.maxQueuedEvents)); retry after a moment"
                    ))
            }
            p.requests.append(request)
            p.queuedEvents += request.eventCount
            return .success(false)
        }
        switch route {
        case .failure(let refusal): throw refusal
        case .success(false): wakeup.signal()
        case .success(true):
            process([request])
            finishBatch()
        }
    }

    /// Ends a batch: lets the next one start, and wakes the writer thread for what queued meanwhile (or to close).
    private func finishBatch() {
        let more = pending.withLock { p in
            p.busy = false
            return !p.requests.isEmpty || p.closing
        }
        if more { wakeup.signal() }
    }

    /// Requests waiting for the writer (for tests).
    var queuedRequests: Int { pending.withLock { $0.requests.count } }

    /// Counters of the group commits so far.
    var statistics: WriterStatistics { metrics.withLock { $0 } }

    /// Lets queued requests finish, then stops the thread. Later submissions fail with `closed`.
    func shutdown() {
        let first = pending.withLock { p in
            defer { p.closing = true }
            return !p.closing
        }
        guard first else { return }
        wakeup.signal()
        finished.wait()
    }

    private func run() {
        logbook_name_current_thread("logbook-writer")
        while true {
            wakeup.wait()
            let (batch, closing) = takeBatch()
            if !batch.isEmpty {
                process(batch)
                finishBatch()  // signals when more is queued behind the batch limit
            } else if closing {
                break
            }
        }
        finished.signal()
    }

    /// Makes every later submission fail with `closed`, naming `error`: after a storage failure the log may not hold
    /// what this process believes it committed.
    func refuseWrites(after error: EventStoreError) {
        let first = pending.withLock { p in
            defer {
                if p.refusal == nil {
                    p.refusal = EventStoreError(
                        .closed,
                        "the log at \(env.path) refuses writes after a fatal error: \(error.message); reopen it")
                }
            }
            return p.refusal == nil
        }
        if first { onRefusal?(error) }
    }

    /// Why writes are refused, if they are.
    var refusal: EventStoreError? { pending.withLock { $0.refusal } }

    /// The queued requests up to the batch limit, and whether the writer is closing; nothing while a caller is
    /// writing (it wakes the thread when done). Closing is reported only once no batch is being written.
    private func takeBatch() -> ([WriterRequest], Bool) {
        pending.withLock { p in
            if p.busy { return ([], false) }
            var events = 0
            var count = 0
            for request in p.requests {
                if count > 0 && events + request.eventCount > limits.maxEventsPerCommit { break }
                events += request.eventCount
                count += 1
            }
            let batch = Array(p.requests.prefix(count))
            p.requests.removeFirst(count)
            p.queuedEvents -= events
            p.busy = !batch.isEmpty
            return (batch, p.closing)
        }
    }

    private func process(_ batch: [WriterRequest]) {
        while true {
            do {
                let started = ContinuousClock.now
                var bodyDone = started
                let outcome = try env.write { (txn) throws(EventStoreError) in
                    defer { bodyDone = .now }
                    var cache: [StreamID: StreamHead] = [:]
                    swap(&cache, &streamCache)
                    var writer = try BatchWriter(
                        txn: txn, codec: codec, limits: limits, hasher: hasher,
                        now: clock(), symbolCache: symbolCache, streamCache: consume cache, ids: eventIDs,
                        end: end)
                    let results = try batch.map { (request) throws(EventStoreError) in try writer.apply(request) }
                    try writer.finish()
                    return (results, writer)
                }
                let committed = ContinuousClock.now
                let events = batch.reduce(0) { $0 + $1.eventCount }
                metrics.withLock { m in
                    m.commits += 1
                    m.events += UInt64(events)
                    m.requests += UInt64(batch.count)
                    m.largestCommitEvents = max(m.largestCommitEvents, events)
                    m.writeTime += bodyDone - started
                    m.commitTime += committed - bodyDone
                }
                report?(CommitReport(events: events, requests: batch.count, duration: committed - started))
                apply(outcome.1)
                acknowledge(
                    Committed(
                        batch: batch, results: outcome.0, lastSeq: outcome.1.wroteEvents ? outcome.1.lastSeq : nil))
                return
            } catch let error where error.code == .mapFull {
                do {
                    if try env.grow() { continue }
                } catch {
                    failAll(batch, error)
                    return
                }
                failAll(batch, error)
                return
            } catch {
                // A file system that accepts part of a write when nearly full reports EIO, not ENOSPC (tmpfs did): with no
                // space left on the device that is a full disk — the commit was aborted, the log is as it was, and
                // writes go on once space is freed. Any other I/O error, or a damaged log, stops writing.
                let error =
                    error.systemCode == EIO && FreeSpace.isExhausted(at: env.path)
                    ? EventStoreError(
                        .diskFull,
                        "no space left on the device holding \(env.path) (a write was cut short); free disk space and retry; the log is unchanged",
                        systemCode: ENOSPC)
                    : error
                if error.systemCode == MDB_PANIC || error.systemCode == EIO || error.code == .corrupt {
                    refuseWrites(after: error)
                }
                failAll(batch, error)
                return
            }
        }
    }

    /// Makes what the commit changed usable: new symbols, stream heads, a new dictionary, the event ids.
    private func apply(_ writer: BatchWriter) {
        eventIDs = writer.ids
        end = writer.end
        streamCache = writer.heads.count > Self.streamCacheCapacity ? [:] : writer.heads
        writer.ids.recent.append(writer.newInOrderIDs)
        for (name, symbol) in writer.newSymbols where symbolCache.count < Self.symbolCacheCapacity {
            symbolCache[name] = symbol
        }
        // A new dictionary that cannot be loaded now (out of memory) is not used: new records keep the current one, and
        // the stored dictionary is loaded when the log is next opened. (It used to end the process.)
        if let dictionary = writer.storedDictionary,
            codec.register(dictionaryID: dictionary.info.id, bytes: dictionary.bytes)
        {
            codec.currentDictionaryID = dictionary.info.id
        }
    }

    /// Answers the callers of a durable group and tells subscribers.
    private func acknowledge(_ committed: Committed) {
        if let lastSeq = committed.lastSeq { onCommit(lastSeq) }
        for (request, outcome) in zip(committed.batch, committed.results) {
            switch (request, outcome) {
            case (.append(let r), .appended(let result)): r.continuation.resume(returning: result)
            case (.storeDictionary(_, let c), .dictionary(let info)): c.resume(returning: info)
            case (.storeCheckpoints(_, _, let c), .stored): c.resume()
            case (.copy(_, let c), .stored): c.resume()
            case (_, .failed(let error)): request.fail(error)
            default: preconditionFailure("writer outcome does not match its request")
            }
        }
    }

    private func failAll(_ batch: [WriterRequest], _ error: EventStoreError) {
        for request in batch { request.fail(error) }
    }
}

/// One group commit: what `EventStore.Configuration.onCommit` (and `SharedLog.observeCommits`) is told.
public struct CommitReport: Sendable, Equatable {
    /// Events and append requests the transaction held.
    public var events: Int
    public var requests: Int
    /// From the transaction's start until its commit returned (with durable appends, the flush included).
    public var duration: Duration

    public init(events: Int, requests: Int, duration: Duration) {
        (self.events, self.requests, self.duration) = (events, requests, duration)
    }
}

/// Told of each group commit, on the committing thread, after it is durable and before its appends are answered:
/// keep it short (the server records two histograms).
public typealias CommitObserver = @Sendable (CommitReport) -> Void

/// What the writer did so far: group commit sizes and where its time went.
public struct WriterStatistics: Sendable, Equatable {
    /// Transactions committed, requests and events in them.
    public var commits: UInt64 = 0
    public var requests: UInt64 = 0
    public var events: UInt64 = 0
    public var largestCommitEvents = 0
    /// Time spent filling transactions, and committing them (writing pages and flushing them to the device).
    public var writeTime: Duration = .zero
    public var commitTime: Duration = .zero

    /// Mean events per commit.
    public var meanCommitEvents: Double { commits == 0 ? 0 : Double(events) / Double(commits) }

    /// What happened between `earlier` and these counters (the largest commit stays the overall largest).
    public func since(_ earlier: WriterStatistics) -> WriterStatistics {
        WriterStatistics(
            commits: commits - earlier.commits, requests: requests - earlier.requests, events: events - earlier.events,
            largestCommitEvents: largestCommitEvents, writeTime: writeTime - earlier.writeTime,
            commitTime: commitTime - earlier.commitTime)
    }
}
