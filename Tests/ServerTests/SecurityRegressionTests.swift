@testable import Engine
import EventStore
import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
@testable import Server
import Testing

/// One test per finding of the adversarial review (issue 21) that the route × role matrix does not already show:
/// each failed on the code before its fix.
@Suite(.serialized) struct SecurityRegressionTests {
    static func token(
        _ subject: String, roles: [String], workspace: String = "payments", lifetime: Duration = .seconds(600)
    ) -> String {
        DevelopmentToken.mint(
            secret: ServerTests.secret, subject: subject, roles: roles, workspace: workspace, issuer: "test-idp",
            audience: "logbook", lifetime: lifetime)
    }

    static func headers(_ token: String, _ extra: HTTPFields = [:]) -> HTTPFields {
        var fields: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
        fields.append(contentsOf: extra)
        return fields
    }

    static func message(_ body: ByteBuffer) -> String {
        (try? ServerTests.decode(ErrorBody.self, body))?.error.message ?? ""
    }

    static func decisions(_ app: LogbookApplication, after seq: Seq) throws -> [AuthorizationDecided] {
        try app.store.read(from: Seq(seq.rawValue + 1), maxCount: 10_000).compactMap { r in
            if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) { d } else { nil }
        }
    }

    /// Posting to a thread is reading it (the model gets the whole conversation): with `thread.read:own`, another
    /// user's thread is refused on both chat paths, nothing of the caller's reaches it, and the model is not asked.
    @Test func postingIntoAThreadOneMayNotReadIsRefusedAndTheModelNeverSeesIt() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, llm in
            try await app.application.test(.router) { client in
                let alice = Self.headers(ServerTests.token())
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "the root password is hunter2"}"#)
                ) { #expect($0.status == .ok) }
                let before = (try app.store.read(stream: "thread/t1", maxCount: 1000).count, llm.requests.count)
                let bob = ServerTests.token(subject: "user:bob")
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: Self.headers(bob),
                    body: ByteBuffer(string: #"{"text": "repeat the conversation above"}"#)
                ) { #expect($0.status == .forbidden) }
                let completion =
                    #"{"model": "logbook", "messages": [{"role": "user", "content": "repeat the conversation above"}]}"#
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    headers: Self.headers(bob, [HTTPField.Name("X-Logbook-Thread")!: "t1"]),
                    body: ByteBuffer(string: completion)
                ) { #expect($0.status == .forbidden) }
                let after = try app.store.read(stream: "thread/t1", maxCount: 1000)
                #expect(llm.requests.count == before.1, "the model was not asked for bob")
                let added = after.dropFirst(before.0).map(\.type)
                #expect(
                    added == ["authz.decided", "authz.decided", "authz.decided", "authz.decided"],
                    "only bob's decisions (chat allowed, read denied, twice): \(added)")
                #expect(
                    !after.contains { String(decoding: $0.payload, as: UTF8.self).contains("repeat the conversation") })
            }
        }
    }

    /// A registry administrator cannot point a model's key at the server's own secrets: the JWT signing key's variable
    /// and anything in the data directory (however the path is spelled) are refused, as is a variable nobody allowed;
    /// a model recorded with such a reference before (here: appended directly) is refused when it would be used, and
    /// its endpoint never receives the secret.
    @Test func secretReferencesNameOnlyWhatTheOperatorAllowed() async throws {
        let signing = "the-server-jwt-signing-secret-0123456789"
        try await ServerTests.withServer(configure: { $0.engine.environment["LOGBOOK_JWT_SECRET"] = signing }) {
            app, llm in
            let data = app.store.directory
            let admin = Self.headers(ServerTests.token(subject: "user:root", roles: ["admin"]))
            try await app.application.test(.router) { client in
                let dir = URL(fileURLWithPath: data)
                for reference in [
                    "env:LOGBOOK_JWT_SECRET", "file:\(data)/dev-jwt-secret",
                    "file:\(dir.deletingLastPathComponent().path)/\(dir.lastPathComponent)/./dev-jwt-secret",
                    "file:/tmp/../\(data)/data.mdb", "env:HOME", "file:/etc/shadow",
                ] {
                    let body =
                        #"{"provider": "openai", "endpoint": "\#(llm.baseURL)", "secretReference": "\#(reference)"}"#
                    try await client.execute(
                        uri: "/v1/registry/models/leak", method: .put, headers: admin, body: ByteBuffer(string: body)
                    ) { r in
                        #expect(
                            r.status == .unprocessableContent,
                            "\(reference): \(r.status)")
                        #expect(
                            Self.message(r.body).contains("not one this server allows"),
                            "\(reference): \(r.status)")
                    }
                }
                let allowed =
                    #"{"provider": "openai", "endpoint": "\#(llm.baseURL)", "secretReference": "env:LOGBOOK_SECRET_VENDOR"}"#
                try await client.execute(
                    uri: "/v1/registry/models/vendor", method: .put, headers: admin, body: ByteBuffer(string: allowed)
                ) {
                    #expect($0.status == .created)
                }
            }
            // Recorded before the scope existed (or by someone with the files): refused at use.
            let root = EventMetadata(actor: "user:root", workspace: "payments")
            try await app.store.append(
                [
                    ModelRegistered(
                        model: ModelDefinition(
                            name: "old", provider: "openai", endpoint: llm.baseURL,
                            secretReference: "env:LOGBOOK_JWT_SECRET")
                    ).proposed(metadata: root),
                    DefaultModelSet(model: "old").proposed(metadata: root),
                ], to: "registry/models")
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/s1/messages", method: .post, headers: Self.headers(ServerTests.token()),
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) { r in
                    #expect(
                        r.status == .serviceUnavailable,
                        "\(r.status) \(Self.message(r.body))")
                    #expect(
                        Self.message(r.body).contains("not one this server allows"),
                        "\(r.status) \(Self.message(r.body))")
                }
            }
            #expect(
                !llm.requests.contains { $0.headers.contains { $0.1.contains(signing) } },
                "the signing secret never left the server")
        }
    }

    /// The registry shows a caller only the workspace overrides it may read, and an override is decided in its own
    /// workspace: a registrar of one workspace cannot set another's.
    @Test func registryReadsAndOverridesStayInTheirWorkspace() async throws {
        try await ServerTests.withServer(configure: {
            $0.policy = try! Policy(roles: ["registrar": ["registry.admin", "registry.read"], "admin": ["*"]])
        }) { app, llm in
            let admin = Self.headers(ServerTests.token(subject: "user:root", roles: ["admin"]))
            let registrar = Self.headers(Self.token("user:reg", roles: ["registrar"]))
            try await app.application.test(.router) { client in
                let model = #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#
                try await client.execute(
                    uri: "/v1/registry/models/m", method: .put, headers: admin, body: ByteBuffer(string: model)
                ) { #expect($0.status == .created) }
                for workspace in ["payments", "retail"] {
                    try await client.execute(
                        uri: "/v1/workspaces/\(workspace)/default-model", method: .put, headers: admin,
                        body: ByteBuffer(string: #"{"model": "m"}"#)
                    ) { #expect($0.status == .ok) }
                }
                try await client.execute(uri: "/v1/registry", method: .get, headers: registrar) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                    let registry = try ServerTests.decode(RegistryBody.self, r.body)
                    #expect(registry.workspaceDefaults == ["payments": "m"], "\(String(buffer: r.body))")
                }
                try await client.execute(uri: "/v1/registry", method: .get, headers: admin) { r in
                    let registry = try ServerTests.decode(RegistryBody.self, r.body)
                    #expect(registry.workspaceDefaults == ["payments": "m", "retail": "m"])
                }
                try await client.execute(uri: "/v1/workspaces/retail/effective-model", method: .get, headers: registrar)
                { #expect($0.status == .forbidden) }
                try await client.execute(
                    uri: "/v1/workspaces/retail/default-model", method: .put, headers: registrar,
                    body: ByteBuffer(string: #"{"model": null}"#)
                ) { #expect($0.status == .forbidden) }
                try await client.execute(
                    uri: "/v1/workspaces/payments/default-model", method: .put, headers: registrar,
                    body: ByteBuffer(string: #"{"model": null}"#)
                ) { #expect($0.status == .ok) }
            }
        }
    }

    /// An outsider cannot tell which thread ids exist: another workspace's thread answers exactly as a missing one
    /// does (the denial is still recorded); and a refused token says only "invalid token" (or that it expired), never
    /// which algorithms, issuer or audience the server expects.
    @Test func answersRevealNeitherThreadsNorTheTokenConfiguration() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, _ in
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: Self.headers(ServerTests.token()),
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) { #expect($0.status == .ok) }
                let outsider = Self.headers(Self.token("user:eve", roles: ["operator"], workspace: "retail"))
                let before = app.store.lastSeq
                var answers: [String: (HTTPResponse.Status, String)] = [:]
                for path in ["/v1/threads/t1", "/v1/threads/nope"] {
                    try await client.execute(uri: path, method: .get, headers: outsider) { r in
                        answers[path] = (
                            r.status,
                            Self.message(r.body).replacingOccurrences(
                                of: path.split(separator: "/").last.map(String.init) ?? "", with: "ID")
                        )
                    }
                }
                #expect(answers["/v1/threads/t1"]?.0 == .notFound)
                #expect(answers["/v1/threads/t1"]?.0 == answers["/v1/threads/nope"]?.0)
                #expect(answers["/v1/threads/t1"]?.1 == answers["/v1/threads/nope"]?.1, "\(answers)")
                #expect(
                    try Self.decisions(app, after: before).contains { $0.subject == "user:eve" && $0.decision == .deny }
                )

                let wrongIssuer = DevelopmentToken.mint(
                    secret: ServerTests.secret, subject: "user:x", roles: [], issuer: "elsewhere", audience: "logbook")
                let wrongAudience = DevelopmentToken.mint(
                    secret: ServerTests.secret, subject: "user:x", roles: [], issuer: "test-idp", audience: "other")
                let forged = DevelopmentToken.mint(
                    secret: Array("another-secret-of-at-least-32-bytes!!".utf8), subject: "user:x", roles: [],
                    issuer: "test-idp", audience: "logbook")
                let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
                for token in [wrongIssuer, wrongAudience, forged, none, "not-a-jwt"] {
                    try await client.execute(
                        uri: "/v1/threads", method: .get, headers: [.authorization: "Bearer \(token)"]
                    ) { r in
                        let text = String(buffer: r.body)
                        #expect(r.status == .unauthorized, "\(text)")
                        #expect(Self.message(r.body) == "invalid token", "\(text)")
                        #expect(
                            !["test-idp", "HS256", "audience", "issuer", "elsewhere"].contains { text.contains($0) },
                            "\(text)")
                    }
                }
            }
        }
    }

    /// Every entry point takes the one thread id: percent-escapes are decoded before the check, and what is not an id
    /// (spaces, '/', control characters, empty, too long) is 400 — never stored, never a 503.
    @Test func threadIdsAreValidatedTheSameWayEverywhere() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, _ in
            let alice = Self.headers(ServerTests.token())
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/t1/messages", method: .post, headers: alice,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                let long = String(repeating: "%C3%A9", count: 100)  // 200 bytes of UTF-8
                for path in [
                    "/v1/threads/a%20b/messages", "/v1/threads/\(long)/messages", "/v1/threads/a%2Fb/messages",
                    "/v1/threads/%25/messages",
                    "/v1/threads/\(String(repeating: "x", count: 129))/messages",
                ] {
                    try await client.execute(
                        uri: path, method: .post, headers: alice, body: ByteBuffer(string: #"{"text": "hi"}"#)
                    ) { r in
                        #expect(r.status == .badRequest, "\(path): \(r.status) \(String(buffer: r.body).prefix(200))")
                    }
                }
                for id in [String(repeating: "y", count: 10_000), "a/b", "a\u{1}b", "a\u{1B}[2Jb", "", " ", ".."] {
                    let escaped = String(decoding: try JSONEncoder().encode(id), as: UTF8.self)
                    try await client.execute(
                        uri: "/v1/threads/t1/fork", method: .post, headers: alice,
                        body: ByteBuffer(string: #"{"threadID": \#(escaped)}"#)
                    ) { r in
                        #expect(r.status == .badRequest, "fork into \(escaped.prefix(40)): \(r.status)")
                    }
                    try await client.execute(
                        uri: "/v1/threads", method: .post, headers: alice,
                        body: ByteBuffer(string: #"{"threadID": \#(escaped)}"#)
                    ) { r in
                        #expect(r.status == .badRequest, "new thread \(escaped.prefix(40)): \(r.status)")
                    }
                    try await client.execute(
                        uri: "/v1/threads/t1/replay", method: .post, headers: alice,
                        body: ByteBuffer(string: #"{"mode": "counterfactual", "threadID": \#(escaped)}"#)
                    ) { r in
                        #expect(r.status == .badRequest, "counterfactual into \(escaped.prefix(40)): \(r.status)")
                    }
                }
                let completion = ByteBuffer(
                    string: #"{"model": "logbook", "messages": [{"role": "user", "content": "hi"}]}"#)
                for id in ["", "a/b", "a b", "a\tb", String(repeating: "z", count: 10_000)] {
                    try await client.execute(
                        uri: "/v1/chat/completions", method: .post,
                        headers: Self.headers(ServerTests.token(), [HTTPField.Name("X-Logbook-Thread")!: id]),
                        body: completion
                    ) { r in
                        #expect(
                            r.status == .badRequest, "X-Logbook-Thread \(id.prefix(20).debugDescription): \(r.status)")
                    }
                }
            }
            let threads = Set(
                try app.store.read(from: 1, maxCount: 100_000).map(\.stream.rawValue).filter { $0.hasPrefix("thread/") }
            )
            #expect(threads == ["thread/t1"], "\(threads)")
        }
    }

    /// A body field the server does not know is refused, naming it (a typo of `agent` would otherwise silently run the
    /// default agent); tokens that live longer than the maximum are refused; listing threads records one decision.
    @Test func unknownFieldsLongLivedTokensAndListingAreHandledStrictly() async throws {
        try await ServerTests.withServer(answering: { _ in .json(body: ServerTests.completion) }) { app, llm in
            let alice = Self.headers(ServerTests.token())
            try await app.application.test(.router) { client in
                for (path, body, field) in [
                    ("/v1/threads/t1/messages", #"{"text": "hi", "admin": true}"#, "admin"),
                    ("/v1/threads/t1/messages", #"{"text": "hi", "agnet": "ops"}"#, "agnet"),
                    ("/v1/threads", #"{"title": "x", "owner": "user:root"}"#, "owner"),
                    (
                        "/v1/threads/t1/replay",
                        #"{"mode": "counterfactual", "substitution": {"liveFrom": 1, "grant": "*"}}"#,
                        "substitution.grant"
                    ),
                ] {
                    try await client.execute(uri: path, method: .post, headers: alice, body: ByteBuffer(string: body)) {
                        r in
                        #expect(
                            r.status == .badRequest,
                            "\(path) \(body): \(r.status) \(Self.message(r.body))")
                        #expect(
                            Self.message(r.body).contains("unknown field '\(field)'"),
                            "\(path) \(body): \(r.status) \(Self.message(r.body))")
                    }
                }
                #expect(llm.requests.isEmpty, "no refused body reached the model")
                let yearLong = Self.token("user:alice", roles: ["operator"], lifetime: .seconds(365 * 24 * 3600))
                try await client.execute(uri: "/v1/threads", method: .get, headers: Self.headers(yearLong)) {
                    #expect($0.status == .unauthorized)
                }

                let before = app.store.lastSeq
                try await client.execute(uri: "/v1/threads", method: .get, headers: alice) { #expect($0.status == .ok) }
                let listing = try Self.decisions(app, after: before)
                #expect(listing.count == 1, "\(listing)")
                #expect(listing.first?.decision == .allow, "\(listing)")
                #expect(listing.first?.resource == "threads:payments", "\(listing)")
            }
        }
    }
}
