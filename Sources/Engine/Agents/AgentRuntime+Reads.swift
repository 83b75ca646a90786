import EventStore
import Events
import Foundation

extension AgentRuntime {
    /// Authorizes reading a thread and records the decision (`authz.decided` in the thread's stream): its owner needs
    /// `thread.read:own`, someone else in its workspace `thread.read:workspace`, anyone else `thread.read:all`.
    /// - Throws: `threadUnavailable` when there is no such thread; `denied` (recorded) when the policy says no.
    public func authorizeRead(thread threadID: String, as principal: Principal) async throws(EngineError) {
        let stream: StreamID
        do { stream = try StreamID("thread/\(threadID)") } catch {
            throw EngineError(.threadUnavailable, "'\(threadID)' is not a usable thread id: \(error.message)")
        }
        let opening: [RecordedEvent]
        do { opening = try store.read(stream: stream, from: 1, maxCount: 16) } catch {
            throw EngineError(.storage, "reading \(stream) failed: \(error.message)")
        }
        // A thread begins with `thread.started`, a fork with `thread.forked`: either names its workspace and owner.
        let started = opening.lazy.compactMap { e -> (workspace: String, owner: String)? in
            switch EventCatalog.decode(e) {
            case .event(.threadStarted(let s)): (s.workspace, s.owner)
            case .event(.threadForked(let f)): (f.workspace, f.owner)
            default: nil
            }
        }.first
        guard let started else { throw EngineError(.threadUnavailable, "there is no thread '\(threadID)'") }
        let scope = started.owner == principal.subject ? "own" : started.workspace == principal.workspace ? "workspace" : "all"
        try await authorize("thread.read", on: scope, recorded: stream.rawValue, workspace: started.workspace, in: stream, as: principal)
    }
}

extension AgentRuntime {
    /// Authorizes `action` on `resource` in `workspace` for a read outside any thread (audit queries, say), recording
    /// the decision in `stream` (`recorded` names the resource for the audit trail).
    /// - Throws: `denied` (recorded), `storage`.
    public func authorize(_ action: String, on resource: String, recorded: String? = nil, workspace: String, in stream: StreamID,
                          as principal: Principal) async throws(EngineError) {
        var recorder = RunRecorder(store: store, stream: stream, workspace: workspace, observer: nil, history: [])
        let gate = Gate(policy: policy, principal: principal, workspace: workspace)
        try await gate.require(action, on: resource, recorded: recorded, recordingIn: &recorder)
        try await recorder.flush()
    }
}
