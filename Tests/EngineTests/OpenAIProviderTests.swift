@testable import Engine
import Events
import Foundation
import LogbookTestSupport
import Testing

/// The OpenAI-compatible provider against a real HTTP server speaking the wire format: JSON and SSE answers, tool
/// calls, Azure's URL and header, errors, retries, timeouts and cancellation.
@Suite struct OpenAIProviderTests {
    static let key = "sk-test-9f8e7d6c5b4a"

    static func provider(
        _ server: ScriptedLLMServer, model: ModelDefinition? = nil, timeout: Duration = .seconds(60)
    ) throws -> HTTPChatProvider {
        let definition =
            model
            ?? ModelDefinition(
                name: "gpt-test", provider: "openai", endpoint: server.baseURL, secretReference: "env:TEST_LLM_KEY")
        return HTTPChatProvider(
            endpoint: try ModelEndpoint(definition), timeout: timeout, environment: ["TEST_LLM_KEY": key])
    }

    static let request = ChatRequest(
        messages: [.system("You are terse."), .user("What time is it in UTC?")],
        tools: [
            ToolDefinition(
                name: "get_current_time", description: "The current time in a timezone",
                parameters: .object([
                    "type": .string("object"),
                    "properties": .object(["timezone": .object(["type": .string("string")])]),
                ]))
        ])

    @Test func aPlainAnswerWithUsage() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.json(body: Wire.completion(text: "It is noon.", finish: "stop", usage: (12, 4))))
        let response = try await Self.provider(server).complete(Self.request, onText: nil)
        #expect(
            response
                == ChatResponse(
                    text: "It is noon.", finishReason: .stop, usage: TokenUsage(input: 12, output: 4),
                    model: "gpt-test-0613"))

        let sent = try #require(server.requests.first)
        #expect(sent.method == "POST")
        #expect(sent.uri == "/v1/chat/completions")
        #expect(sent.header("Authorization") == "Bearer \(Self.key)")
        #expect(sent.json["model"] as? String == "gpt-test")
        #expect(sent.json["stream"] as? Bool == false)
        let messages = try #require(sent.json["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["system", "user"])
        let tools = try #require(sent.json["tools"] as? [[String: Any]])
        #expect((tools.first?["function"] as? [String: Any])?["name"] as? String == "get_current_time")
    }

    @Test func aStreamedAnswerPassesTextOnAsItArrivesAndAssemblesToolCalls() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(
            .sse(
                events: [
                    Wire.chunk(content: "Let me "), Wire.chunk(content: "check."),
                    Wire.chunk(toolCall: (0, "call_a", "get_current_time", "{\"time")),
                    Wire.chunk(toolCall: (0, nil, nil, "zone\": \"UTC\"}")),
                    Wire.chunk(toolCall: (1, "call_b", "convert_time", "")),
                    Wire.chunk(toolCall: (1, nil, nil, "{\"time\":\"12:00\"}")),
                    Wire.chunk(finish: "tool_calls"),
                    Wire.usageChunk(30, 9),
                    "[DONE]",
                ], delay: .milliseconds(5)))
        let pieces = Pieces()
        let response = try await Self.provider(server).complete(Self.request) { await pieces.add($0) }
        #expect(await pieces.all == ["Let me ", "check."])
        #expect(response.text == "Let me check.")
        #expect(
            response.toolCalls == [
                RequestedToolCall(callID: "call_a", name: "get_current_time", arguments: "{\"timezone\": \"UTC\"}"),
                RequestedToolCall(callID: "call_b", name: "convert_time", arguments: "{\"time\":\"12:00\"}"),
            ])
        #expect(response.finishReason == .toolCalls)
        #expect(response.usage == TokenUsage(input: 30, output: 9))
        let sent = try #require(server.requests.first)
        #expect(sent.json["stream"] as? Bool == true)
        #expect(sent.header("Accept") == "text/event-stream")
    }

    @Test func azureOpenAIUsesTheDeploymentURLAndTheAPIKeyHeader() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.json(body: Wire.completion(text: "ok", finish: "stop", usage: (1, 1))))
        let model = ModelDefinition(
            name: "gpt-4o-prod", provider: "azure-openai", endpoint: "http://127.0.0.1:\(server.port)",
            deployment: "gpt4o-eu", apiVersion: "2024-06-01", secretReference: "env:TEST_LLM_KEY", environment: .prod)
        _ = try await Self.provider(server, model: model).complete(Self.request, onText: nil)
        let sent = try #require(server.requests.first)
        #expect(sent.uri == "/openai/deployments/gpt4o-eu/chat/completions?api-version=2024-06-01")
        #expect(sent.header("api-key") == Self.key)
        #expect(sent.header("Authorization") == nil)
    }

    @Test func anAuthenticationFailureNamesTheFixAndNeverTheKey() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.json(status: 401, body: #"{"error":{"message":"Incorrect API key provided: \#(Self.key)"}}"#))
        let error = try await #require(throws: LLMError.self) {
            try await Self.provider(server).complete(Self.request, onText: nil)
        }
        #expect(error.kind == .status(401))
        #expect(!error.retryable)
        #expect(!error.message.contains(Self.key), "\(error.message)")
        #expect(error.message.contains("secret reference"), "\(error.message)")
    }

    @Test func rateLimitsAndServerErrorsAreRetriedWithBackoffUntilTheyPass() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(
            .json(status: 429, body: #"{"error":{"message":"slow down"}}"#, headers: ["Retry-After": "0.05"]),
            .json(status: 503, body: "upstream unavailable"),
            .json(body: Wire.completion(text: "finally", finish: "stop", usage: (1, 1))))
        let provider = try Self.provider(server)
        let failures = Failures()
        let policy = RetryPolicy(
            maxAttempts: 4, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(40), budget: .seconds(120))
        let response = try await policy.run(
            { _ throws(LLMError) in try await provider.complete(Self.request, onText: nil) },
            onFailure: { await failures.add($0) })
        #expect(response.text == "finally")
        let seen = await failures.all
        #expect(seen.map(\.error.kind) == [.status(429), .status(503)])
        #expect(seen.map(\.attempt) == [1, 2])
        #expect(seen.allSatisfy { $0.willRetry })
        #expect(seen[0].wait >= .milliseconds(50), "Retry-After is honoured")
        #expect(server.requests.count == 3)
    }

    @Test func retriesStopAtTheAttemptLimit() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        for _ in 0..<3 { server.enqueue(.json(status: 500, body: "boom")) }
        let provider = try Self.provider(server)
        let failures = Failures()
        let policy = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2))
        let error = try await #require(throws: LLMError.self) {
            try await policy.run(
                { _ throws(LLMError) in try await provider.complete(Self.request, onText: nil) },
                onFailure: { await failures.add($0) })
        }
        #expect(error.kind == .status(500))
        #expect(await failures.all.map(\.willRetry) == [true, true, false])
    }

    @Test func malformedAnswersAreErrorsNotCrashes() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        let provider = try Self.provider(server)
        server.enqueue(.json(body: "{\"choices\": [ {\"message\": "))
        #expect(
            try await #require(throws: LLMError.self) { try await provider.complete(Self.request, onText: nil) }.kind
                == .malformedResponse)
        server.enqueue(
            .json(body: Wire.completion(toolCall: ("call_x", "get_current_time", "{not json"), finish: "tool_calls")))
        let badArguments = try await #require(throws: LLMError.self) {
            try await provider.complete(Self.request, onText: nil)
        }
        #expect(badArguments.kind == .malformedResponse)
        #expect(badArguments.message.contains("not a JSON object"))
        server.enqueue(.sse(events: [Wire.chunk(content: "par"), "{\"choices\": 42}"]))
        #expect(
            try await #require(throws: LLMError.self) { try await provider.complete(Self.request) { _ in } }.kind
                == .malformedResponse)
    }

    @Test func aStreamCutOffMidAnswerFailsAndIsNotRetriedOnceTextWasPassedOn() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.sse(events: [Wire.chunk(content: "The answer is")], thenClose: true))
        let error = try await #require(throws: LLMError.self) {
            try await Self.provider(server).complete(Self.request) { _ in }
        }
        #expect(error.kind == .malformedResponse || error.kind == .connection, "\(error)")
        #expect(!error.retryable, "the caller already saw part of the answer")
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.hang)
        let started = ContinuousClock.now
        let error = try await #require(throws: LLMError.self) {
            try await Self.provider(server, timeout: .milliseconds(300)).complete(Self.request, onText: nil)
        }
        #expect(error.kind == .timeout)
        #expect(error.retryable)
        // The server never answers: any bound shows the deadline ended the call. A generous one, because the whole
        // suite runs in parallel on two cores and other tests' synchronous work can hold the timer back for seconds.
        #expect(ContinuousClock.now - started < .seconds(90), "the deadline cut the call short")
    }

    @Test func aStreamThatStallsMidAnswerTimesOut() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        // The head and a first piece at once, the rest two minutes later: only the call's own deadline ends it.
        server.enqueue(.sse(events: [Wire.chunk(content: "par"), Wire.chunk(content: "tial")], delay: .seconds(120)))
        let started = ContinuousClock.now
        let heard = Pieces()
        let error = try await #require(throws: LLMError.self) {
            try await Self.provider(server, timeout: .milliseconds(300)).complete(
                Self.request, onText: { await heard.add($0) })
        }
        #expect(error.kind == .timeout)
        #expect(!error.retryable, "part of the answer reached the caller: a retry would repeat it")
        #expect(await heard.all == ["par"])
        #expect(ContinuousClock.now - started < .seconds(90), "the deadline cut the stream short")
    }

    @Test func aCancelledCallerStopsTheCall() async throws {
        let server = try await ScriptedLLMServer()
        defer { Task { await server.shutdown() } }
        server.enqueue(.hang)
        let provider = try Self.provider(server)
        let call = Task { try await provider.complete(Self.request, onText: nil) }
        // Cancel once the request is in flight (the server has it and will never answer).
        while server.requests.isEmpty { await Task.yield() }
        call.cancel()
        let result = await call.result
        guard case .failure(let error as LLMError) = result else {
            Issue.record("expected a cancellation error, got \(result)"); return
        }
        #expect(error.kind == .cancelled)
    }

    @Test func anUnreachableServerIsARetryableConnectionError() async throws {
        let server = try await ScriptedLLMServer()
        let port = server.port
        await server.shutdown()
        let model = ModelDefinition(name: "gone", provider: "ollama", endpoint: "http://127.0.0.1:\(port)/v1")
        let error = try await #require(throws: LLMError.self) {
            try await HTTPChatProvider(endpoint: try ModelEndpoint(model), timeout: .seconds(60)).complete(
                Self.request, onText: nil)
        }
        #expect(error.kind == .connection, "\(error)")
        #expect(error.retryable, "\(error)")
        #expect(error.message.contains("127.0.0.1:\(port)"), "\(error)")
    }

    @Test func misconfiguredModelsAreRefusedWithAReason() throws {
        #expect(throws: LLMError.self) {
            try ModelEndpoint(ModelDefinition(name: "m", provider: "carrier-pigeon", endpoint: "http://x"))
        }
        #expect(throws: LLMError.self) {
            try ModelEndpoint(
                ModelDefinition(name: "m", provider: "azure-openai", endpoint: "https://x.openai.azure.com"))
        }
        #expect(throws: LLMError.self) {
            try ModelEndpoint(ModelDefinition(name: "m", provider: "openai", endpoint: "ftp://x"))
        }
        let pasted = #expect(throws: LLMError.self) {
            try ModelEndpoint(
                ModelDefinition(name: "m", provider: "openai", endpoint: "http://x/v1", secretReference: Self.key))
        }
        #expect(pasted.map { !$0.message.contains(Self.key) } == true)
    }

    @Test func aMissingSecretFailsTheCallClearly() async throws {
        let model = ModelDefinition(
            name: "m", provider: "openai", endpoint: "http://127.0.0.1:9/v1",
            secretReference: "env:LOGBOOK_TEST_UNSET_KEY")
        let error = try await #require(throws: LLMError.self) {
            try await HTTPChatProvider(endpoint: try ModelEndpoint(model), environment: [:]).complete(
                Self.request, onText: nil)
        }
        #expect(error.kind == .configuration)
        #expect(error.message.contains("LOGBOOK_TEST_UNSET_KEY"))
    }
}

actor Pieces {
    var all: [String] = []
    func add(_ s: String) { all.append(s) }
}

actor Failures {
    var all: [RetryPolicy.Failure] = []
    func add(_ f: RetryPolicy.Failure) { all.append(f) }
}
