import EventStore
import Foundation

/// A conversation began. The first event of stream `thread/<threadID>`.
public struct ThreadStarted: EventPayload {
    public static let typeName = "thread.started"
    public var threadID: String
    public var workspace: String
    /// The subject that owns the thread.
    public var owner: String
    public var title: String?
    /// The agent that answers in it.
    public var agent: String?

    public init(threadID: String, workspace: String, owner: String, title: String? = nil, agent: String? = nil) {
        (self.threadID, self.workspace, self.owner, self.title, self.agent) = (threadID, workspace, owner, title, agent)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(threadID); w.write(workspace); w.write(owner); w.write(title); w.write(agent)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            threadID: try r.readString(), workspace: try r.readString(), owner: try r.readString(),
            title: try r.readOptionalString(), agent: try r.readOptionalString())
    }
}

/// What an operator typed.
public struct UserMessage: EventPayload {
    public static let typeName = "message.user"
    public static let schemaVersion: UInt64 = 2
    public var text: String
    /// Names of attached documents (added in schema version 2).
    public var attachments: [String]

    public init(text: String, attachments: [String] = []) { (self.text, self.attachments) = (text, attachments) }

    public func encode(to w: inout BinaryWriter) { w.write(text); w.write(attachments) }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(text: try r.readBulkText(), attachments: try r.readStrings())
    }

    /// Version 1 had the text only.
    public static func upcast(from version: UInt64, _ r: inout BinaryReader) throws(PayloadDecodingError) -> UserMessage
    {
        guard version == 1 else { throw PayloadDecodingError("message.user has no schema version \(version)") }
        return UserMessage(text: try r.readBulkText())
    }
}

/// The agent's final answer of a run.
public struct AssistantMessage: EventPayload {
    public static let typeName = "message.assistant"
    public var runID: UUID
    public var text: String
    public var model: String

    public init(runID: UUID, text: String, model: String) { (self.runID, self.text, self.model) = (runID, text, model) }

    public func encode(to w: inout BinaryWriter) { w.write(runID); w.write(text); w.write(model) }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(runID: try r.readUUID(), text: try r.readBulkText(), model: try r.readString())
    }
}

/// An agent run began (one answer to one user message; delegations are nested runs).
public struct RunStarted: EventPayload {
    public static let typeName = "run.started"
    public var runID: UUID
    public var agent: String
    public var model: String
    /// The orchestrator's run when this is a delegated worker run.
    public var parentRunID: UUID?

    public init(runID: UUID, agent: String, model: String, parentRunID: UUID? = nil) {
        (self.runID, self.agent, self.model, self.parentRunID) = (runID, agent, model, parentRunID)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(agent); w.write(model); w.write(parentRunID) { $0.write($1) }
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), agent: try r.readString(), model: try r.readString(),
            parentRunID: try r.readOptional { (r) throws(PayloadDecodingError) in try r.readUUID() })
    }
}

/// How a run ended.
public enum RunStatus: String, Codable, Sendable, BinaryCodableEnum {
    case completed, failed, cancelled, limitReached
    /// The server stopped (a crash, a kill) before the run ended; closed when it started again.
    case interrupted
    public static let cases: [Self] = [.completed, .failed, .cancelled, .limitReached, .interrupted]
}

public struct RunFinished: EventPayload {
    public static let typeName = "run.finished"
    public var runID: UUID
    public var status: RunStatus
    public var error: String?
    public var steps: Int

    public init(runID: UUID, status: RunStatus, error: String? = nil, steps: Int) {
        (self.runID, self.status, self.error, self.steps) = (runID, status, error, steps)
    }

    public func encode(to w: inout BinaryWriter) { w.write(runID); w.write(status); w.write(error); w.write(steps) }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), status: try r.read(), error: try r.readOptionalString(), steps: try r.readInt())
    }
}

/// A call to a model. The prompt is not copied: `promptSeqs` names the events it was built from, in order.
public struct LLMRequest: EventPayload {
    public static let typeName = "llm.request"
    public var runID: UUID
    public var step: Int
    public var model: String
    public var provider: String
    public var promptSeqs: [Seq]
    /// Sampling parameters and the like, as sent.
    public var parameters: [String: String]

    public init(
        runID: UUID, step: Int, model: String, provider: String, promptSeqs: [Seq],
        parameters: [String: String] = [:]
    ) {
        (self.runID, self.step, self.model, self.provider, self.promptSeqs, self.parameters) = (
            runID, step, model, provider, promptSeqs, parameters
        )
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(step); w.write(model); w.write(provider); w.write(promptSeqs) { $0.write($1) };
        w.write(parameters)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), step: try r.readInt(), model: try r.readString(), provider: try r.readString(),
            promptSeqs: try r.readArray { (r) throws(PayloadDecodingError) in try r.readSeq() },
            parameters: try r.readStringMap())
    }
}

/// A tool call the model asked for.
public struct RequestedToolCall: Codable, Sendable, Equatable, BinaryCodable {
    public var callID: String
    public var name: String
    /// The arguments as JSON text, as the model produced them.
    public var arguments: String

    public init(callID: String, name: String, arguments: String) {
        (self.callID, self.name, self.arguments) = (callID, name, arguments)
    }
    public func encode(to w: inout BinaryWriter) { w.write(callID); w.write(name); w.write(arguments) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(callID: try r.readString(), name: try r.readString(), arguments: try r.readBulkText())
    }
}

public struct LLMResponse: EventPayload {
    public static let typeName = "llm.response"
    /// 2 added `usageUnknown`.
    public static let schemaVersion: UInt64 = 2
    public var runID: UUID
    public var step: Int
    public var model: String
    public var text: String?
    public var toolCalls: [RequestedToolCall]
    public var finishReason: String
    public var inputTokens: Int
    public var outputTokens: Int
    public var latencyMilliseconds: Int
    /// True when the server reported no usage (llama.cpp ignores `stream_options.include_usage`): the token counts
    /// are then zero for want of figures, not because the call used none (nil: reported).
    public var usageUnknown: Bool?

    public init(
        runID: UUID, step: Int, model: String, text: String?, toolCalls: [RequestedToolCall] = [], finishReason: String,
        inputTokens: Int, outputTokens: Int, latencyMilliseconds: Int, usageUnknown: Bool? = nil
    ) {
        (self.runID, self.step, self.model, self.text, self.toolCalls, self.finishReason) = (
            runID, step, model, text, toolCalls, finishReason
        )
        (self.inputTokens, self.outputTokens, self.latencyMilliseconds) = (
            inputTokens, outputTokens, latencyMilliseconds
        )
        self.usageUnknown = usageUnknown == true ? true : nil
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(step); w.write(model); w.write(text); w.write(toolCalls) { $0.write($1) }
        w.write(finishReason); w.write(inputTokens); w.write(outputTokens); w.write(latencyMilliseconds);
        w.write(usageUnknown == true)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), step: try r.readInt(), model: try r.readString(),
            text: try r.readOptionalBulkText(),
            toolCalls: try r.readArray { (r) throws(PayloadDecodingError) in try r.read() },
            finishReason: try r.readString(),
            inputTokens: try r.readInt(), outputTokens: try r.readInt(), latencyMilliseconds: try r.readInt(),
            usageUnknown: try r.readBool())
    }

    /// Version 1 had no `usageUnknown`.
    public static func upcast(from version: UInt64, _ r: inout BinaryReader) throws(PayloadDecodingError) -> LLMResponse
    {
        guard version == 1 else {
            throw PayloadDecodingError("llm.response has no upcast from schema version \(version)")
        }
        return LLMResponse(
            runID: try r.readUUID(), step: try r.readInt(), model: try r.readString(),
            text: try r.readOptionalBulkText(),
            toolCalls: try r.readArray { (r) throws(PayloadDecodingError) in try r.read() },
            finishReason: try r.readString(),
            inputTokens: try r.readInt(), outputTokens: try r.readInt(), latencyMilliseconds: try r.readInt())
    }
}

public struct LLMFailed: EventPayload {
    public static let typeName = "llm.failed"
    public var runID: UUID
    public var step: Int
    public var model: String
    public var error: String
    public var retryable: Bool
    public var attempt: Int

    public init(runID: UUID, step: Int, model: String, error: String, retryable: Bool, attempt: Int) {
        (self.runID, self.step, self.model, self.error, self.retryable, self.attempt) = (
            runID, step, model, error, retryable, attempt
        )
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(step); w.write(model); w.write(error); w.write(retryable); w.write(attempt)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), step: try r.readInt(), model: try r.readString(), error: try r.readString(),
            retryable: try r.readBool(), attempt: try r.readInt())
    }
}

/// A tool call about to run (after its authorization was recorded as allowed).
public struct ToolCalled: EventPayload {
    public static let typeName = "tool.called"
    public var runID: UUID
    public var callID: String
    public var server: String
    public var tool: String
    /// JSON text.
    public var arguments: String

    public init(runID: UUID, callID: String, server: String, tool: String, arguments: String) {
        (self.runID, self.callID, self.server, self.tool, self.arguments) = (runID, callID, server, tool, arguments)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(callID); w.write(server); w.write(tool); w.write(arguments)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), callID: try r.readString(), server: try r.readString(), tool: try r.readString(),
            arguments: try r.readString())
    }
}

public struct ToolResult: EventPayload {
    public static let typeName = "tool.result"
    public var runID: UUID
    public var callID: String
    public var server: String
    public var tool: String
    public var output: String
    public var isError: Bool
    public var latencyMilliseconds: Int

    public init(
        runID: UUID, callID: String, server: String, tool: String, output: String, isError: Bool,
        latencyMilliseconds: Int
    ) {
        (self.runID, self.callID, self.server, self.tool, self.output, self.isError) = (
            runID, callID, server, tool, output, isError
        )
        self.latencyMilliseconds = latencyMilliseconds
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(runID); w.write(callID); w.write(server); w.write(tool); w.write(output); w.write(isError);
        w.write(latencyMilliseconds)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            runID: try r.readUUID(), callID: try r.readString(), server: try r.readString(), tool: try r.readString(),
            output: try r.readBulkText(), isError: try r.readBool(), latencyMilliseconds: try r.readInt())
    }
}

/// A thread that shares another's history up to `atSeq` (by reference). The first event of the new thread's stream
/// (after the authorization that allowed it).
public struct ThreadForked: EventPayload {
    public static let typeName = "thread.forked"
    /// 2 added `substitution`.
    public static let schemaVersion: UInt64 = 2
    public var threadID: String
    public var fromThreadID: String
    public var atSeq: Seq
    public var workspace: String
    public var owner: String
    /// For a counterfactual run: what it changed from the recording (nil for a plain fork).
    public var substitution: String?

    public init(
        threadID: String, fromThreadID: String, atSeq: Seq, workspace: String, owner: String,
        substitution: String? = nil
    ) {
        (self.threadID, self.fromThreadID, self.atSeq, self.workspace, self.owner) = (
            threadID, fromThreadID, atSeq, workspace, owner
        )
        self.substitution = substitution
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(threadID); w.write(fromThreadID); w.write(atSeq); w.write(workspace); w.write(owner);
        w.write(substitution)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            threadID: try r.readString(), fromThreadID: try r.readString(), atSeq: try r.readSeq(),
            workspace: try r.readString(), owner: try r.readString(), substitution: try r.readOptionalString())
    }

    /// Version 1 had no substitution.
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> ThreadForked {
        guard version == 1 else {
            throw PayloadDecodingError("thread.forked has no upcast from schema version \(version)")
        }
        return ThreadForked(
            threadID: try r.readString(), fromThreadID: try r.readString(), atSeq: try r.readSeq(),
            workspace: try r.readString(), owner: try r.readString())
    }
}

/// The thread sat idle past its session timeout: the next request needs a fresh token.
public struct SessionExpired: EventPayload {
    public static let typeName = "session.expired"
    public var threadID: String
    public var idleSeconds: Int

    public init(threadID: String, idleSeconds: Int) { (self.threadID, self.idleSeconds) = (threadID, idleSeconds) }
    public func encode(to w: inout BinaryWriter) { w.write(threadID); w.write(idleSeconds) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(threadID: try r.readString(), idleSeconds: try r.readInt())
    }
}
