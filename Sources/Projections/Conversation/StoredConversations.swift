import EventStore
import Events
import Foundation

/// The conversation projection kept on disk: the state through the last checkpoint in `ConversationTables`, what
/// changed since in memory (`changed`: the threads and runs the fold touched since, whole, and the messages it
/// added), written to the tables at each checkpoint with the position, in one transaction. Before an event is folded,
/// its thread (and run) are read into `changed` from the tables if they are not there yet, so the fold
/// (`ConversationProjection.apply`, unchanged) always works on their current values. Memory holds what a checkpoint
/// interval touched, whatever the number of threads.
///
/// Invariant (as for every slot): every method is called with the runner's lock for this slot held.
final class StoredConversationsSlot: StoredProjectionSlot, @unchecked Sendable {
    typealias P = ConversationProjection
    private let tables: ConversationTables
    private var changed = ConversationProjection.initial
    private var seq: Seq = 0
    private var stored: Seq = 0
    /// Why a thread or run could not be read from the tables while folding: the state in memory may then be wrong, so
    /// it is never written, and queries fail with it, until a rebuild.
    private var failure: (any Error)?

    init(directory: String) throws {
        tables = try ConversationTables(directory: directory)
    }

    func apply(_ event: DomainEvent, _ context: EventContext) {
        guard context.seq > seq else { return }
        do {
            try fault(ConversationProjection.threadID(of: context.stream.rawValue))
            if case .threadForked(let e) = event { try fault(e.fromThreadID) }
            // `index(forKey:)`, not `[key] == nil`, which copies the summary out to compare it with nil.
            if let run = Self.runID(of: event), changed.runs.index(forKey: run) == nil, let stored = try tables.run(run)
            {
                changed.runs[run] = stored
            }
        } catch {
            if failure == nil { failure = error }
        }
        ConversationProjection.apply(event, context: context, to: &changed)
        seq = context.seq
    }

    /// Reads a thread's summary into `changed` unless it is there.
    private func fault(_ threadID: String) throws {
        guard changed.threads.index(forKey: threadID) == nil, let summary = try tables.thread(threadID) else { return }
        changed.threads[threadID] = summary
    }

    private static func runID(of event: DomainEvent) -> UUID? {
        switch event {
        case .toolCalled(let e): e.runID
        case .llmFailed(let e): e.runID
        case .llmResponse(let e): e.runID
        case .runFinished(let e): e.runID
        default: nil
        }
    }

    func restoreStored(accepting accepts: (Seq, UUID?) throws -> Bool) throws -> Seq {
        guard let (position, id) = try tables.load(), try accepts(position, id) else {
            try reset()
            return 0
        }
        (changed, seq, stored, failure) = (ConversationProjection.initial, position, position, nil)
        return position
    }

    func store(through position: Seq, id: UUID?) throws {
        if let failure { throw failure }
        seq = max(seq, position)
        guard seq > stored || !changed.threads.isEmpty || !changed.runs.isEmpty else { return }
        try tables.write(changed, through: seq, id: id)
        (changed, stored) = (ConversationProjection.initial, seq)
    }

    func reset() throws {
        try tables.clear()
        (changed, seq, stored, failure) = (ConversationProjection.initial, 0, 0, nil)
    }

    // MARK: - Queries: the tables with what changed since laid over them

    func conversation(_ threadID: String) throws -> ConversationState? {
        if let failure { throw failure }
        var state = try tables.conversation(threadID)
        guard let summary = changed.threads[threadID] else { return state }
        if state == nil { state = ConversationState() }
        state!.threads[threadID] = summary
        if let added = changed.messages[threadID] { state!.messages[threadID, default: []] += added }
        for run in changed.runs.values where run.threadID == threadID { state!.runs[run.id] = run }
        return state
    }

    func threads(
        workspace: String, before: Int64, limit: Int, include: (ThreadSummary) -> Bool
    ) throws -> (threads: [ThreadSummary], more: Bool) {
        if let failure { throw failure }
        let recent = changed.threads.values.filter {
            $0.workspace == workspace && $0.lastActivityNanoseconds < before && include($0)
        }
        let older = try tables.threads(workspace: workspace, before: before, limit: limit + 1) {
            changed.threads[$0.id] == nil && include($0)
        }
        let all = (recent + older).sorted {
            ($0.lastActivityNanoseconds, $0.id) > ($1.lastActivityNanoseconds, $1.id)
        }
        return (Array(all.prefix(limit)), all.count > limit)
    }

    func openRuns() throws -> [RunSummary] {
        if let failure { throw failure }
        return try tables.openRuns().filter { changed.runs[$0.id] == nil }
            + changed.runs.values.filter { $0.status == .running }
    }
}

extension ConversationState {
    /// One thread's summary, messages and runs (nil: no such thread).
    func conversation(_ threadID: String) -> ConversationState? {
        guard let summary = threads[threadID] else { return nil }
        var one = ConversationState()
        one.threads[threadID] = summary
        one.messages[threadID] = messages[threadID]
        one.runs = runs.filter { $0.value.threadID == threadID }
        return one
    }

    /// A page of a workspace's threads active before `before`, most recent first, and whether more follow.
    func threads(
        workspace: String, before: Int64, limit: Int, include: (ThreadSummary) -> Bool
    ) -> (threads: [ThreadSummary], more: Bool) {
        let all = threads(workspace: workspace).filter { $0.lastActivityNanoseconds < before && include($0) }
        return (Array(all.prefix(limit)), all.count > limit)
    }
}
