import Engine
import EventStore
import Projections

/// A thread as `GET /v1/threads` lists it and `GET /v1/threads/{id}` heads it.
public struct ThreadSummaryBody: Codable, Sendable {
    public let id: String
    public let workspace: String
    public let owner: String
    public let title: String?
    public let created: String
    public let lastActivity: String
    public let messageCount: Int
    public let status: String
    public let forkedFrom: String?
    public let runCount: Int
    public let inputTokens: Int
    public let outputTokens: Int

    init(_ t: ThreadSummary) {
        (id, workspace, owner, title, messageCount, status) = (
            t.id, t.workspace, t.owner, t.title, t.messageCount, t.status.rawValue
        )
        (created, lastActivity) = (
            Timestamp.rfc3339(t.createdNanoseconds), Timestamp.rfc3339(t.lastActivityNanoseconds)
        )
        (forkedFrom, runCount, inputTokens, outputTokens) = (t.forkedFrom, t.runCount, t.inputTokens, t.outputTokens)
    }
}

/// A page of threads, newest activity first.
public struct ThreadListBody: Codable, Sendable {
    public let threads: [ThreadSummaryBody]
    /// Pass as `before` for the next (older) page; nil on the last.
    public let next: Int64?
}

/// `POST /v1/threads/{id}/messages`'s body.
public struct PostMessageBody: Codable, Sendable {
    public let text: String
    public let agent: String?
    public let title: String?
    public let stream: Bool?
    /// A registered model for this turn instead of the agent's (needs `model.use` on it).
    public let model: String?

    public init(text: String, agent: String? = nil, title: String? = nil, stream: Bool? = nil, model: String? = nil) {
        (self.text, self.agent, self.title, self.stream, self.model) = (text, agent, title, stream, model)
    }
}

/// A finished run: the answer to a message, or the `done` frame of a streamed one.
public struct RunResultBody: Codable, Sendable {
    public let runID: String
    public let status: String
    public let answer: String?
    public let steps: Int
    public let inputTokens: Int
    public let outputTokens: Int

    init(_ r: RunResult) {
        (runID, status, answer, steps) = (r.runID.uuidString.lowercased(), r.status.rawValue, r.answer, r.steps)
        (inputTokens, outputTokens) = (r.usage.input, r.usage.output)
    }
}

/// A piece of a streamed answer (a `text` frame).
public struct TextFrameBody: Codable, Sendable {
    public let text: String
}

/// `POST /v1/threads`' answer: the new, empty thread.
public struct ThreadCreatedBody: Codable, Sendable {
    public let threadID: String
    public let workspace: String
    public let owner: String
    public let title: String?
    public let agent: String?
}

/// `GET /v1/threads/{id}`: the thread, its messages and its runs (as of `at` when asked).
public struct ThreadDetailBody: Codable, Sendable {
    /// A message of the thread, by the seq of its event.
    public struct Message: Codable, Sendable {
        public let seq: Seq
        public let kind: String
        public let label: String?
    }
    /// A run on the thread and what it did.
    public struct Run: Codable, Sendable {
        public let id: String
        public let agent: String
        public let model: String
        public let parentRunID: String?
        public let status: String
        public let steps: Int
        public let toolCalls: Int
        public let failures: Int
        public let inputTokens: Int
        public let outputTokens: Int
    }
    public let thread: ThreadSummaryBody
    public let messages: [Message]
    public let runs: [Run]
    /// The seq this view is as of (nil: now).
    public let at: Seq?
}
