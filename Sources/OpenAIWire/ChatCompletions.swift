import Events
import Foundation

/// The JSON of OpenAI's Chat Completions API, in one place for both sides of it: the engine writes requests and reads
/// answers from model servers (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp); the server's compatible endpoint reads
/// requests and writes answers; the benchmarks and the demo do both against a loopback model.
///
/// Field names are the wire's. What one server leaves out and another sends is optional, so an answer decodes from any
/// of them; what Logbook writes sets every field the official API has. Unknown fields are ignored; `nil` fields are
/// left out when encoding (llama.cpp refuses `"content": null`, every server takes it left out).
public enum ChatCompletions {
    /// `POST /v1/chat/completions`'s body.
    public struct Request: Codable, Sendable {
        public var model: String
        public var messages: [Message]
        public var tools: [Tool]?
        public var stream: Bool?
        public var temperature: Double?
        public var max_tokens: Int?
        public var max_completion_tokens: Int?
        public var stream_options: StreamOptions?
        public var tool_choice: JSONValue?
        public var parallel_tool_calls: Bool?
        public var response_format: JSONValue?

        public struct StreamOptions: Codable, Sendable {
            public var include_usage: Bool?
            public init(include_usage: Bool?) { self.include_usage = include_usage }
        }

        public init(
            model: String, messages: [Message], tools: [Tool]? = nil, stream: Bool? = nil, temperature: Double? = nil,
            max_tokens: Int? = nil, max_completion_tokens: Int? = nil, stream_options: StreamOptions? = nil,
            tool_choice: JSONValue? = nil, parallel_tool_calls: Bool? = nil, response_format: JSONValue? = nil
        ) {
            (self.model, self.messages, self.tools, self.stream, self.temperature) = (
                model, messages, tools, stream, temperature
            )
            (self.max_tokens, self.max_completion_tokens, self.stream_options) = (
                max_tokens, max_completion_tokens, stream_options
            )
            (self.tool_choice, self.parallel_tool_calls, self.response_format) = (
                tool_choice, parallel_tool_calls, response_format
            )
        }
    }

    /// A message of a request's history, or an answer's message.
    public struct Message: Codable, Sendable {
        public var role: String
        public var content: Content?
        public var tool_calls: [ToolCall]?
        public var tool_call_id: String?

        public init(role: String, content: String? = nil, tool_calls: [ToolCall]? = nil, tool_call_id: String? = nil) {
            (self.role, self.content, self.tool_calls, self.tool_call_id) = (
                role, content.map(Content.init), tool_calls, tool_call_id
            )
        }

        /// The content's text (nil when there is none).
        public var text: String? { content?.text }
    }

    /// A message's content: written as a string; read from a string or from parts, of which only text ones are taken.
    public struct Content: Codable, Sendable {
        public var text: String

        public init(_ text: String) { self.text = text }

        struct Part: Decodable {
            var type: String
            var text: String?
        }

        public init(from decoder: any Decoder) throws {
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

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(text)
        }
    }

    /// A tool call the model asked for (in an answer, or in an assistant message of the history).
    public struct ToolCall: Codable, Sendable {
        public var id: String
        public var type: String?
        public var function: Function

        public struct Function: Codable, Sendable {
            public var name: String
            public var arguments: String
            public init(name: String, arguments: String) { (self.name, self.arguments) = (name, arguments) }
        }

        public init(id: String, function: Function) { (self.id, self.type, self.function) = (id, "function", function) }
    }

    /// A tool offered in a request.
    public struct Tool: Codable, Sendable {
        public var type: String
        public var function: Function

        public struct Function: Codable, Sendable {
            public var name: String
            public var description: String?
            public var parameters: JSONValue?
            public init(name: String, description: String?, parameters: JSONValue?) {
                (self.name, self.description, self.parameters) = (name, description, parameters)
            }
        }

        public init(function: Function) { (type, self.function) = ("function", function) }
    }

    public struct Usage: Codable, Sendable {
        public var prompt_tokens: Int?
        public var completion_tokens: Int?
        public var total_tokens: Int?

        public init(prompt: Int, completion: Int) {
            (prompt_tokens, completion_tokens, total_tokens) = (prompt, completion, prompt + completion)
        }
    }

    /// A whole (not streamed) answer.
    public struct Completion: Codable, Sendable {
        public var id: String?
        public var object: String?
        public var created: Int?
        public var model: String?
        public var choices: [Choice]
        public var usage: Usage?

        public struct Choice: Codable, Sendable {
            public var index: Int?
            public var message: Message
            public var finish_reason: String?
            public init(message: Message, finish_reason: String?) {
                (index, self.message, self.finish_reason) = (0, message, finish_reason)
            }
        }

        public init(id: String, created: Int, model: String, choices: [Choice], usage: Usage?) {
            (self.id, object, self.created, self.model, self.choices, self.usage) = (
                id, "chat.completion", created, model, choices, usage
            )
        }
    }

    /// One `data:` event of a streamed answer.
    public struct Chunk: Codable, Sendable {
        public var id: String?
        public var object: String?
        public var created: Int?
        public var model: String?
        public var choices: [Choice]?
        public var usage: Usage?

        public struct Choice: Codable, Sendable {
            public var index: Int?
            public var delta: Delta?
            public var finish_reason: String?
            public init(delta: Delta?, finish_reason: String?) {
                (index, self.delta, self.finish_reason) = (0, delta, finish_reason)
            }
        }

        public struct Delta: Codable, Sendable {
            public var role: String?
            public var content: String?
            public var tool_calls: [ToolCallDelta]?
            public init(role: String? = nil, content: String? = nil, tool_calls: [ToolCallDelta]? = nil) {
                (self.role, self.content, self.tool_calls) = (role, content, tool_calls)
            }
        }

        /// A piece of a tool call, keyed by `index`: the id and name come first, the arguments in pieces.
        public struct ToolCallDelta: Codable, Sendable {
            public var index: Int?
            public var id: String?
            public var type: String?
            public var function: FunctionDelta?
            public init(index: Int, id: String, name: String, arguments: String) {
                (self.index, self.id, type) = (index, id, "function")
                function = FunctionDelta(name: name, arguments: arguments)
            }
        }

        public struct FunctionDelta: Codable, Sendable {
            public var name: String?
            public var arguments: String?
            public init(name: String?, arguments: String?) { (self.name, self.arguments) = (name, arguments) }
        }

        public init(id: String, created: Int, model: String, choices: [Choice], usage: Usage?) {
            (self.id, object, self.created, self.model, self.choices, self.usage) = (
                id, "chat.completion.chunk", created, model, choices, usage
            )
        }
    }

    /// `GET /v1/models`.
    public struct ModelList: Codable, Sendable {
        public var object: String
        public var data: [Model]

        public struct Model: Codable, Sendable {
            public var id: String
            public var object: String
            public var created: Int
            public var owned_by: String
            public init(id: String, created: Int, owned_by: String) {
                (self.id, object, self.created, self.owned_by) = (id, "model", created, owned_by)
            }
        }

        public init(data: [Model]) { (object, self.data) = ("list", data) }
    }
}
