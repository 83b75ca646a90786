import Events
import Foundation

/// One event decoded for folding: the event, its context, and its type's route (the runner's slots that want it).
struct DecodedEvent {
    let event: DomainEvent
    let context: EventContext
    let route: NameTables.Route
}

/// A slice of the log decoded for folding.
struct DecodedSlice {
    var events: [DecodedEvent] = []
    /// How many events the slice read, folded or not.
    var read: UInt64 = 0
    var skipped = ProjectionRunner.Skipped()
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

/// The bounded hand-off from the thread that decodes slices to the one that folds them: at most `capacity` slices
/// wait, so decoding never runs more than that far ahead (memory stays bounded).
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

    /// The next slice, blocking until there is one; nil once finished and drained.
    func take() -> Result<DecodedSlice, any Error>? {
        condition.withLock {
            while waiting.isEmpty && !finished { condition.wait() }
            guard !waiting.isEmpty else { return nil }
            condition.broadcast()
            return waiting.removeFirst()
        }
    }

    /// The consumer stops taking: a blocked producer returns from `put` with false.
    func abandon() {
        condition.withLock {
            abandoned = true
            waiting.removeAll()
            condition.broadcast()
        }
    }
}
