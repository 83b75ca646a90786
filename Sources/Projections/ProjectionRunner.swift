import EventStore
import Events
import Foundation
import Synchronization

/// Keeps a set of projections up to date with the log: loads their checkpoints, catches up from there (each event
/// decoded once for all of them), follows the log live, and checkpoints as it goes, so a restart replays only the
/// events since the last checkpoint.
///
/// Queries run against the current state under its projection's lock (`read`), without copying it; each projection
/// has its own, so a catch-up folds them on several threads at once.
public final class ProjectionRunner: Sendable {
    /// Events that were not folded, by reason: unknown type, newer schema, or bytes that do not decode.
    public struct Skipped: Sendable, Equatable {
        public var unknownType = 0
        public var newerVersion = 0
        public var malformed = 0

        public init(unknownType: Int = 0, newerVersion: Int = 0, malformed: Int = 0) {
            (self.unknownType, self.newerVersion, self.malformed) = (unknownType, newerVersion, malformed)
        }
    }

    let store: EventStore
    let slots: [any ProjectionSlot]
    private let slotsByType: [String: [Int]]
    let checkpointEveryEvents: UInt64
    private let progress = Mutex(Progress())
    /// Guard the slots' states, one per slot (same index): held while folding a slice of events into it, storing its
    /// checkpoint, or answering a query from it.
    let locks: [NSLock]
    /// Events folded per hold of a slot's lock during catch-up (queries wait at most this long), and decoded ahead per
    /// slice.
    let sliceEvents: UInt64

    private struct Progress {
        var position: UInt64 = 0
        var sinceCheckpoint: UInt64 = 0
        var skipped = Skipped()
    }

    /// - Parameters:
    ///   - projections: the projections to keep; their names must differ.
    ///   - checkpointEveryEvents: how many folded events between checkpoints.
    ///   - sliceEvents: how many events a catch-up folds into a projection per hold of its lock (its queries wait at
    ///     most that long); a catch-up longer than one slice decodes and folds on several threads (`foldConcurrently`).
    public convenience init(
        store: EventStore, projections: [any Projection.Type], checkpointEveryEvents: UInt64 = 100_000,
        sliceEvents: Int = 4096
    ) {
        self.init(
            store: store, slots: projections.map { $0.makeSlot() }, checkpointEveryEvents: checkpointEveryEvents,
            sliceEvents: sliceEvents)
    }

    /// A runner that keeps the audit trail and the conversations on disk, in `tables/audit` and
    /// `tables/conversations` (`OrderedTables`, beside the log): its memory then holds at most what a checkpoint
    /// interval added or touched. The registry and usage stay in memory (they are small).
    /// - Throws: when the tables cannot be opened or created.
    public convenience init(
        store: EventStore, projections: [any Projection.Type], tables: String, checkpointEveryEvents: UInt64 = 100_000,
        sliceEvents: Int = 4096
    ) throws {
        let slots = try projections.map { (p) throws -> any ProjectionSlot in
            switch p {
            case is AuditProjection.Type: try AuditTrailSlot(directory: tables + "/audit")
            case is ConversationProjection.Type: try StoredConversationsSlot(directory: tables + "/conversations")
            default: p.makeSlot()
            }
        }
        self.init(store: store, slots: slots, checkpointEveryEvents: checkpointEveryEvents, sliceEvents: sliceEvents)
    }

    private init(store: EventStore, slots: [any ProjectionSlot], checkpointEveryEvents: UInt64, sliceEvents: Int) {
        self.store = store
        self.sliceEvents = UInt64(max(sliceEvents, 1))
        self.slots = slots
        locks = slots.map { _ in NSLock() }
        precondition(Set(slots.map(\.name)).count == slots.count, "projection names must be unique")
        var index: [String: [Int]] = [:]
        for (i, slot) in slots.enumerated() { for type in slot.eventTypes { index[type, default: []].append(i) } }
        slotsByType = index
        self.checkpointEveryEvents = max(checkpointEveryEvents, 1)
    }

    /// The last seq folded into every projection.
    public var position: Seq { Seq(progress.withLock { $0.position }) }
    /// Events in the log not folded yet (what `/readyz`, `/metrics` and the server's lag warning report).
    public var eventsBehind: UInt64 {
        let end = store.lastSeq.rawValue
        return end - min(position.rawValue, end)
    }
    public var skipped: Skipped { progress.withLock { $0.skipped } }

    /// Runs `body` with the current state of projection `P`, under its lock.
    public func read<P: Projection, T>(_: P.Type, _ body: (P.State) throws -> T) rethrows -> T {
        guard let found = try locked(Slot<P>.self, { try $0.read(body) }) else {
            preconditionFailure(
                "projection \(P.name) is not run in memory by this runner (the audit trail: queryAudit)")
        }
        return found
    }

    /// Answers an audit query, from memory or from the tables on disk, whichever this runner keeps.
    public func queryAudit(_ q: AuditQuery) throws -> AuditPage {
        if let page = try locked(AuditTrailSlot.self, { try $0.query(q) }) { return page }
        return read(AuditProjection.self) { $0.query(q) }
    }

    /// One thread's summary, messages and runs, from memory or the tables (nil: no such thread).
    public func conversation(of threadID: String) throws -> ConversationState? {
        if let stored = try locked(StoredConversationsSlot.self, { try $0.conversation(threadID) }) { return stored }
        return read(ConversationProjection.self) { $0.conversation(threadID) }
    }

    /// A page of `workspace`'s threads last active before `before`, most recent first (ties: the larger id first),
    /// those `include` accepts, and whether more follow.
    public func threads(
        workspace: String, before: Int64 = .max, limit: Int, include: (ThreadSummary) -> Bool = { _ in true }
    ) throws -> (threads: [ThreadSummary], more: Bool) {
        let stored = try locked(StoredConversationsSlot.self) {
            try $0.threads(workspace: workspace, before: before, limit: limit, include: include)
        }
        if let stored { return stored }
        return read(ConversationProjection.self) {
            $0.threads(workspace: workspace, before: before, limit: limit, include: include)
        }
    }

    /// The runs still running (what a crash may have left open).
    public func openRuns() throws -> [RunSummary] {
        if let stored = try locked(StoredConversationsSlot.self, { try $0.openRuns() }) { return stored }
        return read(ConversationProjection.self) { $0.runs.values.filter { $0.status == .running } }
    }

    /// `body` with this runner's slot of type `S` under its lock; nil when there is none.
    private func locked<S: ProjectionSlot, T>(_: S.Type, _ body: (S) throws -> T) rethrows -> T? {
        guard let i = slots.firstIndex(where: { $0 is S }) else { return nil }
        return try locks[i].withLock { try body(slots[i] as! S) }
    }

    /// How many entries the audit trail holds.
    public func auditEntryCount() throws -> Int {
        if let count = try locked(AuditTrailSlot.self, { try $0.count() }) { return count }
        return read(AuditProjection.self) { $0.count }
    }

    /// Loads the stored checkpoints (those of the current projection versions), then folds the log up to its end.
    /// - Returns: how many events were folded.
    @discardableResult
    public func start(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        // The checkpoints load at once, one per core: each restores its own slot (disjoint state), and start-up takes
        // about as long as the largest instead of the sum.
        let logEnd = store.lastSeq
        let outcomes = concurrentMap(Array(zip(slots, locks))) { slot, lock in
            lock.withLock {
                Result { () throws -> UInt64 in
                    if slot.storesItself {
                        // Tables of this log: not ahead of it, and written after the event the log holds there (not
                        // another log's, nor the tables of a log since restored from an older backup).
                        return try slot.restoreStored { position, id in
                            try position <= logEnd
                                && (position == 0 || store.read(from: position, maxCount: 1).first?.id == id)
                        }.rawValue
                    }
                    let restored = try store.withCheckpoint(named: slot.checkpointName) { seq, state in
                        try slot.restore(seq: seq, state: state)
                    }
                    return ((restored ?? nil) ?? 0).rawValue
                }
            }
        }
        var position = UInt64.max
        for outcome in outcomes { position = min(position, try outcome.get()) }
        progress.withLock { $0.position = position == .max ? 0 : position }
        return try await catchUp(progress: report)
    }

    /// Drops every state and folds the whole log again.
    @discardableResult
    public func rebuild(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        for (slot, lock) in zip(slots, locks) { try lock.withLock { try slot.reset() } }
        progress.withLock { $0 = Progress() }
        return try await catchUp(progress: report)
    }

    /// Folds every event after the current position up to the log's end, checkpointing every `checkpointEveryEvents`
    /// (call `checkpoint()` to store one now, e.g. at shutdown).
    @discardableResult
    public func catchUp(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        let end = store.lastSeq.rawValue
        let (start, since) = progress.withLock { ($0.position, $0.sinceCheckpoint) }
        guard start < end else { return 0 }
        var last = start
        if end - start <= sliceEvents {
            var names = NameTables()
            let slice = try decode(from: start + 1, through: end, names: &names)
            for i in slots.indices { apply(slice, slot: i) }
            _ = account(slice)
        } else {
            // Checkpoints every `checkpointEveryEvents` counted from the last one, stored as the folds pass them.
            let (sum, overflow) = start.addingReportingOverflow(
                max(checkpointEveryEvents - min(since, checkpointEveryEvents), 1))
            let first = overflow ? .max : sum
            let (checkpoints, threads) = foldConcurrently(from: start + 1, through: end, checkpointsFrom: first)
            // Returns only once no thread folds any more (they stop at their next slice when this stops listening).
            defer { threads.wait() }
            for try await checkpoint in checkpoints {
                try await storeInLog(checkpoint.snapshots)
                progress.withLock { p in
                    p.position = max(p.position, checkpoint.seq)
                    p.sinceCheckpoint = 0
                }
                last = checkpoint.seq
                report?(Seq(checkpoint.seq), Seq(end))
            }
            // Cancelled, the stream ends early: the folds may not have reached the end.
            try Task.checkCancellation()
        }
        let due = progress.withLock { p -> Bool in
            p.position = max(p.position, end)
            p.sinceCheckpoint = (last == start ? since : 0) + (end - last)
            return p.sinceCheckpoint >= checkpointEveryEvents
        }
        report?(Seq(end), Seq(end))
        // Every `checkpointEveryEvents`, not every call: a catch-up of a few events (a query reading its own writes)
        // must not rewrite every projection's state.
        if due { try await checkpoint() }
        return end - start
    }

    /// Follows the log from the current position: folds each event as it is appended, checkpointing every
    /// `checkpointEveryEvents`. Returns when the task is cancelled or the store closes.
    public func follow() async throws {
        for await message in store.subscribe(from: position.next) {
            switch message {
            case .event(let e):
                fold(e)
                let due = progress.withLock { p -> Bool in
                    p.position = e.seq.rawValue
                    p.sinceCheckpoint += 1
                    return p.sinceCheckpoint >= checkpointEveryEvents
                }
                if due { try await checkpoint() }
            case .caughtUp, .idle:
                continue
            case .dropped(let reason):
                if case .storeClosed = reason { return }
                if case .failed(let error) = reason { throw error }
                // Too slow: resume from where we are.
                return try await follow()
            }
        }
    }

    /// Stores every projection's state at the current position: those in memory in the log's checkpoints, in one
    /// transaction (queries wait only while the states are copied, copy-on-write: no bytes move; they are encoded
    /// outside the locks, one per core); those in tables of their own each in its own, at once.
    public func checkpoint() async throws {
        let seq = progress.withLock { p -> UInt64 in
            p.sinceCheckpoint = 0
            return p.position
        }
        guard seq > 0 else { return }
        let id = slots.contains(where: \.storesItself) ? try store.read(from: Seq(seq), maxCount: 1).first?.id : nil
        // At once: slots on disk write to separate files.
        let outcomes = concurrentMap(Array(slots.indices)) { i in
            Result { try checkpoint(slot: i, through: Seq(seq), id: id) }
        }
        try await storeInLog(try outcomes.compactMap { try $0.get() })
    }

    /// Checkpoints slot `i` at `position` (`id` the log's event there), under its lock: a slot on disk writes what it
    /// folded since its last checkpoint, with the position (a query of it waits: it reads the tables and what is still
    /// in memory together); a slot in memory returns its snapshot, to store in the log's checkpoints.
    func checkpoint(slot i: Int, through position: Seq, id: UUID?) throws -> (@Sendable () -> Checkpoint)? {
        try locks[i].withLock {
            guard slots[i].storesItself else { return slots[i].snapshot(through: position) }
            try slots[i].store(through: position, id: id)
            return nil
        }
    }

    /// Encodes the snapshots of the slots in memory, one per core, and stores them in the log's checkpoints in one
    /// transaction.
    func storeInLog(_ snapshots: [@Sendable () -> Checkpoint]) async throws {
        // A projection now kept in tables may have a checkpoint in the log from before (a build that kept it in
        // memory): removed, as it is never read again (71 MB at a million events); removing none costs a lookup.
        let stale = slots.filter(\.storesItself).map(\.checkpointName)
        try await store.storeCheckpoints(concurrentMap(snapshots) { $0() }, removing: stale)
    }

    /// The state of projection `P` as of `seq`: a fold of the log's first `seq` events (or of `streams` only, when the
    /// projection's events all live there), without touching any runner.
    public static func state<P: Projection>(
        of _: P.Type, asOf seq: Seq, in store: EventStore, streams: [StreamID]? = nil
    ) throws -> P.State {
        var state = P.initial
        var names = NameTables()
        func visit(_ view: EventView) throws -> Bool {
            let route = try names.route(view.typeID, view) {
                P.eventTypes.contains($0) ? ([0], P.readsBulkText) : ([], false)
            }
            guard !route.slots.isEmpty, let decoder = route.decoder else { return true }
            let outcome = try view.withPayload { decoder.decode($0, skippingBulkText: !route.readsBulkText) }
            if case .event(let event) = outcome { P.apply(event, context: try names.context(view), to: &state) }
            return true
        }
        if let streams {
            try store.scan(streams: streams, through: seq, visit)
        } else {
            try store.scan(from: 1, through: seq, visit)
        }
        return state
    }

    // MARK: - Folding

    /// Scans and decodes a slice of the log for the slots that want each event.
    func decode(from: UInt64, through: UInt64, names: inout NameTables) throws -> DecodedSlice {
        var slice = DecodedSlice(through: through, slots: slots.count)
        slice.events.reserveCapacity(Int(through - from + 1))
        do {
            try store.scan(from: Seq(from), through: Seq(through)) { view in
                slice.read += 1
                slice.lastID = view.id
                let route = try names.route(view.typeID, view) { type in
                    let slots = slotsByType[type] ?? []
                    return (slots, slots.contains { self.slots[$0].readsBulkText })
                }
                guard let decoder = route.decoder else {
                    slice.skipped.unknownType += 1
                    return true
                }
                guard !route.slots.isEmpty else { return true }
                let outcome = try view.withPayload { decoder.decode($0, skippingBulkText: !route.readsBulkText) }
                guard let event = slice.skipped.count(outcome) else { return true }
                for i in route.slots { slice.bySlot[i].append(Int32(slice.events.count)) }
                slice.events.append(DecodedEvent(event: event, context: try names.context(view)))
                return true
            }
        }
        return slice
    }

    /// Folds the events of a decoded slice that slot `i` wants into it, under its lock.
    func apply(_ slice: DecodedSlice, slot i: Int) {
        let slot = slots[i]
        locks[i].withLock {
            // Through the buffer: each event is lent to the fold, not copied (no reference counting per field).
            slice.events.withUnsafeBufferPointer { slot.apply($0, at: slice.bySlot[i]) }
        }
    }

    /// Counts what a slice skipped; returns how many events it read.
    func account(_ slice: DecodedSlice) -> UInt64 {
        if slice.skipped != Skipped() {
            progress.withLock { $0.skipped.add(slice.skipped) }
        }
        return slice.read
    }

    private func fold(_ e: RecordedEvent) {
        guard let interested = slotsByType[e.type] else {
            if !EventCatalog.typeNames.contains(e.type) { progress.withLock { $0.skipped.unknownType += 1 } }
            return
        }
        guard let event = count(EventCatalog.decode(e)) else { return }
        let context = EventContext(e)
        for i in interested { locks[i].withLock { slots[i].apply(event, context) } }
    }

    private func count(_ outcome: EventCatalog.Outcome) -> DomainEvent? {
        progress.withLock { $0.skipped.count(outcome) }
    }
}

/// `transform` of each element, all at once, one per core; in the elements' order.
private func concurrentMap<T: Sendable, U: Sendable>(_ elements: [T], _ transform: @Sendable (T) -> U) -> [U] {
    let results = Mutex([U?](repeating: nil, count: elements.count))
    DispatchQueue.concurrentPerform(iterations: elements.count) { i in
        let result = transform(elements[i])
        results.withLock { $0[i] = result }
    }
    return results.withLock { $0.map { $0! } }
}

/// Logbook's read models, run together by the server and the CLI.
public enum StandardProjections {
    public static var all: [any Projection.Type] {
        [RegistryProjection.self, ConversationProjection.self, AuditProjection.self, UsageProjection.self]
    }
}
