import Events
import Foundation
import NIOCore

/// Anthropic's Messages API: the system prompt apart, content as blocks (`text`, `tool_use`, `tool_result`), tool
/// results sent back as a user turn, `max_tokens` required.
struct AnthropicChatWire: ChatWire {
    let model: String
    let wireModel: String
    let version: String
    let parameters: [String: String]

    func headers(secret: Secret?, streaming: Bool) -> [(String, String)] {
        var headers = [
            ("anthropic-version", version), ("Accept", streaming ? "text/event-stream" : "application/json"),
        ]
        if let secret { headers.append(("x-api-key", secret.value)) }
        return headers
    }

    func body(_ request: ChatRequest, streaming: Bool) throws(LLMError) -> Data {
        var messages: [Message] = []
        func add(_ role: String, _ block: Block) {
            if let last = messages.last, last.role == role {
                messages[messages.count - 1].content.append(block)
            } else {
                messages.append(Message(role: role, content: [block]))
            }
        }
        var system: [String] = []
        for m in request.messages {
            switch m.role {
            case .system: system.append(m.content ?? "")
            case .user: add("user", .text(m.content ?? ""))
            case .assistant:
                if let text = m.content, !text.isEmpty { add("assistant", .text(text)) }
                for call in m.toolCalls {
                    add(
                        "assistant",
                        .toolUse(
                            id: call.callID, name: call.name, input: JSONValue(parsing: call.arguments) ?? .object([:]))
                    )
                }
            case .tool: add("user", .toolResult(id: m.toolCallID ?? "", content: m.content ?? "", isError: m.isError))
            }
        }
        let wire = Request(
            model: wireModel, max_tokens: request.maxOutputTokens ?? parameters["max_tokens"].flatMap(Int.init) ?? 4096,
            system: system.isEmpty ? nil : system.joined(separator: "\n\n"), messages: messages,
            tools: request.tools.isEmpty
                ? nil
                : request.tools.map { Tool(name: $0.name, description: $0.description, input_schema: $0.parameters) },
            tool_choice: request.tools.isEmpty ? nil : request.toolChoice?.anthropic,
            temperature: request.temperature ?? parameters["temperature"].flatMap(Double.init), stream: streaming)
        return try encodeJSON(wire, model: model)
    }

    func response(_ body: ByteBuffer) throws(LLMError) -> ChatResponse {
        let r = try decodeJSON(Response.self, body.readableBytesView, model: model, what: "an answer")
        var text = ""
        var calls: [RequestedToolCall] = []
        for block in r.content {
            switch block.type {
            case "text": text += block.text ?? ""
            case "tool_use":
                calls.append(
                    try ToolCallAssembler.checked(
                        id: block.id ?? "", name: block.name ?? "", arguments: (block.input ?? .object([:])).jsonText,
                        model: model))
            default: continue
            }
        }
        return ChatResponse(
            text: text.isEmpty ? nil : text, toolCalls: calls, finishReason: FinishReason(wire: r.stop_reason),
            usage: TokenUsage(
                input: r.usage?.input_tokens ?? 0, output: r.usage?.output_tokens ?? 0, reported: r.usage != nil),
            model: r.model ?? model)
    }

    func streamDecoder() -> any ChatStreamDecoder { AnthropicStreamDecoder(model: model) }

    // MARK: - JSON

    struct Request: Encodable {
        let model: String
        let max_tokens: Int
        let system: String?
        let messages: [Message]
        let tools: [Tool]?
        let tool_choice: JSONValue?
        let temperature: Double?
        let stream: Bool
    }

    struct Message: Encodable {
        let role: String
        var content: [Block]
    }

    enum Block: Encodable {
        case text(String)
        case toolUse(id: String, name: String, input: JSONValue)
        case toolResult(id: String, content: String, isError: Bool)

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            switch self {
            case .text(let text):
                try c.encode("text", forKey: .type)
                try c.encode(text, forKey: .text)
            case .toolUse(let id, let name, let input):
                try c.encode("tool_use", forKey: .type)
                try c.encode(id, forKey: .id)
                try c.encode(name, forKey: .name)
                try c.encode(input, forKey: .input)
            case .toolResult(let id, let content, let isError):
                try c.encode("tool_result", forKey: .type)
                try c.encode(id, forKey: .tool_use_id)
                try c.encode(content, forKey: .content)
                if isError { try c.encode(true, forKey: .is_error) }
            }
        }

        enum Key: String, CodingKey { case type, text, id, name, input, tool_use_id, content, is_error }
    }

    struct Tool: Encodable {
        let name: String
        let description: String
        let input_schema: JSONValue
    }

    struct Usage: Decodable {
        let input_tokens: Int?
        let output_tokens: Int?
    }

    struct ResponseBlock: Decodable {
        let type: String
        let text: String?
        let id: String?
        let name: String?
        let input: JSONValue?
    }

    struct Response: Decodable {
        let model: String?
        let content: [ResponseBlock]
        let stop_reason: String?
        let usage: Usage?
    }
}

/// Streamed Messages: `message_start`, `content_block_start` / `_delta` (`text_delta`, `input_json_delta`) / `_stop`,
/// `message_delta` (stop reason, output tokens), `message_stop`; `ping` and unknown events are skipped, `error` fails.
struct AnthropicStreamDecoder: ChatStreamDecoder {
    let model: String
    private var reported: String?
    private var text = ""
    private var tools: [Int: (id: String, name: String, json: String)] = [:]
    private var stop: String?
    private var usage = TokenUsage(reported: false)
    private var stopped = false

    init(model: String) { self.model = model }

    var isComplete: Bool { stopped }

    mutating func consume(_ event: ServerSentEvent) throws(LLMError) -> String? {
        guard let json = JSONValue(parsing: event.data) else {
            throw LLMError(
                .malformedResponse, "model '\(model)' streamed an event that is not JSON: \(event.data.prefix(200))")
        }
        switch json["type"]?.stringValue ?? event.event {
        case "message_start":
            reported = json["message"]?["model"]?.stringValue
            if case .number(let n)? = json["message"]?["usage"]?["input_tokens"] {
                (usage.input, usage.reported) = (Int(n), true)
            }
        case "content_block_start":
            guard case .number(let i)? = json["index"], let block = json["content_block"] else { return nil }
            if block["type"]?.stringValue == "tool_use" {
                tools[Int(i)] = (block["id"]?.stringValue ?? "", block["name"]?.stringValue ?? "", "")
            } else if let t = block["text"]?.stringValue, !t.isEmpty {
                text += t
                return t
            }
        case "content_block_delta":
            guard case .number(let i)? = json["index"], let delta = json["delta"] else { return nil }
            switch delta["type"]?.stringValue {
            case "text_delta":
                let piece = delta["text"]?.stringValue ?? ""
                text += piece
                return piece.isEmpty ? nil : piece
            case "input_json_delta":
                tools[Int(i)]?.json += delta["partial_json"]?.stringValue ?? ""
            default: break
            }
        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stop = reason }
            if case .number(let n)? = json["usage"]?["output_tokens"] {
                (usage.output, usage.reported) = (Int(n), true)
            }
        case "message_stop":
            stopped = true
        case "error":
            let message = json["error"]?["message"]?.stringValue ?? "unknown error"
            let overloaded = json["error"]?["type"]?.stringValue == "overloaded_error"
            throw LLMError(
                overloaded ? .status(529) : .malformedResponse, "model '\(model)': the stream failed: \(message)",
                retryable: overloaded)
        default:
            break  // ping, content_block_stop, and events added later
        }
        return nil
    }

    func response() throws(LLMError) -> ChatResponse {
        let calls = try tools.keys.sorted().map { (i) throws(LLMError) in
            let t = tools[i]!
            return try ToolCallAssembler.checked(id: t.id, name: t.name, arguments: t.json, model: model)
        }
        return ChatResponse(
            text: text.isEmpty ? nil : text, toolCalls: calls, finishReason: FinishReason(wire: stop), usage: usage,
            model: reported ?? model)
    }
}
