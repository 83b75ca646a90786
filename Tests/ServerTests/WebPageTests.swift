import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
import LoopbackModel
@testable import Server
import Testing

/// The web page (`docs/ui.md`): its files and their security headers over HTTP, and the page itself in headless
/// Chromium (`Fixtures/web_page_test.py`, selenium) against a live server with a scripted model and the real
/// `mcp-server-time`.
@Suite(.serialized) struct WebPageTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let script = here.appendingPathComponent("Fixtures/web_page_test.py").path
    static let page = here.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/Server/Web/page")

    /// Chromium, its driver and selenium are here (scripts/setup.sh installs them); `LOGBOOK_REQUIRE_BROWSER` (set by
    /// scripts/test.sh) makes their absence a failure instead of a skipped test.
    static let browserRequired = ProcessInfo.processInfo.environment["LOGBOOK_REQUIRE_BROWSER"] != nil
    static let browserPresent =
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")

    @Test func everyFileOfThePageIsServedWithAStrictContentSecurityPolicy() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.page.path).filter { $0 != "index.html" }
        #expect(Set(files) == Set(WebAssets.files.keys), "a file of Web/page that WebAssets does not serve, or back")
        try await ServerTests.withServer { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(uri: "/", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    Self.expectSecurityHeaders(response.headers)
                    let html = String(buffer: response.body)
                    #expect(html.contains(#"<script type="module" src="/ui/app.js"></script>"#))
                    #expect(html.contains(#"content="production""#))
                    // No inline script and no style attribute: the policy would refuse them.
                    #expect(!html.contains("<script>") && !html.contains("style="))
                }
                for name in files {
                    try await client.execute(uri: "/ui/\(name)", method: .get) { response in
                        #expect(response.status == .ok, "\(name)")
                        Self.expectSecurityHeaders(response.headers)
                        let expected = try Data(contentsOf: Self.page.appendingPathComponent(name))
                        #expect(Data(response.body.readableBytesView) == expected, "\(name) as served")
                        #expect(
                            response.headers[.contentType]
                                == (name.hasSuffix(".css")
                                    ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"))
                        // Text goes into the page as text: no file parses strings as HTML or code.
                        let text = String(decoding: expected, as: UTF8.self)
                        for sink in [
                            "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(",
                        ] {
                            #expect(!text.contains(sink), "\(name) uses \(sink)")
                        }
                    }
                }
                try await client.execute(uri: "/ui/nothing.js", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(ServerTests.errorCode(response.body) == "not_found")
                }
            }
        }
    }

    @Test func inDevelopmentModeThePageSaysHowToGetAToken() async throws {
        try await ServerTests.withServer(configure: { $0.developmentMode = true }) { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(uri: "/", method: .get) { response in
                    #expect(String(buffer: response.body).contains(#"content="development""#))
                }
            }
        }
    }

    static func expectSecurityHeaders(_ headers: HTTPFields) {
        let policy = headers[.contentSecurityPolicy] ?? ""
        for directive in [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            #expect(policy.contains(directive), "CSP without \(directive): \(policy)")
        }
        #expect(!policy.contains("unsafe"))
        #expect(headers[.xContentTypeOptions] == "nosniff")
    }

    /// The scripted model: asked the time with the clock on offer, it calls the clock; given the clock's answer, it
    /// reads the time out of it; asked to take it slow, it never answers; anything else it echoes. Streamed when asked to stream, in pieces, so the page
    /// shows an answer growing.
    @Sendable static func model(_ request: ScriptedLLMServer.Request) -> ScriptedLLMServer.Reply {
        let body = request.json
        let streaming = body["stream"] as? Bool == true
        let messages = body["messages"] as? [[String: Any]] ?? []
        let tools = (body["tools"] as? [[String: Any]] ?? []).compactMap {
            ($0["function"] as? [String: Any])?["name"] as? String
        }
        let last = messages.last ?? [:]
        let content = last["content"] as? String ?? ""
        func answer(_ text: String) -> ScriptedLLMServer.Reply {
            guard streaming else { return .json(body: Wire.completion(text: text, finish: "stop", usage: (12, 7))) }
            var pieces: [String] = []
            var rest = Substring(text)
            while !rest.isEmpty {
                pieces.append(Wire.chunk(content: String(rest.prefix(6))))
                rest = rest.dropFirst(6)
            }
            return .sse(
                events: pieces + [Wire.chunk(finish: "stop"), Wire.usageChunk(12, 7), "[DONE]"],
                delay: .milliseconds(20))
        }
        if content.contains("slow") { return .hang }
        if last["role"] as? String == "tool" {
            guard let range = content.range(of: #""datetime": ""#) else {
                return answer("I could not read the clock: \(content.prefix(80))")
            }
            return answer("In Tokyo it is \(content[range.upperBound...].prefix(16)) (from the time server).")
        }
        if content.lowercased().contains("time"), let clock = tools.first(where: { $0.hasSuffix("get_current_time") }) {
            let arguments = #"{"timezone":"Asia/Tokyo"}"#
            let id = "call_\(UUID().uuidString.prefix(8))"
            return streaming
                ? .sse(events: [
                    Wire.chunk(toolCall: (0, id, clock, arguments)), Wire.chunk(finish: "tool_calls"),
                    Wire.usageChunk(10, 5), "[DONE]",
                ])
                : .json(body: Wire.completion(toolCall: (id, clock, arguments), finish: "tool_calls", usage: (10, 5)))
        }
        return answer("You said: \(content)")
    }

    @Test(.enabled(if: browserPresent || browserRequired, "needs chromium and chromium-driver (scripts/setup.sh)"))
    func chatTimelineAuditRegistryAndTailWorkInARealBrowser() async throws {
        try #require(Self.browserPresent, "chromium and chromium-driver are missing: run scripts/setup.sh")
        let policy = try Policy(roles: [
            "operator": ["chat", "model.use:*", "thread.read:own", "tool.call:time/*", "registry.read"],
            "intern": ["chat", "model.use:*", "thread.read:own"],
            "admin": ["*"],
        ])
        try await ServerTests.withServer(
            answering: Self.model,
            configure: {
                $0.policy = policy
                $0.rateLimit = nil
            }
        ) { app, llm in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let admin = ServerTests.token(subject: "user:root", roles: ["admin"], expiresIn: 3600)
                func call(
                    _ method: HTTPRequest.Method, _ path: String, _ body: String, as token: String
                ) async throws
                    -> HTTPResponse.Status
                {
                    try await client.execute(
                        uri: path, method: method,
                        headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                        body: ByteBuffer(string: body)
                    ) { $0.status }
                }
                // The scene: a registered model as the org default, the clock, an agent that may use it, and bob (who
                // may not call tools) refused the clock once.
                let model = #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#
                #expect(try await call(.put, "/v1/registry/models/scripted", model, as: admin) == .created)
                #expect(try await call(.put, "/v1/registry/models/scripted-b", model, as: admin) == .created)
                #expect(try await call(.put, "/v1/registry/default-model", #"{"model": "scripted"}"#, as: admin) == .ok)
                let clock = #"{"transport": "stdio", "command": ["mcp-server-time", "--local-timezone", "UTC"]}"#
                #expect(try await call(.put, "/v1/registry/mcp/time", clock, as: admin) == .created)
                let agent = #"{"instructions": "You answer operators tersely.", "allowedTools": ["time/*"]}"#
                #expect(try await call(.put, "/v1/registry/agents/ops", agent, as: admin) == .created)
                let bob = ServerTests.token(subject: "user:bob", roles: ["intern"], expiresIn: 3600)
                let asked = #"{"text": "What time is it?", "agent": "ops"}"#
                #expect(try await call(.post, "/v1/threads/bob-1/messages", asked, as: bob) == .ok)

                let artifacts = FileManager.default.temporaryDirectory
                    .appendingPathComponent("logbook-web-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                var environment = [
                    "LOGBOOK_URL": "http://127.0.0.1:\(port)",
                    "ALICE_TOKEN": ServerTests.token(subject: "user:alice", roles: ["operator"], expiresIn: 3600),
                    "ADMIN_TOKEN": admin, "EXPIRED_TOKEN": ServerTests.token(subject: "user:alice", expiresIn: -120),
                    "ARTIFACTS": artifacts.path,
                ]
                // `LOGBOOK_SCREENSHOTS=docs/images swift test --filter WebPageTests` refreshes the docs' pictures.
                if let pictures = ProcessInfo.processInfo.environment["LOGBOOK_SCREENSHOTS"] {
                    environment["SCREENSHOTS"] = URL(fileURLWithPath: pictures).path
                }
                let run = try await LiveProcess.run(["python3", Self.script], environment: environment)
                #expect(
                    run.status == 0,
                    "the browser test failed (screenshot and downloads in \(artifacts.path)):\n\(run.output)\n\(run.errors)"
                )
                if run.status == 0 { try? FileManager.default.removeItem(at: artifacts) }
            }
        }
    }
}
