import EventStore
import Events
import Synchronization

/// The decoded histories of recently active threads, so a turn reads and decodes only what its thread gained since
/// the last turn instead of the whole thread. Bounded by events held; the least recently used threads go first.
///
/// An entry holds a thread's history up to a revision of its own stream; a lookup reads the stream from that revision
/// on, so events appended by anyone else are never missed. With `maxEvents` 0 nothing is kept and every lookup reads
/// the thread whole.
final class HistoryCache: Sendable {
    private struct Entry {
        var events: [(seq: Seq, event: DomainEvent)]
        var revision: StreamRevision
        var lastUse: UInt64
    }

    private struct State {
        var entries: [StreamID: Entry] = [:]
        var events = 0
        var tick: UInt64 = 0
    }

    private let state = Mutex(State())
    let maxEvents: Int

    init(maxEvents: Int) { self.maxEvents = maxEvents }

    /// A thread's history (as `RunRecorder.history(of:in:)`) and its own stream's revision (nil: no events yet).
    func history(of stream: StreamID, in store: EventStore) throws(EngineError) -> RunRecorder.History {
        // Taken out while the turn runs (it is put back after): the turn then appends to the only copy.
        let cached = state.withLock { s -> Entry? in
            guard let entry = s.entries.removeValue(forKey: stream) else { return nil }
            s.events -= entry.events.count
            return entry
        }
        guard var cached else { return try RunRecorder.history(of: stream, in: store) }
        // From the last revision held: it gives the time of the last event when nothing is new.
        let tail = try RunRecorder.ownEvents(of: stream, in: store, from: cached.revision)
        guard tail.revision != nil, tail.firstRevision == cached.revision else {
            // the stream is not what the entry says: read it whole
            return try RunRecorder.history(of: stream, in: store)
        }
        let known = cached.events.last?.seq ?? 0
        var events = cached.events
        cached.events = []  // `events` is then the only reference: appending does not copy
        events += tail.events.drop { $0.seq <= known }
        return RunRecorder.History(events: events, lastActivity: tail.lastActivity, revision: tail.revision)
    }

    /// Keeps a thread's history as of `revision` of its stream.
    func remember(_ stream: StreamID, events: [(seq: Seq, event: DomainEvent)], revision: StreamRevision) {
        guard events.count <= maxEvents / 4 else { return forget(stream) }
        state.withLock { s in
            s.tick += 1
            s.events += events.count - (s.entries[stream]?.events.count ?? 0)
            s.entries[stream] = Entry(events: events, revision: revision, lastUse: s.tick)
            while s.events > maxEvents, let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.events -= oldest.value.events.count
                s.entries[oldest.key] = nil
            }
        }
    }

    /// Events held, over all threads.
    var heldEvents: Int { state.withLock { $0.events } }

    /// Whether a thread's history is held.
    func holds(_ stream: StreamID) -> Bool { state.withLock { $0.entries[stream] != nil } }

    func forget(_ stream: StreamID) {
        state.withLock { s in
            if let gone = s.entries.removeValue(forKey: stream) { s.events -= gone.events.count }
        }
    }
}
