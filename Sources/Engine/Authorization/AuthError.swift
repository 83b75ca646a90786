/// Why a token was refused or the authorization set-up is unusable. Messages say what to fix and never quote a token.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not a JWT, or a part of it does not decode.
        case malformed
        /// `none`, or an algorithm no configured key verifies.
        case unsupportedAlgorithm
        /// The signature does not verify under any key that could have made it.
        case badSignature
        case expired
        case notYetValid
        case wrongIssuer
        case wrongAudience
        /// A claim Logbook needs (`sub`, `exp`) is missing or of the wrong type.
        case missingClaim
        /// The token lives longer than the server's maximum lifetime.
        case tooLongLived
        /// Keys or policy are unusable.
        case configuration
    }

    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }
    public var description: String { message }

    /// What a client is told: that its token expired (it can get a fresh one), else only that it is invalid. The
    /// detail (algorithms, issuer and audience the server expects) is for the server's log, not for whoever holds a
    /// token of unknown origin.
    public var publicMessage: String {
        kind == .expired ? "the token has expired; get a fresh one" : "invalid token"
    }
}
