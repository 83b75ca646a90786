import EventStore
import Events
import Foundation

/// A run the log shows started and never finished: its thread and id.
public struct OpenRun: Sendable, Equatable {
    public var threadID: String
    public var runID: UUID
    /// The run that delegated it, for a worker's run.
    public var parentRunID: UUID?

    public init(threadID: String, runID: UUID, parentRunID: UUID?) {
        (self.threadID, self.runID, self.parentRunID) = (threadID, runID, parentRunID)
    }
}

/// What closing interrupted runs appended.
public struct RecoveredRuns: Sendable, Equatable {
    /// Runs closed as `interrupted`.
    public var runs = 0
    /// Tool calls given a result that says their outcome is unknown.
    public var toolCalls = 0

    public init() {}
}

extension Conversations {
    /// The message a tool call cut short by a crash is answered with.
    static let unknownToolOutcome =
        "outcome unknown: the server stopped before this call's result was recorded; the tool may or may not have run"

    /// Closes the runs a crash or a kill cut short, before the server takes requests: each tool call without a result
    /// gets one that says its outcome is unknown, and each run a `run.finished` with status `interrupted` (workers'
    /// runs before the runs that delegated them), appended as `system:recovery` to the run's thread. Running again
    /// finds nothing more to close.
    ///
    /// Call it only while no run can be in flight on the runs' threads — at start-up, or on a shared log under the
    /// thread's hold (`AbandonedRuns`): a run it is given is taken to have stopped.
    /// - Parameter runs: the runs the conversation read model shows still running.
    /// - Throws: `storage`.
    public func closeInterruptedRuns(_ runs: [OpenRun]) async throws(EngineError) -> RecoveredRuns {
        var recovered = RecoveredRuns()
        let ordered = runs.filter { $0.parentRunID != nil } + runs.filter { $0.parentRunID == nil }
        var byThread: [String: [(seq: Seq, event: DomainEvent)]] = [:]
        for run in ordered {
            let stream: StreamID
            do { stream = try ThreadID(run.threadID).stream } catch {
                throw EngineError(.invalidArgument, error.message)
            }
            if byThread[run.threadID] == nil {
                byThread[run.threadID] = try RunRecorder.ownEvents(of: stream, in: store, from: 1).events
            }
            let events = byThread[run.threadID] ?? []
            // Its own events: what it asked for, what came back, whether it finished after all (the read model may lag).
            var calls: [(callID: String, server: String, tool: String)] = []
            var answered = Set<String>()
            var steps = 0, finished = false
            for (_, event) in events {
                switch event {
                case .llmRequest(let e) where e.runID == run.runID: steps = max(steps, e.step)
                case .toolCalled(let e) where e.runID == run.runID: calls.append((e.callID, e.server, e.tool))
                case .toolResult(let e) where e.runID == run.runID: answered.insert(e.callID)
                case .runFinished(let e) where e.runID == run.runID: finished = true
                default: continue
                }
            }
            guard !finished else { continue }
            let workspace =
                events.lazy.compactMap { e -> String? in
                    switch e.event {
                    case .threadStarted(let s): s.workspace
                    case .threadForked(let f): f.workspace
                    default: nil
                    }
                }.first ?? "default"
            let unanswered = calls.filter { !answered.contains($0.callID) }
            var closing: [DomainEvent] = unanswered.map {
                .toolResult(
                    ToolResult(
                        runID: run.runID, callID: $0.callID, server: $0.server, tool: $0.tool,
                        output: Self.unknownToolOutcome,
                        isError: true, latencyMilliseconds: 0))
            }
            closing.append(
                .runFinished(
                    RunFinished(
                        runID: run.runID, status: .interrupted,
                        error: "the server stopped before this run finished; closed when it started again", steps: steps
                    )))
            var recorder = RunRecorder(store: store, stream: stream, workspace: workspace, observer: nil, history: [])
            recorder.correlationID = run.runID
            _ = try await recorder.record(closing, actor: "system:recovery")
            recovered.runs += 1
            recovered.toolCalls += unanswered.count
        }
        return recovered
    }
}
