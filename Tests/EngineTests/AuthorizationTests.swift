@testable import Engine
import Events
import Foundation
import Testing

/// Tokens minted by PyJWT (another implementation) checked by ours; and the policy's decisions.
@Suite struct TokenVerifierTests {
    struct Minted: Decodable {
        let secret: String
        let now: Int64
        let tokens: [String: String]
    }

    static func mint() throws -> (TokenVerifier, Minted) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/mint_tokens.py"
        ).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, dir.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "minting tokens failed: install PyJWT with ./scripts/setup.sh (pip install 'pyjwt[crypto]')")
        let minted = try JSONDecoder().decode(Minted.self, from: data)
        let keys =
            try [.hmac(try #require(Base64URL.decode(minted.secret[...])))]
            + VerificationKey.keySet(json: try Data(contentsOf: dir.appendingPathComponent("jwks.json")))
        return (TokenVerifier(keys: keys, issuer: "https://idp.example", audience: "logbook"), minted)
    }

    @Test func validTokensOfEachAlgorithmGiveTheirPrincipal() throws {
        let (verifier, minted) = try Self.mint()
        let expected = Principal(
            subject: "alice", roles: ["operator"], workspace: "payments", tokenID: "tok-123", expiry: minted.now + 600,
            issuedAt: minted.now)
        for name in ["hs256", "rs256", "es256", "within_leeway"] {
            var principal = try verifier.verify(try #require(minted.tokens[name]), now: minted.now)
            if name == "within_leeway" { principal.expiry = expected.expiry }
            #expect(principal == expected, "\(name)")
        }
        #expect(
            try verifier.verify(try #require(minted.tokens["no_workspace"]), now: minted.now).workspace == "default")
    }

    @Test(arguments: [
        ("es256_claims_tampered", AuthError.Kind.badSignature),
        ("rs256_other_key", .badSignature),
        ("expired", .expired),
        ("not_yet_valid", .notYetValid),
        ("wrong_audience", .wrongAudience),
        ("wrong_issuer", .wrongIssuer),
        ("no_expiry", .missingClaim),
        ("alg_none", .unsupportedAlgorithm),
        ("hs256_keyed_with_rsa_public_key", .badSignature),
    ])
    func badTokensAreRefusedForTheRightReason(name: String, kind: AuthError.Kind) throws {
        let (verifier, minted) = try Self.mint()
        let token = try #require(minted.tokens[name])
        let error = #expect(throws: AuthError.self, "\(name)") { try verifier.verify(token, now: minted.now) }
        #expect(error?.kind == kind, "\(name): \(error?.message ?? "")")
        #expect(error.map { !$0.message.contains(token) } == true)
    }

    @Test func garbageIsMalformed() throws {
        let verifier = TokenVerifier(keys: [try .hmac(Array(repeating: 7, count: 32))], issuer: "i", audience: "a")
        for junk in ["", "abc", "a.b", "a.b.c.d", "!!!.???.***", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"] {
            #expect(throws: AuthError.self, "\(junk)") { try verifier.verify(junk) }
        }
    }

    @Test func weakKeysAreRefusedAtConfiguration() {
        #expect(throws: AuthError.self) { try VerificationKey.hmac(Array("short".utf8)) }
        #expect(throws: AuthError.self) {
            try VerificationKey.keySet(json: Data(#"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}"#.utf8))
        }
        #expect(throws: AuthError.self) { try VerificationKey.keySet(json: Data("[]".utf8)) }
    }
}

@Suite struct PolicyTests {
    static let policy = try! Policy(
        json: Data(
            """
            {"roles": {
                "operator": ["chat", "thread.read:own", "tool.call:time/*", "model.use:*"],
                "sre": ["tool.call:k8s/get_*", "thread.read:workspace"],
                "auditor": ["audit.read", "thread.read:all"],
                "admin": ["*"]
            }}
            """.utf8))

    static func who(_ roles: [String], workspace: String = "payments") -> Principal {
        Principal(subject: "alice", roles: roles, workspace: workspace, expiry: 0)
    }

    @Test(arguments: [
        (["operator"], "chat", "thread/1", Decision.allow),
        (["operator"], "tool.call", "time/get_current_time", .allow),
        (["operator"], "tool.call", "k8s/delete_pod", .deny),
        (["sre"], "tool.call", "k8s/get_pods", .allow),
        (["sre"], "tool.call", "k8s/delete_pod", .deny),
        (["operator"], "thread.read", "own", .allow),
        (["operator"], "thread.read", "workspace", .deny),
        (["sre"], "thread.read", "own", .allow),
        (["sre"], "thread.read", "all", .deny),
        (["auditor"], "thread.read", "workspace", .allow),
        (["auditor"], "audit.read", "payments", .allow),
        (["operator"], "audit.read", "payments", .deny),
        (["operator"], "registry.admin", "model:gpt-4o", .deny),
        (["admin"], "registry.admin", "model:gpt-4o", .allow),
        ([], "chat", "thread/1", .deny),
        (["unknown-role"], "chat", "thread/1", .deny),
    ])
    func decisions(roles: [String], action: String, resource: String, expected: Decision) {
        let verdict = Self.policy.decide(Self.who(roles), action: action, resource: resource, workspace: "payments")
        #expect(verdict.decision == expected, "\(roles) \(action) \(resource): \(verdict.reason)")
        #expect((verdict.rule != nil) == (expected == .allow))
    }

    @Test func decisionsStayInTheTokensWorkspace() {
        let verdict = Self.policy.decide(
            Self.who(["operator"]), action: "chat", resource: "thread/1", workspace: "billing")
        #expect(verdict.decision == .deny)
        #expect(verdict.reason.contains("scoped to workspace 'payments'"))
        #expect(
            Self.policy.decide(Self.who(["admin"]), action: "chat", resource: "thread/1", workspace: "billing").decision
                == .allow)
    }

    @Test func globs() {
        #expect(Policy.glob("time/*", "time/get_current_time"))
        #expect(Policy.glob("*/get_*", "k8s/get_pods"))
        #expect(!Policy.glob("*/get_*", "k8s/delete_pods"))
        #expect(Policy.glob("a*b*c", "a-x-b-y-c"))
        #expect(!Policy.glob("a*b*c", "a-x-c"))
        #expect(Policy.glob("exact", "exact"))
        #expect(!Policy.glob("exact", "exactly"))
    }

    @Test func malformedPoliciesAreRefused() {
        #expect(throws: AuthError.self) { try Policy(json: Data("{}".utf8)) }
        #expect(throws: AuthError.self) { try Policy(json: Data(#"{"roles": {"x": ["bad permission"]}}"#.utf8)) }
    }
}
