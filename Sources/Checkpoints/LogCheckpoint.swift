import Foundation

/// A checkpoint of the log in the C2SP tlog-checkpoint layout: the origin (the signer's name), the number of events
/// it covers, and the content chain's link at the last of them (base64, `ContentChain`), one per line. Logbook's
/// third line is the head of a SHA-256 hash chain over the events (each link covers every event before it), not an
/// RFC 6962 Merkle root: a note verifier checks the signature as for any checkpoint; what the hash means is Logbook's.
public struct LogCheckpoint: Sendable, Equatable {
    public var origin: String
    /// Events 1 through `size`.
    public var size: UInt64
    /// The content chain's link at event `size` (32 bytes; 32 zero bytes for an empty log).
    public var hash: [UInt8]

    public init(origin: String, size: UInt64, hash: [UInt8]) {
        (self.origin, self.size, self.hash) = (origin, size, hash)
    }

    /// The note text that is signed.
    public var text: String { "\(origin)\n\(size)\n\(Data(hash).base64EncodedString())\n" }

    /// Parses a checkpoint's note text (extension lines after the third are allowed and ignored).
    public init(text: String) throws(CheckpointError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, !lines[0].isEmpty else {
            throw .malformed("a checkpoint's text is an origin, a size and a hash, one per line")
        }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else {
            throw .malformed("the size '\(lines[1].prefix(30))' is not a decimal number")
        }
        guard let hash = Data(base64Encoded: String(lines[2])), hash.count == 32 else {
            throw .malformed("the hash '\(lines[2].prefix(60))' is not base64 of 32 bytes")
        }
        self.init(origin: String(lines[0]), size: size, hash: Array(hash))
    }

    /// Signs it as a note.
    public func signed(with key: SignedNote.SignerKey) throws(CheckpointError) -> String {
        try SignedNote.sign(text, with: key)
    }

    /// The checkpoint of a signed note, once `key`'s signature on it verifies.
    public init(note: String, verifiedBy key: SignedNote.VerifierKey) throws(CheckpointError) {
        try self.init(text: try SignedNote.open(note, verifiedBy: key))
    }
}
