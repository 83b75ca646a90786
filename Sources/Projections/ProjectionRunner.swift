import EventStore
import Events
import Foundation
import Synchronization

/// Keeps a set of projections up to date with the log: loads their checkpoints, catches up from there (each event
/// decoded once for all of them), follows the log live, and checkpoints as it goes, so a restart replays only the
/// events since the last checkpoint.
///
/// Queries run against the current state under a lock (`read`), without copying it.
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

    private let store: EventStore
    private let slots: [any ProjectionSlot]
    private let slotsByType: [String: [Int]]
    private let checkpointEveryEvents: UInt64
    private let progress = Mutex(Progress())
    /// The log's type, actor, workspace and stream numbers resolved once each, in dense tables (used under `lock`).
    private let names = NameTables()
    /// Guards every slot's state: held while folding a slice of events, storing a checkpoint, or answering `read`.
    private let lock = NSLock()
    /// Events folded per hold of `lock` during catch-up: queries wait at most this long.
    private static let sliceEvents: UInt64 = 4096

    private struct Progress {
        var position: UInt64 = 0
        var sinceCheckpoint: UInt64 = 0
        var skipped = Skipped()
    }

    /// - Parameters:
    ///   - projections: the projections to keep; their names must differ.
    ///   - checkpointEveryEvents: how many folded events between checkpoints.
    public init(store: EventStore, projections: [any Projection.Type], checkpointEveryEvents: UInt64 = 100_000) {
        self.store = store
        slots = projections.map { $0.makeSlot() }
        precondition(Set(slots.map(\.name)).count == slots.count, "projection names must be unique")
        var index: [String: [Int]] = [:]
        for (i, slot) in slots.enumerated() { for type in slot.eventTypes { index[type, default: []].append(i) } }
        slotsByType = index
        self.checkpointEveryEvents = max(checkpointEveryEvents, 1)
    }

    /// The last seq folded into every projection.
    public var position: Seq { Seq(progress.withLock { $0.position }) }
    public var skipped: Skipped { progress.withLock { $0.skipped } }

    /// Runs `body` with the current state of projection `P`, under its lock.
    public func read<P: Projection, T>(_: P.Type, _ body: (P.State) throws -> T) rethrows -> T {
        guard let slot = slots.first(where: { $0.name == P.name }) as? Slot<P> else {
            preconditionFailure("projection \(P.name) is not run by this runner")
        }
        return try lock.withLock { try slot.read(body) }
    }

    /// Loads the stored checkpoints (those of the current projection versions), then folds the log up to its end.
    /// - Returns: how many events were folded.
    @discardableResult
    public func start(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        var position = UInt64.max
        for slot in slots {
            let restored: UInt64?? = try lock.withLock {
                try store.withCheckpoint(named: slot.checkpointName) { seq, state in try slot.restore(seq: seq, state: state) }
            }
            let loaded = (restored ?? nil) ?? 0
            position = min(position, loaded)
        }
        progress.withLock { $0.position = position == .max ? 0 : position }
        return try await catchUp(progress: report)
    }

    /// Drops every state and folds the whole log again.
    @discardableResult
    public func rebuild(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        lock.withLock { for slot in slots { slot.reset() } }
        progress.withLock { $0 = Progress() }
        return try await catchUp(progress: report)
    }

    /// Folds every event after the current position up to the log's end, checkpointing as it goes.
    @discardableResult
    public func catchUp(progress report: ((Seq, Seq) -> Void)? = nil) async throws -> UInt64 {
        let end = store.lastSeq.rawValue
        var folded: UInt64 = 0
        while true {
            let from = progress.withLock { $0.position } + 1
            guard from <= end else { break }
            let (sum, overflow) = from.addingReportingOverflow(checkpointEveryEvents - 1)
            let through = overflow ? end : min(end, sum)
            var next = from
            while next <= through {
                let sliceEnd = min(through, next + Self.sliceEvents - 1)
                let last = try lock.withLock {
                    try store.scan(from: Seq(next), through: Seq(sliceEnd)) { view in
                        try fold(view)
                        return true
                    }.rawValue
                }
                folded += last >= next ? last - next + 1 : 0
                next = sliceEnd + 1
            }
            progress.withLock { $0.position = max($0.position, through) }
            report?(Seq(through), Seq(end))
            try await checkpoint()
        }
        return folded
    }

    /// Follows the log from the current position: folds each event as it is appended, checkpointing every
    /// `checkpointEveryEvents`. Returns when the task is cancelled or the store closes.
    public func follow() async throws {
        for await message in store.subscribe(from: position.next) {
            switch message {
            case .event(let e):
                lock.withLock { fold(e) }
                let due = progress.withLock { p -> Bool in
                    p.position = e.seq.rawValue
                    p.sinceCheckpoint += 1
                    return p.sinceCheckpoint >= checkpointEveryEvents
                }
                if due { try await checkpoint() }
            case .caughtUp:
                continue
            case .dropped(let reason):
                if case .storeClosed = reason { return }
                if case .failed(let error) = reason { throw error }
                // Too slow: resume from where we are.
                return try await follow()
            }
        }
    }

    /// Stores every projection's state at the current position, atomically.
    public func checkpoint() async throws {
        let seq = progress.withLock { p -> UInt64 in
            p.sinceCheckpoint = 0
            return p.position
        }
        guard seq > 0 else { return }
        let checkpoints = lock.withLock { slots.map { $0.checkpoint(through: seq) } }
        try await store.storeCheckpoints(checkpoints)
    }

    /// The state of projection `P` as of `seq`: a fold of the log's first `seq` events (or of `streams` only, when the
    /// projection's events all live there), without touching any runner.
    public static func state<P: Projection>(of _: P.Type, asOf seq: Seq, in store: EventStore, streams: [StreamID]? = nil) throws -> P.State {
        var state = P.initial
        if let streams {
            var events: [RecordedEvent] = []
            for stream in streams {
                var revision: StreamRevision = 1
                while true {
                    let page = try store.read(stream: stream, from: revision, maxCount: 4096)
                    events += page.prefix { $0.seq <= seq }
                    guard let last = page.last, last.seq <= seq, page.count == 4096 else { break }
                    revision = StreamRevision(last.revision.rawValue + 1)
                }
            }
            P.fold(events.sorted { $0.seq < $1.seq }, into: &state)
            return state
        }
        try store.scan(from: 1, through: seq) { view in
            let type = try view.type()
            guard P.eventTypes.contains(type) else { return true }
            let outcome = try view.withPayload { EventCatalog.decode(type: type, payload: $0) }
            if case .event(let event) = outcome { P.apply(event, context: try Self.context(view), to: &state) }
            return true
        }
        return state
    }

    // MARK: - Folding

    private func fold(_ view: EventView) throws {
        let names = names
        let route = try names.route(view.typeID, view) { type in (slotsByType[type] ?? [], EventCatalog.typeNames.contains(type)) }
        guard !route.slots.isEmpty else {
            if !route.known { progress.withLock { $0.skipped.unknownType += 1 } }
            return
        }
        let outcome = try view.withPayload { EventCatalog.decode(type: route.type, payload: $0) }
        guard let event = count(outcome) else { return }
        let context = EventContext(seq: view.seq.rawValue, stream: try names.stream(view.streamNumber, view), revision: view.revision.rawValue,
                                   id: view.id, timeNanoseconds: view.timeNanoseconds,
                                   actor: try view.actorID.map { (id) throws(EventStoreError) in try names.name(id, view) },
                                   workspace: try view.workspaceID.map { (id) throws(EventStoreError) in try names.name(id, view) },
                                   correlationID: view.correlationID, causationID: view.causationID)
        for i in route.slots { slots[i].apply(event, context) }
    }

    private func fold(_ e: RecordedEvent) {
        guard let interested = slotsByType[e.type] else {
            if !EventCatalog.typeNames.contains(e.type) { progress.withLock { $0.skipped.unknownType += 1 } }
            return
        }
        guard let event = count(EventCatalog.decode(e)) else { return }
        let context = EventContext(e)
        for i in interested { slots[i].apply(event, context) }
    }

    private func count(_ outcome: EventCatalog.Outcome) -> DomainEvent? {
        switch outcome {
        case .event(let event): return event
        case .unknownType: progress.withLock { $0.skipped.unknownType += 1 }
        case .newerVersion: progress.withLock { $0.skipped.newerVersion += 1 }
        case .malformed: progress.withLock { $0.skipped.malformed += 1 }
        }
        return nil
    }

    static func context(_ view: EventView) throws -> EventContext {
        EventContext(seq: view.seq.rawValue, stream: try view.stream(), revision: view.revision.rawValue, id: view.id,
                     timeNanoseconds: view.timeNanoseconds, actor: try view.actor(), workspace: try view.workspace(),
                     correlationID: view.correlationID, causationID: view.causationID)
    }
}

/// Logbook's read models, run together by the server and the CLI.
public enum StandardProjections {
    public static let all: [any Projection.Type] = [RegistryProjection.self, ConversationProjection.self, AuditProjection.self, UsageProjection.self]
}

/// Names by the log's dense numbers (`EventView.typeID`, `streamNumber`), so folding millions of events neither hashes
/// names nor takes the store's cache lock per event. Invariant: used only under the runner's lock.
final class NameTables: @unchecked Sendable {
    struct Route {
        let type: String
        let slots: [Int]
        let known: Bool
    }

    private var routes = DenseTable<Route>()
    private var symbols = DenseTable<String>()
    private var streams = DenseTable<StreamID>()

    func route(_ id: UInt32, _ view: EventView, _ make: (String) -> ([Int], Bool)) throws(EventStoreError) -> Route {
        try routes.value(Int(id)) { () throws(EventStoreError) in
            let type = try name(id, view)
            let (slots, known) = make(type)
            return Route(type: type, slots: slots, known: known)
        }
    }

    func name(_ id: UInt32, _ view: EventView) throws(EventStoreError) -> String {
        try symbols.value(Int(id)) { () throws(EventStoreError) in try view.name(id) }
    }

    func stream(_ number: UInt64, _ view: EventView) throws(EventStoreError) -> StreamID {
        try streams.value(Int(clamping: number)) { () throws(EventStoreError) in try view.stream() }
    }
}

/// Values by small dense numbers, filled on first use. Numbers past a bound are looked up each time.
struct DenseTable<Value> {
    private var values: [Value?] = []
    private static var bound: Int { 1 << 24 }

    mutating func value(_ i: Int, _ make: () throws(EventStoreError) -> Value) throws(EventStoreError) -> Value {
        if i < values.count, let value = values[i] { return value }
        let value = try make()
        if i < Self.bound {
            if i >= values.count { values.append(contentsOf: repeatElement(nil, count: max(i - values.count + 1, values.count))) }
            values[i] = value
        }
        return value
    }
}
