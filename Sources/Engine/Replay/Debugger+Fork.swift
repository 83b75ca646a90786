import EventStore
import Events
import Foundation

extension Debugger {
    /// Starts `threadID` as a fork of `source`: it shares the source's history up to `atSeq` by reference (its first
    /// event is `thread.forked`; nothing is copied) and continues on its own from there, in the source's workspace,
    /// owned by the caller. Reading the source is authorized as `thread.read`, the new thread as `chat`; both
    /// decisions are recorded (the allow with the fork, atomically; a denial in `access/threads`).
    /// - Parameter substitution: for a counterfactual run, what it changes (recorded with the fork).
    /// - Parameter atSeq: the last shared event's seq (nil: all of the source's history); it must lie within the
    ///   source's history (its own events or those it inherits).
    /// - Throws: `notFound` (no source, or one the caller may not see), `denied`, `unprocessable` (fork point), `conflict` (the thread
    ///   exists), `storage`.
    @discardableResult
    public func fork(
        _ source: ThreadID, at atSeq: Seq?, into threadID: ThreadID, as principal: Principal,
        substitution: String? = nil
    ) async throws(EngineError) -> ThreadForked {
        try await engine.access.authorizeRead(thread: source, as: principal)
        let history = try RunRecorder.history(of: source.stream, in: store).events
        guard let root = history.first(where: { if case .threadStarted = $0.event { true } else { false } }),
            case .threadStarted(let started) = root.event, let last = history.last
        else {
            throw .noThread(source)
        }
        let at = atSeq ?? last.seq
        guard at >= root.seq, at <= last.seq else {
            throw EngineError(
                .unprocessable,
                "seq \(at) is outside thread '\(source)' (its history runs from seq \(root.seq) to \(last.seq))")
        }
        let stream = threadID.stream
        do {
            if try store.revision(of: stream) != nil {
                throw EngineError(.conflict, "thread '\(threadID)' exists already; fork into a new id")
            }
        } catch let error as EngineError { throw error } catch {
            throw EngineError(.storage, "reading \(stream) failed: \(error)")
        }
        let forked = ThreadForked(
            threadID: threadID.rawValue, fromThreadID: source.rawValue, atSeq: at, workspace: started.workspace,
            owner: principal.subject,
            substitution: substitution)
        try await engine.conversations.open(
            stream, in: started.workspace, with: .threadForked(forked), as: principal,
            ifTaken: "thread '\(threadID)' exists already; fork into a new id")
        return forked
    }
}
