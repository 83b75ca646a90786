import Events
import Foundation
import OpenAIWire
import Testing

/// The OpenAI-compatible endpoint's fast reading of a request gives what `JSONDecoder` gives, or nothing (and then
/// `JSONDecoder` decides).
struct FastDecodeTests {
    /// Both readings, encoded again with sorted keys (the types are not `Equatable`).
    static func both(_ text: String) throws -> (fast: String?, slow: String?) {
        let data = Data(text.utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let fast = try ChatCompletions.Request(fastDecoding: data).map {
            String(decoding: try encoder.encode($0), as: UTF8.self)
        }
        let slow = try (try? JSONDecoder().decode(ChatCompletions.Request.self, from: data)).map {
            String(decoding: try encoder.encode($0), as: UTF8.self)
        }
        return (fast, slow)
    }

    @Test func requestsAClientSendsReadTheSameBothWays() throws {
        let requests = [
            #"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#,
            #"{"model": "", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}, {"type": "text", "text": "b"}]}], "temperature": 1, "max_tokens": 64, "stream": false, "extra": {"x": [1, 2]}}"#,
            #"{"model": "m", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "http_get", "arguments": "{\"url\": \"https://x\"}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "result \u00e9\n"}], "tools": [{"type": "function", "function": {"name": "http_get", "description": "Fetch.", "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}}}], "tool_choice": "auto", "parallel_tool_calls": true, "response_format": {"type": "json_object"}, "stream_options": {"include_usage": true}, "max_completion_tokens": 10, "temperature": 0.25}"#,
            #"{"model": "m", "messages": [], "tools": null, "tool_choice": null, "response_format": null, "stream_options": null}"#,
            #"{"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": ""}}]}]}"#,
        ]
        for text in requests {
            let (fast, slow) = try Self.both(text)
            #expect(fast != nil, "the fast path takes \(text.prefix(80))")
            #expect(fast == slow, "\(text.prefix(80))")
        }
    }

    @Test func whereTheReadingsCouldDifferTheFastOneGivesUp() throws {
        let requests = [
            #"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}"#,
            #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}"#,
            #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10.0}"#,
            #"{"model": 1, "messages": []}"#,
            #"{"messages": []}"#,
            #"{"model": "m", "messages": [{"content": "x"}]}"#,
            #"{"model": "m", "model": "n", "messages": []}"#,
            #"{"model": "m", "messages": [{"role": "user", "content": 3}]}"#,
            #"{"model": "m", "messages": [], "stream": "yes"}"#,
            #"not json"#,
        ]
        for text in requests {
            #expect(ChatCompletions.Request(fastDecoding: Data(text.utf8)) == nil, "\(text)")
        }
    }

    @Test func answersOfModelServersReadTheSameBothWays() throws {
        let answers = [
            #"{"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop", "logprobs": null}], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}"#,
            #"{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}"#,
            #"{"choices": [], "usage": null, "system_fingerprint": "x"}"#,
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for text in answers {
            let data = Data(text.utf8)
            let fast = try #require(ChatCompletions.Completion(fastDecoding: data), "\(text.prefix(60))")
            let slow = try JSONDecoder().decode(ChatCompletions.Completion.self, from: data)
            #expect(try encoder.encode(fast) == encoder.encode(slow), "\(text.prefix(60))")
        }
        // A count that is not an integer, or no role: left to `JSONDecoder`.
        for text in [
            #"{"choices": [], "usage": {"prompt_tokens": 1.5}}"#, #"{"choices": [{"message": {"content": "x"}}]}"#,
        ] {
            #expect(ChatCompletions.Completion(fastDecoding: Data(text.utf8)) == nil)
        }
    }
}
