import EventStore
import Events
import Foundation
import Prometheus
import Projections
import Synchronization

/// What `/metrics` reports, through a swift-prometheus registry (the collectors implement swift-metrics' handlers):
/// HTTP requests and latencies by route, the log's appends and group commits (sizes and latencies, told by the log as
/// they happen), live subscriptions, how far the read models are behind, and
/// what was recorded since start — events by type, model calls, tokens and latency by model and workspace, tool calls
/// and latency by server and tool, failed model calls, tool errors, denials — counted from the log itself at each
/// scrape (so no task follows it and a scrape sees everything appended before it).
final class Metrics: Sendable {
    /// Latency histogram bounds, seconds.
    static let buckets: [Duration] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map {
        .milliseconds(Int64($0 * 1000))
    }

    let registry = PrometheusCollectorRegistry()

    /// Group commit sizes, events (powers of two up to the writer's largest transactions).
    static let commitSizes: [Double] = (0...13).map { Double(1 << $0) }

    /// The seq of the last event counted (nil until `countEvents(after:)`: the log's end at start, then as of the
    /// last scrape).
    private let counted = Mutex<UInt64?>(nil)
    private let largestCommit = Mutex(0)
    /// Made once: a group commit (on the writer's path) and a tail only count.
    private let commitCollectors: CommitCollectors
    private let liveTails: Gauge

    init() {
        commitCollectors = CommitCollectors(registry)
        liveTails = registry.makeGauge(
            descriptor: Self.named(
                "logbook_subscriptions_open", "Live subscriptions to the log open now (GET /v1/events/stream)."),
            labels: [])
        // Shown from the first scrape, at 0.
        _ = (failures, toolErrors, denials)
    }

    /// Counts the events appended after `seq` (the log's end when the server starts), from the next scrape on.
    func countEvents(after seq: Seq) {
        counted.withLock { $0 = seq.rawValue }
    }

    /// A metric's name and help, as swift-prometheus describes it (`logbook_http_requests` + `total`).
    fileprivate static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        let cut = name.lastIndex(of: "_")!
        return MetricNameDescriptor(
            metricName: String(name[..<cut]), unitName: String(name[name.index(after: cut)...]), helpText: help)
    }

    /// The collectors of one method, route and status, made once (the registry's lookup by labels costs more than the
    /// count itself).
    private struct RouteKey: Hashable {
        let method: String, route: String, status: Int
    }
    private let routes = Mutex<[RouteKey: (requests: Counter, latency: DurationHistogram)]>([:])

    /// One answered request: its route pattern (never the raw path: ids would explode the label space).
    func request(method: String, route: String, status: Int, seconds: Double) {
        let key = RouteKey(method: method, route: route, status: status)
        let collectors = routes.withLock { known in
            if let found = known[key] { return found }
            let made = (
                requests: registry.makeCounter(
                    descriptor: Self.named(
                        "logbook_http_requests_total", "HTTP requests answered, by method, route and status."),
                    labels: [("method", method), ("route", route), ("status", String(status))]),
                latency: registry.makeDurationHistogram(
                    descriptor: Self.named(
                        "logbook_http_request_duration_seconds",
                        "Time to answer (to the first byte of a streamed body), by route."),
                    labels: [("method", method), ("route", route)], buckets: Self.buckets)
            )
            known[key] = made
            return made
        }
        collectors.requests.increment()
        collectors.latency.record(.nanoseconds(Int64(seconds * 1e9)))
    }

    /// One group commit of the log (`EventStore.Configuration.onCommit`; on a shared log, of this server's appends to
    /// it): its size and latency, and the totals.
    func commit(_ report: CommitReport) {
        let c = commitCollectors
        c.size.record(Double(report.events))
        c.latency.record(report.duration)
        c.commits.increment()
        c.requests.increment(by: Int64(report.requests))
        c.events.increment(by: Int64(report.events))
        c.seconds.increment(by: report.duration / .seconds(1))
        largestCommit.withLock { largest in
            guard report.events > largest else { return }
            largest = report.events
            c.largest.set(to: Double(largest))
        }
    }

    /// The group commits' collectors.
    private struct CommitCollectors: Sendable {
        let size: ValueHistogram, latency: DurationHistogram, commits: Counter, requests: Counter, events: Counter
        let seconds: Counter, largest: Gauge

        init(_ registry: PrometheusCollectorRegistry) {
            size = registry.makeValueHistogram(
                name: "logbook_store_commit_events", buckets: Metrics.commitSizes,
                help: "Events per group commit (one transaction).")
            latency = registry.makeDurationHistogram(
                descriptor: Metrics.named(
                    "logbook_store_commit_duration_seconds",
                    "Time from a group commit's start to its commit returning (durable appends: with the flush)."),
                labels: [], buckets: Metrics.buckets)
            commits = registry.makeCounter(
                descriptor: Metrics.named(
                    "logbook_store_commits_total", "Write transactions committed (group commits)."),
                labels: [])
            requests = registry.makeCounter(
                descriptor: Metrics.named("logbook_store_append_requests_total", "Append calls committed."), labels: [])
            events = registry.makeCounter(
                descriptor: Metrics.named("logbook_store_appended_events_total", "Events committed by this process."),
                labels: [])
            seconds = registry.makeCounter(
                descriptor: Metrics.named("logbook_store_commit_seconds_total", "Time spent in group commits."),
                labels: [])
            largest = registry.makeGauge(
                descriptor: Metrics.named(
                    "logbook_store_largest_commit_events", "The most events one group commit held."),
                labels: [])
        }
    }

    /// A live tail of the log opened (+1) or ended (-1).
    func liveTail(_ change: Int) {
        liveTails.increment(by: Double(change))
    }

    /// Counts what was appended since the last scrape, from the log.
    private func countNewEvents(in store: EventStore) {
        counted.withLock { counted in
            guard let after = counted else { return }
            _ = try? store.scan(from: Seq(after + 1)) { view in
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
                counted = view.seq.rawValue
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
        gauge("logbook_log_last_seq", "The seq of the log's last event.", Double(store.lastSeq.rawValue))
        gauge(
            "logbook_log_durable_seq",
            "The last seq known to be on the device (below last_seq only in relaxed durability, until the next flush).",
            Double(store.durableSeq.rawValue))
        gauge(
            "logbook_read_models_behind_events", "Events the read models have not folded yet.",
            Double(readModels.eventsBehind))
        return registry.emitToString()
    }
}
