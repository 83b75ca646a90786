import EventStore
import Events

/// Why the engine could not run (or finish) a request. The message says what to do.
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The policy denied the request (recorded as `authz.decided` before this was thrown).
        case denied
        /// No model could be resolved.
        case noModel
        /// The caller asked for a model by a name the registry does not hold.
        case unknownModel
        /// The model failed for good (recorded as `llm.failed`, the run as failed).
        case llmFailed
        /// What the request names (a thread, a run) does not exist, or not where the caller may see it.
        case notFound
        /// The thread's session expired (recorded): the caller needs a fresh token.
        case sessionExpired
        /// The request asks for something impossible (a fork point outside the thread, say).
        case invalidArgument
        /// The request is well-formed but names what the registry does not hold or allow (an unknown agent, a secret
        /// reference outside the operator's scope).
        case unprocessable
        /// What the request would create exists already.
        case conflict
        /// The log refused an append.
        case storage
        /// The device holding the log is full: appends go on once space is freed.
        case diskFull
        /// The log reached its configured maximum size (`serve --max-log-size`).
        case logFull
        /// A tool server could not be reached or started.
        case unavailable
        /// The caller gave up (its task was cancelled) while the thread's turn ahead of it ran; nothing was recorded.
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// The error underneath (the log's, a model provider's, an MCP server's), kept for logs and for callers that
    /// tell causes apart; the message already says what to do.
    public var cause: (any Error & Sendable)?

    public init(_ kind: Kind, _ message: String, cause: (any Error & Sendable)? = nil) {
        (self.kind, self.message, self.cause) = (kind, message, cause)
    }
    public var description: String { message }

    /// Equal kind and message (the cause is context, not identity).
    public static func == (a: EngineError, b: EngineError) -> Bool { a.kind == b.kind && a.message == b.message }
}

extension EngineError {
    /// An append the log refused, kept apart by why: a full disk or log (which an operator can remedy without a
    /// restart, or with a setting) from any other storage failure.
    static func recording(_ error: EventStoreError, _ what: String) -> EngineError {
        let kind: Kind =
            switch error.code {
            case .diskFull: .diskFull
            case .mapFull: .logFull
            case .holdLost: .conflict
            default: .storage
            }
        return EngineError(kind, "\(what) failed: \(error.message)", cause: error)
    }

    /// The caller was cancelled while it waited for the turn ahead of it on `threadID`.
    static func cancelledWaiting(for threadID: ThreadID) -> EngineError {
        EngineError(
            .cancelled,
            "the request was cancelled while it waited for the turn ahead of it on thread '\(threadID)'; nothing was recorded, send it again to run it"
        )
    }

    /// A request names an agent the registry does not define.
    static func unknownAgent(_ name: String) -> EngineError {
        EngineError(.unprocessable, "no agent named '\(name)' is defined; GET /v1/registry lists the agents")
    }
}
