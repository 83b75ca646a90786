import EventStore
import Projections

/// One entry of the audit trail, as `GET /v1/audit` and its export answer it.
public struct AuditEntryBody: Codable, Sendable {
    public let seq: Seq
    public let time: String
    public let kind: String
    public let actor: String
    public let workspace: String
    public let action: String
    public let resource: String
    public let decision: String?
    public let reason: String
    public let before: String?
    public let after: String?
    /// The thread whose log holds the entry's event (the page's entries only; the export leaves it out).
    public var thread: String?

    init(_ e: AuditEntry) {
        (seq, time, kind, actor, workspace) = (
            e.seq, Timestamp.rfc3339(e.timeNanoseconds), e.kind.rawValue, e.actor, e.workspace
        )
        (action, resource, decision, reason, before, after) = (
            e.action, e.resource, e.decision?.rawValue, e.reason, e.before, e.after
        )
    }

    static let columns = [
        "seq", "time", "kind", "actor", "workspace", "action", "resource", "decision", "reason", "before", "after",
    ]
    var cells: [String] {
        [
            String(seq.rawValue), time, kind, actor, workspace, action, resource, decision ?? "", reason,
            before ?? "", after ?? "",
        ]
    }
}

/// A page of the audit trail.
public struct AuditPageBody: Codable, Sendable {
    public let entries: [AuditEntryBody]
    /// Pass as `cursor` for the next page; nil on the last.
    public let next: Seq?
}
