import Events
import Foundation

/// One message of a chat, in the providers' common shape.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, assistant, tool }

    public var role: Role
    public var content: String?
    /// The tool calls an assistant message asked for.
    public var toolCalls: [RequestedToolCall]
    /// For a tool message: the call it answers, and whether it reports an error (a failed or refused call).
    public var toolCallID: String?
    public var isError: Bool

    public init(
        role: Role, content: String?, toolCalls: [RequestedToolCall] = [], toolCallID: String? = nil,
        isError: Bool = false
    ) {
        (self.role, self.content, self.toolCalls, self.toolCallID, self.isError) = (
            role, content, toolCalls, toolCallID, isError
        )
    }

    public static func system(_ text: String) -> Self { Self(role: .system, content: text) }
    public static func user(_ text: String) -> Self { Self(role: .user, content: text) }
    public static func assistant(_ text: String?, toolCalls: [RequestedToolCall] = []) -> Self {
        Self(role: .assistant, content: text, toolCalls: toolCalls)
    }
    public static func tool(callID: String, output: String, isError: Bool = false) -> Self {
        Self(role: .tool, content: output, toolCallID: callID, isError: isError)
    }
}

/// A tool the model may call: its name, what it does, and a JSON Schema of its arguments.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue = .object(["type": .string("object")])) {
        (self.name, self.description, self.parameters) = (name, description, parameters)
    }
}

/// One chat completion request.
public struct ChatRequest: Sendable, Equatable {
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    public var temperature: Double?
    public var maxOutputTokens: Int?
    /// Whether and which tool the model must call (nil: the server's default, `auto`).
    public var toolChoice: ToolChoice?
    /// Whether the model may ask for several tool calls at once (nil: the server's default).
    public var parallelToolCalls: Bool?
    /// OpenAI's `response_format` (JSON mode, a JSON schema), passed as given.
    public var responseFormat: JSONValue?

    public init(
        messages: [ChatMessage], tools: [ToolDefinition] = [], temperature: Double? = nil, maxOutputTokens: Int? = nil,
        toolChoice: ToolChoice? = nil, parallelToolCalls: Bool? = nil, responseFormat: JSONValue? = nil
    ) {
        (self.messages, self.tools, self.temperature, self.maxOutputTokens) = (
            messages, tools, temperature, maxOutputTokens
        )
        (self.toolChoice, self.parallelToolCalls, self.responseFormat) = (toolChoice, parallelToolCalls, responseFormat)
    }
}

/// Why the model stopped.
public enum FinishReason: Sendable, Equatable, CustomStringConvertible {
    case stop, length, toolCalls, contentFilter
    case other(String)

    init(wire: String?) {
        switch wire {
        case "stop", "end_turn", "stop_sequence", nil: self = .stop
        case "length", "max_tokens": self = .length
        case "tool_calls", "function_call", "tool_use": self = .toolCalls
        case "content_filter", "refusal": self = .contentFilter
        case let other?: self = .other(other)
        }
    }

    public var description: String {
        switch self {
        case .stop: "stop"
        case .length: "length"
        case .toolCalls: "tool_calls"
        case .contentFilter: "content_filter"
        case .other(let s): s
        }
    }
}

/// Tokens a call consumed, as the provider reported them; `reported` is false when it did not (the counts are then
/// zero for want of figures).
public struct TokenUsage: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var reported: Bool
    public init(input: Int = 0, output: Int = 0, reported: Bool = true) {
        (self.input, self.output, self.reported) = (input, output, reported)
    }
}

/// A complete answer: text and/or tool calls (with arguments checked to be JSON), usage, and why it stopped.
public struct ChatResponse: Sendable, Equatable {
    public var text: String?
    public var toolCalls: [RequestedToolCall]
    public var finishReason: FinishReason
    public var usage: TokenUsage
    /// The model the provider says answered (may differ from the one asked for, e.g. a dated snapshot).
    public var model: String

    public init(
        text: String?, toolCalls: [RequestedToolCall] = [], finishReason: FinishReason,
        usage: TokenUsage = TokenUsage(), model: String
    ) {
        (self.text, self.toolCalls, self.finishReason, self.usage, self.model) = (
            text, toolCalls, finishReason, usage, model
        )
    }
}
