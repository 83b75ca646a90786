import AsyncHTTPClient
import Checkpoints
@testable import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
import NIOCore
import NIOHTTP1
@testable import Server
import Testing

/// Every route × every role, over a live server: the status each caller gets for alice's thread `t-alice` (so alice
/// asks about her own, bob about another user's in the same workspace, carol about one in another workspace) and for
/// the registry, the log and the audit trail — and, for every authenticated call, that a decision naming the caller
/// was recorded. The table must name every route the router has: a new route does not pass until it has an answer
/// for each role here (and each answer is a status its OpenAPI operation documents).
@Suite(.serialized) struct AuthorizationMatrixTests {
    /// Who calls.
    enum Caller: Int, CaseIterable, CustomStringConvertible {
        case anonymous, alice, bob, carol, auditor, registrar, admin

        var subject: String { "user:\(self)" }
        var description: String { ["anonymous", "alice", "bob", "carol", "auditor", "registrar", "admin"][rawValue] }
        var roles: [String] {
            switch self {
            case .anonymous: []
            case .alice, .bob, .carol: ["operator"]
            case .auditor: ["auditor"]
            case .registrar: ["registrar"]
            case .admin: ["admin"]
            }
        }
        var workspace: String { self == .carol ? "retail" : "payments" }
        var token: String? {
            self == .anonymous
                ? nil
                : DevelopmentToken.mint(
                    secret: ServerTests.secret, subject: subject, roles: roles, workspace: workspace,
                    issuer: "test-idp", audience: "logbook", lifetime: .seconds(600))
        }
    }

    static let policyJSON =
        #"{"roles": {"operator": ["chat", "model.use:*", "thread.read:own"], "auditor": ["audit.read", "thread.read:workspace", "registry.read"], "registrar": ["registry.admin", "registry.read"], "admin": ["*"]}}"#
    static let policy = try! Policy(roles: [
        "operator": ["chat", "model.use:*", "thread.read:own"],
        "auditor": ["audit.read", "thread.read:workspace", "registry.read"],
        "registrar": ["registry.admin", "registry.read"],
        "admin": ["*"],
    ])

    /// One row: a request and the status each caller gets, in `Caller` order.
    struct Row: Sendable {
        let route: String
        let path: @Sendable (Caller) -> String
        let body: @Sendable (Caller) -> String?
        var headers: [(String, String)] = []
        let expected: [Int]
    }

    static let chat = #"{"text": "Is the payments API healthy?"}"#
    static let model = #"{"provider": "openai-compatible", "endpoint": "http://127.0.0.1:9/v1"}"#
    static let completion = #"{"model": "logbook", "messages": [{"role": "user", "content": "hi"}]}"#

    //                                                                          anon alice bob carol auditor registrar admin
    static let rows: [Row] = [
        Row(
            route: "GET /healthz", path: { _ in "/healthz" }, body: { _ in nil },
            expected: [200, 200, 200, 200, 200, 200, 200]),
        Row(
            route: "GET /readyz", path: { _ in "/readyz" }, body: { _ in nil },
            expected: [200, 200, 200, 200, 200, 200, 200]),
        Row(
            route: "GET /metrics", path: { _ in "/metrics" }, body: { _ in nil },
            expected: [200, 200, 200, 200, 200, 200, 200]),
        Row(
            route: "GET /openapi.json", path: { _ in "/openapi.json" }, body: { _ in nil },
            expected: [200, 200, 200, 200, 200, 200, 200]),
        // The web page and its files: the same static files for everyone, no data; the page's calls are the rows below.
        Row(route: "GET /", path: { _ in "/" }, body: { _ in nil }, expected: [200, 200, 200, 200, 200, 200, 200]),
        Row(
            route: "GET /ui/{asset}", path: { _ in "/ui/app.js" }, body: { _ in nil },
            expected: [200, 200, 200, 200, 200, 200, 200]),

        Row(
            route: "POST /v1/threads/{thread}/messages", path: { _ in "/v1/threads/t-alice/messages" },
            body: { _ in chat },
            expected: [401, 200, 403, 404, 403, 403, 200]),
        Row(
            route: "GET /v1/threads/{thread}/events", path: { _ in "/v1/threads/t-alice/events" }, body: { _ in nil },
            expected: [401, 200, 403, 404, 200, 403, 200]),
        Row(
            route: "POST /v1/threads", path: { _ in "/v1/threads" }, body: { c in #"{"threadID": "new-\#(c)"}"# },
            expected: [401, 201, 201, 201, 403, 403, 201]),
        Row(
            route: "GET /v1/threads", path: { _ in "/v1/threads" }, body: { _ in nil },
            expected: [401, 200, 200, 200, 200, 403, 200]),
        Row(
            route: "GET /v1/threads/{thread}", path: { _ in "/v1/threads/t-alice" }, body: { _ in nil },
            expected: [401, 200, 403, 404, 200, 403, 200]),
        Row(
            route: "POST /v1/threads/{thread}/fork", path: { _ in "/v1/threads/t-alice/fork" },
            body: { c in #"{"threadID": "fork-\#(c)"}"# },
            expected: [401, 201, 403, 404, 403, 403, 201]),
        Row(
            route: "POST /v1/threads/{thread}/replay", path: { _ in "/v1/threads/t-alice/replay" }, body: { _ in nil },
            expected: [401, 200, 403, 404, 200, 403, 200]),
        Row(
            route: "GET /v1/threads/{thread}/diff/{other}", path: { _ in "/v1/threads/t-alice/diff/t-alice" },
            body: { _ in nil },
            expected: [401, 200, 403, 404, 200, 403, 200]),

        Row(
            route: "GET /v1/events", path: { _ in "/v1/events?limit=5" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 403, 200]),
        Row(
            route: "GET /v1/events/stream", path: { _ in "/v1/events/stream" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 403, 200]),
        Row(
            route: "GET /v1/checkpoints/latest", path: { _ in "/v1/checkpoints/latest" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 403, 200]),
        Row(
            route: "GET /v1/audit", path: { _ in "/v1/audit?limit=5" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 403, 200]),
        Row(
            route: "GET /v1/audit/export", path: { _ in "/v1/audit/export" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 403, 200]),

        Row(
            route: "GET /v1/registry", path: { _ in "/v1/registry" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 200, 200]),
        Row(
            route: "PUT /v1/registry/models/{name}", path: { c in "/v1/registry/models/new-\(c)" },
            body: { _ in model },
            expected: [401, 403, 403, 403, 403, 201, 201]),
        Row(
            route: "DELETE /v1/registry/models/{name}", path: { c in "/v1/registry/models/del-\(c)" },
            body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 204, 204]),
        Row(
            route: "PUT /v1/registry/default-model", path: { _ in "/v1/registry/default-model" },
            body: { _ in #"{"model": "base"}"# },
            expected: [401, 403, 403, 403, 403, 200, 200]),
        Row(
            route: "PUT /v1/workspaces/{workspace}/default-model",
            path: { _ in "/v1/workspaces/payments/default-model" },
            body: { _ in #"{"model": "base"}"# }, expected: [401, 403, 403, 403, 403, 200, 200]),
        Row(
            route: "GET /v1/workspaces/{workspace}/effective-model",
            path: { _ in "/v1/workspaces/payments/effective-model" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 200, 200]),
        Row(
            route: "PUT /v1/registry/mcp/{name}", path: { c in "/v1/registry/mcp/new-\(c)" },
            body: { _ in #"{"transport": "http", "url": "http://127.0.0.1:9/mcp"}"# },
            expected: [401, 403, 403, 403, 403, 201, 201]),
        Row(
            route: "DELETE /v1/registry/mcp/{name}", path: { c in "/v1/registry/mcp/del-\(c)" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 204, 204]),
        Row(
            route: "PUT /v1/registry/mcp/{name}/maintenance", path: { _ in "/v1/registry/mcp/shared/maintenance" },
            body: { _ in #"{"maintenance": true, "reason": "upgrade"}"# },
            expected: [401, 403, 403, 403, 403, 200, 200]),
        // The server is not reachable: those allowed get 503 from the attempt, which is recorded like any other.
        Row(
            route: "POST /v1/registry/mcp/{name}/refresh", path: { _ in "/v1/registry/mcp/shared/refresh" },
            body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 503, 503]),
        Row(
            route: "PUT /v1/registry/agents/{name}", path: { c in "/v1/registry/agents/new-\(c)" },
            body: { _ in #"{"instructions": "Be brief."}"# },
            expected: [401, 403, 403, 403, 403, 201, 201]),
        Row(
            route: "DELETE /v1/registry/agents/{name}", path: { c in "/v1/registry/agents/del-\(c)" },
            body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 204, 204]),

        Row(
            route: "GET /v1/policy", path: { _ in "/v1/policy" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 200, 200, 200]),
        // The same rules as before, replaced: the rows after it are decided as they would have been.
        Row(
            route: "PUT /v1/policy", path: { _ in "/v1/policy" }, body: { _ in policyJSON },
            expected: [401, 403, 403, 403, 403, 403, 200]),
        Row(
            route: "PUT /v1/policy/roles/{role}", path: { _ in "/v1/policy/roles/extra" },
            body: { _ in #"{"permissions": ["chat"]}"# },
            expected: [401, 403, 403, 403, 403, 403, 200]),
        Row(
            route: "DELETE /v1/policy/roles/{role}", path: { _ in "/v1/policy/roles/extra" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 403, 204]),
        Row(
            route: "GET /v1/policy/history", path: { _ in "/v1/policy/history" }, body: { _ in nil },
            expected: [401, 403, 403, 403, 403, 403, 200]),
        Row(
            route: "POST /v1/chat/completions", path: { _ in "/v1/chat/completions" }, body: { _ in completion },
            headers: [("X-Logbook-Thread", "t-alice")], expected: [401, 200, 403, 404, 403, 403, 200]),
        Row(
            route: "GET /v1/models", path: { _ in "/v1/models" }, body: { _ in nil },
            expected: [401, 200, 200, 200, 403, 403, 200]),
    ]

    @Test func everyRouteAnswersEveryRoleAsThePolicySaysAndRecordsTheDecision() async throws {
        try await ServerTests.withServer(
            answering: { _ in .json(body: ServerTests.completion) },
            configure: {
                $0.policy = Self.policy
                $0.rateLimit = nil
                $0.signingKey = try? SignedNote.SignerKey.generate(name: "logbook.test/matrix")
            }
        ) { app, llm in
            // The table covers the router exactly, and every answer it expects is one the document promises.
            let routes = Set(Self.rows.map(\.route))
            #expect(
                routes == Set(app.routes),
                "routes without a row: \(Set(app.routes).subtracting(routes).sorted()); rows without a route: \(routes.subtracting(app.routes).sorted())"
            )
            for row in Self.rows {
                let operation = try #require(
                    OpenAPIDocument.operations.first { "\($0.method.uppercased()) \($0.path)" == row.route })
                let documented = Set(
                    operation.answers.map(\.status) + operation.errors + (operation.authenticated ? [401] : []))
                #expect(
                    Set(row.expected).isSubset(of: documented),
                    "\(row.route) answers \(Set(row.expected).subtracting(documented).sorted()), which its operation does not document"
                )
            }

            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                @Sendable func send(
                    _ method: HTTPMethod, _ path: String, as caller: Caller, body: String? = nil,
                    headers: [(String, String)] = []
                ) async throws -> (status: Int, body: String) {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                    request.method = method
                    if let token = caller.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                    for (name, value) in headers { request.headers.add(name: name, value: value) }
                    if let body {
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: body))
                    }
                    let response = try await http.execute(request, timeout: .seconds(60))
                    // A live tail never ends: its status is the answer.
                    guard response.headers.first(name: "content-type") != "text/event-stream" else {
                        return (Int(response.status.code), "")
                    }
                    return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 4 << 20)))
                }

                do { try await runRows() } catch {
                    try? await http.shutdown()
                    throw error
                }
                try await http.shutdown()

                func runRows() async throws {
                    // What the rows act on: alice's thread (with a run), a model every chat uses, and one entry of each
                    // kind per caller to delete.
                    for (kind, body) in [
                        ("models", Self.model), ("mcp", #"{"transport": "http", "url": "http://127.0.0.1:9/mcp"}"#),
                        ("agents", #"{"instructions": "x"}"#),
                    ] {
                        for caller in Caller.allCases {
                            #expect(
                                try await send(.PUT, "/v1/registry/\(kind)/del-\(caller)", as: .admin, body: body)
                                    .status == 201)
                        }
                    }
                    #expect(
                        try await send(
                            .PUT, "/v1/registry/mcp/shared", as: .admin,
                            body: #"{"transport": "http", "url": "http://127.0.0.1:9/mcp"}"#
                        ).status == 201)
                    let base = #"{"provider": "openai-compatible", "endpoint": "\#(llm.baseURL)"}"#
                    #expect(try await send(.PUT, "/v1/registry/models/base", as: .admin, body: base).status == 201)
                    #expect(
                        try await send(.PUT, "/v1/registry/default-model", as: .admin, body: #"{"model": "base"}"#)
                            .status == 200)
                    #expect(
                        try await send(.POST, "/v1/threads/t-alice/messages", as: .alice, body: Self.chat).status == 200
                    )
                    #expect(try await app.signer?.sign() != nil, "a checkpoint to serve")

                    for row in Self.rows {
                        let parts = row.route.split(separator: " ")
                        let method = HTTPMethod(rawValue: String(parts[0]))
                        for caller in Caller.allCases {
                            let before = app.store.lastSeq
                            let (status, body) = try await send(
                                method, row.path(caller), as: caller, body: row.body(caller), headers: row.headers)
                            #expect(
                                status == row.expected[caller.rawValue],
                                "\(row.route) as \(caller): \(status) \(body.prefix(300))")
                            guard caller != .anonymous, row.route.contains("/v1/") else { continue }
                            let decisions = try app.store.read(from: Seq(before.rawValue + 1), maxCount: 1000)
                                .compactMap { r -> AuthorizationDecided? in
                                    if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) {
                                        d
                                    } else {
                                        nil
                                    }
                                }
                            #expect(
                                decisions.contains { $0.subject == caller.subject },
                                "\(row.route) as \(caller): no decision recorded")
                            let denied = status == 403 || status == 404
                            #expect(
                                !denied || decisions.contains { $0.subject == caller.subject && $0.decision == .deny },
                                "\(row.route) as \(caller): refused (\(status)) without a recorded denial")
                        }
                    }
                }
            }
        }
    }
}
