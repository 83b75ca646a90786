import Engine
import EventStore
import Events
import Foundation
import Hummingbird

/// The authorization policy, kept in the log: `GET /v1/policy` (now or `?at=` a seq; `registry.read`),
/// `PUT /v1/policy` (replace it), `PUT` / `DELETE /v1/policy/roles/{role}` (one role), `GET /v1/policy/history`
/// (every change: who, when, what, why). Changes and the history need `policy.admin`; every call is recorded. A change
/// decides the next request on every server that reads the log.
struct PolicyRoutes {
    let runtime: AgentRuntime

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("policy", use: show)
        group.put("policy", use: replace)
        group.get("policy/history", use: history)
        group.put("policy/roles/:role", use: setRole)
        group.delete("policy/roles/:role", use: removeRole)
    }

    struct PolicyBody: ResponseEncodable, Codable {
        /// The seq of the change that made it (nil: the server's configured policy; the log holds none).
        let version: Seq?
        let roles: [String: [String]]
    }

    struct ReplaceBody: KnownFields {
        static let fields: Set<String> = ["roles", "reason"]
        let roles: [String: [String]]
        let reason: String?
    }

    struct RoleBody: KnownFields {
        static let fields: Set<String> = ["permissions", "reason"]
        let permissions: [String]
        let reason: String?
    }

    struct Changed: ResponseEncodable, Encodable {
        let version: Seq
    }

    struct HistoryBody: ResponseEncodable, Codable {
        struct Change: Codable {
            let version: Seq
            let time: String
            let actor: String?
            let change: String
            let role: String?
            let reason: String?
            let roles: [String: [String]]
        }
        let changes: [Change]
    }

    func show(request: Request, context: AppRequestContext) async throws -> PolicyBody {
        let principal = try context.caller()
        try await authorize("registry.read", on: "policy", as: principal)
        if let at = try request.seq("at") {
            let then = try await APIError.engine { () async throws(EngineError) in try runtime.access.policy(asOf: at) }
            return PolicyBody(version: then?.version, roles: then?.policy.rawRoles ?? [:])
        }
        let (policy, version) = runtime.access.currentPolicy()
        return PolicyBody(version: version, roles: policy.rawRoles)
    }

    func replace(request: Request, context: AppRequestContext) async throws -> Changed {
        let principal = try context.caller()
        let body = try await request.decodeJSON(
            ReplaceBody.self, context: context,
            example: #"{"roles": {"operator": ["chat", "thread.read:own"]}, "reason": "…"}"#)
        return try await change(PolicyChanged(change: .replaced, roles: body.roles, reason: body.reason), as: principal)
    }

    func setRole(request: Request, context: AppRequestContext) async throws -> Changed {
        let principal = try context.caller()
        let role = try context.entryName("role")
        let body = try await request.decodeJSON(
            RoleBody.self, context: context, example: #"{"permissions": ["chat", "model.use:*"], "reason": "…"}"#)
        var roles = runtime.access.currentPolicy().policy.rawRoles
        roles[role] = body.permissions
        return try await change(
            PolicyChanged(change: .roleSet, role: role, roles: roles, reason: body.reason), as: principal)
    }

    func removeRole(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let role = try context.entryName("role")
        var roles = runtime.access.currentPolicy().policy.rawRoles
        guard roles.removeValue(forKey: role) != nil else {
            // Only someone who may change the policy learns which roles exist.
            guard
                runtime.access.wouldAllow(
                    "policy.admin", on: "role:\(role)", workspace: principal.workspace, as: principal)
            else {
                try await authorize("policy.admin", on: "role:\(role)", as: principal)
                throw APIError(.forbidden, "forbidden", "not allowed")
            }
            throw APIError(.notFound, "not_found", "there is no role '\(role)'")
        }
        _ = try await change(
            PolicyChanged(
                change: .roleRemoved, role: role, roles: roles,
                reason: request.uri.queryParameters.get("reason").map { String($0) }),
            as: principal)
        return Response(status: .noContent)
    }

    func history(request: Request, context: AppRequestContext) async throws -> HistoryBody {
        let principal = try context.caller()
        try await authorize("policy.admin", on: "policy/history", as: principal)
        let records = try await APIError.engine { () async throws(EngineError) in try runtime.access.policyHistory() }
        return HistoryBody(
            changes: records.map { r in
                .init(
                    version: r.seq, time: Timestamp.rfc3339(r.timeNanoseconds), actor: r.actor,
                    change: r.change.change.rawValue, role: r.change.role,
                    reason: r.change.reason, roles: r.change.roles)
            })
    }

    private func change(_ change: PolicyChanged, as principal: Principal) async throws(APIError) -> Changed {
        Changed(
            version: try await APIError.engine { () async throws(EngineError) in
                try await runtime.access.changePolicy(change, as: principal)
            })
    }

    /// `action` on `resource` in the caller's workspace, recorded in `access/policy`.
    private func authorize(_ action: String, on resource: String, as principal: Principal) async throws(APIError) {
        try await APIError.engine { () async throws(EngineError) in
            try await runtime.access.authorize(
                action, on: resource, workspace: principal.workspace, in: "access/policy", as: principal)
        }
    }
}
