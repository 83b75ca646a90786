import Engine
import Events
import Foundation

/// The OpenAI Chat Completions wire format as the endpoint reads and writes it (the subset the official SDKs and
/// LangChain's ChatOpenAI send; unknown fields are ignored).
enum OpenAIWire {
    struct Request: Decodable {
        var model: String
        var messages: [Message]
        var tools: [Tool]?
        var stream: Bool?
        var temperature: Double?
        var max_tokens: Int?
        var max_completion_tokens: Int?
        var stream_options: StreamOptions?
        var tool_choice: JSONValue?
        var parallel_tool_calls: Bool?
        var response_format: JSONValue?

        struct StreamOptions: Decodable { var include_usage: Bool? }
    }

    struct Message: Decodable {
        var role: String
        var content: Content?
        var tool_calls: [ToolCall]?
        var tool_call_id: String?
    }

    /// A message's content: a string, or parts of which the text ones are read.
    struct Content: Decodable {
        var text: String

        struct Part: Decodable {
            var type: String
            var text: String?
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self.text = text
            } else {
                let parts = try container.decode([Part].self)
                if let other = parts.first(where: { $0.type != "text" }) {
                    throw DecodingError.dataCorruptedError(
                        in: container,
                        debugDescription: "content parts of type '\(other.type)' are not supported; send text")
                }
                text = parts.compactMap(\.text).joined()
            }
        }
    }

    struct ToolCall: Codable {
        var id: String
        var type: String = "function"
        var function: Function

        struct Function: Codable {
            var name: String
            var arguments: String
        }
    }

    struct Tool: Decodable {
        var type: String
        var function: Function

        struct Function: Decodable {
            var name: String
            var description: String?
            var parameters: JSONValue?
        }
    }

    struct Usage: Encodable {
        var prompt_tokens: Int
        var completion_tokens: Int
        var total_tokens: Int

        init(_ u: TokenUsage) {
            (prompt_tokens, completion_tokens, total_tokens) = (u.input, u.output, u.input + u.output)
        }
    }

    struct Completion: Encodable {
        var id: String
        var object = "chat.completion"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: Usage

        struct Choice: Encodable {
            var index = 0
            var message: AnswerMessage
            var finish_reason: String
        }

        struct AnswerMessage: Encodable {
            var role = "assistant"
            var content: String?
            var tool_calls: [ToolCall]?
        }
    }

    struct Chunk: Encodable {
        var id: String
        var object = "chat.completion.chunk"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: Usage?

        struct Choice: Encodable {
            var index = 0
            var delta: Delta
            var finish_reason: String?
        }

        struct Delta: Encodable {
            var role: String?
            var content: String?
            var tool_calls: [IndexedToolCall]?
        }

        struct IndexedToolCall: Encodable {
            var index: Int
            var id: String
            var type = "function"
            var function: ToolCall.Function
        }
    }

    struct ModelList: Encodable {
        var object = "list"
        var data: [Model]

        struct Model: Encodable {
            var id: String
            var object = "model"
            var created: Int
            var owned_by: String
        }
    }
}

extension OpenAIWire.Request {
    /// The engine's view of the request; a message the engine cannot take is a 400 naming it.
    func call(threadID: String) throws(APIError) -> CompletionCall {
        guard !messages.isEmpty else {
            throw APIError(.badRequest, "bad_request", "'messages' is empty; send at least one user message")
        }
        for (name, value) in [("max_tokens", max_tokens), ("max_completion_tokens", max_completion_tokens)]
        where (value ?? 1) < 1 {
            throw APIError(.badRequest, "bad_request", "'\(name)' must be 1 or more")
        }
        var converted: [ChatMessage] = []
        for (i, m) in messages.enumerated() {
            switch m.role {
            case "system", "developer": converted.append(.system(m.content?.text ?? ""))
            case "user": converted.append(.user(m.content?.text ?? ""))
            case "assistant":
                let calls = (m.tool_calls ?? []).map {
                    RequestedToolCall(callID: $0.id, name: $0.function.name, arguments: $0.function.arguments)
                }
                converted.append(.assistant(m.content?.text, toolCalls: calls))
            case "tool":
                guard let id = m.tool_call_id else {
                    throw APIError(.badRequest, "bad_request", "messages[\(i)]: a tool message needs 'tool_call_id'")
                }
                converted.append(.tool(callID: id, output: m.content?.text ?? ""))
            default:
                throw APIError(
                    .badRequest, "bad_request",
                    "messages[\(i)]: role '\(m.role)' is not one of system, developer, user, assistant, tool")
            }
        }
        let definitions = (tools ?? []).map {
            ToolDefinition(
                name: $0.function.name, description: $0.function.description ?? "",
                parameters: $0.function.parameters ?? .object(["type": .string("object")]))
        }
        var choice: ToolChoice?
        if let json = tool_choice, json != .null {
            guard let parsed = ToolChoice(json: json) else {
                throw APIError(
                    .badRequest, "bad_request",
                    "'tool_choice' is \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}"
                )
            }
            choice = parsed
        }
        if case .function(let name)? = choice, !definitions.contains(where: { $0.name == name }) {
            throw APIError(
                .unprocessableContent, "unprocessable",
                "'tool_choice' names '\(name.prefix(64))', which is not among 'tools'")
        }
        if let format = response_format, format != .null,
            !["text", "json_object", "json_schema"].contains(format["type"]?.stringValue ?? "")
        {
            throw APIError(
                .badRequest, "bad_request",
                "'response_format' is an object with a \"type\" (\"text\", \"json_object\" or \"json_schema\")")
        }
        return CompletionCall(
            threadID: threadID, model: model, messages: converted, tools: definitions, temperature: temperature,
            maxOutputTokens: max_completion_tokens ?? max_tokens, toolChoice: choice,
            parallelToolCalls: parallel_tool_calls,
            responseFormat: response_format == .null ? nil : response_format)
    }
}
