import EventStore
import Events
import Tracing

/// An authorization gate: asks the policy and records the verdict as `authz.decided`, durably before the action it
/// allows runs (it goes out with the action's first append) and at once when it denies.
struct Gate: Sendable {
    let policy: Policy
    let principal: Principal
    let workspace: String
    /// Set for a counterfactual re-execution that runs nothing (recorded answers throughout): who asked for it. Its
    /// verdicts say so in their reason, so the audit trail never reads them as grants of the server's policy.
    var hypotheticalFor: String? = nil
    /// The policy's version (the seq of its change in the log), named by every decision.
    var policyVersion: Seq? = nil

    init(
        policy: Policy, principal: Principal, workspace: String, hypotheticalFor: String? = nil,
        policyVersion: Seq? = nil
    ) {
        (self.policy, self.principal, self.workspace, self.hypotheticalFor, self.policyVersion) = (
            policy, principal, workspace, hypotheticalFor, policyVersion
        )
    }

    /// Stages the verdict on `action` over `resource` (`recorded` is the resource as the audit trail names it); the
    /// caller flushes it with (and before) the action it allows. A denial is appended at once.
    /// With `span`, the decision is also an event of that span.
    func decide(
        _ action: String, on resource: String, recorded: String? = nil, recordingIn recorder: inout RunRecorder,
        span: (any Span)? = nil
    ) async throws(EngineError) -> Policy.Verdict {
        try await decided(action, on: resource, recorded: recorded, recordingIn: &recorder, span: span).verdict
    }

    private func decided(
        _ action: String, on resource: String, recorded: String?, recordingIn recorder: inout RunRecorder,
        span: (any Span)?
    ) async throws(EngineError) -> (verdict: Policy.Verdict, event: AuthorizationDecided) {
        let (verdict, event) = judge(action, on: resource, recorded: recorded)
        recorder.stage([.authorizationDecided(event)], actor: principal.subject)
        if let span { GenAISpans.decided(span, event) }
        if verdict.decision == .deny { try await recorder.flush() }
        return (verdict, event)
    }

    /// The policy's verdict and the event that records it, recorded nowhere yet.
    func judge(_ action: String, on resource: String, recorded: String? = nil) -> (Policy.Verdict, AuthorizationDecided)
    {
        var verdict = policy.decide(principal, action: action, resource: resource, workspace: workspace)
        if let asker = hypotheticalFor {
            verdict.reason = "counterfactual for \(asker), nothing ran: \(verdict.reason)"
        }
        return (
            verdict,
            AuthorizationDecided(
                subject: principal.subject, roles: principal.roles, workspace: workspace, action: action,
                resource: recorded ?? resource, decision: verdict.decision, reason: verdict.reason,
                rule: verdict.rule, tokenID: principal.tokenID, tokenExpiry: principal.expiry,
                policyVersion: hypotheticalFor == nil ? policyVersion : nil)
        )
    }

    /// Like `decide`, throwing `denied` (after recording it) when the policy says no; returns the recorded decision.
    @discardableResult
    func require(
        _ action: String, on resource: String, recorded: String? = nil, recordingIn recorder: inout RunRecorder,
        span: (any Span)? = nil
    ) async throws(EngineError) -> AuthorizationDecided {
        let (verdict, event) = try await decided(
            action, on: resource, recorded: recorded, recordingIn: &recorder, span: span)
        guard verdict.decision == .allow else { throw EngineError(.denied, "not allowed: \(verdict.reason)") }
        return event
    }
}
