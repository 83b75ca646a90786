import AsyncHTTPClient
@testable import Engine
import EventStore
import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
import NIOCore
@testable import Server
import Synchronization
import Testing

/// The server under the faults an operator meets (issue 22): health checks that run, maintenance, a thread that keeps
/// its agent, a registry that cannot lose its default model, answers that keep to the document, and streams that wait
/// for a slow reader instead of buffering for it.
@Suite(.serialized) struct DependabilityTests {
    static let admin: HTTPFields = [
        .authorization: "Bearer \(ServerTests.token(subject: "user:root", roles: ["admin"]))",
        .contentType: "application/json",
    ]
    static let alice: HTTPFields = [.authorization: "Bearer \(ServerTests.token())", .contentType: "application/json"]
    /// The engine tests' scripted MCP server, in its recording mode.
    static let recordingServer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/misbehaving_mcp.py").path

    static func json(_ body: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// `serve` checks its MCP servers: one registered turns healthy without anyone asking; an administrator can take it
    /// out of use (runs say why they left it out, checks leave it alone) and back; and can list its tools afresh.
    @Test func healthChecksRunAndMaintenanceTakesAServerOutOfUse() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logbook-health-\(UUID().uuidString).ndjson")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        try await ServerTests.withServer(
            answering: { _ in .json(body: ServerTests.completion) },
            configure: {
                $0.healthCheckInterval = .milliseconds(200)
                $0.rateLimit = nil
            }
        ) { app, _ in
            try await app.application.test(.router) { client in
                func health() async throws -> String? {
                    try await client.execute(uri: "/v1/registry", method: .get, headers: Self.admin) { r in
                        try ServerTests.decode(RegistryBody.self, r.body).mcpServers.first?.health
                    }
                }
                func wait(for status: String) async throws {
                    for _ in 0..<300 where try await health() != status {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(try await health() == status)
                }
                let server =
                    #"{"transport": "stdio", "command": ["python3", "\#(Self.recordingServer)", "record", "\#(log.path)"]}"#
                try await client.execute(
                    uri: "/v1/registry/mcp/time", method: .put, headers: Self.admin, body: ByteBuffer(string: server)
                ) {
                    #expect($0.status == .created)
                }
                try await wait(for: "healthy")

                try await client.execute(
                    uri: "/v1/registry/mcp/time/maintenance", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"maintenance": true, "reason": "upgrading the cluster"}"#)
                ) { #expect($0.status == .ok) }
                #expect(try await health() == "maintenance")
                try await client.execute(
                    uri: "/v1/threads/m1/messages", method: .post, headers: Self.alice,
                    body: ByteBuffer(string: #"{"text": "time?"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                let request = try app.store.read(stream: "thread/m1", maxCount: 100).compactMap { r -> LLMRequest? in
                    if case .event(.llmRequest(let q)) = EventCatalog.decode(r) { q } else { nil }
                }.first
                #expect(
                    request?.parameters["tools.unavailable"] == "time: in maintenance: upgrading the cluster",
                    "\(String(describing: request?.parameters))")
                try await Task.sleep(for: .milliseconds(600))  // three checks' worth
                #expect(try await health() == "maintenance", "checks leave a server in maintenance alone")

                try await client.execute(
                    uri: "/v1/registry/mcp/time/maintenance", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"maintenance": false}"#)
                ) { #expect($0.status == .ok) }
                try await wait(for: "healthy")
                try await client.execute(uri: "/v1/registry/mcp/time/refresh", method: .post, headers: Self.admin) {
                    r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    let tools = try ServerTests.decode(RegistryRoutes.ToolsBody.self, r.body).tools.map(\.name)
                    #expect(tools.contains("get_current_time"), "\(String(buffer: r.body))")
                }
                try await client.execute(
                    uri: "/v1/registry/mcp/ghost/maintenance", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"maintenance": true}"#)
                ) { #expect($0.status == .notFound) }
            }
            let changes = try app.store.read(stream: "registry/mcp", maxCount: 1000).compactMap {
                r -> (String?, HealthStatus)? in
                if case .event(.mcpHealthChanged(let h)) = EventCatalog.decode(r) {
                    (r.metadata.actor, h.status)
                } else {
                    nil
                }
            }
            #expect(changes.contains { $0.0 == "system:health" && $0.1 == .healthy }, "\(changes)")
            #expect(changes.contains { $0.0 == "user:root" && $0.1 == .maintenance })
        }
    }

    /// A thread started with an agent keeps it: a later turn that names none, and a fork continued with a message, run
    /// that agent (its instructions lead the prompt), unless the turn names another.
    @Test func aThreadKeepsItsAgent() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, llm in
            try await app.application.test(.router) { client in
                for (name, instructions) in [("ops", "You are OPS."), ("other", "You are OTHER.")] {
                    try await client.execute(
                        uri: "/v1/registry/agents/\(name)", method: .put, headers: Self.admin,
                        body: ByteBuffer(string: #"{"instructions": "\#(instructions)"}"#)
                    ) { #expect($0.status == .created) }
                }
                func system() -> String? {
                    ((llm.requests.last?.json["messages"] as? [[String: Any]])?.first)?["content"] as? String
                }
                let turns: [(String, String, String)] = [
                    ("/v1/threads/a1/messages", #"{"text": "hi", "agent": "ops"}"#, "You are OPS."),
                    ("/v1/threads/a1/messages", #"{"text": "again"}"#, "You are OPS."),
                    ("/v1/threads/a1/fork", #"{"threadID": "a1-b", "text": "from the fork"}"#, "You are OPS."),
                    ("/v1/threads/a1/messages", #"{"text": "other", "agent": "other"}"#, "You are OTHER."),
                    ("/v1/threads/a1/messages", #"{"text": "back to the thread's"}"#, "You are OPS."),
                ]
                for (path, body, expected) in turns {
                    try await client.execute(
                        uri: path, method: .post, headers: Self.alice, body: ByteBuffer(string: body)
                    ) { r in
                        #expect(r.status == .ok || r.status == .created, "\(path): \(String(buffer: r.body))")
                    }
                    #expect(system() == expected, "\(path) \(body): \(system() ?? "-")")
                }
            }
        }
    }

    /// The model a default or an agent names cannot be removed (every chat would fail): 409 naming who uses it.
    @Test func theDefaultModelCannotBeRemovedFromUnderTheRegistry() async throws {
        try await ServerTests.withServer { app, llm in
            try await app.application.test(.router) { client in
                let model = ByteBuffer(string: #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#)
                try await client.execute(uri: "/v1/registry/models/m", method: .put, headers: Self.admin, body: model) {
                    #expect($0.status == .created)
                }
                try await client.execute(
                    uri: "/v1/registry/default-model", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"model": "m"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(
                    uri: "/v1/registry/agents/ops", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"instructions": "x", "model": "m"}"#)
                ) { #expect($0.status == .created) }
                try await client.execute(uri: "/v1/registry/models/m", method: .delete, headers: Self.admin) { r in
                    let message = try ServerTests.decode(ErrorBody.self, r.body).error.message
                    #expect(r.status == .conflict, "\(message)")
                    #expect(message.contains("organization's default"), "\(message)")
                    #expect(message.contains("agent ops"), "\(message)")
                }
                // Someone who may not change the registry learns nothing of it: refused by the policy.
                try await client.execute(uri: "/v1/registry/models/m", method: .delete, headers: Self.alice) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(
                    uri: "/v1/registry/default-model", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"model": null}"#)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/v1/registry/agents/ops", method: .delete, headers: Self.admin) {
                    #expect($0.status == .noContent)
                }
                try await client.execute(uri: "/v1/registry/models/m", method: .delete, headers: Self.admin) {
                    #expect($0.status == .noContent)
                }
            }
        }
    }

    /// Query values the document does not allow are 400 naming them (an ignored `at` would answer a time-travel query
    /// with the present); a method a path does not take is 405 with `Allow`; an unknown path 404; a body of the wrong
    /// shape is refused naming the field; one that is not UTF-8 says so.
    @Test func answersKeepToTheDocument() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: Self.alice,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                for path in [
                    "/v1/threads/t1?at=abc", "/v1/threads/t1?at=0", "/v1/threads?limit=-1", "/v1/threads?limit=1.5",
                    "/v1/threads?limit=201",
                    "/v1/threads/t1/events?from=abc", "/v1/audit?cursor=-1", "/v1/audit?limit=abc",
                    "/v1/audit?through=", "/v1/audit?workspace=",
                    "/v1/events?from=9223372036854775808", "/v1/registry?at=x",
                ] {
                    try await client.execute(uri: path, method: .get, headers: Self.admin) { r in
                        #expect(
                            r.status == .badRequest,
                            "\(path): \(r.status)")
                        #expect(
                            ServerTests.errorCode(r.body) == "bad_request",
                            "\(path): \(r.status)")
                    }
                }
                try await client.execute(uri: "/v1/threads/t1", method: .init("TRACE")!, headers: Self.alice) { r in
                    #expect(r.status == .methodNotAllowed)
                    #expect(r.headers[.allow] == "GET")
                    #expect(ServerTests.errorCode(r.body) == "method_not_allowed")
                }
                try await client.execute(uri: "/v1/threads/t1/messages", method: .delete, headers: Self.alice) { r in
                    #expect(r.status == .methodNotAllowed)
                    #expect(r.headers[.allow] == "POST")
                }
                try await client.execute(uri: "/v1/nothing/here", method: .get, headers: Self.alice) { r in
                    #expect(r.status == .notFound)
                    #expect(ServerTests.errorCode(r.body) == "not_found")
                }
                for (body, says) in [
                    (ByteBuffer(string: #"{"text": 42}"#), "'text' must be a string"),
                    (ByteBuffer(string: #"{"agent": "x"}"#), "'text' is missing"),
                    (ByteBuffer(bytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]), "not UTF-8"),
                ] {
                    try await client.execute(
                        uri: "/v1/threads/t1/messages", method: .post, headers: Self.alice, body: body
                    ) { r in
                        #expect(r.status == .badRequest, "\(String(buffer: r.body))")
                        #expect(String(buffer: r.body).contains(says), "\(String(buffer: r.body))")
                    }
                }
            }
        }
    }

    /// A run of the OpenAI-compatible endpoint counts the tool calls its model asked the client for.
    @Test func aClientToolCallCountsInItsRun() async throws {
        try await ServerTests.withServer(answering: { _ in
            .json(body: Wire.completion(toolCall: ("call_1", "lookup", #"{"q": "x"}"#), finish: "tool_calls"))
        }) { app, _ in
            try await app.application.test(.router) { client in
                let body =
                    #"{"model": "logbook", "messages": [{"role": "user", "content": "look it up"}], "tools": [{"type": "function", "function": {"name": "lookup"}}]}"#
                var headers = Self.alice
                headers[HTTPField.Name("X-Logbook-Thread")!] = "c1"
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: body)
                ) { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/threads/c1", method: .get, headers: Self.alice) { r in
                    let run = try ServerTests.decode(ThreadDetailBody.self, r.body).runs.first
                    #expect(run?.toolCalls == 1, "\(String(buffer: r.body))")
                }
            }
        }
    }

    /// A streamed body waits for its reader: with a client that stops reading, the producer stops a few socket
    /// buffers ahead (loopback's and the client's: ~300 frames here), instead of making the server hold everything
    /// (3,000 frames of 64 KiB: 192 MiB).
    @Test func aSlowReaderHoldsBackItsStreamInsteadOfFillingMemory() async throws {
        let produced = Atomic<Int>(0)
        let frame = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10)
        let router = Router()
        router.get("stream") { _, _ in
            Response(
                status: .ok,
                body: StreamedBody.make { sink in
                    for _ in 0..<3000 {
                        await sink.send(frame)
                        produced.add(1, ordering: .relaxed)
                    }
                })
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let response = try await http.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/stream"), timeout: .seconds(60))
                var iterator = response.body.makeAsyncIterator()
                var read = 0
                while read < 10 << 16, let chunk = try await iterator.next() { read += chunk.readableBytes }
                try await Task.sleep(for: .milliseconds(500))  // the reader stalls
                let ahead = produced.load(ordering: .relaxed)
                #expect(
                    ahead < 2000,
                    "the producer ran \(ahead) frames ahead of a reader that took 10 (3,000 without back-pressure)")
                print(
                    "DependabilityTests: a stalled reader that took 10 frames of 64 KiB held its producer at \(ahead) frames"
                )
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    /// A client that hangs up while its run waits (on a slow model or tool: nothing to write) cancels the run: the
    /// body's keep-alive comments find out that it is gone. Without them nothing is written, so nothing fails and the
    /// run goes on for as long as the model takes (here: a minute; seen from the web page's Cancel button).
    @Test func aClientThatHangsUpCancelsAProducerThatIsWaiting() async throws {
        let cancelled = Atomic<Bool>(false)
        let router = Router()
        router.get("wait") { _, _ in
            Response(
                status: .ok,
                body: StreamedBody.make(heartbeat: .milliseconds(200)) { sink in
                    await sink.send(ByteBuffer(string: "data: started\n\n"))
                    do { try await Task.sleep(for: .seconds(60)) } catch { cancelled.store(true, ordering: .relaxed) }
                })
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let reading = Task {
                let response = try await http.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/wait"), timeout: .seconds(60))
                for try await _ in response.body {}
            }
            try await Task.sleep(for: .milliseconds(300))
            reading.cancel()  // the client hangs up
            let deadline = ContinuousClock.now + .seconds(10)
            while !cancelled.load(ordering: .relaxed), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let stopped = cancelled.load(ordering: .relaxed)
            #expect(stopped, "the producer still waits after its client hung up")
            try await http.shutdown()
        }
    }
}
