@testable import Engine
import EventStore
import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogbookTestSupport
import Projections
@testable import Server
import Testing

/// The policy is in the log: changes are events (authorized as `policy.admin`), decisions name the version they were
/// made under, any seq's rules can be read back, a policy file is recorded once per change of it, and replay takes
/// the rules that were in force.
@Suite(.serialized) struct PolicyTests {
    static let admin = DependabilityTests.admin
    static let alice = DependabilityTests.alice

    static func decisions(_ store: EventStore) throws -> [(seq: Seq, decision: AuthorizationDecided)] {
        try store.read(from: 1, maxCount: 100_000).compactMap { r in
            if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) { (r.seq, d) } else { nil }
        }
    }

    @Test func aChangeDecidesTheNextRequestAndDecisionsNameTheirVersion() async throws {
        try await ServerTests.withServer(
            answering: { _ in .json(body: ServerTests.completion) },
            configure: {
                $0.policy = try! Policy(roles: [
                    "operator": ["chat", "model.use:*", "thread.read:own"], "admin": ["*"],
                ])
                $0.recordsConfiguredPolicy = true
            }
        ) { app, _ in
            let first = try #require(
                try app.runtime.access.policyHistory().first?.seq, "the configured policy was recorded")
            // A second engine over the same log stands in for another server: it must see the change too.
            let other = AgentRuntime(
                store: app.store, registry: ProjectionRunner(store: app.store, projections: [RegistryProjection.self]),
                policy: try Policy(roles: [:]), pool: MCPPool())
            #expect(other.access.currentPolicy().version == first)
            try await app.application.test(.router) { client in
                try await client.execute(
                    uri: "/v1/threads/p1/messages", method: .post, headers: Self.alice,
                    body: ByteBuffer(string: #"{"text": "hi"}"#)
                ) {
                    #expect($0.status == .ok)
                }
                let before = try Self.decisions(app.store).last { $0.decision.subject == "user:alice" }
                #expect(before?.decision.policyVersion == first)

                try await client.execute(
                    uri: "/v1/policy/roles/operator", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"permissions": ["thread.read:own"], "reason": "chat paused"}"#)
                ) { r in
                    #expect(r.status == .ok, "\(String(buffer: r.body))")
                }
                let second = try #require(try app.runtime.access.policyHistory().last?.seq)
                #expect(other.access.currentPolicy().version == second)
                #expect(other.access.currentPolicy().policy.rawRoles["operator"] == ["thread.read:own"])
                try await client.execute(
                    uri: "/v1/threads/p1/messages", method: .post, headers: Self.alice,
                    body: ByteBuffer(string: #"{"text": "again"}"#)
                ) {
                    #expect($0.status == .forbidden, "the next request is decided by the new rules")
                }
                let after = try Self.decisions(app.store).last { $0.decision.subject == "user:alice" }
                #expect(after?.decision.policyVersion == second)
                #expect(after?.decision.decision == .deny)

                try await client.execute(uri: "/v1/policy?at=\(second - 1)", method: .get, headers: Self.admin) { r in
                    let body = try ServerTests.decode(PolicyRoutes.PolicyBody.self, r.body)
                    #expect(body.version == first)
                    #expect(body.roles["operator"]?.contains("chat") == true)
                }
                try await client.execute(uri: "/v1/policy/history", method: .get, headers: Self.admin) { r in
                    let changes = try ServerTests.decode(PolicyRoutes.HistoryBody.self, r.body).changes
                    #expect(changes.count == 2)
                    #expect(changes.last?.actor == "user:root")
                    #expect(changes.last?.reason == "chat paused")
                    #expect(changes.last?.change == "role.set")
                    #expect(changes.last?.role == "operator")
                }
                try await client.execute(uri: "/v1/audit?action=policy.role.set", method: .get, headers: Self.admin) {
                    r in
                    let entries = try ServerTests.decode(AuditPageBody.self, r.body).entries
                    #expect(
                        entries.count == 1,
                        "the audit trail shows the change and what it replaced: \(entries)")
                    #expect(
                        entries.first?.actor == "user:root",
                        "the audit trail shows the change and what it replaced: \(entries)")
                    #expect(
                        entries.first?.before?.contains("chat") == true,
                        "the audit trail shows the change and what it replaced: \(entries)")
                }
                // A policy nobody could change again is refused.
                try await client.execute(
                    uri: "/v1/policy", method: .put, headers: Self.admin,
                    body: ByteBuffer(string: #"{"roles": {"operator": ["chat"]}}"#)
                ) { #expect($0.status == .unprocessableContent) }
            }
        }
    }

    @Test func aPolicyFileIsRecordedOncePerChange() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-policy-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func start(_ roles: [String: [String]]) async throws -> Int {
            var configuration = ServerConfiguration(
                verifier: TokenVerifier(keys: [try .hmac(ServerTests.secret)], issuer: "test-idp", audience: "logbook"),
                policy: try Policy(roles: roles))
            configuration.dataDirectory = dir
            configuration.recordsConfiguredPolicy = true
            configuration.healthCheckInterval = nil
            configuration.logLevel = .warning
            let app = try await buildApplication(configuration: configuration)
            let count = try app.runtime.access.policyHistory().count
            await app.close()
            return count
        }
        #expect(try await start(["admin": ["*"]]) == 1)
        #expect(try await start(["admin": ["*"]]) == 1, "the same file: nothing recorded")
        #expect(try await start(["admin": ["*"], "operator": ["chat"]]) == 2, "a changed file: one change")
    }
}
