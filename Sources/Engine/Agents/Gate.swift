import EventStore
import Events

/// An authorization gate: asks the policy, records the verdict as `authz.decided`, and only then lets the caller act.
struct Gate: Sendable {
    let policy: Policy
    let principal: Principal
    let workspace: String

    /// Records the verdict on `action` over `resource` (`recorded` is the resource as the audit trail names it).
    func decide(_ action: String, on resource: String, recorded: String? = nil, recordingIn recorder: inout RunRecorder) async throws(EngineError) -> Policy.Verdict {
        let verdict = policy.decide(principal, action: action, resource: resource, workspace: workspace)
        let event = AuthorizationDecided(subject: principal.subject, roles: principal.roles, workspace: workspace, action: action,
                                         resource: recorded ?? resource, decision: verdict.decision, reason: verdict.reason,
                                         rule: verdict.rule, tokenID: principal.tokenID, tokenExpiry: principal.expiry)
        try await recorder.record([.authorizationDecided(event)], actor: principal.subject)
        return verdict
    }

    /// Like `decide`, throwing `denied` when the policy says no.
    func require(_ action: String, on resource: String, recorded: String? = nil, recordingIn recorder: inout RunRecorder) async throws(EngineError) {
        let verdict = try await decide(action, on: resource, recorded: recorded, recordingIn: &recorder)
        guard verdict.decision == .allow else { throw EngineError(.denied, "not allowed: \(verdict.reason)") }
    }
}
