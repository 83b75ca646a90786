import EventStore
import Events
import Foundation
import Synchronization

/// What `/metrics` reports, in the Prometheus text format: HTTP requests and latencies by route, the log's appends
/// and group commits, and what the engine recorded since start (model calls and failures, tool calls and errors,
/// authorization denials), counted from the log itself as it grows.
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

    /// One event appended to the log.
    func recorded(_ event: RecordedEvent) {
        let decoded = EventCatalog.decode(event)
        state.withLock { s in
            s.events[event.type, default: 0] += 1
            switch decoded {
            case .event(.llmFailed): s.llmFailures += 1
            case .event(.toolResult(let r)) where r.isError: s.toolErrors += 1
            case .event(.authorizationDecided(let d)) where d.decision == .deny: s.denials += 1
            default: break
            }
        }
    }

    /// Counts every event appended from `seq` on until cancelled.
    func follow(_ store: EventStore, from seq: Seq) async {
        for await message in store.subscribe(from: seq) {
            if case .event(let event) = message { recorded(event) }
        }
    }

    /// The exposition text.
    func render(store: EventStore) -> String {
        let s = state.withLock { $0 }
        let writer = store.writerStatistics
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func label(_ v: String) -> String { v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") }

        family("logbook_http_requests_total", "counter", "HTTP requests answered, by method, route and status.")
        for (key, statuses) in s.requests.sorted(by: { ($0.key.route, $0.key.method) < ($1.key.route, $1.key.method) }) {
            for (status, n) in statuses.sorted(by: { $0.key < $1.key }) {
                out += "logbook_http_requests_total{method=\"\(key.method)\",route=\"\(label(key.route))\",status=\"\(status)\"} \(n)\n"
            }
        }
        family("logbook_http_request_duration_seconds", "histogram", "Time to answer (to the first byte of a streamed body), by route.")
        for (key, h) in s.latency.sorted(by: { ($0.key.route, $0.key.method) < ($1.key.route, $1.key.method) }) {
            let labels = "method=\"\(key.method)\",route=\"\(label(key.route))\""
            for (bound, n) in zip(Self.buckets, h.counts) { out += "logbook_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(n)\n" }
            out += "logbook_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "logbook_http_request_duration_seconds_sum{\(labels)} \(h.sum)\n"
            out += "logbook_http_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        family("logbook_log_last_seq", "gauge", "The seq of the log's last event.")
        out += "logbook_log_last_seq \(store.lastSeq.rawValue)\n"
        family("logbook_store_commits_total", "counter", "Write transactions committed (group commits).")
        out += "logbook_store_commits_total \(writer.commits)\n"
        family("logbook_store_append_requests_total", "counter", "Append calls committed.")
        out += "logbook_store_append_requests_total \(writer.requests)\n"
        family("logbook_store_appended_events_total", "counter", "Events committed by this process.")
        out += "logbook_store_appended_events_total \(writer.events)\n"
        family("logbook_store_largest_commit_events", "gauge", "The most events one group commit held.")
        out += "logbook_store_largest_commit_events \(writer.largestCommitEvents)\n"
        family("logbook_store_commit_seconds_total", "counter", "Time spent committing (writing and flushing pages).")
        out += "logbook_store_commit_seconds_total \(Double(writer.commitTime.components.seconds) + Double(writer.commitTime.components.attoseconds) / 1e18)\n"
        family("logbook_events_total", "counter", "Events appended since start, by type (model calls: llm.response; tool calls: tool.called).")
        for (type, n) in s.events.sorted(by: { $0.key < $1.key }) { out += "logbook_events_total{type=\"\(label(type))\"} \(n)\n" }
        family("logbook_llm_failures_total", "counter", "Failed model call attempts since start.")
        out += "logbook_llm_failures_total \(s.llmFailures)\n"
        family("logbook_tool_errors_total", "counter", "Tool results that were errors (failed, refused, timed out) since start.")
        out += "logbook_tool_errors_total \(s.toolErrors)\n"
        family("logbook_authz_denials_total", "counter", "Authorization denials since start.")
        out += "logbook_authz_denials_total \(s.denials)\n"
        return out
    }
}
