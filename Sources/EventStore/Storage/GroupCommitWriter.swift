import CLMDB
import Foundation
import Synchronization

/// The single writer of a log: a dedicated thread that drains every pending request into one LMDB transaction and
/// one durable commit (group commit), then answers each caller.
///
/// In durable mode a commit returns once its pages and its meta page are on the device; only then are the group's
/// callers answered and subscribers told.
///
/// It runs on its own thread, not the cooperative pool, because a commit blocks in `fdatasync` for milliseconds.
/// A request that fails its own checks (wrong expected revision, duplicate id) fails alone; a storage failure
/// (map full at its maximum, disk full, I/O error) fails the whole group and leaves the log as it was.
final class GroupCommitWriter: @unchecked Sendable {
    // Invariant: `pending` and `metrics` are guarded by their mutexes; `hasher`, `symbolCache` and `largestID` are
    // touched by the writer thread only.
    private struct Pending {
        var requests: [WriterRequest] = []
        var queuedEvents = 0
        var closing = false
        var refusal: EventStoreError?
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
    private let hasher = SHA256Hasher()
    private var symbolCache: [String: UInt32] = [:]
    /// The largest event id after the last commit; `.none` until the first batch looks it up.
    private var largestID: EventIDIndex.Key?? = .none
    private static let symbolCacheCapacity = 65_536

    /// A committed group and what to tell its callers.
    private struct Committed {
        let batch: [WriterRequest]
        let results: [BatchWriter.Outcome]
        let lastSeq: UInt64?
    }

    init(env: LMDBEnvironment, codec: ZstdCodec, limits: Limits, clock: @escaping @Sendable () -> Int64,
         onCommit: @escaping @Sendable (UInt64) -> Void) {
        self.env = env
        self.codec = codec
        self.limits = limits
        self.clock = clock
        self.onCommit = onCommit
        let thread = Thread { [self] in run() }
        thread.name = "logbook-writer"
        thread.start()
    }

    /// Queues a request; throws `overloaded` when the queue is full and `closed` after `shutdown` or a fatal error.
    func submit(_ request: WriterRequest) throws(EventStoreError) {
        let refusal: EventStoreError? = pending.withLock { p in
            if let refusal = p.refusal { return refusal }
            if p.closing { return EventStoreError(.closed, "the log at \(env.path) is closed") }
            if p.queuedEvents + request.eventCount > limits.maxQueuedEvents {
                return EventStoreError(.overloaded, "the writer has \(p.queuedEvents) events queued (limit \(limits.maxQueuedEvents)); retry after a moment")
            }
            p.requests.append(request)
            p.queuedEvents += request.eventCount
            return nil
        }
        if let refusal { throw refusal }
        wakeup.signal()
    }

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
            if !batch.isEmpty { process(batch) }
            if closing && batch.isEmpty { break }
            if !batch.isEmpty { wakeup.signal() }  // more may be queued behind the batch limit
        }
        finished.signal()
    }

    private func refuseWrites(after error: EventStoreError) {
        pending.withLock { $0.refusal = EventStoreError(.closed, "the log at \(env.path) refuses writes after a fatal error: \(error.message); reopen it") }
    }

    private func takeBatch() -> ([WriterRequest], Bool) {
        pending.withLock { p in
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
                    var writer = try BatchWriter(txn: txn, codec: codec, limits: limits, hasher: hasher,
                                                 now: clock(), symbolCache: symbolCache, largestID: largestID)
                    let results = try batch.map { (request) throws(EventStoreError) in try writer.apply(request) }
                    try writer.finish()
                    return (results, writer)
                }
                let committed = ContinuousClock.now
                metrics.withLock { m in
                    m.commits += 1
                    m.events += UInt64(batch.reduce(0) { $0 + $1.eventCount })
                    m.requests += UInt64(batch.count)
                    m.largestCommitEvents = max(m.largestCommitEvents, batch.reduce(0) { $0 + $1.eventCount })
                    m.writeTime += bodyDone - started
                    m.commitTime += committed - bodyDone
                }
                apply(outcome.1)
                acknowledge(Committed(batch: batch, results: outcome.0, lastSeq: outcome.1.wroteEvents ? outcome.1.lastSeq : nil))
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
                if error.systemCode == MDB_PANIC || error.systemCode == EIO || error.code == .corrupt { refuseWrites(after: error) }
                failAll(batch, error)
                return
            }
        }
    }

    /// Makes what the commit changed usable: new symbols, a new dictionary, the largest event id.
    private func apply(_ writer: BatchWriter) {
        largestID = .some(writer.largestID)
        for (name, symbol) in writer.newSymbols where symbolCache.count < Self.symbolCacheCapacity {
            symbolCache[name] = symbol
        }
        if let dictionary = writer.storedDictionary {
            codec.register(dictionaryID: dictionary.info.id, bytes: dictionary.bytes)
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
            case (.storeCheckpoints(_, let c), .stored): c.resume()
            case (_, .failed(let error)): request.fail(error)
            default: preconditionFailure("writer outcome does not match its request")
            }
        }
    }

    private func failAll(_ batch: [WriterRequest], _ error: EventStoreError) {
        for request in batch { request.fail(error) }
    }
}

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
        WriterStatistics(commits: commits - earlier.commits, requests: requests - earlier.requests, events: events - earlier.events,
                         largestCommitEvents: largestCommitEvents, writeTime: writeTime - earlier.writeTime,
                         commitTime: commitTime - earlier.commitTime)
    }
}
