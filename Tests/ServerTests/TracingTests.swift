import AsyncHTTPClient
@testable import Engine
import EventStore
import Foundation
import LogbookTestSupport
import LoopbackModel
import NIOCore
import NIOHTTP1
import Events
@testable import Server
import Testing

/// Traces, end to end: `logbook serve` with an OTLP endpoint sends its spans to a real OTLP/HTTP receiver
/// (`Fixtures/otlp_receiver.py`, protobuf decoded by `opentelemetry-proto`); a chat that delegates to a worker which
/// calls a tool makes the span tree the GenAI conventions describe, in the caller's trace.
@Suite(.serialized) struct TracingTests {
    static let receiver = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/otlp_receiver.py").path
    static let secret = "tracing-test-secret-0123456789abcdef0123"

    /// One span as the receiver wrote it.
    struct Span: Decodable {
        let service: String?
        let name: String
        let kind: Int
        let trace: String
        let span: String
        let parent: String
        let attributes: [String: JSONValue]
        let events: [Event]
        let status: Int
        struct Event: Decodable {
            let name: String
            let attributes: [String: JSONValue]
        }
        func string(_ key: String) -> String? { attributes[key]?.stringValue }
        func int(_ key: String) -> Int? {
            if case .number(let n)? = attributes[key] { return Int(n) }
            return attributes[key]?.stringValue.flatMap { Int($0) }
        }
    }

    /// A child process and the file its standard output goes to.
    final class Child: @unchecked Sendable {
        let process = Process()
        let output: URL
        let errors: URL
        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            output = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-child-\(UUID().uuidString)")
            errors = output.appendingPathExtension("err")
            FileManager.default.createFile(atPath: output.path, contents: nil)
            FileManager.default.createFile(atPath: errors.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
        }
        var text: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        var errorText: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }
        /// SIGKILL (a child of the test process can inherit a mask that blocks SIGTERM), then reaps it with `waitpid`
        /// (Foundation's `waitUntilExit` has been seen to spin forever here).
        func stop() {
            let pid = process.processIdentifier
            kill(pid, SIGKILL)
            var status: Int32 = 0
            for _ in 0..<500 where waitpid(pid, &status, WNOHANG) != pid { usleep(10_000) }
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
    }

    /// The scripted model: an orchestrator delegates to its worker (`agent__clock`), the worker calls the clock, and
    /// each answers once it has a tool's result.
    @Sendable static func model(_ request: ScriptedLLMServer.Request) -> ScriptedLLMServer.Reply {
        let body = request.json
        let messages = body["messages"] as? [[String: Any]] ?? []
        let tools = (body["tools"] as? [[String: Any]] ?? []).compactMap {
            ($0["function"] as? [String: Any])?["name"] as? String
        }
        if messages.last?["role"] as? String == "tool" {
            return .json(body: Wire.completion(text: "It is 12:00 UTC.", finish: "stop", usage: (30, 6)))
        }
        if let clock = tools.first(where: { $0.hasSuffix("get_current_time") }) {
            return .json(
                body: Wire.completion(
                    toolCall: ("call_clock", clock, #"{"timezone":"UTC"}"#), finish: "tool_calls", usage: (20, 5)))
        }
        if tools.contains("agent__clock") {
            return .json(
                body: Wire.completion(
                    toolCall: ("call_worker", "agent__clock", #"{"task":"read the clock"}"#), finish: "tool_calls",
                    usage: (10, 4)))
        }
        return .json(body: Wire.completion(text: "No clock here.", finish: "stop", usage: (5, 3)))
    }

    /// Starts `logbook serve` on a free port with `environment`, waits until it answers, runs `body`, stops it.
    static func withServe(
        _ environment: [String: String], arguments: [String] = [],
        _ body: (_ port: Int, _ http: HTTPClient, _ dir: String, _ server: Child) async throws -> Void
    ) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-trace-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try await CrashRecoveryTests.freePort()
        let server = try Child(
            [
                CLITests.binary, "serve", "--data", dir, "--port", String(port), "--rate-limit", "0",
                "--health-check-interval", "0",
            ] + arguments, environment: environment.merging(["LOGBOOK_JWT_SECRET": secret]) { _, new in new })
        defer { server.stop() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            for _ in 0..<400 {
                var probe = HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz")
                probe.method = .GET
                if (try? await http.execute(probe, timeout: .seconds(1)))?.status == .ok { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await body(port, http, dir, server)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    static let token = DevelopmentToken.mint(
        secret: Array(secret.utf8), subject: "user:root", roles: ["admin"], workspace: "ops", issuer: "logbook",
        audience: "logbook", lifetime: .seconds(600))

    static func send(
        _ http: HTTPClient, _ port: Int, _ method: HTTPMethod, _ path: String, _ body: String?,
        headers: [(String, String)] = []
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 8 << 20)))
    }

    /// Registers the worker's clock (the recording MCP server, which writes down each request's params) and the two
    /// agents.
    static func registerAgents(_ http: HTTPClient, _ port: Int, toolLog: String) async throws {
        let clock =
            #"{"transport": "stdio", "command": ["python3", "\#(DependabilityTests.recordingServer)", "record", "\#(toolLog)"]}"#
        #expect(try await send(http, port, .PUT, "/v1/registry/mcp/time", clock).status == 201)
        let worker = #"{"instructions": "Read the clock.", "allowedTools": ["time/get_current_time"]}"#
        #expect(try await send(http, port, .PUT, "/v1/registry/agents/clock", worker).status == 201)
        let lead = #"{"instructions": "Delegate.", "allowedTools": [], "subAgents": ["clock"]}"#
        #expect(try await send(http, port, .PUT, "/v1/registry/agents/lead", lead).status == 201)
    }

    @Test func aChatMakesTheGenAISpanTreeInTheCallersTrace() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let spans = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-spans-\(UUID().uuidString)")
        let toolLog = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-tool-\(UUID().uuidString)")
        defer { for f in [spans, toolLog] { try? FileManager.default.removeItem(at: f) } }
        let receiver = try Child(["python3", Self.receiver, spans.path])
        defer { receiver.stop() }
        var receiverPort: Int?
        for _ in 0..<200 where receiverPort == nil {
            receiverPort = Int(receiver.text.trimmingCharacters(in: .whitespacesAndNewlines))
            if receiverPort == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let collector = try #require(receiverPort, "the OTLP receiver did not start")
        let llm = try await ScriptedLLMServer(fallback: Self.model)
        defer { Task { await llm.shutdown() } }

        try await Self.withServe(
            [
                "LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "local",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(collector)", "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_SERVICE_NAME": "logbook-under-test",
            ], arguments: ["--log-format", "json"]
        ) { port, http, dir, serve in
            try await Self.registerAgents(http, port, toolLog: toolLog.path)
            let (traceID, callerSpan) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
            let chat = try await Self.send(
                http, port, .POST, "/v1/threads/tr1/messages", #"{"text": "What time is it?", "agent": "lead"}"#,
                headers: [("traceparent", "00-\(traceID)-\(callerSpan)-01")])
            #expect(chat.status == 200, "\(chat.body)")
            #expect(chat.body.contains("It is 12:00 UTC."))

            // Wait for the exported spans of the trace: the server span ends after the answer.
            var trace: [Span] = []  // (a var: AsyncHTTPClient's spans are taken out below)
            for _ in 0..<200 {
                let lines = ((try? String(contentsOf: spans, encoding: .utf8)) ?? "").split(separator: "\n")
                trace = lines.compactMap { try? JSONDecoder().decode(Span.self, from: Data($0.utf8)) }
                    .filter { $0.trace == traceID }
                if trace.contains(where: { $0.kind == 2 }) && trace.count >= 8 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // AsyncHTTPClient's own spans of the model calls ("POST", CLIENT) sit under the chat spans.
            let modelCalls = trace.filter { $0.name == "POST" }
            trace.removeAll { $0.name == "POST" }
            let names = trace.map(\.name).sorted()
            #expect(
                names == [
                    "/v1/threads/{thread}/messages", "chat local", "chat local", "chat local", "chat local",
                    "execute_tool clock", "execute_tool get_current_time", "invoke_agent clock", "invoke_agent lead",
                ], "\(names)")
            #expect(trace.allSatisfy { $0.service == "logbook-under-test" })
            func one(_ name: String) throws -> Span { try #require(trace.first { $0.name == name }, "no \(name)") }
            let server = try one("/v1/threads/{thread}/messages")
            let lead = try one("invoke_agent lead"), worker = try one("invoke_agent clock")
            let delegation = try one("execute_tool clock"), tool = try one("execute_tool get_current_time")
            // The tree: the caller's span → the server span → the lead's run → its model calls and the delegation →
            // the worker's run → its model calls and the tool call.
            #expect(server.kind == 2 && server.parent == callerSpan)
            #expect(lead.parent == server.span && lead.kind == 1)
            #expect(delegation.parent == lead.span)
            #expect(worker.parent == delegation.span)
            #expect(tool.parent == worker.span)
            let chats = trace.filter { $0.name == "chat local" }
            #expect(chats.allSatisfy { $0.kind == 3 })
            #expect(chats.filter { $0.parent == lead.span }.count == 2)
            #expect(chats.filter { $0.parent == worker.span }.count == 2)
            #expect(modelCalls.count == 4 && modelCalls.allSatisfy { h in chats.contains { $0.span == h.parent } })

            // The GenAI attributes.
            #expect(lead.string("gen_ai.operation.name") == "invoke_agent")
            #expect(lead.string("gen_ai.agent.name") == "lead")
            #expect(worker.string("logbook.run.parent_id") == lead.string("logbook.run.id"))
            for c in chats {
                #expect(c.string("gen_ai.operation.name") == "chat")
                #expect(c.string("gen_ai.provider.name") == "openai-compatible")
                #expect(c.string("gen_ai.request.model") == "local")
                #expect(c.string("gen_ai.response.model") == "gpt-test-0613")
                #expect(c.string("gen_ai.conversation.id") == "tr1")
                #expect((c.int("gen_ai.usage.input_tokens") ?? 0) > 0 && (c.int("gen_ai.usage.output_tokens") ?? 0) > 0)
                #expect(c.attributes["gen_ai.response.finish_reasons"] != nil)
            }
            #expect(tool.string("gen_ai.tool.name") == "get_current_time")
            #expect(tool.string("gen_ai.tool.call.id") == "call_clock")
            #expect(tool.string("mcp.method.name") == "tools/call")
            // The decision that allowed the call, as an event of its span.
            #expect(
                tool.events.contains {
                    $0.name == "authz.decided" && $0.attributes["logbook.authz.decision"]?.stringValue == "allow"
                        && $0.attributes["logbook.authz.action"]?.stringValue == "tool.call"
                })
            #expect(lead.events.contains { $0.attributes["logbook.authz.action"]?.stringValue == "model.use" })

            // Every GenAI span names the event that opened its step.
            let events = try await Self.send(http, port, .GET, "/v1/threads/tr1/events?limit=1000", nil)
            let page = try JSONDecoder().decode(ThreadEventsPageBody.self, from: Data(events.body.utf8))
            let typeAt = Dictionary(uniqueKeysWithValues: page.events.map { (Int($0.seq.rawValue), $0.type) })
            for s in trace where s.kind != 2 {
                let seq = try #require(s.int("logbook.seq"), "\(s.name) has no logbook.seq")
                let expected =
                    s.name.hasPrefix("chat")
                    ? "llm.request" : s.name.hasPrefix("execute_tool") ? "tool.called" : "run.started"
                #expect(typeAt[seq] == expected, "\(s.name): seq \(seq) is \(typeAt[seq] ?? "nothing")")
            }

            // The trace goes on outside: in the model requests' traceparent and in the tool call's params._meta.
            let sent = llm.requests.map { r in r.headers.filter { $0.0.lowercased() == "traceparent" }.map(\.1) }
            #expect(sent.count == 4 && sent.allSatisfy { $0.count == 1 }, "\(sent)")
            #expect(sent.joined().allSatisfy { $0.hasPrefix("00-\(traceID)-") })
            #expect(Set(sent.joined().map { String($0.split(separator: "-")[2]) }) == Set(modelCalls.map(\.span)))
            let recorded = try String(contentsOf: toolLog, encoding: .utf8).split(separator: "\n")
                .compactMap { JSONValue(parsing: String($0)) }
            let call = try #require(recorded.first { $0["method"]?.stringValue == "tools/call" })
            #expect(call["params"]?["_meta"]?["traceparent"]?.stringValue == "00-\(traceID)-\(tool.span)-01")

            // The same spans again, rebuilt from the log by `logbook traces` beside the running server: the same
            // names, tree, attributes and events (the lead's run a root now: the HTTP request is not in the log).
            let rebuilt = try await LiveProcess.run(
                [
                    CLITests.binary, "traces", "--data", dir, "--thread", "tr1", "--otlp-endpoint",
                    "http://127.0.0.1:\(collector)", "--service-name", "logbook-rebuilt",
                ], environment: ["OTEL_BSP_SCHEDULE_DELAY": "100"])
            #expect(rebuilt.status == 0, "\(rebuilt.errors)")
            #expect(rebuilt.output.contains("sent 8 spans of 2 runs"), "\(rebuilt.output)")
            var again: [Span] = []
            for _ in 0..<100 {
                let lines = ((try? String(contentsOf: spans, encoding: .utf8)) ?? "").split(separator: "\n")
                again = lines.compactMap { try? JSONDecoder().decode(Span.self, from: Data($0.utf8)) }
                    .filter { $0.service == "logbook-rebuilt" }
                if again.count >= 8 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let live = trace.filter { $0.kind != 2 }
            #expect(again.map(\.name).sorted() == live.map(\.name).sorted())
            func parentName(_ s: Span, in set: [Span]) -> String? { set.first { $0.span == s.parent }?.name }
            for l in live {
                let r = try #require(
                    again.first { $0.name == l.name && $0.int("logbook.seq") == l.int("logbook.seq") },
                    "no rebuilt \(l.name) at seq \(l.int("logbook.seq") ?? -1)")
                #expect(r.attributes == l.attributes, "\(l.name): \(r.attributes) against \(l.attributes)")
                #expect(r.kind == l.kind && r.status == l.status, "\(l.name)")
                #expect(r.events.map(\.name) == l.events.map(\.name), "\(l.name)")
                #expect(r.events.map(\.attributes) == l.events.map(\.attributes), "\(l.name)")
                if l.name != "invoke_agent lead" {
                    #expect(parentName(r, in: again) == parentName(l, in: live), "\(l.name)'s parent")
                } else {
                    #expect(r.parent.isEmpty)
                }
            }

            // The server's log (--log-format json): one line per request, with its route, status, subject and trace.
            let logLines = serve.errorText.split(separator: "\n").compactMap {
                JSONValue(parsing: String($0))
            }
            let requestLine = logLines.first {
                $0["message"]?.stringValue == "request"
                    && $0["route"]?.stringValue == "/v1/threads/{thread}/messages"
            }
            #expect(requestLine?["status"]?.stringValue == "200", "\(serve.errorText.suffix(2000))")
            #expect(requestLine?["subject"]?.stringValue == "user:root")
            #expect(requestLine?["trace_id"]?.stringValue == traceID)
            #expect(requestLine?["method"]?.stringValue == "POST")
            #expect(requestLine?["level"]?.stringValue == "info" && requestLine?["time"] != nil)
            #expect(!serve.errorText.contains(Self.token))
            // And one line per run: the lead's and its worker's outcomes, in the request's trace.
            let runs = logLines.filter { $0["message"]?.stringValue == "run finished" }
            #expect(Set(runs.compactMap { $0["agent"]?.stringValue }) == ["lead", "clock"])
            #expect(runs.allSatisfy { $0["status"]?.stringValue == "completed" && $0["thread"]?.stringValue == "tr1" })
            #expect(runs.allSatisfy { $0["trace_id"]?.stringValue == traceID })

            // The metrics count the tool call and the delegation by server and tool.
            let metrics = try await Self.send(http, port, .GET, "/metrics", nil).body
            #expect(
                metrics.contains(#"logbook_tool_calls_total{server="time",tool="get_current_time",outcome="ok"} 1"#))
            #expect(metrics.contains(#"logbook_tool_calls_total{server="agent",tool="clock",outcome="ok"} 1"#))
            #expect(
                metrics.contains(#"logbook_tool_call_duration_seconds_count{server="time",tool="get_current_time"} 1"#))

            // No token, nor its signature, in any span.
            let exported = try String(contentsOf: spans, encoding: .utf8)
            #expect(!exported.contains(Self.token))
            #expect(!exported.contains(String(Self.token.split(separator: ".")[2])))
        }
    }

    /// A collector that cannot be reached changes nothing for the chat: spans are exported in the background.
    @Test func aCollectorThatIsDownChangesNothingForAChat() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let closed = try await CrashRecoveryTests.freePort()
        let toolLog = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-tool-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: toolLog) }
        let llm = try await ScriptedLLMServer(fallback: Self.model)
        defer { Task { await llm.shutdown() } }
        try await Self.withServe([
            "LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "local",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(closed)", "OTEL_BSP_SCHEDULE_DELAY": "100",
        ]) { port, http, _, _ in
            try await Self.registerAgents(http, port, toolLog: toolLog.path)
            for i in 0..<3 {
                let clock = ContinuousClock.now
                defer { print("TracingTests: a chat with the collector down took \(ContinuousClock.now - clock)") }
                let chat = try await Self.send(
                    http, port, .POST, "/v1/threads/down-\(i)/messages",
                    #"{"text": "What time is it?", "agent": "lead"}"#)
                #expect(chat.status == 200, "\(chat.body)")
                #expect(chat.body.contains("It is 12:00 UTC."))
            }
        }
    }
}
