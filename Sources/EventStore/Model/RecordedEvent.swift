import Foundation

/// An event as stored: the proposed event plus the positions and time the log gave it.
public struct RecordedEvent: Hashable, Sendable {
    public let seq: Seq
    public let stream: StreamID
    public let revision: StreamRevision
    public let id: UUID
    public let type: String
    /// When the writer committed the event, in nanoseconds since the Unix epoch.
    public let timeNanoseconds: Int64
    public let metadata: EventMetadata
    public let payload: Data
    /// SHA-256 over the previous event's hash and this record: the hash chain link.
    public let chainHash: [UInt8]

    /// The commit time as a `Date`.
    public var time: Date { Date(timeIntervalSince1970: Double(timeNanoseconds) / 1e9) }
}

/// Where an append put its events.
public struct AppendResult: Hashable, Sendable {
    /// The seq of the first and last appended event.
    public let firstSeq: Seq
    public let lastSeq: Seq
    /// The stream's revision after the append (its last event's revision).
    public let revision: StreamRevision
    /// True when every event was already in the log and nothing was written (an idempotent retry).
    public let wasAlreadyAppended: Bool
}
