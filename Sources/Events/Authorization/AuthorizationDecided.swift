import EventStore
import Foundation

public enum Decision: String, Codable, Sendable, BinaryCodableEnum {
    case allow, deny
    public static let cases: [Self] = [.allow, .deny]
}

/// One authorization gate's verdict, recorded before the action runs (allowed or not).
public struct AuthorizationDecided: EventPayload {
    public static let typeName = "authz.decided"
    public var subject: String
    public var roles: [String]
    public var workspace: String
    /// What was attempted, e.g. `chat`, `tool.call`, `registry.write`, `audit.read`.
    public var action: String
    /// What it was attempted on, e.g. `tool:k8s/get_pods`, `thread/42`, `model:gpt-4o`.
    public var resource: String
    public var decision: Decision
    public var reason: String
    /// The policy rule that decided, if one matched.
    public var rule: String?
    public var tokenID: String?
    /// The token's expiry, Unix seconds.
    public var tokenExpiry: Int64?
    /// The policy the decision was made under: the seq of its `policy.changed` (nil: the server's configured policy,
    /// before the log held one, or a decision older than policy versions).
    public var policyVersion: Seq?

    /// 2 added `policyVersion`.
    public static let schemaVersion: UInt64 = 2

    public init(
        subject: String, roles: [String], workspace: String, action: String, resource: String, decision: Decision,
        reason: String, rule: String? = nil, tokenID: String? = nil, tokenExpiry: Int64? = nil,
        policyVersion: Seq? = nil
    ) {
        (self.subject, self.roles, self.workspace, self.action, self.resource) = (
            subject, roles, workspace, action, resource
        )
        (self.decision, self.reason, self.rule, self.tokenID, self.tokenExpiry) = (
            decision, reason, rule, tokenID, tokenExpiry
        )
        self.policyVersion = policyVersion
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(subject); w.write(roles); w.write(workspace); w.write(action); w.write(resource); w.write(decision)
        w.write(reason); w.write(rule); w.write(tokenID); w.write(tokenExpiry) { $0.write($1) }
        w.write(policyVersion) { $0.write($1) }
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            subject: try r.readString(), roles: try r.readStrings(), workspace: try r.readString(),
            action: try r.readString(),
            resource: try r.readString(), decision: try r.read(), reason: try r.readString(),
            rule: try r.readOptionalString(),
            tokenID: try r.readOptionalString(),
            tokenExpiry: try r.readOptional { (r) throws(PayloadDecodingError) in try r.readInt64() },
            policyVersion: try r.readOptional { (r) throws(PayloadDecodingError) in try r.readSeq() })
    }

    /// Version 1 had no `policyVersion`.
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> AuthorizationDecided {
        guard version == 1 else {
            throw PayloadDecodingError("authz.decided has no upcast from schema version \(version)")
        }
        return AuthorizationDecided(
            subject: try r.readString(), roles: try r.readStrings(), workspace: try r.readString(),
            action: try r.readString(),
            resource: try r.readString(), decision: try r.read(), reason: try r.readString(),
            rule: try r.readOptionalString(),
            tokenID: try r.readOptionalString(),
            tokenExpiry: try r.readOptional { (r) throws(PayloadDecodingError) in try r.readInt64() })
    }
}
