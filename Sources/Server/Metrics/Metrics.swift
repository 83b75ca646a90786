import EventStore
import Events
import Foundation
import Synchronization

/// What `/metrics` reports, in the Prometheus text format: HTTP requests and latencies by route, the log's appends
/// and group commits, and what the engine recorded since start (model calls and failures, tool calls and errors,
/// authorization denials), counted from the log itself at each scrape.
final class Metrics: Sendable {
    /// Latency histogram bounds, seconds.
    static let buckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    private struct Route: Hashable { let method: String, route: String }
    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }
    private struct State {
        var requests: [Route: [Int: UInt64]] = [:]
        var latency: [Route: Histogram] = [:]
        var events: [String: UInt64] = [:]
        var llmFailures: UInt64 = 0
        var toolErrors: UInt64 = 0
        var denials: UInt64 = 0
    }
    private let state = Mutex(State())

    /// One answered request: its route pattern (never the raw path: ids would explode the label space).
    func request(method: String, route: String, status: Int, seconds: Double) {
        let key = Route(method: method, route: route)
        state.withLock { s in
            s.requests[key, default: [:]][status, default: 0] += 1
            var h = s.latency[key] ?? Histogram()
            for (i, bound) in Self.buckets.enumerated() where seconds <= bound { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            s.latency[key] = h
        }
    }

    /// The seq of the last event counted (the log's end at start, then as of the last scrape).
    private let counted: Mutex<UInt64>

    /// - Parameter seq: events after it are counted (the log's end when the server starts).
    init(countingAfter seq: Seq) { counted = Mutex(seq.rawValue) }

    /// Counts the events appended since the last scrape: at scrape time, from the log, so no task follows it and a
    /// scrape sees everything appended before it. Only three types are decoded; the rest are counted by name.
    private func countNewEvents(in store: EventStore) {
        counted.withLock { position in
            var events: [String: UInt64] = [:], llmFailures: UInt64 = 0, toolErrors: UInt64 = 0, denials: UInt64 = 0
            _ = try? store.scan(from: Seq(position + 1)) { view in
                let type = try view.type()
                events[type, default: 0] += 1
                if type == LLMFailed.typeName || type == ToolResult.typeName || type == AuthorizationDecided.typeName {
                    switch try view.withPayload({ EventCatalog.decode(type: type, payload: $0) }) {
                    case .event(.llmFailed): llmFailures += 1
                    case .event(.toolResult(let r)) where r.isError: toolErrors += 1
                    case .event(.authorizationDecided(let d)) where d.decision == .deny: denials += 1
                    default: break
                    }
                }
                position = view.seq.rawValue
                return true
            }
            state.withLock { s in
                s.events.merge(events, uniquingKeysWith: +)
                (s.llmFailures, s.toolErrors, s.denials) = (
                    s.llmFailures + llmFailures, s.toolErrors + toolErrors, s.denials + denials
                )
            }
        }
    }

    /// The exposition text.
    func render(store: EventStore) -> String {
        countNewEvents(in: store)
        let s = state.withLock { $0 }
        let writer = store.writerStatistics
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func label(_ v: String) -> String {
            v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
        }

        family("logbook_http_requests_total", "counter", "HTTP requests answered, by method, route and status.")
        for (key, statuses) in s.requests.sorted(by: { ($0.key.route, $0.key.method) < ($1.key.route, $1.key.method) })
        {
            for (status, n) in statuses.sorted(by: { $0.key < $1.key }) {
                out +=
                    "logbook_http_requests_total{method=\"\(key.method)\",route=\"\(label(key.route))\",status=\"\(status)\"} \(n)\n"
            }
        }
        family(
            "logbook_http_request_duration_seconds", "histogram",
            "Time to answer (to the first byte of a streamed body), by route.")
        for (key, h) in s.latency.sorted(by: { ($0.key.route, $0.key.method) < ($1.key.route, $1.key.method) }) {
            let labels = "method=\"\(key.method)\",route=\"\(label(key.route))\""
            for (bound, n) in zip(Self.buckets, h.counts) {
                out += "logbook_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(n)\n"
            }
            out += "logbook_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "logbook_http_request_duration_seconds_sum{\(labels)} \(h.sum)\n"
            out += "logbook_http_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        func one(_ name: String, _ type: String, _ help: String, _ value: some CustomStringConvertible) {
            family(name, type, help)
            out += "\(name) \(value)\n"
        }
        let commitSeconds = writer.commitTime / .seconds(1)
        one("logbook_log_last_seq", "gauge", "The seq of the log's last event.", store.lastSeq.rawValue)
        one(
            "logbook_log_durable_seq", "gauge",
            "The last seq known to be on the device (below last_seq only in relaxed durability, until the next flush).",
            store.durableSeq.rawValue)
        one("logbook_store_commits_total", "counter", "Write transactions committed (group commits).", writer.commits)
        one("logbook_store_append_requests_total", "counter", "Append calls committed.", writer.requests)
        one("logbook_store_appended_events_total", "counter", "Events committed by this process.", writer.events)
        one(
            "logbook_store_largest_commit_events", "gauge", "The most events one group commit held.",
            writer.largestCommitEvents)
        one(
            "logbook_store_commit_seconds_total", "counter", "Time spent committing (writing and flushing pages).",
            commitSeconds)
        family(
            "logbook_events_total", "counter",
            "Events appended since start, by type (model calls: llm.response; tool calls: tool.called).")
        for (type, n) in s.events.sorted(by: { $0.key < $1.key }) {
            out += "logbook_events_total{type=\"\(label(type))\"} \(n)\n"
        }
        one("logbook_llm_failures_total", "counter", "Failed model call attempts since start.", s.llmFailures)
        one(
            "logbook_tool_errors_total", "counter",
            "Tool results that were errors (failed, refused, timed out) since start.", s.toolErrors)
        one("logbook_authz_denials_total", "counter", "Authorization denials since start.", s.denials)
        return out
    }
}
