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
        /// Keys or policy are unusable.
        case configuration
    }

    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }
    public var description: String { message }
}
