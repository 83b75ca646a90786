@testable import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// The HTTP API in process (`app.test(.router)`), on a real log, with a scripted model server on loopback.
@Suite(.serialized) struct ServerTests {
    static let secret = Array("logbook-server-test-secret-0123456789".utf8)
    static let completion =
        #"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"All healthy."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#

    /// An HS256 token, as an identity provider would issue it.
    static func token(subject: String = "user:alice", roles: [String] = ["operator"], expiresIn: Int64 = 600) -> String
    {
        DevelopmentToken.mint(
            secret: secret, subject: subject, roles: roles, workspace: "payments", issuer: "test-idp",
            audience: "logbook",
            lifetime: .seconds(expiresIn))
    }

    /// - Parameter answering: the model's reply when none is scripted (default: a 500).
    static func withServer(
        answering: (@Sendable (ScriptedLLMServer.Request) -> ScriptedLLMServer.Reply)? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: (LogbookApplication, ScriptedLLMServer) async throws -> Void
    ) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-server-\(UUID().uuidString)")
            .path
        let llm = try await ScriptedLLMServer(fallback: answering)
        var configuration = ServerConfiguration(
            verifier: TokenVerifier(keys: [try .hmac(secret)], issuer: "test-idp", audience: "logbook"),
            policy: try Policy(roles: [
                "operator": ["chat", "model.use:*", "thread.read:own"], "admin": ["*"], "auditor": ["audit.read"],
            ]))
        configuration.dataDirectory = dir
        configuration.engine.environment = ["LOGBOOK_LLM_BASE_URL": llm.baseURL, "LOGBOOK_LLM_MODEL": "lab-model"]
        configuration.engine.retry = .none
        // One line per request at `info` would bury a failure in CI's output (which keeps only its tail).
        configuration.logLevel = .warning
        configure(&configuration)
        let app = try await buildApplication(configuration: configuration)
        do { try await body(app, llm) } catch {
            await app.close(); await llm.shutdown(); try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        await app.close()
        await llm.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func errorCode(_ body: ByteBuffer) -> String? {
        (try? decode(ErrorBody.self, body))?.error.code
    }

    /// A body as the API type it should be; the error names the type and shows the body.
    static func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(body.readableBytesView)) } catch {
            throw DecodingFailure(description: "not a \(type): \(error); the body: \(String(buffer: body).prefix(500))")
        }
    }

    struct DecodingFailure: Error, CustomStringConvertible { let description: String }

    @Test func healthNeedsNoTokenEverythingElseDoes() async throws {
        try await Self.withServer { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/readyz", method: .get) { response in
                    // Decoding as the type checks the counts are JSON numbers.
                    let body = try Self.decode(HealthRoutes.ReadyBody.self, response.body)
                    #expect(response.status == .ok)
                    #expect(body.status == "ready")
                    #expect(body.behind == 0)
                }
                try await client.execute(uri: "/v1/threads/t1/events", method: .get) { response in
                    #expect(response.status == .unauthorized)
                    #expect(Self.errorCode(response.body) == "unauthenticated")
                }
                try await client.execute(
                    uri: "/v1/threads/t1/events", method: .get, headers: [.authorization: "Bearer not.a.jwt"]
                ) { response in
                    #expect(response.status == .unauthorized)
                }
                try await client.execute(
                    uri: "/v1/threads/t1/events", method: .get,
                    headers: [.authorization: "Bearer \(Self.token(expiresIn: -3600))"]
                ) { response in
                    #expect(response.status == .unauthorized)
                    #expect(String(buffer: response.body).contains("expired"))
                }
            }
        }
    }

    @Test func chatAnswersAndTheThreadsEventsCanBeRead() async throws {
        try await Self.withServer { app, llm in
            llm.enqueue(.json(body: Self.completion))
            let auth: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"text": "Are the pods healthy?"}"#)
                ) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                    let run = try Self.decode(RunResultBody.self, response.body)
                    #expect(run.answer == "All healthy.")
                    #expect(run.status == "completed")
                }
                try await client.execute(uri: "/v1/threads/t1/events?limit=100", method: .get, headers: auth) {
                    response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                    let types = try Self.decode(ThreadEventsPageBody.self, response.body).events.map(\.type)
                    #expect(types.prefix(4) == ["authz.decided", "thread.started", "message.user", "authz.decided"])
                    // The read's own authorization is recorded before the page is read, so it is the page's last event.
                    #expect(
                        types.suffix(2) == ["run.finished", "authz.decided"],
                        "\(types)")
                    #expect(
                        types.contains("message.assistant"),
                        "\(types)")
                }
                // Someone else's thread: their own-thread permission does not cover it, and the refusal is recorded.
                try await client.execute(
                    uri: "/v1/threads/t1/events", method: .get,
                    headers: [.authorization: "Bearer \(Self.token(subject: "user:bob"))"]
                ) { response in
                    #expect(response.status == .forbidden)
                    #expect(Self.errorCode(response.body) == "forbidden")
                }
                try await client.execute(uri: "/v1/threads/none/events", method: .get, headers: auth) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: auth, body: ByteBuffer(string: "not json")
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(Self.errorCode(response.body) == "bad_request")
                }
                let huge = #"{"text": ""# + String(repeating: "x", count: 2 << 20) + #""}"#
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: auth, body: ByteBuffer(string: huge)
                ) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect(Self.errorCode(response.body) == "too_large")
                }
                let long = #"{"text": ""# + String(repeating: "y", count: 100 << 10) + #""}"#
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: auth, body: ByteBuffer(string: long)
                ) { response in
                    #expect(response.status == .contentTooLarge, "a message over the 64 KiB limit")
                }
            }
            let denied = try app.store.read(stream: "thread/t1", maxCount: 100).compactMap {
                r -> AuthorizationDecided? in
                if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) { d } else { nil }
            }.last
            #expect(denied?.subject == "user:bob")
            #expect(denied?.decision == .deny)
            #expect(denied?.action == "thread.read")
        }
    }

    @Test func aStreamedChatSendsTextEventsAndDone() async throws {
        try await Self.withServer { app, llm in
            llm.enqueue(
                .sse(events: [
                    #"{"choices":[{"index":0,"delta":{"content":"All "}}]}"#,
                    #"{"choices":[{"index":0,"delta":{"content":"healthy."}}]}"#,
                    #"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#, "[DONE]",
                ]))
            let auth: HTTPFields = [
                .authorization: "Bearer \(Self.token())", .contentType: "application/json",
                .accept: "text/event-stream",
            ]
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/s1/messages", method: .post, headers: auth,
                    body: ByteBuffer(string: #"{"text": "status?"}"#)
                ) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/event-stream")
                    let text = String(buffer: response.body)
                    let events = text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map {
                        String($0.dropFirst(7))
                    }
                    #expect(events.first == "authz.decided", "\(events)")
                    #expect(events.last == "done", "\(events)")
                    #expect(events.filter { $0 == "text" }.count == 2)
                    #expect(events.contains("message.assistant"))
                    #expect(text.contains(#"data: {"text":"All "}"#))
                }
            }
        }
    }

    @Test func theRegistryIsManagedThroughTheAPIAndEveryChangeIsAuthorizedAndRecorded() async throws {
        try await Self.withServer { app, llm in
            let admin: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:root", roles: ["admin"]))",
                .contentType: "application/json",
            ]
            let user: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            let pasted = "sk-pasted-raw-key-123456"
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/registry/models/gpt-test", method: .put, headers: admin,
                    body: ByteBuffer(
                        string:
                            #"{"provider": "openai", "endpoint": "\#(llm.baseURL)", "secretReference": "\#(pasted)"}"#)
                ) { r in
                    #expect(
                        r.status == .unprocessableContent,
                        "\(String(buffer: r.body))")
                    #expect(
                        !String(buffer: r.body).contains(pasted),
                        "\(String(buffer: r.body))")
                }
                let model = ByteBuffer(
                    string: #"{"provider": "openai", "endpoint": "\#(llm.baseURL)", "environment": "NONPROD"}"#)
                try await client.execute(uri: "/v1/registry/models/gpt-test", method: .put, headers: admin, body: model)
                { #expect($0.status == .created) }
                try await client.execute(uri: "/v1/registry/models/gpt-test", method: .put, headers: admin, body: model)
                { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/registry/models/other", method: .put, headers: user, body: model) {
                    r in
                    #expect(r.status == .forbidden)
                    #expect(Self.errorCode(r.body) == "forbidden")
                }
                try await client.execute(
                    uri: "/v1/registry/default-model", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"model": "nope"}"#)
                ) {
                    #expect($0.status == .unprocessableContent)
                }
                try await client.execute(
                    uri: "/v1/registry/default-model", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"model": "gpt-test"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                // Reading the registry is a permission of its own (operators have none).
                try await client.execute(uri: "/v1/workspaces/payments/effective-model", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/workspaces/payments/effective-model", method: .get, headers: admin) {
                    r in
                    let effective = try Self.decode(RegistryRoutes.EffectiveBody.self, r.body)
                    #expect(effective.model == "gpt-test")
                    #expect(effective.source == "organizationDefault")
                    #expect(effective.provenance.count == 2)
                }
                try await client.execute(
                    uri: "/v1/registry/agents/ops", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"instructions": "Be brief.", "allowedTools": ["time/*"]}"#)
                ) { #expect($0.status == .created) }
                try await client.execute(
                    uri: "/v1/registry/mcp/time", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"transport": "stdio"}"#)
                ) {
                    #expect($0.status == .unprocessableContent)
                }
                try await client.execute(uri: "/v1/registry", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/registry", method: .get, headers: admin) { r in
                    let registry = try Self.decode(RegistryBody.self, r.body)
                    #expect(registry.models.first?.environment == .nonprod)
                    #expect(registry.agents.count == 1)
                    #expect(registry.organizationDefault == "gpt-test")
                }
                try await client.execute(uri: "/v1/registry/models/ghost", method: .delete, headers: admin) {
                    #expect($0.status == .notFound)
                }

                // Chat now uses the registered model, not the environment's.
                llm.enqueue(.json(body: Self.completion))
                try await client.execute(
                    uri: "/v1/threads/r1/messages", method: .post, headers: user,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                #expect(llm.requests.last?.json["model"] as? String == "gpt-test")
            }
            let decisions = try app.store.read(stream: "registry/models", maxCount: 100).compactMap {
                r -> AuthorizationDecided? in
                if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) { d } else { nil }
            }
            #expect(
                decisions.contains {
                    $0.subject == "user:alice" && $0.decision == .deny && $0.resource == "model:other"
                })
            let changes = try app.store.read(stream: "registry/models", maxCount: 100).filter {
                $0.type != AuthorizationDecided.typeName
            }
            #expect(
                changes.map(\.type) == ["model.registered", "model.updated", "model.default.set"]
                    && changes.allSatisfy { $0.metadata.actor == "user:root" })
        }
    }

    @Test func metricsCountRequestsByRouteAndWhatTheEngineRecorded() async throws {
        try await Self.withServer { app, llm in
            llm.enqueue(.json(body: Self.completion))
            let user: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/m1/messages", method: .post, headers: user,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/v1/audit", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/threads/m1/events", method: .get) {
                    #expect($0.status == .unauthorized)
                }
                let text = try await client.execute(uri: "/metrics", method: .get) { r in
                    #expect(r.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                    return String(buffer: r.body)
                }
                #expect(
                    text.contains(
                        #"logbook_http_requests_total{method="POST",route="/v1/threads/{thread}/messages",status="200"} 1"#
                    ), "\(text)")
                #expect(text.contains(#"logbook_http_requests_total{method="GET",route="/v1/audit",status="403"} 1"#))
                #expect(
                    text.contains(
                        #"logbook_http_requests_total{method="GET",route="/v1/threads/{thread}/events",status="401"} 1"#
                    ))
                #expect(
                    text.contains(
                        #"logbook_http_request_duration_seconds_count{method="POST",route="/v1/threads/{thread}/messages"} 1"#
                    ))
                #expect(
                    text.contains(#"logbook_events_total{type="llm.response"} 1"#)
                        && text.contains(#"logbook_events_total{type="message.user"} 1"#))
                #expect(text.contains("logbook_authz_denials_total 1"))
                #expect(text.contains("logbook_llm_failures_total 0"))
                #expect(!text.contains("m1"), "no thread id in a label")
                func gauge(_ name: String) -> Double? {
                    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                        Double($0.split(separator: " ")[1])
                    }
                }
                #expect((gauge("logbook_store_commits_total") ?? 0) >= 2)
                // Each group commit's size and latency: as many observations as commits, sizes summing to the events.
                #expect(gauge("logbook_store_commit_events_count") == gauge("logbook_store_commits_total"))
                #expect(gauge("logbook_store_commit_events_sum") == gauge("logbook_store_appended_events_total"))
                #expect(gauge("logbook_store_commit_duration_seconds_count") == gauge("logbook_store_commits_total"))
                #expect(text.contains(#"logbook_store_commit_events_bucket{le="1.0"}"#), "\(text)")
                #expect(gauge("logbook_subscriptions_open") == 0)
                #expect(
                    gauge("logbook_log_durable_seq") == gauge("logbook_log_last_seq"),
                    "a durable log has everything on the device")
                #expect((gauge("logbook_log_last_seq") ?? 0) > 0)
                #expect(gauge("logbook_read_models_behind_events") != nil)
                // A model call, its tokens and its latency, by model and workspace.
                #expect(text.contains(#"logbook_model_calls_total{model="m",workspace="payments"} 1"#), "\(text)")
                #expect(
                    text.contains(
                        #"logbook_model_tokens_total{model="m",workspace="payments",direction="input"}"#))
                #expect(text.contains(#"logbook_model_call_duration_seconds_count{model="m"} 1"#))
                #expect(text.contains("# HELP logbook_http_requests_total"))
            }
        }
    }

    @Test func eachSubjectIsRateLimitedOnItsOwn() async throws {
        try await Self.withServer(configure: { $0.rateLimit = RateLimit(perSecond: 0.5, burst: 2) }) { app, _ in
            let alice: HTTPFields = [.authorization: "Bearer \(Self.token())"]
            let bob: HTTPFields = [.authorization: "Bearer \(Self.token(subject: "user:bob"))"]
            try await app.application.test(.router) { client in
                for _ in 0..<2 {
                    try await client.execute(uri: "/v1/threads", method: .get, headers: alice) {
                        #expect($0.status == .ok)
                    }
                }
                try await client.execute(uri: "/v1/threads", method: .get, headers: alice) { r in
                    #expect(r.status == .tooManyRequests)
                    #expect(Self.errorCode(r.body) == "rate_limited")
                    #expect(r.headers[.retryAfter] == "2", "one token refills in 2 s at 0.5/s")
                }
                try await client.execute(uri: "/v1/threads", method: .get, headers: bob) { #expect($0.status == .ok) }
                try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            }
        }
    }

    @Test func theAuditTrailIsQueriedWithFiltersAndPages() async throws {
        try await Self.withServer { app, llm in
            let user: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            let auditor: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:carol", roles: ["auditor"]))"
            ]
            try await app.application.test(.router) { client in
                for i in 0..<2 {
                    llm.enqueue(.json(body: Self.completion))
                    try await client.execute(
                        uri: "/v1/threads/a\(i)/messages", method: .post, headers: user,
                        body: ByteBuffer(string: #"{"text": "hi"}"#)
                    ) {
                        #expect($0.status == .ok)
                    }
                }
                try await client.execute(
                    uri: "/v1/registry/models/x", method: .put, headers: user,
                    body: ByteBuffer(string: #"{"provider": "openai", "endpoint": "http://127.0.0.1:1/v1"}"#)
                ) { #expect($0.status == .forbidden) }

                func page(_ query: String) async throws -> AuditPageBody {
                    try await client.execute(uri: "/v1/audit?\(query)", method: .get, headers: auditor) { r in
                        #expect(r.status == .ok, "\(String(buffer: r.body))")
                        return try Self.decode(AuditPageBody.self, r.body)
                    }
                }
                let alice = try await page("actor=user:alice&kind=authorization&limit=100")
                #expect(
                    alice.entries.count == 5 && alice.entries.allSatisfy { $0.actor == "user:alice" },
                    "\(alice.entries.count)")
                let denied = try await page("decision=deny")
                #expect(denied.entries.map(\.resource) == ["model:x"])
                let first = try await page("actor=user:alice&limit=2&order=oldest")
                let next = try #require(first.next)
                let second = try await page("actor=user:alice&limit=2&order=oldest&cursor=\(next)")
                let seqs = (first.entries + second.entries).map(\.seq)
                #expect(
                    seqs.count == 4,
                    "pages continue where the last ended: \(seqs)")
                #expect(
                    seqs == seqs.sorted(),
                    "pages continue where the last ended: \(seqs)")
                #expect(
                    Set(seqs).count == 4,
                    "pages continue where the last ended: \(seqs)")

                // Export: everything the filters match, as NDJSON and as CSV, equal to the paged answer.
                let all = try await page("order=oldest&limit=1000")
                try await client.execute(uri: "/v1/audit/export?order=oldest", method: .get, headers: auditor) { r in
                    #expect(r.status == .ok)
                    #expect(r.headers[.contentType] == "application/x-ndjson")
                    let lines = String(buffer: r.body).split(separator: "\n")
                    let entries = try lines.map { try JSONDecoder().decode(AuditEntryBody.self, from: Data($0.utf8)) }
                    let seqs = entries.map(\.seq)
                    // The same entries, and then the export's own recorded authorization.
                    #expect(Array(seqs.dropLast()) == all.entries.map(\.seq))
                    #expect(seqs.count > 10, "\(seqs.count)")
                    #expect(entries.last?.actor == "user:carol")
                    #expect(entries.last?.action == "audit.read")
                }
                try await client.execute(
                    uri: "/v1/audit/export?format=csv&decision=deny", method: .get, headers: auditor
                ) { r in
                    #expect(r.status == .ok)
                    #expect(r.headers[.contentType]?.hasPrefix("text/csv") == true)
                    let rows = String(buffer: r.body).components(separatedBy: "\r\n").filter { !$0.isEmpty }
                    #expect(rows.first == "seq,time,kind,actor,workspace,action,resource,decision,reason,before,after")
                    #expect(
                        rows.count == 2,
                        "\(rows)")
                    #expect(
                        rows[1].contains(",user:alice,payments,registry.admin,model:x,deny,"),
                        "\(rows)")
                }
                try await client.execute(uri: "/v1/audit/export?format=xml", method: .get, headers: auditor) {
                    #expect($0.status == .badRequest)
                }
                try await client.execute(uri: "/v1/audit/export", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/audit?order=sideways", method: .get, headers: auditor) {
                    #expect($0.status == .badRequest)
                }
                try await client.execute(uri: "/v1/audit?from=yesterday", method: .get, headers: auditor) {
                    #expect($0.status == .badRequest)
                }
                try await client.execute(uri: "/v1/audit", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/v1/audit?workspace=billing", method: .get, headers: auditor) {
                    #expect($0.status == .forbidden)
                }
            }
        }
    }

    @Test func aThreadIsStartedEmptyThenChattedIn() async throws {
        try await Self.withServer { app, llm in
            let alice: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            let auditor: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:eve", roles: ["auditor"]))",
                .contentType: "application/json",
            ]
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"threadID": "n1", "title": "Latency"}"#)
                ) { r in
                    #expect(r.status == .created)
                    let created = try Self.decode(ThreadCreatedBody.self, r.body)
                    #expect(created.threadID == "n1")
                    #expect(created.owner == "user:alice")
                    #expect(created.workspace == "payments")
                }
                // Recorded: the allow and thread.started, atomically, in the thread's stream.
                let events = try app.store.read(stream: "thread/n1", maxCount: 10).map(\.type)
                #expect(events == ["authz.decided", "thread.started"])
                try await client.execute(
                    uri: "/v1/threads", method: .post, headers: alice, body: ByteBuffer(string: #"{"threadID": "n1"}"#)
                ) {
                    #expect($0.status == .conflict)
                    #expect(Self.errorCode($0.body) == "conflict")
                }
                // No body: a fresh id.
                try await client.execute(uri: "/v1/threads", method: .post, headers: alice) { r in
                    #expect(r.status == .created)
                    let created = try Self.decode(ThreadCreatedBody.self, r.body)
                    #expect(created.threadID.hasPrefix("t-"))
                }
                try await client.execute(
                    uri: "/v1/threads", method: .post, headers: alice, body: ByteBuffer(string: #"{"agent": "nobody"}"#)
                ) {
                    #expect(
                        $0.status == .unprocessableContent,
                        "well-formed, but no such agent")
                    #expect(
                        String(buffer: $0.body).contains("nobody"),
                        "well-formed, but no such agent")
                }
                try await client.execute(
                    uri: "/v1/threads", method: .post, headers: alice, body: ByteBuffer(string: #"{"threadID": "a/b"}"#)
                ) {
                    #expect($0.status == .badRequest)
                }
                try await client.execute(
                    uri: "/v1/threads", method: .post, headers: auditor,
                    body: ByteBuffer(string: #"{"threadID": "n2"}"#)
                ) {
                    #expect($0.status == .forbidden)
                }
                #expect(try app.store.revision(of: "thread/n2") == nil)
                #expect(try app.store.read(stream: "access/threads", maxCount: 10).count == 1)
                // The empty thread shows, then takes messages like any.
                try await client.execute(uri: "/v1/threads/n1", method: .get, headers: alice) { r in
                    #expect(r.status == .ok)
                    let detail = try Self.decode(ThreadDetailBody.self, r.body)
                    #expect(detail.thread.title == "Latency")
                    #expect(detail.messages.isEmpty)
                }
                llm.enqueue(.json(body: Self.completion))
                try await client.execute(
                    uri: "/v1/threads/n1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                #expect(
                    try app.store.read(stream: "thread/n1", maxCount: 20).filter { $0.type == "thread.started" }.count
                        == 1)
            }
        }
    }

    @Test func threadsAreListedAndShownNowOrAsOfASeq() async throws {
        try await Self.withServer { app, llm in
            let alice: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            let bob: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:bob"))", .contentType: "application/json",
            ]
            try await app.application.test(.router) { client in
                for (thread, who) in [("l1", alice), ("l2", alice), ("l3", bob)] {
                    llm.enqueue(.json(body: Self.completion))
                    try await client.execute(
                        uri: "/v1/threads/\(thread)/messages", method: .post, headers: who,
                        body: ByteBuffer(string: #"{"text": "hi"}"#)
                    ) {
                        #expect($0.status == .ok)
                    }
                }
                // Operators read their own threads only: the list is theirs, newest first, paged.
                let (first, next) = try await client.execute(uri: "/v1/threads?limit=1", method: .get, headers: alice) {
                    r -> ([String], Int64?) in
                    let list = try Self.decode(ThreadListBody.self, r.body)
                    return (list.threads.map(\.id), list.next)
                }
                #expect(first == ["l2"])
                let cursor = try #require(next)
                try await client.execute(uri: "/v1/threads?limit=1&before=\(cursor)", method: .get, headers: alice) {
                    r in
                    let list = try Self.decode(ThreadListBody.self, r.body)
                    #expect(list.threads.map(\.id) == ["l1"])
                    #expect(list.next == nil)
                }

                let detail = try await client.execute(uri: "/v1/threads/l1", method: .get, headers: alice) {
                    r -> ThreadDetailBody in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    return try Self.decode(ThreadDetailBody.self, r.body)
                }
                #expect(detail.messages.map(\.kind) == ["user", "assistant"])
                #expect(detail.runs.first?.status == "completed")
                // As of the user's message: the answer had not come yet.
                let userSeq = try #require(detail.messages.first?.seq)
                try await client.execute(uri: "/v1/threads/l1?at=\(userSeq)", method: .get, headers: alice) { r in
                    let asOf = try Self.decode(ThreadDetailBody.self, r.body)
                    #expect(asOf.messages.map(\.kind) == ["user"])
                    #expect(asOf.at == userSeq)
                }
                try await client.execute(uri: "/v1/threads/l1?at=1", method: .get, headers: alice) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(uri: "/v1/threads/l3", method: .get, headers: alice) {
                    #expect($0.status == .forbidden)
                }
            }
        }
    }

    /// `GET /v1/threads?q=`: threads whose title, message or answer holds the text, in any case, newest first, paged;
    /// still only the caller's own for an operator.
    @Test func threadsAreSearchedByTitleAndMessageText() async throws {
        try await Self.withServer { app, llm in
            let alice: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            let bob: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:bob"))", .contentType: "application/json",
            ]
            try await app.application.test(.router) { client in
                for (thread, who, body, answer) in [
                    ("s1", alice, #"{"text": "hi", "title": "Payments OUTAGE"}"#, "Hello."),
                    ("s2", alice, #"{"text": "Kafka lag in eu-west?"}"#, "Consumers are behind."),
                    ("s3", alice, #"{"text": "and the disks?"}"#, "The disk on node-7 is full; kafka is fine."),
                    ("s4", bob, #"{"text": "kafka too"}"#, "Yes."),
                ] {
                    llm.enqueue(.json(body: Wire.completion(text: answer, finish: "stop")))
                    try await client.execute(
                        uri: "/v1/threads/\(thread)/messages", method: .post, headers: who,
                        body: ByteBuffer(string: body)
                    ) { #expect($0.status == .ok) }
                }
                func search(_ query: String) async throws -> (ids: [String], next: Int64?) {
                    try await client.execute(uri: "/v1/threads?\(query)", method: .get, headers: alice) { r in
                        #expect(r.status == .ok, "\(String(buffer: r.body))")
                        let list = try Self.decode(ThreadListBody.self, r.body)
                        return (list.threads.map(\.id), list.next)
                    }
                }
                #expect(try await search("q=outage").ids == ["s1"])  // the title, in any case
                #expect(try await search("q=NODE-7").ids == ["s3"])  // the agent's answer
                #expect(try await search("q=kafka").ids == ["s3", "s2"])  // newest first; not bob's
                #expect(try await search("q=nothing%20like%20this").ids.isEmpty)
                let first = try await search("q=kafka&limit=1")
                #expect(first.ids == ["s3"])
                let rest = try await search("q=kafka&limit=1&before=\(try #require(first.next))")
                #expect(rest.ids == ["s2"])
                // Threads are left after s2 (s1), so a search cannot tell without looking on that none matches: the
                // page after is empty and the last.
                if let next = rest.next {
                    let after = try await search("q=kafka&limit=1&before=\(next)")
                    #expect(after.ids.isEmpty && after.next == nil)
                }
                try await client.execute(
                    uri: "/v1/threads?q=\(String(repeating: "x", count: 201))", method: .get, headers: alice
                ) { #expect($0.status == .badRequest) }
            }
        }
    }

    /// `"model"` in a message: that registered model answers this turn (recorded in its `run.started`), if the caller
    /// may use it; an unknown one is 422, one the policy withholds 403 with the denial recorded.
    @Test func aMessageCanNameTheModelThatAnswersIt() async throws {
        try await Self.withServer(configure: {
            $0.policy = try! Policy(roles: ["operator": ["chat", "model.use:a", "thread.read:own"], "admin": ["*"]])
        }) { app, llm in
            let admin: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:root", roles: ["admin"]))",
                .contentType: "application/json",
            ]
            let alice: HTTPFields = [.authorization: "Bearer \(Self.token())", .contentType: "application/json"]
            try await app.application.test(.router) { client in
                for name in ["a", "b"] {
                    try await client.execute(
                        uri: "/v1/registry/models/\(name)", method: .put, headers: admin,
                        body: ByteBuffer(string: #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#)
                    ) { #expect($0.status == .created) }
                }
                try await client.execute(
                    uri: "/v1/registry/default-model", method: .put, headers: admin,
                    body: ByteBuffer(string: #"{"model": "b"}"#)
                ) { #expect($0.status == .ok) }
                llm.enqueue(.json(body: Self.completion))
                try await client.execute(
                    uri: "/v1/threads/m1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "hi", "model": "a"}"#)
                ) { #expect($0.status == .ok, "\(String(buffer: $0.body))") }
                let started = try app.store.read(from: 1, maxCount: 1000).compactMap { e -> RunStarted? in
                    if case .event(.runStarted(let r)) = EventCatalog.decode(e) { r } else { nil }
                }
                #expect(started.map(\.model) == ["a"])
                #expect(llm.requests.last?.json["model"] as? String == "a")
                try await client.execute(
                    uri: "/v1/threads/m1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "hi", "model": "nope"}"#)
                ) { #expect($0.status == .unprocessableContent) }
                // The org default (b) is not alice's either: naming it or not, she is refused.
                try await client.execute(
                    uri: "/v1/threads/m1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "hi", "model": "b"}"#)
                ) { #expect($0.status == .forbidden) }
            }
        }
    }

    @Test func administratorsReadTheWholeLog() async throws {
        try await Self.withServer { app, llm in
            let admin: HTTPFields = [
                .authorization: "Bearer \(Self.token(subject: "user:root", roles: ["admin"]))",
                .contentType: "application/json",
            ]
            let user: HTTPFields = [.authorization: "Bearer \(Self.token())"]
            try await app.application.test(.router) { client in
                llm.enqueue(.json(body: Self.completion))
                try await client.execute(
                    uri: "/v1/threads/g1/messages", method: .post, headers: admin,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/v1/events?from=1&limit=3", method: .get, headers: admin) { r in
                    let page = try Self.decode(LogPageBody.self, r.body)
                    #expect(page.events.map(\.seq) == [1, 2, 3])
                    #expect(page.next == 4)
                    #expect(page.events.first?.stream == "thread/g1")
                }
                try await client.execute(uri: "/v1/events", method: .get, headers: user) {
                    #expect($0.status == .forbidden)
                }
            }
        }
    }
}
