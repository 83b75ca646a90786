import Foundation

/// JSON bodies in the OpenAI wire format, built with JSONSerialization so every string is escaped right.
public enum Wire {
    public static func text(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    public static func completion(
        text: String? = nil, toolCall: (String, String, String)? = nil, finish: String, usage: (Int, Int) = (0, 0)
    ) -> String {
        var message: [String: Any] = ["role": "assistant", "content": text.map { $0 as Any } ?? NSNull()]
        if let (id, name, arguments) = toolCall {
            message["tool_calls"] = [
                ["id": id, "type": "function", "function": ["name": name, "arguments": arguments]]
            ]
        }
        return Self.text([
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test-0613",
            "choices": [["index": 0, "message": message, "finish_reason": finish]],
            "usage": ["prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1],
        ])
    }

    public static func chunk(
        content: String? = nil, toolCall: (Int, String?, String?, String)? = nil, finish: String? = nil
    ) -> String {
        var delta: [String: Any] = [:]
        if let content { delta["content"] = content }
        if let (index, id, name, arguments) = toolCall {
            var function: [String: Any] = ["arguments": arguments]
            if let name { function["name"] = name }
            var call: [String: Any] = ["index": index, "function": function]
            if let id { call["id"] = id; call["type"] = "function" }
            delta["tool_calls"] = [call]
        }
        return Self.text([
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-test-0613",
            "choices": [["index": 0, "delta": delta, "finish_reason": finish.map { $0 as Any } ?? NSNull()]],
        ])
    }

    public static func usageChunk(_ input: Int, _ output: Int) -> String {
        Self.text([
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [] as [Any],
            "usage": ["prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output],
        ])
    }

    /// A streamed tool call as llama.cpp's server sends it: the whole name (and id) repeated in every delta, the
    /// arguments split at arbitrary places (`pieces`), no usage chunk, then `[DONE]`.
    public static func llamaCppToolCall(id: String, name: String, arguments: String, pieces: Int = 5) -> [String] {
        let step = max(1, arguments.count / pieces)
        var chunks: [String] = []
        var rest = Substring(arguments)
        while !rest.isEmpty {
            let piece = rest.prefix(step)
            rest = rest.dropFirst(piece.count)
            chunks.append(chunk(toolCall: (0, id, name, String(piece))))
        }
        return chunks + [chunk(finish: "tool_calls"), "[DONE]"]
    }
}
