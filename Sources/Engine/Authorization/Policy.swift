import Events
import Foundation

/// What a principal may do: roles map to permissions, written by the operator as JSON:
///
/// ```json
/// { "roles": {
///     "operator": ["chat", "thread.read:own", "tool.call:time/*", "model.use:*"],
///     "auditor":  ["audit.read", "thread.read:workspace"],
///     "admin":    ["*"] } }
/// ```
///
/// A permission is an action (`chat`, `thread.read`, `audit.read`, `registry.admin`, `tool.call`, `model.use`, or `*`),
/// optionally with a resource pattern after a colon (`*` matches any run of characters; none means any resource).
/// `thread.read` scopes nest: `all` ⊇ `workspace` ⊇ `own`. Every decision is confined to the token's workspace unless a
/// role grants `workspace.any`.
public struct Policy: Sendable, Equatable {
    public struct Permission: Sendable, Equatable, CustomStringConvertible {
        public let action: String
        public let pattern: String?
        public var description: String { pattern.map { "\(action):\($0)" } ?? action }

        init(_ text: String) throws(AuthError) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard let action = parts.first, !action.isEmpty, !action.contains(where: \.isWhitespace) else {
                throw AuthError(.configuration, "policy permission '\(text)' is not 'action' or 'action:pattern'")
            }
            (self.action, pattern) = (action, parts.count == 2 ? parts[1] : nil)
        }
    }

    /// A verdict and why.
    public struct Verdict: Sendable, Equatable {
        public var decision: Decision
        /// The role and permission that allowed it (nil for a denial).
        public var rule: String?
        public var reason: String
    }

    public var roles: [String: [Permission]]

    public init(roles: [String: [String]]) throws(AuthError) {
        var parsed: [String: [Permission]] = [:]
        for (role, permissions) in roles {
            parsed[role] = try permissions.map { (p) throws(AuthError) in try Permission(p) }
        }
        self.roles = parsed
    }

    /// The policy as its JSON file spells it: role → permissions.
    public var rawRoles: [String: [String]] { roles.mapValues { $0.map(\.description) } }

    /// This policy with one more role.
    public func adding(role: String, permissions: [String]) throws(AuthError) -> Policy {
        var copy = self
        copy.roles[role] = try permissions.map { (p) throws(AuthError) in try Permission(p) }
        return copy
    }

    /// Reads a policy file.
    public init(json: Data) throws(AuthError) {
        guard let file = try? JSONDecoder().decode([String: [String: [String]]].self, from: json),
            let roles = file["roles"]
        else {
            throw AuthError(
                .configuration, "the policy is not JSON of the form {\"roles\": {\"role\": [\"permission\", …]}}")
        }
        try self.init(roles: roles)
    }

    /// Whether `principal` may do `action` on `resource` in `workspace`.
    public func decide(_ principal: Principal, action: String, resource: String, workspace: String) -> Verdict {
        let granted = principal.roles.flatMap { role in (roles[role] ?? []).map { (role, $0) } }
        if workspace != principal.workspace,
            !granted.contains(where: { $0.1.action == "workspace.any" || $0.1.action == "*" })
        {
            return Verdict(
                decision: .deny, rule: nil,
                reason: "the token is scoped to workspace '\(principal.workspace)', not '\(workspace)'")
        }
        for (role, permission) in granted where Self.matches(permission, action: action, resource: resource) {
            return Verdict(
                decision: .allow, rule: "\(role): \(permission)", reason: "role '\(role)' grants \(permission)")
        }
        let held = principal.roles.isEmpty ? "no roles" : "roles \(principal.roles.joined(separator: ", "))"
        return Verdict(
            decision: .deny, rule: nil,
            reason: "\(principal.subject) (\(held)) has no permission for \(action) on \(resource)")
    }

    static func matches(_ p: Permission, action: String, resource: String) -> Bool {
        guard p.action == "*" || p.action == action else { return false }
        guard let pattern = p.pattern else { return true }
        if action == "thread.read" {
            let scopes = ["own": 0, "workspace": 1, "all": 2]
            if let granted = scopes[pattern], let needed = scopes[resource] { return granted >= needed }
        }
        return glob(pattern[...], resource[...])
    }

    /// `*` matches any run of characters; everything else matches itself.
    static func glob(_ pattern: Substring, _ text: Substring) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return pattern == text }
        let prefix = pattern[..<star]
        guard text.hasPrefix(prefix) else { return false }
        let rest = pattern[pattern.index(after: star)...]
        var remaining = text.dropFirst(prefix.count)
        while true {
            if glob(rest, remaining) { return true }
            guard !remaining.isEmpty else { return false }
            remaining = remaining.dropFirst()
        }
    }
}
