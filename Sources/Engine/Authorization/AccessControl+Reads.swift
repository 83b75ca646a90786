import EventStore
import Events
import Foundation

/// Whose a thread is: its workspace and owner, from its `thread.started` (or, for a fork, its own `thread.forked`).
struct ThreadOrigin: Sendable, Equatable {
    let workspace: String
    let owner: String

    /// The `thread.read` scope `principal` needs here: `own`, `workspace` or `all`.
    func readScope(for principal: Principal) -> String {
        owner == principal.subject ? "own" : workspace == principal.workspace ? "workspace" : "all"
    }

    /// The origin of `threadID` in its history (a fork's history begins with what it inherits, then its own
    /// `thread.forked`); nil for a thread not started yet.
    static func of(_ threadID: ThreadID, in history: some Sequence<(seq: Seq, event: DomainEvent)>) -> ThreadOrigin? {
        var started: ThreadOrigin?
        for entry in history {
            switch entry.event {
            case .threadForked(let f) where f.threadID == threadID.rawValue:
                return ThreadOrigin(workspace: f.workspace, owner: f.owner)
            case .threadStarted(let s) where started == nil:
                started = ThreadOrigin(workspace: s.workspace, owner: s.owner)
            default: continue
            }
        }
        return started
    }
}

extension EngineError {
    /// The one answer for a thread that does not exist and for one in another workspace the caller may not see, so
    /// that an outsider cannot tell which ids exist.
    static func noThread(_ threadID: ThreadID) -> EngineError {
        EngineError(.notFound, "there is no thread '\(threadID)' that you can see")
    }
}

extension AccessControl {
    /// Authorizes reading a thread and records the decision (`authz.decided` in the thread's stream): its owner needs
    /// `thread.read:own`, someone else in its workspace `thread.read:workspace`, anyone else `thread.read:all`.
    /// - Throws: `invalidArgument` for an id that is not a thread id; `notFound` when there is no such thread, or it
    ///   is in another workspace and the caller may not read it (the denial recorded all the same); `denied`
    ///   (recorded) when the policy says no.
    public func authorizeRead(thread threadID: ThreadID, as principal: Principal) async throws(EngineError) {
        let stream = threadID.stream
        let opening: [RecordedEvent]
        do { opening = try store.read(stream: stream, from: 1, maxCount: 16) } catch {
            throw EngineError(.storage, "reading \(stream) failed: \(error.message)")
        }
        let events = opening.compactMap { e -> (seq: Seq, event: DomainEvent)? in
            if case .event(let event) = EventCatalog.decode(e) { (e.seq, event) } else { nil }
        }
        guard let origin = ThreadOrigin.of(threadID, in: events) else { throw .noThread(threadID) }
        do throws(EngineError) {
            try await authorize(
                "thread.read", on: origin.readScope(for: principal), recorded: stream.rawValue,
                workspace: origin.workspace,
                in: stream, as: principal)
        } catch  where error.kind == .denied && origin.workspace != principal.workspace {
            throw .noThread(threadID)
        }
    }
}

extension AccessControl {
    /// Authorizes `action` on `resource` in `workspace` for a read outside any thread (audit queries, say), recording
    /// the decision in `stream` (`recorded` names the resource for the audit trail).
    /// - Throws: `denied` (recorded), `storage`.
    public func authorize(
        _ action: String, on resource: String, recorded: String? = nil, workspace: String, in stream: StreamID,
        as principal: Principal
    ) async throws(EngineError) {
        var recorder = RunRecorder(store: store, stream: stream, workspace: workspace, observer: nil, history: [])
        let gate = gate(for: principal, in: workspace)
        try await gate.require(action, on: resource, recorded: recorded, recordingIn: &recorder)
        try await recorder.flush()
    }

    /// The policy's verdict on `action`, recorded nowhere: for choosing between scopes before the one decision a
    /// request records (listing threads: the workspace's or only the caller's own).
    public func wouldAllow(_ action: String, on resource: String, workspace: String, as principal: Principal) -> Bool {
        currentPolicy().policy.decide(principal, action: action, resource: resource, workspace: workspace).decision
            == .allow
    }
}
