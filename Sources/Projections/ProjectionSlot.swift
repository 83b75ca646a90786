import EventStore
import Events
import Synchronization

/// One projection's state inside a runner, type-erased so a runner holds several.
protocol ProjectionSlot: AnyObject, Sendable {
    var name: String { get }
    var checkpointName: String { get }
    var eventTypes: Set<String> { get }
    /// Folds the event unless the state already holds it (it was restored from a later checkpoint).
    func apply(_ event: DomainEvent, _ context: EventContext)
    /// The state as a checkpoint at `position`: every event up to it was offered to this projection.
    func checkpoint(through position: UInt64) -> Checkpoint
    /// Restores a checkpoint; returns its seq, or nil when it is unusable (then the state stays initial).
    func restore(_ checkpoint: Checkpoint) throws -> UInt64?
    func reset()
}

extension Projection {
    static func makeSlot() -> any ProjectionSlot { Slot<Self>() }
}

final class Slot<P: Projection>: ProjectionSlot {
    private let state = Mutex<(value: P.State, seq: UInt64)>((P.initial, 0))

    var name: String { P.name }
    var checkpointName: String { "projection/\(P.name)" }
    var eventTypes: Set<String> { P.eventTypes }

    func apply(_ event: DomainEvent, _ context: EventContext) {
        state.withLock { s in
            guard context.seq > s.seq else { return }
            P.apply(event, context: context, to: &s.value)
            s.seq = context.seq
        }
    }

    func read<T>(_ body: (P.State) throws -> T) rethrows -> T {
        try state.withLock { try body($0.value) }
    }

    func checkpoint(through position: UInt64) -> Checkpoint {
        state.withLock { s in
            s.seq = max(s.seq, position)
            var w = BinaryWriter(capacity: 1 << 16)
            w.write(P.version)
            s.value.encode(to: &w)
            return Checkpoint(name: checkpointName, seq: Seq(s.seq), state: w.bytes)
        }
    }

    func restore(_ checkpoint: Checkpoint) throws -> UInt64? {
        let decoded: P.State? = try checkpoint.state.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            guard try r.readUInt64() == P.version else { return nil }
            return try P.State(from: &r)
        }
        guard let decoded else { return nil }
        state.withLock { $0 = (decoded, checkpoint.seq.rawValue) }
        return checkpoint.seq.rawValue
    }

    func reset() { state.withLock { $0 = (P.initial, 0) } }
}
