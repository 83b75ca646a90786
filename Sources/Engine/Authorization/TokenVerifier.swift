import Foundation

/// Who is calling, as a verified token says.
public struct Principal: Sendable, Equatable {
    public var subject: String
    public var roles: [String]
    /// The workspace the token is scoped to.
    public var workspace: String
    /// The token's `jti`, for the audit trail.
    public var tokenID: String?
    /// The token's `exp`, Unix seconds.
    public var expiry: Int64
    /// The token's `iat`, Unix seconds (nil when it has none: such a token cannot revive an expired session).
    public var issuedAt: Int64?

    public init(
        subject: String, roles: [String], workspace: String, tokenID: String? = nil, expiry: Int64,
        issuedAt: Int64? = nil
    ) {
        (self.subject, self.roles, self.workspace, self.tokenID, self.expiry, self.issuedAt) = (
            subject, roles, workspace, tokenID, expiry, issuedAt
        )
    }
}

/// Checks bearer JWTs: the signature (HS256, RS256, ES256; never `none`), `exp` (required), `nbf`, issuer and
/// audience, with a small clock skew. Claims: `sub`, `roles` (array of strings), `workspace`, `jti`, `iat`.
public struct TokenVerifier: Sendable {
    public var keys: [VerificationKey]
    public var issuer: String
    public var audience: String
    public var leeway: Duration
    /// The workspace of a token without a `workspace` claim.
    public var defaultWorkspace: String
    /// The longest a token may live: `exp` − `iat` (`exp` − now for a token without `iat`). A token that lives longer
    /// is refused, so a leaked one cannot be used for long.
    public var maxLifetime: Duration
    /// 24 hours.
    public static let defaultMaxLifetime = Duration.seconds(24 * 3600)

    public init(
        keys: [VerificationKey], issuer: String, audience: String, leeway: Duration = .seconds(60),
        defaultWorkspace: String = "default",
        maxLifetime: Duration = TokenVerifier.defaultMaxLifetime
    ) {
        (self.keys, self.issuer, self.audience, self.leeway, self.defaultWorkspace) = (
            keys, issuer, audience, leeway, defaultWorkspace
        )
        self.maxLifetime = maxLifetime
    }

    /// The principal of a valid token.
    /// - Parameter now: Unix seconds (injected for tests).
    public func verify(_ token: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(AuthError) -> Principal
    {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
            let claimBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else {
            throw AuthError(.malformed, "the bearer token is not a JWT (three base64url parts separated by dots)")
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)) else {
            throw AuthError(.malformed, "the token's header is not JSON with an \"alg\"")
        }
        let candidates = keys.filter {
            $0.kind.algorithm == header.alg && (header.kid == nil || $0.id == nil || $0.id == header.kid)
        }
        guard header.alg != "none", !candidates.isEmpty else {
            let offered = Set(keys.map(\.kind.algorithm)).sorted().joined(separator: ", ")
            throw AuthError(
                .unsupportedAlgorithm,
                "tokens signed with \(header.alg)\(header.kid.map { " (kid \($0))" } ?? "") are not accepted; this server verifies \(offered.isEmpty ? "no tokens (no keys configured)" : offered)"
            )
        }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))[...]
        guard candidates.contains(where: { $0.verifies(signingInput, signature: signature) }) else {
            throw AuthError(.badSignature, "the token's signature does not verify")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: Data(claimBytes)) else {
            throw AuthError(.malformed, "the token's claims are not a JSON object of the expected types")
        }
        guard let subject = claims.sub, !subject.isEmpty else {
            throw AuthError(.missingClaim, "the token has no subject (sub)")
        }
        guard let exp = claims.exp else {
            throw AuthError(.missingClaim, "the token has no expiry (exp); Logbook accepts only expiring tokens")
        }
        let skew = leeway.components.seconds
        guard now < Int64(exp) + skew else {
            throw AuthError(.expired, "the token expired at \(Int64(exp)) (Unix time); get a fresh one")
        }
        if let nbf = claims.nbf, now + skew < Int64(nbf) {
            throw AuthError(.notYetValid, "the token is not valid before \(Int64(nbf)) (Unix time)")
        }
        let lifetime = Int64(exp) - (claims.iat.map { Int64($0) } ?? now)
        guard lifetime <= maxLifetime.components.seconds + skew else {
            throw AuthError(
                .tooLongLived,
                "the token lives \(lifetime) s (exp − iat); this server accepts at most \(maxLifetime.components.seconds) s"
            )
        }
        guard claims.iss == issuer else {
            throw AuthError(.wrongIssuer, "the token was issued by '\(claims.iss ?? "nobody")', not by '\(issuer)'")
        }
        guard claims.aud?.values.contains(audience) == true else {
            throw AuthError(
                .wrongAudience,
                "the token is not meant for '\(audience)' (aud: \(claims.aud?.values.joined(separator: ", ") ?? "none"))"
            )
        }
        return Principal(
            subject: subject, roles: claims.roles ?? [], workspace: claims.workspace ?? defaultWorkspace,
            tokenID: claims.jti, expiry: Int64(exp), issuedAt: claims.iat.map { Int64($0) })
    }

    private struct Header: Decodable {
        let alg: String
        let kid: String?
    }

    private struct Claims: Decodable {
        let sub: String?
        let iss: String?
        let aud: Audience?
        let exp: Double?
        let nbf: Double?
        let iat: Double?
        let jti: String?
        let roles: [String]?
        let workspace: String?
    }

    /// `aud` is a string or an array of strings.
    private struct Audience: Decodable {
        let values: [String]
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
        }
    }
}
