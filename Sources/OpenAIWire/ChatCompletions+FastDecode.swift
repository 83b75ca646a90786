import Events
import Foundation

extension ChatCompletions.Request {
    /// Reads a request from JSON with `ParsedJSON` instead of `JSONDecoder`: the same value `JSONDecoder` gives, several
    /// times faster on the long conversations clients resend on every call. Nil wherever the two could differ (a type
    /// other than the field's, a number with a fraction where an integer goes, content parts other than text, a
    /// duplicate key, bytes that are not JSON): then decode with `JSONDecoder`, which also says what is wrong.
    public init?(fastDecoding data: Data) {
        guard let json = try? ParsedJSON(parsing: data), case .object(let o) = json,
            case .string(let model)? = o["model"], case .array(let list)? = o["messages"]
        else { return nil }
        var messages: [ChatCompletions.Message] = []
        messages.reserveCapacity(list.count)
        for item in list {
            guard let message = ChatCompletions.Message(fast: item) else { return nil }
            messages.append(message)
        }
        var tools: [ChatCompletions.Tool]?
        switch o["tools"] {
        case nil, .null?: tools = nil
        case .array(let items)?:
            var all: [ChatCompletions.Tool] = []
            for item in items {
                guard let tool = ChatCompletions.Tool(fast: item) else { return nil }
                all.append(tool)
            }
            tools = all
        default: return nil
        }
        var streamOptions: StreamOptions?
        switch o["stream_options"] {
        case nil, .null?: streamOptions = nil
        case .object(let s)?:
            guard let include = Fast.bool(s["include_usage"]) else { return nil }
            streamOptions = StreamOptions(include_usage: include)
        default: return nil
        }
        guard let stream = Fast.bool(o["stream"]), let temperature = Fast.double(o["temperature"]),
            let maxTokens = Fast.int(o["max_tokens"]), let maxCompletionTokens = Fast.int(o["max_completion_tokens"]),
            let parallel = Fast.bool(o["parallel_tool_calls"])
        else { return nil }
        self.init(
            model: model, messages: messages, tools: tools, stream: stream, temperature: temperature,
            max_tokens: maxTokens, max_completion_tokens: maxCompletionTokens, stream_options: streamOptions,
            tool_choice: Fast.json(o["tool_choice"]), parallel_tool_calls: parallel,
            response_format: Fast.json(o["response_format"]))
    }
}

extension ChatCompletions.Completion {
    /// Reads a model server's answer as `init(fastDecoding:)` of a request does: `JSONDecoder`'s value, or nil.
    public init?(fastDecoding data: Data) {
        guard let json = try? ParsedJSON(parsing: data), case .object(let o) = json,
            case .array(let items)? = o["choices"], let id = Fast.string(o["id"]),
            let object = Fast.string(o["object"]),
            let created = Fast.int(o["created"]), let model = Fast.string(o["model"])
        else { return nil }
        var choices: [Choice] = []
        for item in items {
            guard case .object(let c) = item, let message = c["message"].flatMap(ChatCompletions.Message.init(fast:)),
                let index = Fast.int(c["index"]), let finish = Fast.string(c["finish_reason"])
            else { return nil }
            var choice = Choice(message: message, finish_reason: finish)
            choice.index = index
            choices.append(choice)
        }
        var usage: ChatCompletions.Usage?
        switch o["usage"] {
        case nil, .null?: usage = nil
        case .object(let u)?:
            guard let prompt = Fast.int(u["prompt_tokens"]), let completion = Fast.int(u["completion_tokens"]),
                let total = Fast.int(u["total_tokens"])
            else { return nil }
            var made = ChatCompletions.Usage(prompt: 0, completion: 0)
            (made.prompt_tokens, made.completion_tokens, made.total_tokens) = (prompt, completion, total)
            usage = made
        default: return nil
        }
        self.init(id: "", created: 0, model: "", choices: choices, usage: usage)
        (self.id, self.object, self.created, self.model) = (id, object, created, model)
    }
}

extension ChatCompletions.Message {
    init?(fast json: ParsedJSON) {
        guard case .object(let o) = json, case .string(let role)? = o["role"],
            let toolCallID = Fast.string(o["tool_call_id"])
        else { return nil }
        var content: String?
        switch o["content"] {
        case nil, .null?: content = nil
        case .string(let s)?: content = s
        case .array(let parts)?:
            var text = ""
            for part in parts {
                guard case .object(let p) = part, case .string("text")? = p["type"], let piece = Fast.string(p["text"])
                else { return nil }
                text += piece ?? ""
            }
            content = text
        default: return nil
        }
        var calls: [ChatCompletions.ToolCall]?
        switch o["tool_calls"] {
        case nil, .null?: calls = nil
        case .array(let items)?:
            var all: [ChatCompletions.ToolCall] = []
            for item in items {
                guard case .object(let c) = item, case .string(let id)? = c["id"], let type = Fast.string(c["type"]),
                    case .object(let f)? = c["function"], case .string(let name)? = f["name"],
                    case .string(let arguments)? = f["arguments"]
                else { return nil }
                var call = ChatCompletions.ToolCall(id: id, function: .init(name: name, arguments: arguments))
                call.type = type
                all.append(call)
            }
            calls = all
        default: return nil
        }
        self.init(role: role, content: content, tool_calls: calls, tool_call_id: toolCallID)
    }
}

extension ChatCompletions.Tool {
    init?(fast json: ParsedJSON) {
        guard case .object(let o) = json, case .string(let type)? = o["type"], case .object(let f)? = o["function"],
            case .string(let name)? = f["name"], let description = Fast.string(f["description"])
        else { return nil }
        self.init(function: .init(name: name, description: description, parameters: Fast.json(f["parameters"])))
        self.type = type
    }
}

/// An optional field as `JSONDecoder`'s `decodeIfPresent` reads it: absent or null is `.some(nil)`, the right type is
/// `.some(value)`, anything else is nil (give up).
private enum Fast {
    static func string(_ v: ParsedJSON?) -> String?? {
        switch v {
        case nil, .null?: .some(nil)
        case .string(let s)?: .some(s)
        default: nil
        }
    }
    static func bool(_ v: ParsedJSON?) -> Bool?? {
        switch v {
        case nil, .null?: .some(nil)
        case .bool(let b)?: .some(b)
        default: nil
        }
    }
    static func int(_ v: ParsedJSON?) -> Int?? {
        switch v {
        case nil, .null?: .some(nil)
        case .integer(let i)?: .some(i)
        default: nil
        }
    }
    static func double(_ v: ParsedJSON?) -> Double?? {
        switch v {
        case nil, .null?: .some(nil)
        case .integer(let i)?: .some(Double(i))
        case .number(let d)?: .some(d)
        default: nil
        }
    }
    /// Any JSON; null is nil.
    static func json(_ v: ParsedJSON?) -> JSONValue? {
        switch v {
        case nil, .null?: nil
        case let v?: v.jsonValue
        }
    }
}
