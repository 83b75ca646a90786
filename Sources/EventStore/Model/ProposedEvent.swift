import Foundation
import Synchronization

/// Who did something and under which correlation: the part of an event's envelope beyond stream and type.
public struct EventMetadata: Hashable, Sendable {
    /// The subject that caused the event (a user, a service, an agent).
    public var actor: String?
    /// The workspace (tenant) the event belongs to.
    public var workspace: String?
    /// The run or request this event is part of.
    public var correlationID: UUID?
    /// The id of the event that caused this one.
    public var causationID: UUID?

    public init(actor: String? = nil, workspace: String? = nil, correlationID: UUID? = nil, causationID: UUID? = nil) {
        self.actor = actor
        self.workspace = workspace
        self.correlationID = correlationID
        self.causationID = causationID
    }
}

/// An event to append: its id makes the append idempotent.
public struct ProposedEvent: Hashable, Sendable {
    /// Unique per event. Appending an event whose id is already in the log returns the original position.
    public var id: UUID
    /// The event's type name, e.g. `message.user`.
    public var type: String
    /// The event's body, usually JSON. Stored compressed.
    public var payload: Data
    public var metadata: EventMetadata
    /// For restoring an export only: the time (nanoseconds since the epoch) the event was first recorded, kept
    /// instead of the commit time. It must not be before the previous event's time nor after the commit time, so
    /// the log's times stay in order and never run ahead of its clock; otherwise the append fails.
    public var recordedTime: Int64?

    public init(id: UUID = EventID.make(), type: String, payload: Data, metadata: EventMetadata = EventMetadata(), recordedTime: Int64? = nil) {
        self.id = id
        self.type = type
        self.payload = payload
        self.metadata = metadata
        self.recordedTime = recordedTime
    }
}

/// Event ids: time-ordered UUIDs (version 7, RFC 9562), strictly increasing within a process.
///
/// Increasing ids let the event-id index grow at its end with full pages, instead of splitting random pages half
/// empty: a third of the index's size on disk.
public enum EventID {
    private struct State {
        var lastMilliseconds: UInt64 = 0
        /// The 74 bits after the timestamp (12 of rand_a, 62 of rand_b), incremented within one millisecond.
        var high: UInt16 = 0
        var low: UInt64 = 0
        var random = SystemRandomNumberGenerator()
    }

    private static let state = Mutex(State())

    /// A new UUIDv7 for now, greater than every id this process made before.
    public static func make() -> UUID {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let (ms, high, low) = state.withLock { s -> (UInt64, UInt16, UInt64) in
            if now > s.lastMilliseconds {
                s.lastMilliseconds = now
                s.high = UInt16.random(in: 0..<(1 << 11), using: &s.random)  // top bit clear: room to count up
                s.low = UInt64.random(in: 0..<(1 << 62), using: &s.random)
            } else if s.low == (1 << 62) - 1 {
                s.low = 0
                s.high += 1
                if s.high == 1 << 12 {  // 2^73 ids in one millisecond: borrow the next millisecond
                    s.lastMilliseconds += 1
                    s.high = 0
                }
            } else {
                s.low += 1
            }
            return (s.lastMilliseconds, s.high, s.low)
        }
        return layout(milliseconds: ms, randA: high, randB: low)
    }

    /// A UUIDv7 for the given time, with randomness from `generator` (seeded generators give reproducible ids).
    public static func make(unixMilliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> UUID {
        layout(milliseconds: unixMilliseconds, randA: UInt16.random(in: 0..<(1 << 12), using: &generator),
               randB: UInt64.random(in: 0..<(1 << 62), using: &generator))
    }

    private static func layout(milliseconds: UInt64, randA: UInt16, randB: UInt64) -> UUID {
        func byte(_ v: UInt64, _ shift: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: v >> shift) }
        let a = UInt64(randA & 0x0FFF) | 0x7000
        let b = (randB & ((1 << 62) - 1)) | (1 << 63)
        return UUID(uuid: (byte(milliseconds, 40), byte(milliseconds, 32), byte(milliseconds, 24), byte(milliseconds, 16),
                           byte(milliseconds, 8), byte(milliseconds, 0), byte(a, 8), byte(a, 0),
                           byte(b, 56), byte(b, 48), byte(b, 40), byte(b, 32), byte(b, 24), byte(b, 16), byte(b, 8), byte(b, 0)))
    }
}
