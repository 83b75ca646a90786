import EventStore
import Events
import Foundation

extension Conversations {
    /// Starts an empty thread in the caller's workspace, owned by the caller: `chat` on it is authorized, and the
    /// decision appended with `thread.started`, atomically (a denial in `access/threads`). Messages follow with `chat`.
    /// - Throws: `denied`, `conflict` (the thread exists), `invalidArgument` (an unknown agent), `storage`.
    public func startThread(
        _ threadID: ThreadID, title: String?, agent: String?, as principal: Principal
    ) async throws(EngineError) -> ThreadStarted {
        let stream = threadID.stream
        if let agent, try await registryState().agents[agent] == nil { throw EngineError.unknownAgent(agent) }
        let started = ThreadStarted(
            threadID: threadID.rawValue, workspace: principal.workspace, owner: principal.subject, title: title,
            agent: agent)
        try await open(
            stream, in: principal.workspace, with: .threadStarted(started), as: principal,
            ifTaken: "thread '\(threadID)' exists already; choose another id")
        return started
    }

    /// A page of a thread's events from `revision` (at most `limit`), for a caller who may read the thread (the
    /// decision is recorded).
    /// - Throws: what `authorizeRead` throws; `storage` when the log cannot be read.
    public func events(
        of thread: ThreadID, from revision: StreamRevision, limit: Int, as principal: Principal
    ) async throws(EngineError) -> [RecordedEvent] {
        try await engine.access.authorizeRead(thread: thread, as: principal)
        do { return try store.read(stream: thread.stream, from: revision, maxCount: limit) } catch {
            throw EngineError(.storage, "reading thread '\(thread)' failed: \(error.message)", cause: error)
        }
    }

    /// Starts a new thread's stream with `first` and the `chat` decision on it, atomically; a denial is recorded in
    /// `access/threads` instead and thrown. Throws `conflict` with `ifTaken` when the stream exists.
    func open(
        _ stream: StreamID, in workspace: String, with first: DomainEvent, as principal: Principal, ifTaken: String
    ) async throws(EngineError) {
        let (verdict, decision) = gate(for: principal, in: workspace).judge("chat", on: stream.rawValue)
        let metadata = EventMetadata(actor: principal.subject, workspace: workspace)
        guard verdict.decision == .allow else {
            do {
                try await store.append(
                    [DomainEvent.authorizationDecided(decision).proposed(metadata: metadata)], to: "access/threads")
            } catch {
                throw .recording(error, "recording the denial")
            }
            throw EngineError(.denied, "not allowed: \(verdict.reason)")
        }
        do {
            try await store.append(
                [
                    DomainEvent.authorizationDecided(decision).proposed(metadata: metadata),
                    first.proposed(metadata: metadata),
                ],
                to: stream, expecting: .noStream)
        } catch {
            if error.code == .wrongExpectedRevision { throw EngineError(.conflict, ifTaken) }
            throw .recording(error, "recording \(first.typeName)")
        }
    }
}
