import EventStore
import Events
import Foundation

/// One change of the policy, as the log holds it.
public struct PolicyRecord: Sendable, Equatable {
    /// The change's seq: the version of the policy it made.
    public var seq: Seq
    public var timeNanoseconds: Int64
    public var actor: String?
    public var change: PolicyChanged
}

extension AccessControl {
    /// The stream of the policy's changes.
    public static let policyStream: StreamID = "policy"

    /// Every change of the policy, oldest first.
    /// - Throws: `storage`.
    public func policyHistory() throws(EngineError) -> [PolicyRecord] {
        var records: [PolicyRecord] = []
        var from: StreamRevision = 1
        do {
            while true {
                let page = try store.read(stream: Self.policyStream, from: from, maxCount: 1024)
                for e in page {
                    if case .event(.policyChanged(let change)) = EventCatalog.decode(e) {
                        records.append(
                            PolicyRecord(
                                seq: e.seq, timeNanoseconds: e.timeNanoseconds, actor: e.metadata.actor,
                                change: change))
                    }
                }
                guard let last = page.last, page.count == 1024 else { break }
                from = StreamRevision(last.revision.rawValue + 1)
            }
        } catch {
            throw EngineError(.storage, "reading the policy's history failed: \(error.message)")
        }
        return records
    }

    /// The policy in force and its version (the seq of its change; nil while the log holds none and the server's
    /// configured policy decides). Read from the log when the `policy` stream moved, so a change made by any server
    /// decides the next request here too.
    public func currentPolicy() -> (policy: Policy, version: Seq?) {
        let revision = try? store.revision(of: Self.policyStream)
        if let cached = engine.policyCache.withLock({ $0 }), cached.revision == revision {
            return (cached.policy, cached.version)
        }
        guard let revision else { return (engine.configuredPolicy, nil) }
        guard let latest = try? policyHistory().last, let policy = try? Policy(roles: latest.change.roles) else {
            // Unreadable: keep deciding by what was last known.
            return engine.policyCache.withLock { $0.map { ($0.policy, $0.version) } } ?? (engine.configuredPolicy, nil)
        }
        engine.policyCache.withLock { $0 = (revision, policy, latest.seq) }
        return (policy, latest.seq)
    }

    /// The policy as it stood just after `seq` (nil: the log held none yet).
    public func policy(asOf seq: Seq) throws(EngineError) -> (policy: Policy, version: Seq)? {
        guard let record = try policyHistory().last(where: { $0.seq <= seq }) else { return nil }
        do { return (try Policy(roles: record.change.roles), record.seq) } catch {
            throw EngineError(.storage, "the policy recorded at seq \(record.seq) does not parse: \(error.message)")
        }
    }

    /// A gate deciding for `principal` in `workspace` under the policy in force.
    func gate(for principal: Principal, in workspace: String) -> Gate {
        let (policy, version) = currentPolicy()
        return Gate(policy: policy, principal: principal, workspace: workspace, policyVersion: version)
    }

    /// Records a change of the policy made by `principal`: authorized as `policy.admin` (recorded in `policy` with the
    /// change, atomically; a denial alone). Takes effect for the next decision on every server that reads the log.
    /// - Returns: the change's seq, the new policy's version.
    /// - Throws: `denied` (recorded), `invalidArgument` (a permission that does not parse), `unprocessable` (a policy
    ///   no role of which may change it again: nobody could undo it through the API), `storage`.
    @discardableResult
    public func changePolicy(_ change: PolicyChanged, as principal: Principal) async throws(EngineError) -> Seq {
        let proposed: Policy
        do { proposed = try Policy(roles: change.roles) } catch { throw EngineError(.invalidArgument, error.message) }
        guard proposed.roles.values.contains(where: { $0.contains { $0.action == "policy.admin" || $0.action == "*" } })
        else {
            throw EngineError(
                .unprocessable,
                "no role of that policy may change it (policy.admin or *): nobody could change it again through the API"
            )
        }
        var recorder = RunRecorder(
            store: store, stream: Self.policyStream, workspace: principal.workspace, observer: nil, history: [])
        let gate = gate(for: principal, in: principal.workspace)
        try await gate.require("policy.admin", on: change.role.map { "role:\($0)" } ?? "policy", recordingIn: &recorder)
        let seqs = try await recorder.record([.policyChanged(change)], actor: principal.subject)
        return seqs.last ?? 0
    }

    /// Appends `policy` as the one in force, attributed to `actor` (the operator who started the server with a policy
    /// file), unless it is already: a deployment that ships a file records each change of the file once.
    /// - Returns: whether a change was recorded.
    public func adoptConfiguredPolicy(
        _ roles: [String: [String]], actor: String, reason: String
    ) async throws(EngineError) -> Bool {
        let inForce = try policyHistory().last?.change.roles
        guard inForce != roles else { return false }
        do {
            try await store.append(
                [
                    PolicyChanged(change: .replaced, roles: roles, reason: reason).proposed(
                        metadata: EventMetadata(actor: actor))
                ],
                to: Self.policyStream)
        } catch {
            throw .recording(error, "recording the configured policy")
        }
        return true
    }
}
