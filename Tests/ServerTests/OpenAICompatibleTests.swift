@testable import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// The OpenAI-compatible endpoint on a live server, driven by the official `openai` Python package (installed by
/// `./scripts/setup.sh`), with the scripted model behind a registered model.
@Suite(.serialized) struct OpenAICompatibleTests {
    struct ClientSaw: Decodable {
        struct First: Decodable {
            let finish: String; let tool: String; let arguments: String; let call_id: String; let prompt_tokens: Int
        }
        struct Second: Decodable { let text: String; let finish: String?; let completion_tokens: Int? }
        let models: [String]
        let thread: String?
        let first: First
        let second: Second
        let unknown_model: String
    }

    /// Runs the fixture client (a live process; see `LiveProcess`).
    static func runClient(port: Int, token: String) async throws -> (status: Int32, output: String, errors: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/openai_client.py"
        ).path
        return try await LiveProcess.run(["python3", script, String(port), token])
    }

    @Test func theOfficialClientChatsWithToolsStreamingAndNotAndEveryCallIsRecorded() async throws {
        try await ServerTests.withServer { app, llm in
            llm.enqueue(
                .json(
                    body: Wire.completion(
                        toolCall: ("call_1", "get_time", #"{"zone":"Asia/Tokyo"}"#), finish: "tool_calls",
                        usage: (30, 5))),
                .sse(events: [
                    Wire.chunk(content: "It is "), Wire.chunk(content: "noon."), Wire.chunk(finish: "stop"),
                    Wire.usageChunk(40, 3), "[DONE]",
                ]))
            let admin: HTTPFields = [
                .authorization: "Bearer \(ServerTests.token(subject: "user:root", roles: ["admin"]))",
                .contentType: "application/json",
            ]
            try await app.application.test(.live) { client in
                try await client.execute(
                    uri: "/v1/registry/models/scripted", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"provider": "openai", "endpoint": "\#(llm.baseURL)"}"#)
                ) { response in
                    #expect(response.status == .ok || response.status == .created, "\(String(buffer: response.body))")
                }
                let port = try #require(client.port)
                let (status, output, errors) = try await Self.runClient(port: port, token: ServerTests.token())
                try #require(status == 0, "the openai client failed: \(errors)")
                let saw = try JSONDecoder().decode(ClientSaw.self, from: Data(output.utf8))
                #expect(saw.models == ["scripted"])
                #expect(
                    saw.first.finish == "tool_calls" && saw.first.tool == "get_time"
                        && saw.first.arguments == #"{"zone":"Asia/Tokyo"}"#)
                #expect(saw.first.call_id == "call_1")
                #expect(saw.first.prompt_tokens == 30)
                #expect(saw.second.text == "It is noon.")
                #expect(saw.second.finish == "stop")
                #expect(saw.second.completion_tokens == 3)
                #expect(saw.unknown_model.hasPrefix("NotFoundError"), "\(saw.unknown_model)")

                // What the model was sent: the client's system message and tools, and on the second call its tool's result.
                let sent = llm.requests.map(\.json)
                try #require(sent.count == 2)
                let firstMessages = sent[0]["messages"] as? [[String: Any]] ?? []
                #expect(firstMessages.first?["role"] as? String == "system")
                #expect(firstMessages.first?["content"] as? String == "You are terse.")
                #expect(
                    ((sent[0]["tools"] as? [[String: Any]])?.first?["function"] as? [String: Any])?["name"] as? String
                        == "get_time")
                let secondMessages = sent[1]["messages"] as? [[String: Any]] ?? []
                #expect(secondMessages.map { $0["role"] as? String } == ["system", "user", "assistant", "tool"])
                #expect(secondMessages.last?["content"] as? String == "12:00 JST")

                // The thread records each message once; the second request names the first's by seq.
                let thread = try #require(saw.thread)
                let events = try app.store.read(stream: try StreamID("thread/\(thread)"), maxCount: 100)
                let decoded = events.compactMap { e -> (Seq, DomainEvent)? in
                    if case .event(let d) = EventCatalog.decode(e) { (e.seq, d) } else { nil }
                }
                #expect(decoded.filter { if case .userMessage = $0.1 { true } else { false } }.count == 1)
                let toolResults = decoded.compactMap { if case .toolResult(let r) = $0.1 { r } else { nil } }
                #expect(toolResults.map(\.server) == ["client"])
                #expect(toolResults.map(\.tool) == ["get_time"])
                #expect(toolResults.map(\.output) == ["12:00 JST"])
                let requests = decoded.compactMap { if case .llmRequest(let r) = $0.1 { r } else { nil } }
                try #require(requests.count == 2)
                let userSeq = decoded.first { if case .userMessage = $0.1 { true } else { false } }?.0
                let responseSeq = decoded.first {
                    if case .llmResponse(let r) = $0.1 { !r.toolCalls.isEmpty } else { false }
                }?.0
                let resultSeq = decoded.first { if case .toolResult = $0.1 { true } else { false } }?.0
                #expect(requests[0].promptSeqs == [userSeq].compactMap { $0 })
                #expect(requests[1].promptSeqs == [userSeq, responseSeq, resultSeq].compactMap { $0 })
                #expect(requests[0].parameters["system"] == "You are terse.")
                #expect(requests[0].parameters["tools"] == "get_time")
                let answers = decoded.compactMap { if case .assistantMessage(let a) = $0.1 { a.text } else { nil } }
                #expect(answers == ["It is noon."])
                let decisions = decoded.compactMap {
                    if case .authorizationDecided(let d) = $0.1 { "\(d.action):\(d.decision)" } else { nil }
                }
                #expect(decisions == ["chat:allow", "model.use:allow", "chat:allow", "model.use:allow"])
            }
        }
    }

    @Test func badRequestsAreRefusedInTheAPIsErrorShapeAndDenialsAreRecorded() async throws {
        try await ServerTests.withServer { app, llm in
            let post = { @Sendable (token: String, body: String) -> (HTTPFields, ByteBuffer) in
                ([.authorization: "Bearer \(token)", .contentType: "application/json"], ByteBuffer(string: body))
            }
            try await app.application.test(.router) { client in
                for (body, fragment) in [
                    (#"{"model": "x", "messages": []}"#, "'messages' is empty"),
                    (#"{"model": "x", "messages": [{"role": "robot", "content": "hi"}]}"#, "role 'robot'"),
                    (#"{"model": "x", "messages": [{"role": "tool", "content": "hi"}]}"#, "tool_call_id"),
                    (
                        #"{"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
                        "'messages[0].content' is not valid: content parts of type 'image_url' are not supported"
                    ),
                    (#"{"messages": "#, "the body is not JSON"),
                    (
                        #"{"model": "x", "messages": [{"role": "system", "content": null, "tool_calls": [{"id": "", "function": {"name": "", "arguments": ""}}]}]}"#,
                        "messages[0].tool_calls[0]: 'type' is missing"
                    ),
                ] {
                    let (headers, buffer) = post(ServerTests.token(), body)
                    try await client.execute(uri: "/v1/chat/completions", method: .post, headers: headers, body: buffer)
                    { response in
                        #expect(
                            response.status == .badRequest,
                            "\(body)")
                        #expect(
                            ServerTests.errorCode(response.body) == "bad_request",
                            "\(body)")
                        #expect(String(buffer: response.body).contains(fragment), "\(String(buffer: response.body))")
                    }
                }
                // An auditor may not chat: 403, recorded in the thread named by the header, and the model never called.
                let (headers, buffer) = post(
                    ServerTests.token(subject: "user:carol", roles: ["auditor"]),
                    #"{"model": "logbook", "messages": [{"role": "user", "content": "hi"}]}"#)
                var withThread = headers
                withThread[OpenAIRoutes.threadHeader] = "audited"
                try await client.execute(uri: "/v1/chat/completions", method: .post, headers: withThread, body: buffer)
                { response in
                    #expect(response.status == .forbidden)
                    #expect(ServerTests.errorCode(response.body) == "forbidden")
                }
                let recorded = try app.store.read(stream: StreamID("thread/audited"), maxCount: 10).compactMap {
                    e -> AuthorizationDecided? in
                    if case .event(.authorizationDecided(let d)) = EventCatalog.decode(e) { d } else { nil }
                }
                #expect(recorded.map(\.decision) == [.deny])
                #expect(recorded.first?.subject == "user:carol")
                #expect(llm.requests.isEmpty)
            }
        }
    }
}
