import Engine
import Events
import Foundation
import OpenAIWire

extension ChatCompletions.Usage {
    init(_ u: TokenUsage) { self.init(prompt: u.input, completion: u.output) }
}

extension ChatCompletions.Request {
    /// The engine's view of the request; a message the engine cannot take is a 400 naming it.
    func call(threadID: ThreadID) throws(APIError) -> CompletionCall {
        guard !messages.isEmpty else {
            throw APIError(.badRequest, "bad_request", "'messages' is empty; send at least one user message")
        }
        for (name, value) in [("max_tokens", max_tokens), ("max_completion_tokens", max_completion_tokens)]
        where (value ?? 1) < 1 {
            throw APIError(.badRequest, "bad_request", "'\(name)' must be 1 or more")
        }
        var converted: [ChatMessage] = []
        for (i, m) in messages.enumerated() {
            // Model servers may leave a call's type out of an answer; a request must say it, as OpenAI's API does.
            if let j = (m.tool_calls ?? []).firstIndex(where: { $0.type == nil }) {
                throw APIError(
                    .badRequest, "bad_request", "messages[\(i)].tool_calls[\(j)]: 'type' is missing; send \"function\"")
            }
            switch m.role {
            case "system", "developer": converted.append(.system(m.text ?? ""))
            case "user": converted.append(.user(m.text ?? ""))
            case "assistant":
                let calls = (m.tool_calls ?? []).map {
                    RequestedToolCall(callID: $0.id, name: $0.function.name, arguments: $0.function.arguments)
                }
                converted.append(.assistant(m.text, toolCalls: calls))
            case "tool":
                guard let id = m.tool_call_id else {
                    throw APIError(.badRequest, "bad_request", "messages[\(i)]: a tool message needs 'tool_call_id'")
                }
                converted.append(.tool(callID: id, output: m.text ?? ""))
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
            threadID: threadID, model: model,
            request: ChatRequest(
                messages: converted, tools: definitions, temperature: temperature,
                maxOutputTokens: max_completion_tokens ?? max_tokens, toolChoice: choice,
                parallelToolCalls: parallel_tool_calls, responseFormat: response_format == .null ? nil : response_format
            ))
    }
}
