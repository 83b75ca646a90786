import EventStore
import Events
import Foundation

/// The envelope of a folded event: where and when it was recorded, and by whom.
public struct EventContext: Sendable, Equatable {
    public let seq: Seq
    public let stream: StreamID
    public let revision: StreamRevision
    public let id: UUID
    public let timeNanoseconds: Int64
    public let actor: String?
    public let workspace: String?
    public let correlationID: UUID?
    public let causationID: UUID?

    public init(
        seq: Seq, stream: StreamID, revision: StreamRevision, id: UUID, timeNanoseconds: Int64, actor: String?,
        workspace: String?,
        correlationID: UUID?, causationID: UUID?
    ) {
        (self.seq, self.stream, self.revision, self.id, self.timeNanoseconds) = (
            seq, stream, revision, id, timeNanoseconds
        )
        (self.actor, self.workspace, self.correlationID, self.causationID) = (
            actor, workspace, correlationID, causationID
        )
    }

    public init(_ e: RecordedEvent) {
        self.init(
            seq: e.seq, stream: e.stream, revision: e.revision, id: e.id,
            timeNanoseconds: e.timeNanoseconds,
            actor: e.metadata.actor, workspace: e.metadata.workspace, correlationID: e.metadata.correlationID,
            causationID: e.metadata.causationID)
    }
}

/// A read model: an initial state and a pure, deterministic fold of domain events into it. No I/O, no clocks, no
/// randomness: the same events always give the same state, so any state can be rebuilt from the log or viewed as of
/// any seq.
public protocol Projection {
    associatedtype State: Sendable, Equatable, BinaryCodable
    /// The checkpoint's name. Stable.
    static var name: String { get }
    /// Raise when `apply` changes meaning: checkpoints of another version are ignored and the state rebuilt.
    static var version: UInt64 { get }
    /// The event types `apply` looks at; the runner skips the others without decoding them.
    static var eventTypes: Set<String> { get }
    static var initial: State { get }
    /// Whether `apply` reads bulk texts (message bodies, model answers, tool outputs: see `BinaryReader.readBulkText`).
    /// When no projection that wants an event does, catching up decodes it without them. Default true.
    static var readsBulkText: Bool { get }
    static func apply(_ event: DomainEvent, context: EventContext, to state: inout State)
}

extension Projection {
    public static var version: UInt64 { 1 }
    public static var readsBulkText: Bool { true }

    /// Folds `events` (in log order) into `state`.
    public static func fold(_ events: [RecordedEvent], into state: inout State) {
        for e in events where eventTypes.contains(e.type) {
            if case .event(let domain) = EventCatalog.decode(e) { apply(domain, context: EventContext(e), to: &state) }
        }
    }
}
