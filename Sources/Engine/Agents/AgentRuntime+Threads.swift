import EventStore
import Events
import Foundation

extension AgentRuntime {
    /// Starts an empty thread in the caller's workspace, owned by the caller: `chat` on it is authorized, and the
    /// decision appended with `thread.started`, atomically (a denial in `access/threads`). Messages follow with `chat`.
    /// - Throws: `denied`, `conflict` (the thread exists), `invalidArgument` (an unknown agent), `storage`.
    public func startThread(_ threadID: String, title: String?, agent: String?, as principal: Principal) async throws(EngineError) -> ThreadStarted {
        let stream = try threadStream(threadID)
        if let agent, try await registryState().agents[agent] == nil {
            throw EngineError(.invalidArgument, "no agent named '\(agent)' is defined; GET /v1/registry lists the agents")
        }
        let (verdict, decision) = Gate(policy: policy, principal: principal, workspace: principal.workspace).judge("chat", on: stream.rawValue)
        let metadata = EventMetadata(actor: principal.subject, workspace: principal.workspace)
        guard verdict.decision == .allow else {
            do { try await store.append([DomainEvent.authorizationDecided(decision).proposed(metadata: metadata)], to: "access/threads") } catch {
                throw EngineError(.storage, "recording the denial failed: \(error.message)")
            }
            throw EngineError(.denied, "not allowed: \(verdict.reason)")
        }
        let started = ThreadStarted(threadID: threadID, workspace: principal.workspace, owner: principal.subject, title: title, agent: agent)
        do {
            try await store.append([DomainEvent.authorizationDecided(decision).proposed(metadata: metadata),
                                    DomainEvent.threadStarted(started).proposed(metadata: metadata)], to: stream, expecting: .noStream)
        } catch {
            if error.code == .wrongExpectedRevision { throw EngineError(.conflict, "thread '\(threadID)' exists already; choose another id") }
            throw EngineError(.storage, "recording the thread failed: \(error.message)")
        }
        return started
    }
}
