import EventStore
import Events
import Foundation
import Synchronization

/// One event decoded for folding: the event and its context.
struct DecodedEvent {
    let event: DomainEvent
    let context: EventContext
}

/// A slice of the log decoded for folding, shared by the threads that fold it (each reads it, none changes it).
struct DecodedSlice {
    var events: [DecodedEvent] = []
    /// The slice's last seq, and the id of the event there.
    let through: UInt64
    var lastID: UUID?
    /// Whether a checkpoint is due at `through`.
    var checkpoint = false
    /// For each of the runner's slots, the positions in `events` of those it wants, ascending.
    var bySlot: [[Int32]]
    /// How many events the slice read, folded or not.
    var read: UInt64 = 0
    var skipped = ProjectionRunner.Skipped()

    init(through: UInt64, slots: Int) {
        self.through = through
        bySlot = Array(repeating: [], count: slots)
    }
}

extension ProjectionRunner.Skipped {
    /// The event of a decoding outcome; counts the outcome as skipped when there is none.
    mutating func count(_ outcome: EventCatalog.Outcome) -> DomainEvent? {
        switch outcome {
        case .event(let event): return event
        case .unknownType: unknownType += 1
        case .newerVersion: newerVersion += 1
        case .malformed: malformed += 1
        }
        return nil
    }

    mutating func add(_ other: Self) {
        unknownType += other.unknownType
        newerVersion += other.newerVersion
        malformed += other.malformed
    }
}

/// The bounded hand-off from the thread that decodes slices to one that folds them: at most `capacity` slices wait, so
/// decoding never runs more than that far ahead (memory stays bounded).
final class SliceQueue: @unchecked Sendable {
    // Invariant: every var is accessed with `condition` locked.
    private let condition = NSCondition()
    private let capacity: Int
    private var waiting: [Result<DecodedSlice, any Error>] = []
    private var finished = false
    private var abandoned = false

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while the queue is full. Returns false when the consumer has gone (stop decoding).
    func put(_ slice: Result<DecodedSlice, any Error>) -> Bool {
        condition.withLock {
            while waiting.count >= capacity && !abandoned { condition.wait() }
            guard !abandoned else { return false }
            waiting.append(slice)
            condition.broadcast()
            return true
        }
    }

    /// No more slices will come.
    func finish() {
        condition.withLock {
            finished = true
            condition.broadcast()
        }
    }

    /// The next slice, blocking until there is one; nil once finished and drained, or abandoned.
    func take() -> Result<DecodedSlice, any Error>? {
        condition.withLock {
            while waiting.isEmpty && !finished && !abandoned { condition.wait() }
            guard !waiting.isEmpty else { return nil }
            condition.broadcast()
            return waiting.removeFirst()
        }
    }

    /// The consumers stop taking: a blocked producer returns from `put` with false, a blocked consumer from `take` with
    /// nil.
    func abandon() {
        condition.withLock {
            abandoned = true
            waiting.removeAll()
            condition.broadcast()
        }
    }
}

/// A checkpoint position every projection has folded through during a catch-up: those kept in tables have stored
/// themselves there; `snapshots` are the states of those kept in memory, to store in the log's checkpoints.
struct FoldedCheckpoint: Sendable {
    let seq: UInt64
    let snapshots: [@Sendable () -> Checkpoint]
}

extension ProjectionRunner {
    /// Folds the events `from...through` as a pipeline: two threads scan, decompress and decode alternate slices of
    /// `sliceEvents` while each projection folds every slice on a thread of its own, under its own lock (the OS shares
    /// the cores among them: decoding is about 40 % of the work, the folds and their tables the rest; the stage times
    /// are in docs/notebook/2026-12-07-read-models-on-disk.md). At each checkpoint position (from
    /// `checkpointsFrom`, every `checkpointEveryEvents`) each projection kept in tables stores itself on its thread,
    /// without stopping the others, and each kept in memory leaves a snapshot; when all have passed it, the position
    /// and the snapshots are yielded, for the caller to store in the log. The stream ends when every thread has; when
    /// the caller stops listening, every thread stops at its next slice: wait for `threads` before going on.
    func foldConcurrently(
        from: UInt64, through: UInt64, checkpointsFrom first: UInt64
    ) -> (checkpoints: AsyncThrowingStream<FoldedCheckpoint, any Error>, threads: DispatchGroup) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: FoldedCheckpoint.self)
        // Two slices of slack per decoder and projection (the slices are shared: at most ~8 decoded ahead, ~10 MB), so
        // that a stall of one thread (another process, a page fault burst) does not idle the others; eight measured no
        // faster and held ~10 MB more.
        let decoders = 2
        let pipeline = Pipeline(decoders: decoders, slots: slots.count, capacity: 2, continuation)
        let queues = pipeline.queues
        let threads = DispatchGroup()
        func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
            threads.enter()
            let thread = Thread {
                Thread.current.name = name
                body()
                threads.leave()
            }
            thread.start()
        }
        // The slices, in order: `sliceEvents` each, cut at every checkpoint position.
        var slices: [(from: UInt64, through: UInt64, checkpoint: Bool)] = []
        var (next, checkpoint) = (from, first)
        while next <= through {
            let end = min(through, next + sliceEvents - 1, checkpoint)
            slices.append((next, end, end == checkpoint))
            if end == checkpoint {
                let (sum, overflow) = checkpoint.addingReportingOverflow(checkpointEveryEvents)
                checkpoint = overflow ? .max : sum
            }
            next = end + 1
        }
        // Decoder d decodes slices d, d + decoders, …: decoding is the longest single stage, and the folds take the
        // slices in turn from each decoder's queues.
        for d in 0..<decoders {
            spawn("logbook-decode") { [self, slices] in
                var names = NameTables()
                for range in stride(from: d, to: slices.count, by: decoders).map({ slices[$0] }) {
                    let slice = Result { () throws -> DecodedSlice in
                        var slice = try decode(from: range.from, through: range.through, names: &names)
                        slice.checkpoint = range.checkpoint
                        _ = account(slice)
                        return slice
                    }
                    for queue in queues[d] { guard queue.put(slice) else { return } }
                    if case .failure(let error) = slice { return pipeline.fail(error) }
                }
                for queue in queues[d] { queue.finish() }
            }
        }
        for i in slots.indices {
            spawn("logbook-fold") { [self] in
                do {
                    var k = 0
                    while let taken = queues[k % decoders][i].take() {
                        k += 1
                        let slice = try taken.get()
                        apply(slice, slot: i)
                        guard slice.checkpoint else { continue }
                        let snapshot = try self.checkpoint(slot: i, through: Seq(slice.through), id: slice.lastID)
                        pipeline.arrive(at: slice.through, snapshot: snapshot)
                    }
                } catch {
                    pipeline.fail(error)
                }
            }
        }
        // The caller stopped listening (it failed, or was cancelled): every thread stops at its next slice.
        continuation.onTermination = { _ in for queue in queues.joined() { queue.abandon() } }
        threads.notify(queue: .global()) { pipeline.finish() }
        return (stream, threads)
    }
}

/// What the threads of one `foldConcurrently` share: a queue per slot, the checkpoint positions each has passed, the
/// first failure, and the stream to the caller.
private final class Pipeline: Sendable {
    /// By decoder, then by slot.
    let queues: [[SliceQueue]]
    private let slots: Int
    private let arrivals = Mutex<[UInt64: (count: Int, snapshots: [@Sendable () -> Checkpoint])]>([:])
    private let failure = Mutex<(any Error)?>(nil)
    private let continuation: AsyncThrowingStream<FoldedCheckpoint, any Error>.Continuation

    init(
        decoders: Int, slots: Int, capacity: Int,
        _ continuation: AsyncThrowingStream<FoldedCheckpoint, any Error>.Continuation
    ) {
        queues = (0..<decoders).map { _ in (0..<slots).map { _ in SliceQueue(capacity: capacity) } }
        (self.slots, self.continuation) = (slots, continuation)
    }

    /// A slot has folded through the checkpoint position `seq` (and stored itself, or left its snapshot): once all
    /// have, the caller hears of it.
    func arrive(at seq: UInt64, snapshot: (@Sendable () -> Checkpoint)?) {
        let all = arrivals.withLock { arrivals -> FoldedCheckpoint? in
            var entry = arrivals[seq] ?? (0, [])
            entry.count += 1
            if let snapshot { entry.snapshots.append(snapshot) }
            guard entry.count == slots else {
                arrivals[seq] = entry
                return nil
            }
            arrivals[seq] = nil
            return FoldedCheckpoint(seq: seq, snapshots: entry.snapshots)
        }
        if let all { continuation.yield(all) }
    }

    /// Every thread stops at its next slice; the stream ends with the first error.
    func fail(_ error: any Error) {
        failure.withLock { if $0 == nil { $0 = error } }
        for queue in queues.joined() { queue.abandon() }
    }

    /// Every thread has ended.
    func finish() { continuation.finish(throwing: failure.withLock { $0 }) }
}
