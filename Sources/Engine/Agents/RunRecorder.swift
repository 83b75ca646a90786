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
    let store: EventStore
    let stream: StreamID
    let workspace: String
    let observer: (any RunObserver)?
    var correlationID: UUID?
    private(set) var history: [(seq: UInt64, event: DomainEvent)]

    init(store: EventStore, stream: StreamID, workspace: String, observer: (any RunObserver)?, history: [(seq: UInt64, event: DomainEvent)]) {
        (self.store, self.stream, self.workspace, self.observer, self.history) = (store, stream, workspace, observer, history)
    }

    /// Appends `events` in one atomic append; returns the seq of each.
    @discardableResult
    mutating func record(_ events: [DomainEvent], actor: String, causedBy cause: UUID? = nil) async throws(EngineError) -> [UInt64] {
        let metadata = EventMetadata(actor: actor, workspace: workspace, correlationID: correlationID, causationID: cause)
        let proposed = events.map { $0.proposed(metadata: metadata) }
        let result: AppendResult
        do { result = try await store.append(proposed, to: stream) } catch {
            throw EngineError(.storage, "recording \(events.map(\.typeName).joined(separator: ", ")) in \(stream) failed: \(error.message)")
        }
        let seqs = (0..<UInt64(events.count)).map { result.firstSeq.rawValue + $0 }
        for (event, seq) in zip(events, seqs) {
            history.append((seq, event))
            await observer?.appended(event, seq: Seq(seq))
        }
        return seqs
    }

    /// A thread's events, decoded (events of unknown types are left out), and when its last event was appended
    /// (ns since the epoch; nil for a new thread).
    static func history(of stream: StreamID, in store: EventStore) throws(EngineError) -> (events: [(seq: UInt64, event: DomainEvent)], lastActivity: Int64?) {
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
