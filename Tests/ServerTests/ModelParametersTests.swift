import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// What a client of the OpenAI-compatible endpoint and a registry administrator say about the model reaches it:
/// `tool_choice`, `parallel_tool_calls` and `response_format` are passed on and recorded; registry parameters may be
/// numbers and booleans, and a parameter of another kind is refused naming it.
@Suite(.serialized) struct ModelParametersTests {
    static let admin = DependabilityTests.admin
    static let alice = DependabilityTests.alice

    @Test func theClientsToolChoiceAndResponseFormatReachTheModelAndTheLog() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: Wire.completion(text: "{}", finish: "stop")) }) {
            app, llm in
            try await app.application.test(.router) { client in
                var headers = Self.alice
                headers[HTTPField.Name("X-Logbook-Thread")!] = "tc-1"
                let body =
                    #"{"model": "logbook", "messages": [{"role": "user", "content": "look it up"}], "tools": [{"type": "function", "function": {"name": "lookup"}}], "tool_choice": {"type": "function", "function": {"name": "lookup"}}, "parallel_tool_calls": false, "response_format": {"type": "json_object"}}"#
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: body)
                ) {
                    #expect($0.status == .ok, "\(String(buffer: $0.body))")
                }
                let sent = try #require(llm.requests.last?.json)
                #expect((sent["tool_choice"] as? [String: Any])?["type"] as? String == "function")
                #expect(sent["parallel_tool_calls"] as? Bool == false)
                #expect((sent["response_format"] as? [String: Any])?["type"] as? String == "json_object")
                let unknown =
                    #"{"model": "logbook", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "lookup"}}], "tool_choice": {"type": "function", "function": {"name": "other"}}}"#
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: unknown)
                ) {
                    #expect($0.status == .unprocessableContent)
                }
            }
            let request = try app.store.read(stream: "thread/tc-1", maxCount: 100).compactMap {
                r -> [String: String]? in
                if case .event(.llmRequest(let q)) = EventCatalog.decode(r) { q.parameters } else { nil }
            }.first
            #expect(
                request?["tool_choice"] == "lookup" && request?["parallel_tool_calls"] == "false"
                    && request?["response_format"] == #"{"type":"json_object"}"#,
                "\(String(describing: request))")
        }
    }

    @Test func registryParametersMayBeNumbersAndBooleans() async throws {
        try await ServerTests.withServer { app, llm in
            try await app.application.test(.router) { client in
                let model =
                    #"{"provider": "llama.cpp", "endpoint": "\#(llm.baseURL)", "parameters": {"max_tokens": 32, "temperature": 0.2, "idle_timeout": 90, "cache_prompt": true, "model": "Qwen/Qwen2.5-0.5B"}}"#
                try await client.execute(
                    uri: "/v1/registry/models/local", method: .put, headers: Self.admin, body: ByteBuffer(string: model)
                ) {
                    #expect($0.status == .created, "\(String(buffer: $0.body))")
                }
                try await client.execute(uri: "/v1/registry", method: .get, headers: Self.admin) { r in
                    let parameters =
                        ((DependabilityTests.json(r.body)["models"] as? [[String: Any]])?.first)?["parameters"]
                        as? [String: String]
                    #expect(
                        parameters == [
                            "max_tokens": "32", "temperature": "0.2", "idle_timeout": "90", "cache_prompt": "true",
                            "model": "Qwen/Qwen2.5-0.5B",
                        ])
                }
                for (bad, field) in [
                    (#"{"stop": ["\n"]}"#, "parameters.stop"), (#"{"max_tokens": 0}"#, "parameters.max_tokens"),
                ] {
                    let body = #"{"provider": "llama.cpp", "endpoint": "\#(llm.baseURL)", "parameters": \#(bad)}"#
                    try await client.execute(
                        uri: "/v1/registry/models/local", method: .put, headers: Self.admin,
                        body: ByteBuffer(string: body)
                    ) { r in
                        #expect(
                            r.status == .unprocessableContent,
                            "\(String(buffer: r.body))")
                        #expect(
                            String(buffer: r.body).contains(field),
                            "\(String(buffer: r.body))")
                    }
                }
            }
        }
    }
}
