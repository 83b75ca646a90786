import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Projections

/// `GET /v1/audit`: the audit trail (authorization decisions, configuration changes, tool and model calls) filtered by
/// actor, workspace, action, resource prefix, decision, kind and time, newest or oldest first, a page at a time.
/// Authorized as `audit.read` on the workspace; the decision is recorded in `access/audit`. `GET /v1/audit/export`:
/// everything the same filters match, as NDJSON or CSV.
struct AuditRoutes {
    let runtime: AgentRuntime
    let audit: ProjectionRunner
    let store: EventStore

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("audit", use: query)
        group.get("audit/export", use: export)
    }

    func query(request: Request, context: AppRequestContext) async throws -> AuditPageBody {
        let q = try await authorizedQuery(request, context)
        let page = try audit.queryAudit(q)
        let entries = page.entries.map { e in
            var body = AuditEntryBody(e)
            // The entry's thread, so a reader can go from a decision to the conversation it was made in.
            if let stream = try? store.event(at: e.seq)?.stream.rawValue, stream.hasPrefix("thread/") {
                body.thread = String(stream.dropFirst("thread/".count))
            }
            return body
        }
        return AuditPageBody(entries: entries, next: page.nextCursor)
    }

    /// Every entry the filters match (no `limit`, no page), streamed as NDJSON (`format=ndjson`, the default) or CSV
    /// (`format=csv`, RFC 4180 with a header row). A CSV cell that a spreadsheet would run as a formula (starting with
    /// `=`, `+`, `-`, `@`) is prefixed with `'`.
    func export(request: Request, context: AppRequestContext) async throws -> Response {
        let format = request.uri.queryParameters.get("format") ?? "ndjson"
        guard format == "ndjson" || format == "csv" else {
            throw APIError(.badRequest, "bad_request", "format is 'ndjson' or 'csv'")
        }
        var q = try await authorizedQuery(request, context)
        q.limit = 1000
        let audit = audit
        // A page at a time, each written before the next is read: a slow reader holds one page of memory, not the
        // export.
        let body = ResponseBody { [q] writer in
            var q = q
            if format == "csv" { try await writer.write(ByteBuffer(string: CSV.row(AuditEntryBody.columns))) }
            while true {
                let page = try audit.queryAudit(q)
                let text = page.entries.map { e in
                    let body = AuditEntryBody(e)
                    return format == "csv" ? CSV.row(body.cells) : JSON.string(body) + "\n"
                }.joined()
                try await writer.write(ByteBuffer(string: text))
                guard let next = page.nextCursor else { break }
                q.cursor = next
            }
            try await writer.finish(nil)
        }
        let type = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson"
        return Response(
            status: .ok,
            headers: [.contentType: type, .contentDisposition: "attachment; filename=\"audit.\(format)\""], body: body)
    }

    /// The query the request's parameters ask for, once `audit.read` on its workspace is allowed (and recorded) and the
    /// trail is up to date.
    private func authorizedQuery(_ request: Request, _ context: AppRequestContext) async throws -> AuditQuery {
        let principal = try context.caller()
        let p = request.uri.queryParameters
        /// A free-text filter's value; an empty one is no filter.
        func filter(_ name: String) -> String? { p.get(name).flatMap { $0.isEmpty ? nil : String($0) } }
        /// A filter with a form (a name, a time, one of a few words): given, it must have it, empty included.
        func formed(_ name: String) -> String? { p.get(name).map { String($0) } }
        let workspace = formed("workspace") ?? principal.workspace
        guard EntryName.isValid(workspace) else {
            throw APIError(
                .badRequest, "bad_request", "workspace is 1 to \(EntryName.maxLength) of A-Z a-z 0-9 - _ . : @")
        }
        var q = AuditQuery(
            actor: filter("actor"), workspace: workspace, action: filter("action"),
            resourcePrefix: filter("resource"), limit: try request.integer("limit", in: 1...1000) ?? 100,
            cursor: try request.seq("cursor", lowest: 0))
        if let d = formed("decision") {
            guard let decision = Decision(rawValue: String(d)) else {
                throw APIError(.badRequest, "bad_request", "decision is 'allow' or 'deny'")
            }
            q.decision = decision
        }
        if let k = formed("kind") {
            guard let kind = AuditKind(rawValue: String(k)) else {
                throw APIError(
                    .badRequest, "bad_request",
                    "kind is one of \(AuditKind.cases.map(\.rawValue).joined(separator: ", "))")
            }
            q.kind = kind
        }
        q.from = try formed("from").map { try Self.time(String($0), "from") }
        q.through = try formed("through").map { try Self.time(String($0), "through") }
        switch formed("order") {
        case nil, "newest": q.newestFirst = true
        case "oldest": q.newestFirst = false
        default: throw APIError(.badRequest, "bad_request", "order is 'newest' or 'oldest'")
        }
        do throws(EngineError) {
            try await runtime.access.authorize(
                "audit.read", on: workspace, recorded: "audit:\(workspace)", workspace: workspace, in: "access/audit",
                as: principal)
        } catch {
            throw APIError(error)
        }
        do { try await audit.catchUp() } catch {
            throw APIError(.serviceUnavailable, "storage", "the audit trail could not be brought up to date")
        }
        return q
    }

    /// An RFC 3339 time as nanoseconds since the epoch; times beyond what 64 bits of nanoseconds hold (before 1677,
    /// after 2262) are clamped, which filters the same.
    static func time(_ text: String, _ name: String) throws -> Int64 {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                let nanoseconds = (date.timeIntervalSince1970 * 1e9).rounded()
                return nanoseconds <= -0x1p63 ? .min : nanoseconds >= 0x1p63 ? .max : Int64(nanoseconds)
            }
        }
        throw APIError(.badRequest, "bad_request", "\(name) must be an RFC 3339 time like 2026-11-22T08:00:00Z")
    }
}

/// RFC 4180 rows.
enum CSV {
    static func row(_ cells: [String]) -> String {
        cells.map(cell).joined(separator: ",") + "\r\n"
    }

    static func cell(_ value: String) -> String {
        var v = value
        if let first = v.first, "=+-@".contains(first) { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
