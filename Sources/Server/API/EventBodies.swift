import EventStore
import Events

/// An event of the log as the API shows it: its envelope and its payload as JSON (`data`, nil for a type this build
/// does not know). The same shape in a thread's events, the global log and the live tail.
public struct EventBody: Codable, Sendable {
    public let seq: Seq
    public let stream: String
    public let revision: StreamRevision
    public let type: String
    public let time: String
    public let actor: String?
    public let workspace: String?
    public let data: JSONValue?

    init(_ e: RecordedEvent) {
        (seq, stream, revision, type) = (e.seq, e.stream.rawValue, e.revision, e.type)
        (time, actor, workspace) = (Timestamp.rfc3339(e.timeNanoseconds), e.metadata.actor, e.metadata.workspace)
        data = JSON.data(of: e)
    }
}

/// A page of the global log.
public struct LogPageBody: Codable, Sendable {
    public let events: [EventBody]
    /// The seq to ask for next (`from`); nil at the end of the log.
    public let next: Seq?
}

/// A page of one thread's events.
public struct ThreadEventsPageBody: Codable, Sendable {
    public let events: [EventBody]
    /// The revision to ask for next (`from`); nil at the end.
    public let next: StreamRevision?
}
