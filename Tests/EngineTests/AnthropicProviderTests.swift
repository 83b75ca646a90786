@testable import Engine
import Events
import Foundation
import LogbookTestSupport
import Testing

/// The Messages API wire against the scripted server: request shape, whole and streamed answers with tool use.
@Suite struct AnthropicProviderTests {
    static let key = "sk-ant-test-0a1b2c3d4e"

    static func provider(_ server: ScriptedLLMServer) throws -> HTTPChatProvider {
        let model = ModelDefinition(
            name: "claude-test", provider: "anthropic", endpoint: "http://127.0.0.1:\(server.port)",
            secretReference: "env:ANTHROPIC_TEST_KEY", parameters: ["model": "claude-sonnet-test"])
        return HTTPChatProvider(
            endpoint: try ModelEndpoint(model), timeout: .seconds(60), environment: ["ANTHROPIC_TEST_KEY": key])
    }

    /// A conversation that went through one tool round, as the engine would send it on the next step.
    static let request = ChatRequest(
        messages: [
            .system("Be brief."),
            .user("Time in Tokyo and in Paris?"),
            .assistant(
                "Checking.",
                toolCalls: [
                    RequestedToolCall(
                        callID: "toolu_1", name: "time__get_current_time", arguments: #"{"timezone":"Asia/Tokyo"}"#),
                    RequestedToolCall(callID: "toolu_2", name: "time__convert_time", arguments: "{}"),
                ]),
            .tool(callID: "toolu_1", output: "21:00 JST"),
            .tool(callID: "toolu_2", output: "permission denied: no rule", isError: true),
        ], tools: [ToolDefinition(name: "time__get_current_time", description: "now")])

    static func frame(_ type: String, _ object: [String: Any]) -> String {
        var o = object
        o["type"] = type
        return "event: \(type)\ndata: \(Wire.text(o))"
    }

    @Test func theRequestFollowsTheMessagesAPI() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(
            .json(
                body: Wire.text([
                    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-test",
                    "content": [["type": "text", "text": "Tokyo: 21:00."]], "stop_reason": "end_turn",
                    "usage": ["input_tokens": 40, "output_tokens": 6],
                ])))
        let response = try await Self.provider(server).complete(Self.request, onText: nil)
        #expect(
            response
                == ChatResponse(
                    text: "Tokyo: 21:00.", finishReason: .stop, usage: TokenUsage(input: 40, output: 6),
                    model: "claude-sonnet-test"))

        let sent = try #require(server.requests.first)
        #expect(sent.uri == "/v1/messages")
        #expect(sent.header("x-api-key") == Self.key)
        #expect(sent.header("anthropic-version") == "2023-06-01")
        #expect(sent.header("Authorization") == nil)
        let body = sent.json
        #expect(body["model"] as? String == "claude-sonnet-test")
        #expect(body["system"] as? String == "Be brief.")
        #expect(body["max_tokens"] as? Int == 4096)
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(
            messages.map { $0["role"] as? String } == ["user", "assistant", "user"],
            "tool results go back as one user turn")
        let assistant = try #require(messages[1]["content"] as? [[String: Any]])
        #expect(assistant.map { $0["type"] as? String } == ["text", "tool_use", "tool_use"])
        #expect((assistant[1]["input"] as? [String: Any])?["timezone"] as? String == "Asia/Tokyo")
        let results = try #require(messages[2]["content"] as? [[String: Any]])
        #expect(results.map { $0["tool_use_id"] as? String } == ["toolu_1", "toolu_2"])
        #expect(results[0]["is_error"] == nil)
        #expect(results[1]["is_error"] as? Bool == true)
        let tools = try #require(body["tools"] as? [[String: Any]])
        #expect(tools.first?["name"] as? String == "time__get_current_time")
        #expect(tools.first?["input_schema"] != nil)
    }

    @Test func aStreamedAnswerWithToolUse() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(
            .sse(
                events: [
                    Self.frame(
                        "message_start",
                        [
                            "message": [
                                "id": "msg_2", "model": "claude-sonnet-test",
                                "usage": ["input_tokens": 25, "output_tokens": 1],
                            ]
                        ]),
                    Self.frame("content_block_start", ["index": 0, "content_block": ["type": "text", "text": ""]]),
                    Self.frame("ping", [:]),
                    Self.frame(
                        "content_block_delta", ["index": 0, "delta": ["type": "text_delta", "text": "Let me "]]),
                    Self.frame("content_block_delta", ["index": 0, "delta": ["type": "text_delta", "text": "look."]]),
                    Self.frame("content_block_stop", ["index": 0]),
                    Self.frame(
                        "content_block_start",
                        [
                            "index": 1,
                            "content_block": [
                                "type": "tool_use", "id": "toolu_9", "name": "time__get_current_time",
                                "input": [:] as [String: Any],
                            ],
                        ]),
                    Self.frame(
                        "content_block_delta",
                        ["index": 1, "delta": ["type": "input_json_delta", "partial_json": "{\"timez"]]),
                    Self.frame(
                        "content_block_delta",
                        ["index": 1, "delta": ["type": "input_json_delta", "partial_json": "one\": \"UTC\"}"]]),
                    Self.frame("content_block_stop", ["index": 1]),
                    Self.frame(
                        "message_delta", ["delta": ["stop_reason": "tool_use"], "usage": ["output_tokens": 33]]),
                    Self.frame("message_stop", [:]),
                ], delay: .milliseconds(2)))
        let pieces = Pieces()
        let response = try await Self.provider(server).complete(Self.request) { await pieces.add($0) }
        #expect(await pieces.all == ["Let me ", "look."])
        #expect(response.text == "Let me look.")
        #expect(response.finishReason == .toolCalls)
        #expect(response.usage == TokenUsage(input: 25, output: 33))
        #expect(
            response.toolCalls == [
                RequestedToolCall(
                    callID: "toolu_9", name: "time__get_current_time", arguments: "{\"timezone\": \"UTC\"}")
            ])
        #expect(server.requests.first?.json["stream"] as? Bool == true)
    }

    @Test func anOverloadedStreamIsARetryableFailureAndACutOneIsMalformed() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(
            .sse(events: [
                Self.frame("message_start", ["message": ["model": "m"]]),
                Self.frame("error", ["error": ["type": "overloaded_error", "message": "Overloaded"]]),
            ]))
        let overloaded = try await #require(throws: LLMError.self) {
            try await Self.provider(server).complete(Self.request) { _ in }
        }
        #expect(overloaded.retryable)
        #expect(overloaded.message.contains("Overloaded"))
        server.enqueue(.sse(events: [Self.frame("message_start", ["message": ["model": "m"]])], thenClose: true))
        let cut = try await #require(throws: LLMError.self) {
            try await Self.provider(server).complete(Self.request) { _ in }
        }
        #expect(cut.kind == .malformedResponse || cut.kind == .connection)
    }
}
