import EventStore
import Events
import Foundation

/// Hears what a run does as it happens: text as the model streams it, and every event once it is in the log.
public protocol RunObserver: Sendable {
    func text(_ piece: String) async
    func appended(_ event: DomainEvent, seq: Seq) async
}

/// Appends a run's events to its thread's stream, durably and in order, and keeps the thread's history (what the
/// prompt is built from) in step with the log.
struct RunRecorder {
    /// Where events go; nil for a dry run (a replay), which numbers them from `virtualSeqBase` and keeps them in
    /// `history` only.
    let store: EventStore?
    let stream: StreamID
    let workspace: String
    let observer: (any RunObserver)?
    var correlationID: UUID?
    private(set) var history: [(seq: UInt64, event: DomainEvent)]

    /// Seqs a dry run gives its events: far above any real seq, so prompts can name both kinds without clashing.
    static let virtualSeqBase: UInt64 = 1 << 62
    private var virtualSeq = RunRecorder.virtualSeqBase

    init(store: EventStore?, stream: StreamID, workspace: String, observer: (any RunObserver)?, history: [(seq: UInt64, event: DomainEvent)]) {
        (self.store, self.stream, self.workspace, self.observer, self.history) = (store, stream, workspace, observer, history)
    }

    /// Events staged for the next append, with their metadata.
    private var pending: [(event: DomainEvent, metadata: EventMetadata, id: UUID)] = []

    /// Stages events for the next `flush`, which appends everything staged in one atomic, durable append (one fsync
    /// for a whole step instead of one per event). Callers flush before every side effect a staged event announces
    /// or authorizes: a model call, a tool call.
    mutating func stage(_ events: [DomainEvent], actor: String, causedBy cause: UUID? = nil) {
        let metadata = EventMetadata(actor: actor, workspace: workspace, correlationID: correlationID, causationID: cause)
        pending += events.map { ($0, metadata, EventID.make()) }
    }

    /// Stages one event under a given id (for events that others name as their cause).
    mutating func stage(_ event: DomainEvent, id: UUID, actor: String) {
        pending.append((event, EventMetadata(actor: actor, workspace: workspace, correlationID: correlationID), id))
    }

    /// Whether staged events would be part of the next prompt (then they must be appended first: prompts name their
    /// events by seq).
    var hasPendingPromptEvents: Bool {
        pending.contains {
            switch $0.event {
            case .userMessage, .assistantMessage, .toolResult: true
            case .llmResponse(let r): !r.toolCalls.isEmpty
            default: false
            }
        }
    }

    /// Appends what is staged; returns the seq of each event.
    @discardableResult
    mutating func flush() async throws(EngineError) -> [UInt64] {
        guard !pending.isEmpty else { return [] }
        let batch = pending
        pending = []
        let first: UInt64
        if let store {
            do { first = try await store.append(batch.map { $0.event.proposed(id: $0.id, metadata: $0.metadata) }, to: stream).firstSeq.rawValue } catch {
                throw EngineError(.storage, "recording \(batch.map(\.event.typeName).joined(separator: ", ")) in \(stream) failed: \(error.message)")
            }
        } else {
            first = virtualSeq
            virtualSeq += UInt64(batch.count)
        }
        let seqs = (0..<UInt64(batch.count)).map { first + $0 }
        for (entry, seq) in zip(batch, seqs) {
            history.append((seq, entry.event))
            await observer?.appended(entry.event, seq: Seq(seq))
        }
        return seqs
    }

    /// Stages `events` after anything staged and appends them all now.
    @discardableResult
    mutating func record(_ events: [DomainEvent], actor: String, causedBy cause: UUID? = nil) async throws(EngineError) -> [UInt64] {
        stage(events, actor: actor, causedBy: cause)
        return try await flush()
    }

    /// A thread's events, decoded (events of unknown types are left out), and when its last event was appended
    /// (ns since the epoch; nil for a new thread). A fork's history starts with its source's up to the fork point
    /// (and so on up the chain of forks), then its own events.
    static func history(of stream: StreamID, in store: EventStore) throws(EngineError) -> (events: [(seq: UInt64, event: DomainEvent)], lastActivity: Int64?) {
        let (own, lastActivity) = try ownEvents(of: stream, in: store)
        var events = own, oldest = own, depth = 0
        // A fork's stream opens with the authorization of the fork and `thread.forked`.
        while let fork = oldest.prefix(4).lazy.compactMap({ if case .threadForked(let f) = $0.event { f } else { nil } }).first {
            depth += 1
            guard depth <= 64 else { throw EngineError(.storage, "\(stream) is forked more than 64 deep") }
            let source: StreamID
            do { source = try StreamID("thread/\(fork.fromThreadID)") } catch {
                throw EngineError(.storage, "\(stream) names an unusable source thread: \(error.message)")
            }
            // The fork event stays in the history (it says where the thread came from), after what it inherits.
            oldest = try ownEvents(of: source, in: store).events.filter { $0.seq <= fork.atSeq }
            events = oldest + events
        }
        return (events, lastActivity)
    }

    /// One stream's own events.
    private static func ownEvents(of stream: StreamID, in store: EventStore) throws(EngineError) -> (events: [(seq: UInt64, event: DomainEvent)], lastActivity: Int64?) {
        var events: [(seq: UInt64, event: DomainEvent)] = []
        var lastActivity: Int64?
        var revision: StreamRevision = 1
        do {
            while true {
                let page = try store.read(stream: stream, from: revision, maxCount: 1024)
                for recorded in page {
                    lastActivity = recorded.timeNanoseconds
                    if case .event(let e) = EventCatalog.decode(recorded) { events.append((recorded.seq.rawValue, e)) }
                }
                guard let last = page.last, page.count == 1024 else { break }
                revision = StreamRevision(last.revision.rawValue + 1)
            }
        } catch {
            throw EngineError(.storage, "reading \(stream) failed: \(error.message)")
        }
        return (events, lastActivity)
    }
}
