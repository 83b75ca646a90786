import EventStore
import Events
import Foundation
import Tracing

/// The spans of past runs, made again from their recorded events and times (`logbook traces`): the same names, tree,
/// attributes and events as the live spans `Run` makes (`GenAISpans`), for conversations that ran while tracing was
/// off or to send to a new backend. Each top-level run becomes the root of a trace of its own (the HTTP request that
/// carried it is not in the log); times are the events' (milliseconds).
public struct TraceRebuild {
    /// An instant of the log: an event's time.
    public struct Instant: TracerInstant {
        public let nanosecondsSinceEpoch: UInt64
        public static func < (a: Self, b: Self) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }
    }

    /// What a rebuild made.
    public struct Summary: Sendable, Equatable {
        public var runs = 0
        public var spans = 0
    }

    private struct OpenRun {
        let span: any Span
        var tools: [String: any Span] = [:]
        /// Its calls to worker agents still open, by the worker's name.
        var delegations: [String: any Span] = [:]
        /// Tool spans opened by their decision, waiting for their `tool.called` (or a denial's result), by resource.
        var deciding: [(resource: String, span: any Span)] = []
    }

    private var runs: [UUID: OpenRun] = [:]
    private var chats: [String: any Span] = [:]
    /// A `model.use` decision made before its run started (the run's span gets it).
    private var modelDecision: (AuthorizationDecided, Instant)?
    private var summary = Summary()
    private let thread: String

    /// Rebuilds the spans of `events` (one thread's, in order) and ends them; returns what it made.
    public static func spans(of events: [RecordedEvent], thread: String) -> Summary {
        var rebuild = TraceRebuild(thread: thread)
        for event in events {
            guard case .event(let domain) = EventCatalog.decode(event) else { continue }
            rebuild.fold(
                domain, seq: event.seq, run: event.metadata.correlationID,
                at: Instant(nanosecondsSinceEpoch: UInt64(max(0, event.timeNanoseconds))))
        }
        rebuild.endOpen()
        return rebuild.summary
    }

    private init(thread: String) { self.thread = thread }

    /// - Parameter run: the event's correlation id: the run it belongs to (none for a run's own `model.use`, decided
    ///   before it starts).
    private mutating func fold(_ event: DomainEvent, seq: Seq, run correlation: UUID?, at time: Instant) {
        switch event {
        case .authorizationDecided(let d) where d.action == "model.use":
            // A worker's model is decided inside the delegating call's span; a run's own, before its span.
            // (A run's tool calls are made one after another: at most one delegation of a run is open.)
            if let id = correlation, let run = runs[id], let delegation = run.delegations.values.first {
                GenAISpans.decided(delegation, d, at: time)
            } else {
                modelDecision = (d, time)
            }
        case .authorizationDecided(let d) where d.action == "tool.call":
            guard let id = correlation, var run = runs[id] else { return }
            let parts = d.resource.dropFirst("tool:".count).split(separator: "/", maxSplits: 1).map(String.init)
            let span = GenAISpans.tool(
                parts.count == 2 ? parts[1] : d.resource, server: parts.first ?? "", callID: "", thread: thread,
                context: run.span.context, at: time)
            GenAISpans.decided(span, d, at: time)
            run.deciding.append((d.resource, span))
            runs[id] = run
            summary.spans += 1
        case .runStarted(let r):
            var parentContext = ServiceContext.topLevel
            if let parent = r.parentRunID, let delegation = runs[parent]?.delegations[r.agent] {
                parentContext = delegation.context
            }
            let span = GenAISpans.agent(
                r.agent, model: r.model, thread: thread, run: r.runID, parentRun: r.parentRunID, context: parentContext,
                at: time)
            if r.parentRunID == nil, let (decision, decidedAt) = modelDecision {
                GenAISpans.decided(span, decision, at: decidedAt)
            }
            modelDecision = nil
            GenAISpans.opened(span, at: seq)
            runs[r.runID] = OpenRun(span: span)
            summary.runs += 1
            summary.spans += 1
        case .llmRequest(let r):
            guard let run = runs[r.runID] else { return }
            let span = GenAISpans.chat(
                model: r.model, provider: r.provider, thread: thread, step: r.step, context: run.span.context, at: time)
            GenAISpans.opened(span, at: seq)
            chats["\(r.runID)/\(r.step)"] = span
            summary.spans += 1
        case .llmFailed(let f):
            guard let span = chats["\(f.runID)/\(f.step)"] else { return }
            GenAISpans.attemptFailed(span, attempt: f.attempt, retrying: f.retryable, at: time)
        case .llmResponse(let r):
            guard let span = chats.removeValue(forKey: "\(r.runID)/\(r.step)") else { return }
            GenAISpans.answered(
                span, model: r.model, finishReason: r.finishReason, inputTokens: r.inputTokens,
                outputTokens: r.outputTokens)
            span.end(at: time)
        case .toolCalled(let c):
            guard var run = runs[c.runID] else { return }
            let resource = "tool:\(c.server)/\(c.tool)"
            let span: any Span
            if let i = run.deciding.firstIndex(where: { $0.resource == resource }) {
                span = run.deciding.remove(at: i).span
            } else {
                span = GenAISpans.tool(
                    c.tool, server: c.server, callID: c.callID, thread: thread, context: run.span.context, at: time)
                summary.spans += 1
            }
            span.attributes["gen_ai.tool.call.id"] = c.callID
            GenAISpans.opened(span, at: seq)
            run.tools[c.callID] = span
            if c.server == "agent" { run.delegations[c.tool] = span }
            runs[c.runID] = run
        case .toolResult(let r):
            guard var run = runs[r.runID] else { return }
            var span = run.tools.removeValue(forKey: r.callID)
            if r.server == "agent" { run.delegations[r.tool] = nil }
            if span == nil, let i = run.deciding.firstIndex(where: { $0.resource == "tool:\(r.server)/\(r.tool)" }) {
                // Refused: no `tool.called`, the result says why.
                let refused = run.deciding.remove(at: i).span
                refused.attributes["gen_ai.tool.call.id"] = r.callID
                GenAISpans.failed(refused, type: "denied", message: String(r.output.prefix(200)))
                span = refused
            } else if r.isError {
                span.map { GenAISpans.failed($0, type: "tool_error", message: String(r.output.prefix(200))) }
            }
            runs[r.runID] = run
            span?.end(at: time)
        case .runFinished(let f):
            guard let run = runs.removeValue(forKey: f.runID) else { return }
            run.span.attributes["logbook.run.status"] = f.status.rawValue
            if f.status == .failed || f.status == .cancelled || f.status == .interrupted {
                GenAISpans.failed(run.span, type: f.status.rawValue, message: f.error ?? f.status.rawValue)
            }
            for (_, tool) in run.tools { tool.end(at: time) }
            for (_, pending) in run.deciding { pending.end(at: time) }
            run.span.end(at: time)
        default:
            break
        }
    }

    /// Ends what the events left open (a run still running, or cut short without its end).
    private mutating func endOpen() {
        for span in chats.values { span.end() }
        for run in runs.values {
            for (_, tool) in run.tools { tool.end() }
            run.span.end()
        }
    }
}
