import EventStore
import Foundation
import Events

/// One projection's state inside a runner, type-erased so a runner holds several.
protocol ProjectionSlot: AnyObject, Sendable {
    var name: String { get }
    var checkpointName: String { get }
    var eventTypes: Set<String> { get }
    var readsBulkText: Bool { get }
    /// Folds the event unless the state already holds it (it was restored from a later checkpoint).
    func apply(_ event: DomainEvent, _ context: EventContext)
    /// Folds `events[p]` for each `p` of `positions` (ascending), as `apply(_:_:)` does each: a catch-up's slice in one
    /// call. (`Slot` folds each event lent from the buffer; through `apply(_:_:)` each is copied, about 1 % of a
    /// rebuild.)
    func apply(_ events: UnsafeBufferPointer<DecodedEvent>, at positions: [Int32])
    /// The state at `position` (every event up to it was offered to this projection), to encode as a checkpoint
    /// outside the slot's lock: the closure holds a copy, which costs nothing until a fold changes the state.
    func snapshot(through position: Seq) -> @Sendable () -> Checkpoint
    /// Restores the state from checkpoint bytes; returns the seq, or nil when they are of another projection version
    /// (then the state stays initial).
    func restore(seq: Seq, state: UnsafeRawBufferPointer) throws -> Seq?
    func reset() throws
    /// Whether the slot keeps its state in storage of its own (`restoreStored`, `store`) instead of the log's
    /// checkpoints (`snapshot`, `restore`).
    var storesItself: Bool { get }
    /// Loads the stored state; returns the seq it reflects. It starts over (and returns 0) when there is none, or when
    /// `accepts` refuses its position and the id of the event it was stored after (the runner's check that it is of
    /// this log).
    func restoreStored(accepting accepts: (Seq, UUID?) throws -> Bool) throws -> Seq
    /// Stores the state at `position` (every event up to it was offered to this slot), `id` the event's there.
    func store(through position: Seq, id: UUID?) throws
}

extension ProjectionSlot {
    func apply(_ events: UnsafeBufferPointer<DecodedEvent>, at positions: [Int32]) {
        for p in positions { apply(events[Int(p)].event, events[Int(p)].context) }
    }

    var storesItself: Bool { false }
    func restoreStored(accepting accepts: (Seq, UUID?) throws -> Bool) throws -> Seq { 0 }
    func store(through position: Seq, id: UUID?) throws {}
}

extension Projection {
    static func makeSlot() -> any ProjectionSlot { Slot<Self>() }
}

/// One projection's state. Invariant: every method is called with the runner's lock for this slot held, which is what
/// makes the unsynchronized `var`s safe (`@unchecked Sendable`); one lock per projection, taken per slice, not per
/// event.
final class Slot<P: Projection>: ProjectionSlot, @unchecked Sendable {
    private var value = P.initial
    /// The last seq this state reflects.
    private var seq: Seq = 0

    var name: String { P.name }
    var checkpointName: String { "projection/\(P.name)" }
    var eventTypes: Set<String> { P.eventTypes }
    var readsBulkText: Bool { P.readsBulkText }

    func apply(_ event: DomainEvent, _ context: EventContext) {
        guard context.seq > seq else { return }
        P.apply(event, context: context, to: &value)
        seq = context.seq
    }

    func apply(_ events: UnsafeBufferPointer<DecodedEvent>, at positions: [Int32]) {
        // Folded into a local (moved out and back: still uniquely referenced), so that no access to this object is
        // under way while the events are read from the buffer, which then lends them without a copy.
        var state = P.initial
        swap(&state, &value)
        defer { swap(&state, &value) }
        for p in positions {
            let event = events.baseAddress! + Int(p)
            guard event.pointee.context.seq > seq else { continue }
            P.apply(event.pointee.event, context: event.pointee.context, to: &state)
            seq = event.pointee.context.seq
        }
    }

    func read<T>(_ body: (P.State) throws -> T) rethrows -> T { try body(value) }

    func snapshot(through position: Seq) -> @Sendable () -> Checkpoint {
        seq = max(seq, position)
        let (state, seq, name, version) = (value, seq, checkpointName, P.version)
        return {
            var w = BinaryWriter(capacity: 1 << 16)
            w.write(version)
            state.encode(to: &w)
            return Checkpoint(name: name, seq: seq, state: w.bytes)
        }
    }

    func restore(seq: Seq, state: UnsafeRawBufferPointer) throws -> Seq? {
        var r = BinaryReader(state)
        guard try r.readUInt64() == P.version else { return nil }
        (value, self.seq) = (try P.State(from: &r), seq)
        return self.seq
    }

    func reset() { (value, seq) = (P.initial, 0) }
}

/// A slot that keeps projection `P`'s state in tables of its own (`restoreStored`, `store`), not in the log's
/// checkpoints.
protocol StoredProjectionSlot: ProjectionSlot {
    associatedtype P: Projection
}

extension StoredProjectionSlot {
    var name: String { P.name }
    var checkpointName: String { "projection/\(P.name)" }
    var eventTypes: Set<String> { P.eventTypes }
    var readsBulkText: Bool { P.readsBulkText }
    var storesItself: Bool { true }

    func snapshot(through position: Seq) -> @Sendable () -> Checkpoint {
        preconditionFailure("\(P.name) is stored in its own tables (store(through:id:)), not in a checkpoint")
    }

    func restore(seq: Seq, state: UnsafeRawBufferPointer) throws -> Seq? { nil }
}
