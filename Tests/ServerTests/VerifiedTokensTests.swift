import Engine
import Foundation
@testable import Server
import Testing

/// The cache of verified tokens never accepts what `TokenVerifier` would refuse at the time of use.
struct VerifiedTokensTests {
    static let verifier = TokenVerifier(
        keys: [try! .hmac(ServerTests.secret)], issuer: "test-idp", audience: "logbook",
        leeway: .seconds(60))

    @Test func aCachedTokenStillExpiresAndABadOneIsNeverCached() throws {
        let tokens = VerifiedTokens(verifier: Self.verifier)
        let now = Int64(Date().timeIntervalSince1970)
        let token = DevelopmentToken.mint(
            secret: ServerTests.secret, subject: "user:alice", roles: ["operator"], workspace: "payments",
            issuer: "test-idp", audience: "logbook", lifetime: .seconds(300))
        let principal = try tokens.principal(of: token, now: now)
        #expect(principal.subject == "user:alice")
        #expect(try tokens.principal(of: token, now: now + 30) == principal, "served from the cache")
        // Past exp + leeway the cached entry is refused as `verify` refuses the token.
        #expect(throws: AuthError.self) { try tokens.principal(of: token, now: principal.expiry + 60) }
        // A token with a changed signature fails every time, cache or not.
        let forged = String(token.dropLast(2)) + (token.hasSuffix("AA") ? "BB" : "AA")
        for _ in 0..<2 { #expect(throws: AuthError.self) { try tokens.principal(of: forged, now: now) } }
        // A full cache starts again rather than grow.
        let small = VerifiedTokens(verifier: Self.verifier, capacity: 2)
        for subject in ["user:a", "user:b", "user:c", "user:a"] {
            let t = DevelopmentToken.mint(
                secret: ServerTests.secret, subject: subject, roles: [], workspace: "w", issuer: "test-idp",
                audience: "logbook", lifetime: .seconds(300))
            #expect(try small.principal(of: t, now: now).subject == subject)
        }
    }
}
