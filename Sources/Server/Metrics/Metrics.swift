import EventStore
import Events
import Foundation
import Prometheus
import Projections
import Synchronization

/// What `/metrics` reports, through a swift-prometheus registry (the collectors implement swift-metrics' handlers):
/// HTTP requests and latencies by route, the log's appends and group commits, how far the read models are behind, and
/// what was recorded since start — events by type, model calls, tokens and latency by model and workspace, tool calls
/// and latency by server and tool, failed model calls, tool errors, denials — counted from the log itself at each
/// scrape (so no task follows it and a scrape sees everything appended before it).
final class Metrics: Sendable {
    /// Latency histogram bounds, seconds.
    static let buckets: [Duration] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map {
        .milliseconds(Int64($0 * 1000))
    }

    let registry = PrometheusCollectorRegistry()

    /// The seq of the last event counted (the log's end at start, then as of the last scrape), and the writer's
    /// totals as last reported (its counters go up by the difference).
    private struct Counted {
        var seq: UInt64
        var writer: WriterStatistics
    }
    private let counted: Mutex<Counted>

    /// - Parameter seq: events after it are counted (the log's end when the server starts).
    init(countingAfter seq: Seq, writer: WriterStatistics) {
        counted = Mutex(Counted(seq: seq.rawValue, writer: writer))
        // Shown from the first scrape, at 0.
        _ = (failures, toolErrors, denials)
    }

    /// A metric's name and help, as swift-prometheus describes it (`logbook_http_requests` + `total`).
    private static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        let cut = name.lastIndex(of: "_")!
        return MetricNameDescriptor(
            metricName: String(name[..<cut]), unitName: String(name[name.index(after: cut)...]), helpText: help)
    }

    /// One answered request: its route pattern (never the raw path: ids would explode the label space).
    func request(method: String, route: String, status: Int, seconds: Double) {
        registry.makeCounter(
            descriptor: Self.named(
                "logbook_http_requests_total", "HTTP requests answered, by method, route and status."),
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.named(
                "logbook_http_request_duration_seconds",
                "Time to answer (to the first byte of a streamed body), by route."),
            labels: [("method", method), ("route", route)], buckets: Self.buckets
        ).record(.nanoseconds(Int64(seconds * 1e9)))
    }

    /// Counts what was appended since the last scrape, from the log.
    private func countNewEvents(in store: EventStore) {
        counted.withLock { counted in
            _ = try? store.scan(from: Seq(counted.seq + 1)) { view in
                let type = try view.type()
                registry.makeCounter(
                    descriptor: Self.named(
                        "logbook_events_total",
                        "Events appended since start, by type (model calls: llm.response; tool calls: tool.called)."),
                    labels: [("type", type)]
                ).increment()
                if type == LLMFailed.typeName || type == ToolResult.typeName || type == AuthorizationDecided.typeName
                    || type == LLMResponse.typeName
                {
                    let workspace = try view.workspace() ?? "-"
                    switch try view.withPayload({ EventCatalog.decode(type: type, payload: $0) }) {
                    case .event(.llmFailed): failures.increment()
                    case .event(.toolResult(let r)):
                        if r.isError { toolErrors.increment() }
                        if !r.server.isEmpty { tool(r) }
                    case .event(.authorizationDecided(let d)) where d.decision == .deny: denials.increment()
                    case .event(.llmResponse(let r)): modelCall(r, workspace: workspace)
                    default: break
                    }
                }
                counted.seq = view.seq.rawValue
                return true
            }
        }
    }

    private var failures: Counter {
        registry.makeCounter(
            descriptor: Self.named("logbook_llm_failures_total", "Failed model call attempts since start."), labels: [])
    }
    private var toolErrors: Counter {
        registry.makeCounter(
            descriptor: Self.named(
                "logbook_tool_errors_total", "Tool results that were errors (failed, refused, timed out) since start."),
            labels: [])
    }
    private var denials: Counter {
        registry.makeCounter(
            descriptor: Self.named("logbook_authz_denials_total", "Authorization denials since start."), labels: [])
    }

    private func modelCall(_ r: LLMResponse, workspace: String) {
        let labels = [("model", r.model), ("workspace", workspace)]
        registry.makeCounter(
            descriptor: Self.named("logbook_model_calls_total", "Model calls answered, by model and workspace."),
            labels: labels
        ).increment()
        for (direction, tokens) in [("input", r.inputTokens), ("output", r.outputTokens)] {
            registry.makeCounter(
                descriptor: Self.named("logbook_model_tokens_total", "Tokens, by model, workspace and direction."),
                labels: labels + [("direction", direction)]
            ).increment(by: Int64(tokens))
        }
        registry.makeDurationHistogram(
            descriptor: Self.named("logbook_model_call_duration_seconds", "Model call latency, by model."),
            labels: [("model", r.model)], buckets: Self.buckets
        ).record(.milliseconds(r.latencyMilliseconds))
    }

    private func tool(_ r: ToolResult) {
        registry.makeCounter(
            descriptor: Self.named("logbook_tool_calls_total", "Tool calls answered, by server, tool and outcome."),
            labels: [("server", r.server), ("tool", r.tool), ("outcome", r.isError ? "error" : "ok")]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.named("logbook_tool_call_duration_seconds", "Tool call latency, by server and tool."),
            labels: [("server", r.server), ("tool", r.tool)], buckets: Self.buckets
        ).record(.milliseconds(r.latencyMilliseconds))
    }

    private func gauge(_ name: String, _ help: String, _ value: Double) {
        registry.makeGauge(descriptor: Self.named(name, help), labels: []).set(to: value)
    }

    /// The exposition text.
    func render(store: EventStore, readModels: ProjectionRunner) -> String {
        countNewEvents(in: store)
        let writer = store.writerStatistics
        counted.withLock { counted in
            let before = counted.writer
            func counter(_ name: String, _ help: String, _ now: UInt64, _ then: UInt64) {
                registry.makeCounter(descriptor: Self.named(name, help), labels: []).increment(
                    by: Int64(now - min(then, now)))
            }
            counter(
                "logbook_store_commits_total", "Write transactions committed (group commits).", writer.commits,
                before.commits)
            counter("logbook_store_append_requests_total", "Append calls committed.", writer.requests, before.requests)
            counter(
                "logbook_store_appended_events_total", "Events committed by this process.", writer.events, before.events
            )
            registry.makeCounter(
                descriptor: Self.named(
                    "logbook_store_commit_seconds_total", "Time spent committing (writing and flushing pages)."),
                labels: []
            ).increment(by: max(0, (writer.commitTime - before.commitTime) / .seconds(1)))
            counted.writer = writer
        }
        gauge("logbook_log_last_seq", "The seq of the log's last event.", Double(store.lastSeq.rawValue))
        gauge(
            "logbook_log_durable_seq",
            "The last seq known to be on the device (below last_seq only in relaxed durability, until the next flush).",
            Double(store.durableSeq.rawValue))
        gauge(
            "logbook_store_largest_commit_events", "The most events one group commit held.",
            Double(writer.largestCommitEvents))
        let behind = store.lastSeq.rawValue - min(readModels.position.rawValue, store.lastSeq.rawValue)
        gauge("logbook_read_models_behind_events", "Events the read models have not folded yet.", Double(behind))
        return registry.emitToString()
    }
}
