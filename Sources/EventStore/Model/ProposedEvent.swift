import Foundation

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

    public init(id: UUID = EventID.make(), type: String, payload: Data, metadata: EventMetadata = EventMetadata()) {
        self.id = id
        self.type = type
        self.payload = payload
        self.metadata = metadata
    }
}

/// Event ids: time-ordered UUIDs (version 7), so the id index grows at its end instead of splitting random pages.
public enum EventID {
    /// A new UUIDv7: 48 bits of Unix milliseconds, then random bits.
    public static func make() -> UUID {
        var generator = SystemRandomNumberGenerator()
        return make(unixMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000), using: &generator)
    }

    /// A UUIDv7 for the given time, with randomness from `generator` (seeded generators give reproducible ids).
    public static func make(unixMilliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> UUID {
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: unixMilliseconds >> (40 - 8 * UInt64(i))) }
        for i in 6..<8 { bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i))) }
        for i in 8..<16 { bytes[i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i - 8))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
