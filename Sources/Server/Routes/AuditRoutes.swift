import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Projections

/// `GET /v1/audit`: the audit trail (authorization decisions, configuration changes, tool and model calls) filtered by
/// actor, workspace, action, resource prefix, decision, kind and time, newest or oldest first, a page at a time.
/// Authorized as `audit.read` on the workspace; the decision is recorded in `access/audit`.
struct AuditRoutes {
    let runtime: AgentRuntime
    let audit: ProjectionRunner

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("audit", use: query)
    }

    struct EntryBody: Encodable {
        let seq: UInt64
        let time: String
        let kind: String
        let actor: String
        let workspace: String
        let action: String
        let resource: String
        let decision: String?
        let reason: String
        let before: String?
        let after: String?
    }

    struct PageBody: ResponseEncodable, Encodable {
        let entries: [EntryBody]
        /// Pass as `cursor` for the next page; nil on the last.
        let next: UInt64?
    }

    func query(request: Request, context: AppRequestContext) async throws -> PageBody {
        let principal = try context.caller()
        let p = request.uri.queryParameters
        let workspace = p.get("workspace") ?? principal.workspace
        var q = AuditQuery(actor: p.get("actor"), workspace: workspace, action: p.get("action"),
                           resourcePrefix: p.get("resource"), limit: min(max(p.get("limit", as: Int.self) ?? 100, 1), 1000),
                           cursor: p.get("cursor", as: UInt64.self))
        if let d = p.get("decision") {
            guard let decision = Decision(rawValue: String(d)) else { throw APIError(.badRequest, "bad_request", "decision is 'allow' or 'deny'") }
            q.decision = decision
        }
        if let k = p.get("kind") {
            guard let kind = AuditKind(rawValue: String(k)) else {
                throw APIError(.badRequest, "bad_request", "kind is one of \(AuditKind.cases.map(\.rawValue).joined(separator: ", "))")
            }
            q.kind = kind
        }
        q.from = try p.get("from").map { try Self.time(String($0), "from") }
        q.through = try p.get("through").map { try Self.time(String($0), "through") }
        switch p.get("order") {
        case nil, "newest": q.newestFirst = true
        case "oldest": q.newestFirst = false
        default: throw APIError(.badRequest, "bad_request", "order is 'newest' or 'oldest'")
        }
        do throws(EngineError) {
            try await runtime.authorize("audit.read", on: workspace, recorded: "audit:\(workspace)", workspace: workspace, in: "access/audit", as: principal)
        } catch {
            throw APIError(error)
        }
        do { try await audit.catchUp() } catch { throw APIError(.serviceUnavailable, "storage", "the audit trail could not be brought up to date") }
        let page = audit.read(AuditProjection.self) { $0.query(q) }
        return PageBody(entries: page.entries.map { e in
            EntryBody(seq: e.seq, time: Timestamp.rfc3339(e.timeNanoseconds), kind: e.kind.rawValue,
                      actor: e.actor, workspace: e.workspace, action: e.action, resource: e.resource, decision: e.decision?.rawValue,
                      reason: e.reason, before: e.before, after: e.after)
        }, next: page.nextCursor)
    }

    /// An RFC 3339 time as nanoseconds since the epoch.
    static func time(_ text: String, _ name: String) throws -> Int64 {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1e9) }
        }
        throw APIError(.badRequest, "bad_request", "\(name) must be an RFC 3339 time like 2026-11-22T08:00:00Z")
    }
}
