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
    /// The thread whose stream this is (`thread/ID` → `ID`).
    var threadID: String { String(stream.rawValue.dropFirst("thread/".count)) }
    let workspace: String
    let observer: (any RunObserver)?
    var correlationID: UUID?
    private(set) var history: [(seq: Seq, event: DomainEvent)]
    /// The revision of the stream's last event (0: none yet) while every append since the history was read followed
    /// the one before; nil once one did not (someone else appended in between) or when the history's revision is unknown.
    private(set) var knownRevision: StreamRevision?

    /// Seqs a dry run gives its events: far above any real seq, so prompts can name both kinds without clashing.
    static let virtualSeqBase = Seq(1 << 62)
    private var virtualSeq = RunRecorder.virtualSeqBase

    init(
        store: EventStore?, stream: StreamID, workspace: String, observer: (any RunObserver)?,
        history: [(seq: Seq, event: DomainEvent)],
        knownRevision: StreamRevision? = nil
    ) {
        (self.store, self.stream, self.workspace, self.observer, self.history, self.knownRevision) = (
            store, stream, workspace, observer, history, knownRevision
        )
    }

    /// Follows the stream's revision through one append of `count` events.
    private mutating func track(_ result: AppendResult, count: Int) {
        knownRevision = knownRevision.flatMap {
            $0.rawValue + UInt64(count) == result.revision.rawValue ? result.revision : nil
        }
    }

    /// Events staged for the next append, with their metadata.
    private var pending: [(event: DomainEvent, metadata: EventMetadata, id: UUID)] = []

    /// Stages events for the next `flush`, which appends everything staged in one atomic, durable append (one fsync
    /// for a whole step instead of one per event). Callers flush before every side effect a staged event announces
    /// or authorizes: a model call, a tool call.
    /// - Returns: the seqs the events have in `historyWithStaged` until they are appended (placeholders).
    @discardableResult
    mutating func stage(_ events: [DomainEvent], actor: String, causedBy cause: UUID? = nil) -> [Seq] {
        let metadata = EventMetadata(
            actor: actor, workspace: workspace, correlationID: correlationID, causationID: cause)
        let first = Self.stagedSeqBase + UInt64(pending.count)
        pending += events.map { ($0, metadata, EventID.make()) }
        return (0..<UInt64(events.count)).map { first + $0 }
    }

    /// Stages one event under a given id (for events that others name as their cause).
    mutating func stage(_ event: DomainEvent, id: UUID, actor: String) {
        pending.append((event, EventMetadata(actor: actor, workspace: workspace, correlationID: correlationID), id))
    }

    /// Seqs under which staged events appear in `historyWithStaged`: `stagedSeqBase + i` for the i-th staged event.
    /// Above the dry runs' seqs (`virtualSeqBase`), so neither is mistaken for the other.
    static let stagedSeqBase = Seq(1 << 63)

    /// The history, then the staged events under placeholder seqs: what the next prompt is built from. A
    /// `flush(closingWith:actor:)` maps the placeholders the prompt names to the seqs the events get.
    var historyWithStaged: FlattenSequence<[[(seq: Seq, event: DomainEvent)]]> {
        [history, pending.enumerated().map { (Self.stagedSeqBase + UInt64($0.offset), $0.element.event) }].joined()
    }

    /// Appends what is staged and, last, the event `closing` makes once their seqs are known, in one atomic, durable
    /// append: a prompt's new messages and the `llm.request` that names them by seq go out in one commit.
    /// - Parameter closing: gets a function that maps a seq of `historyWithStaged` (a placeholder or a real one) to
    ///   the real one. It may run more than once (on the log's writer), and must be pure.
    /// - Returns: the seq of each event, the closing one last.
    @discardableResult
    mutating func flush(
        closingWith closing: @escaping @Sendable (_ seqOf: @Sendable (Seq) -> Seq) -> DomainEvent,
        actor: String
    ) async throws(EngineError) -> [Seq] {
        try await append(
            closing: (
                closing, EventMetadata(actor: actor, workspace: workspace, correlationID: correlationID), EventID.make()
            ))
    }

    /// Appends what is staged; returns the seq of each event.
    @discardableResult
    mutating func flush() async throws(EngineError) -> [Seq] {
        guard !pending.isEmpty else { return [] }
        return try await append(closing: nil)
    }

    /// Appends everything staged and the closing event, if any (built from the seqs the staged events get).
    private mutating func append(
        closing: (build: @Sendable (@Sendable (Seq) -> Seq) -> DomainEvent, metadata: EventMetadata, id: UUID)?
    )
        async throws(EngineError) -> [Seq]
    {
        let batch = pending
        pending = []
        let base = Self.stagedSeqBase, count = UInt64(batch.count)
        let seqOf: @Sendable (Seq) -> @Sendable (Seq) -> Seq = { first in
            { $0 >= base && $0 - base < count ? first + ($0 - base) : $0 }
        }
        let total = batch.count + (closing == nil ? 0 : 1)
        let first: Seq
        if let store {
            let proposed = batch.map { $0.event.proposed(id: $0.id, metadata: $0.metadata) }
            let last = closing.map { c in
                { @Sendable (first: Seq) in c.build(seqOf(first)).proposed(id: c.id, metadata: c.metadata) }
            }
            do {
                let result =
                    if let last, !proposed.isEmpty {
                        try await store.append(proposed, closingWith: last, to: stream)
                    } else {
                        try await store.append(proposed + (last.map { [$0(Seq(0))] } ?? []), to: stream)
                    }
                track(result, count: total)
                first = result.firstSeq
            } catch {
                let types = batch.map(\.event.typeName) + (closing == nil ? [] : ["its closing event"])
                throw .recording(error, "recording \(types.joined(separator: ", ")) in \(stream)")
            }
        } else {
            first = virtualSeq
            virtualSeq = virtualSeq + UInt64(total)
        }
        let events = batch.map(\.event) + (closing.map { [$0.build(seqOf(first))] } ?? [])
        return await appended(events, from: first)
    }

    /// Appends what is staged and then `request`, the prompt seqs it names mapped to the seqs they get; returns the seq
    /// of each event, the request's last.
    @discardableResult
    mutating func flush(request: LLMRequest, actor: String) async throws(EngineError) -> [Seq] {
        try await flush(
            closingWith: { seqOf in
                var r = request
                r.promptSeqs = r.promptSeqs.map(seqOf)
                return .llmRequest(r)
            }, actor: actor)
    }

    /// Puts events just appended from seq `first` into the history and tells the observer.
    private mutating func appended(_ events: [DomainEvent], from first: Seq) async -> [Seq] {
        let seqs = (0..<UInt64(events.count)).map { first + $0 }
        for (event, seq) in zip(events, seqs) {
            history.append((seq, event))
            await observer?.appended(event, seq: seq)
        }
        return seqs
    }

    /// Stages `events` after anything staged and appends them all now.
    @discardableResult
    mutating func record(
        _ events: [DomainEvent], actor: String, causedBy cause: UUID? = nil
    ) async throws(EngineError) -> [Seq] {
        stage(events, actor: actor, causedBy: cause)
        return try await flush()
    }

    /// A thread's decoded history, when its last event was appended and its own stream's revision.
    struct History {
        var events: [(seq: Seq, event: DomainEvent)]
        /// When the stream's last event was appended (ns since the epoch; nil for a new thread).
        var lastActivity: Int64?
        /// The revision of the stream's last event (nil for a new thread).
        var revision: StreamRevision?
    }

    /// A thread's events, decoded (events of unknown types are left out). A fork's history starts with its source's
    /// up to the fork point (and so on up the chain of forks), then its own events.
    static func history(of stream: StreamID, in store: EventStore) throws(EngineError) -> History {
        let own = try ownEvents(of: stream, in: store, from: 1)
        var events = own.events, oldest = own.events, depth = 0
        // A fork's stream opens with the authorization of the fork and `thread.forked`.
        while let fork = oldest.prefix(4).lazy.compactMap({ if case .threadForked(let f) = $0.event { f } else { nil } }
        ).first {
            depth += 1
            guard depth <= 64 else { throw EngineError(.storage, "\(stream) is forked more than 64 deep") }
            let source: StreamID
            do { source = try ThreadID(fork.fromThreadID).stream } catch {
                throw EngineError(.storage, "\(stream) names an unusable source thread: \(error.message)")
            }
            // The fork event stays in the history (it says where the thread came from), after what it inherits.
            oldest = try ownEvents(of: source, in: store, from: 1).events.filter { $0.seq <= fork.atSeq }
            events = oldest + events
        }
        return History(events: events, lastActivity: own.lastActivity, revision: own.revision)
    }

    /// One stream's own events from a revision on, the revisions of the first and last read, and the last one's time.
    static func ownEvents(
        of stream: StreamID, in store: EventStore, from start: StreamRevision
    )
        throws(EngineError) -> (
            events: [(seq: Seq, event: DomainEvent)], lastActivity: Int64?, firstRevision: StreamRevision?,
            revision: StreamRevision?
        )
    {
        var events: [(seq: Seq, event: DomainEvent)] = []
        var lastActivity: Int64?
        var first: StreamRevision?, last: StreamRevision?
        var revision = start
        do {
            while true {
                let page = try store.read(stream: stream, from: revision, maxCount: 1024)
                for recorded in page {
                    lastActivity = recorded.timeNanoseconds
                    if first == nil { first = recorded.revision }
                    last = recorded.revision
                    if case .event(let e) = EventCatalog.decode(recorded) { events.append((recorded.seq, e)) }
                }
                guard let final = page.last, page.count == 1024 else { break }
                revision = StreamRevision(final.revision.rawValue + 1)
            }
        } catch {
            throw EngineError(.storage, "reading \(stream) failed: \(error.message)")
        }
        return (events, lastActivity, first, last)
    }
}
