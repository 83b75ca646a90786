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

    public init(
        id: UUID = EventID.make(), type: String, payload: Data, metadata: EventMetadata = EventMetadata(),
        recordedTime: Int64? = nil
    ) {
        self.id = id
        self.type = type
        self.payload = payload
        self.metadata = metadata
        self.recordedTime = recordedTime
    }
}
