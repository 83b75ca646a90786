import Events
import Foundation
import NIOCore
import OpenAIWire

/// Chat Completions (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp): `Authorization: Bearer` or Azure's `api-key`.
struct OpenAIChatWire: ChatWire {
    let model: String
    /// The id sent as `model` (Azure ignores it: the deployment is in the URL).
    let wireModel: String
    let azure: Bool
    let parameters: [String: String]

    func headers(secret: Secret?, streaming: Bool) -> [(String, String)] {
        var headers = [("Accept", streaming ? "text/event-stream" : "application/json")]
        if let secret {
            headers.append(azure ? ("api-key", secret.value) : ("Authorization", "Bearer \(secret.value)"))
        }
        return headers
    }

    func body(_ request: ChatRequest, streaming: Bool) throws(LLMError) -> Data {
        var wire = ChatCompletions.Request(request, model: wireModel, stream: streaming)
        if wire.temperature == nil, let t = parameters["temperature"].flatMap(Double.init) { wire.temperature = t }
        if wire.max_tokens == nil, let m = parameters["max_tokens"].flatMap(Int.init) { wire.max_tokens = m }
        return wire.json
    }

    func response(_ body: ByteBuffer) throws(LLMError) -> ChatResponse {
        let response: ChatCompletions.Completion
        if let fast = ChatCompletions.Completion(fastDecoding: Data(body.readableBytesView)) {
            response = fast
        } else {
            response = try decodeJSON(
                ChatCompletions.Completion.self, body.readableBytesView, model: model, what: "an answer")
        }
        guard let choice = response.choices.first else {
            throw LLMError(.malformedResponse, "model '\(model)' answered with no choices")
        }
        let calls = try (choice.message.tool_calls ?? []).map { (c) throws(LLMError) in
            try ToolCallAssembler.checked(
                id: c.id, name: c.function.name, arguments: c.function.arguments, model: model)
        }
        return ChatResponse(
            text: choice.message.text, toolCalls: calls, finishReason: FinishReason(wire: choice.finish_reason),
            usage: TokenUsage(
                input: response.usage?.prompt_tokens ?? 0, output: response.usage?.completion_tokens ?? 0,
                reported: response.usage != nil),
            model: response.model ?? model)
    }

    func streamDecoder() -> any ChatStreamDecoder { OpenAIStreamDecoder(model: model) }
}

/// `data:` chunks with deltas; `[DONE]` or a finish reason ends the answer.
struct OpenAIStreamDecoder: ChatStreamDecoder {
    let model: String
    /// The model the provider says answered.
    private var reported: String?
    private var text = ""
    private var assembler = ToolCallAssembler()
    private var finish: String?
    private var usage = TokenUsage(reported: false)
    private var done = false

    init(model: String) { self.model = model }

    var isComplete: Bool { done || finish != nil }

    mutating func consume(_ event: ServerSentEvent) throws(LLMError) -> String? {
        if event.data == "[DONE]" { done = true; return nil }
        if let json = JSONValue(parsing: event.data), json["error"] != nil {
            throw LLMError.status(500, body: event.data, model: model, retryAfter: nil)
        }
        let chunk: ChatCompletions.Chunk
        do { chunk = try JSONDecoder().decode(ChatCompletions.Chunk.self, from: Data(event.data.utf8)) } catch {
            throw LLMError(
                .malformedResponse,
                "model '\(model)' streamed an event that is not a chat completion chunk: \(event.data.prefix(200))")
        }
        if let m = chunk.model { reported = m }
        if let u = chunk.usage {
            usage = TokenUsage(input: u.prompt_tokens ?? 0, output: u.completion_tokens ?? 0, reported: true)
        }
        var piece = ""
        for choice in chunk.choices ?? [] {
            if let content = choice.delta?.content { piece += content }
            for call in choice.delta?.tool_calls ?? [] { assembler.add(call) }
            if let reason = choice.finish_reason { finish = reason }
        }
        text += piece
        return piece.isEmpty ? nil : piece
    }

    func response() throws(LLMError) -> ChatResponse {
        ChatResponse(
            text: text.isEmpty ? nil : text, toolCalls: try assembler.finish(model: model),
            finishReason: FinishReason(wire: finish), usage: usage, model: reported ?? model)
    }
}

extension ChatCompletions.Request {
    /// The body Logbook sends for `r`: tools and their choice only when there are tools (servers refuse a choice
    /// without), usage asked for when streaming.
    init(_ r: ChatRequest, model: String, stream: Bool) {
        let tools =
            r.tools.isEmpty
            ? nil
            : r.tools.map {
                ChatCompletions.Tool(
                    function: .init(name: $0.name, description: $0.description, parameters: $0.parameters))
            }
        self.init(
            model: model, messages: r.messages.map(ChatCompletions.Message.init), tools: tools, stream: stream,
            temperature: r.temperature, max_tokens: r.maxOutputTokens,
            stream_options: stream ? StreamOptions(include_usage: true) : nil,
            tool_choice: tools == nil ? nil : r.toolChoice?.openAI,
            parallel_tool_calls: tools == nil ? nil : r.parallelToolCalls, response_format: r.responseFormat)
    }

    /// The body as compact JSON, keys sorted: what `JSONEncoder` makes of it, written directly (a prompt of a long
    /// thread took `JSONEncoder` longer than the rest of the turn's own work).
    var json: Data {
        var w = JSONWriter(capacity: 256 + messages.reduce(0) { $0 + 64 + ($1.text?.utf8.count ?? 0) })
        w.object { w in
            if let max_completion_tokens { w.member("max_completion_tokens") { $0.int(max_completion_tokens) } }
            if let max_tokens { w.member("max_tokens") { $0.int(max_tokens) } }
            w.member("messages") { $0.array(messages) { $0.write($1) } }
            w.member("model") { $0.string(model) }
            if let parallel_tool_calls { w.member("parallel_tool_calls") { $0.bool(parallel_tool_calls) } }
            if let response_format { w.member("response_format") { $0.value(response_format) } }
            if let stream { w.member("stream") { $0.bool(stream) } }
            if let include = stream_options?.include_usage {
                w.member("stream_options") { o in o.object { $0.member("include_usage") { $0.bool(include) } } }
            }
            if let temperature { w.member("temperature") { $0.number(temperature) } }
            if let tool_choice { w.member("tool_choice") { $0.value(tool_choice) } }
            if let tools { w.member("tools") { $0.array(tools) { $0.write($1) } } }
        }
        return w.data
    }
}

extension ChatCompletions.Message {
    /// A message of the engine's prompt.
    init(_ m: ChatMessage) {
        self.init(
            role: m.role.rawValue, content: m.content,
            tool_calls: m.toolCalls.isEmpty
                ? nil
                : m.toolCalls.map {
                    ChatCompletions.ToolCall(id: $0.callID, function: .init(name: $0.name, arguments: $0.arguments))
                },
            tool_call_id: m.toolCallID)
    }
}

/// Assembles streamed tool-call fragments (an id and name first, then argument pieces, keyed by index) into complete
/// calls whose arguments are checked to be JSON.
///
/// Servers stream them in two shapes: OpenAI sends the name once and the arguments piece by piece; llama.cpp (and some
/// vLLM versions) repeat the whole name in every delta, and may repeat what the arguments hold so far. A fragment that
/// repeats the text so far, or extends it (starts with all of it), replaces it; any other is appended.
struct ToolCallAssembler {
    private var calls: [Int: (id: String, name: String, arguments: String)] = [:]
    private var order: [Int] = []

    mutating func add(_ delta: ChatCompletions.Chunk.ToolCallDelta) {
        let index = delta.index ?? (order.last ?? 0)
        if calls[index] == nil {
            calls[index] = ("", "", "")
            order.append(index)
        }
        if let id = delta.id, !id.isEmpty { calls[index]!.id = id }
        if let name = delta.function?.name { Self.merge(name, into: &calls[index]!.name) }
        if let arguments = delta.function?.arguments { Self.merge(arguments, into: &calls[index]!.arguments) }
    }

    /// Adds a fragment to the text so far: a repeat or an extension of all of it replaces it, anything else follows it.
    static func merge(_ fragment: String, into text: inout String) {
        if !text.isEmpty, fragment.hasPrefix(text) { text = fragment } else { text += fragment }
    }

    /// The complete calls in index order.
    /// - Throws: `malformedResponse` for a call without a name or whose arguments are not a JSON object.
    func finish(model: String) throws(LLMError) -> [RequestedToolCall] {
        try order.map { (index) throws(LLMError) in
            let call = calls[index]!
            return try Self.checked(
                id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments,
                model: model)
        }
    }

    /// A tool call whose arguments are a JSON object (empty arguments count as `{}`).
    static func checked(
        id: String, name: String, arguments: String, model: String
    ) throws(LLMError) -> RequestedToolCall {
        guard !name.isEmpty else {
            throw LLMError(.malformedResponse, "model '\(model)' asked for a tool call without a tool name")
        }
        let text = arguments.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "{}" : arguments
        guard case .object? = JSONValue(parsing: text) else {
            throw LLMError(
                .malformedResponse,
                "model '\(model)' called tool '\(name)' with arguments that are not a JSON object: \(text.prefix(200))")
        }
        return RequestedToolCall(callID: id, name: name, arguments: text)
    }
}

extension JSONWriter {
    /// A message of a request body (keys sorted; `content` left out when there is none: llama.cpp refuses `null`).
    mutating func write(_ m: ChatCompletions.Message) {
        object { w in
            if let c = m.text { w.member("content") { $0.string(c) } }
            w.member("role") { $0.string(m.role) }
            if let id = m.tool_call_id { w.member("tool_call_id") { $0.string(id) } }
            if let calls = m.tool_calls {
                w.member("tool_calls") { w in
                    w.array(calls) { w, call in
                        w.object { w in
                            w.member("function") { w in
                                w.object { w in
                                    w.member("arguments") { $0.string(call.function.arguments) }
                                    w.member("name") { $0.string(call.function.name) }
                                }
                            }
                            w.member("id") { $0.string(call.id) }
                            if let type = call.type { w.member("type") { $0.string(type) } }
                        }
                    }
                }
            }
        }
    }

    /// A tool offered in a request body.
    mutating func write(_ t: ChatCompletions.Tool) {
        object { w in
            w.member("function") { w in
                w.object { w in
                    if let description = t.function.description { w.member("description") { $0.string(description) } }
                    w.member("name") { $0.string(t.function.name) }
                    if let parameters = t.function.parameters { w.member("parameters") { $0.value(parameters) } }
                }
            }
            w.member("type") { $0.string(t.type) }
        }
    }
}
