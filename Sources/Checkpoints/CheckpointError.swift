/// What went wrong with a key, a note or a checkpoint; each says what to do.
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A key that does not parse (never quoted: it may be a secret).
    case badKey(String)
    /// Text that is not a signed note or not a checkpoint.
    case malformed(String)
    /// No signature line of this key.
    case notSigned(String)
    /// This key's signature does not verify.
    case badSignature(String)

    public var description: String {
        switch self {
        case .badKey(let why): "bad key: \(why)"
        case .malformed(let why): "not a checkpoint: \(why)"
        case .notSigned(let name):
            "the note carries no signature of the key '\(name)': check that it is the key of the log's signer"
        case .badSignature(let name):
            "the signature of '\(name)' does not verify: the note was changed after it was signed, or signed with another key of the same name"
        }
    }
}
