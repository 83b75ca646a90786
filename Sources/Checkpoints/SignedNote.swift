import Crypto
import Foundation

/// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys: a text ending in a newline, a blank line, and one
/// signature line per key (`— <key name> base64(key ID ‖ signature)`). Keys are written as the Go `note` package and
/// transparency-log witnesses write them: a verifier key `<name>+<key ID, 8 hex digits>+base64(0x01 ‖ public key)`,
/// a signer key `PRIVATE+KEY+<name>+<key ID>+base64(0x01 ‖ 32-byte seed)`.
public enum SignedNote {
    /// The signature type byte of Ed25519.
    static let ed25519: UInt8 = 0x01

    /// A key that verifies notes.
    public struct VerifierKey: Sendable, Equatable, CustomStringConvertible {
        public let name: String
        public let id: UInt32
        let key: Curve25519.Signing.PublicKey

        init(name: String, key: Curve25519.Signing.PublicKey) {
            (self.name, self.key) = (name, key)
            id = SignedNote.keyID(name: name, publicKey: key.rawRepresentation)
        }

        /// Parses `<name>+<id>+<base64(0x01 ‖ key)>`.
        /// - Throws: `CheckpointError.badKey` saying what is wrong.
        public init(_ text: String) throws(CheckpointError) {
            // The base64 key may itself hold '+'.
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
                separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else {
                throw .badKey("a verifier key is <name>+<key id>+<key>, three parts joined by '+'")
            }
            let name = String(parts[0])
            let material = try SignedNote.keyMaterial(parts[2], name: name)
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: material) else {
                throw .badKey("the key of '\(name)' is not an Ed25519 public key")
            }
            self.init(name: name, key: key)
            guard String(format: "%08x", id) == parts[1].lowercased() else {
                throw .badKey(
                    "the key id \(parts[1]) does not match the key of '\(name)' (\(String(format: "%08x", id)))")
            }
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.name == b.name && a.key.rawRepresentation == b.key.rawRepresentation
        }

        /// The key as text, for a witness or `logbook verify --key`.
        public var description: String {
            "\(name)+\(String(format: "%08x", id))+\(Data([SignedNote.ed25519] + key.rawRepresentation).base64EncodedString())"
        }
    }

    /// A key that signs notes. Prints its name only: the text form is `encoded`.
    public struct SignerKey: Sendable, CustomStringConvertible {
        public let name: String
        let key: Curve25519.Signing.PrivateKey

        /// A new random key named `name` (a schema-less URL such as `logbook.example.com/log` is recommended).
        /// - Throws: `badKey` for a name with whitespace or '+'.
        public static func generate(name: String) throws(CheckpointError) -> SignerKey {
            try SignedNote.checkName(name)
            return SignerKey(name: name, key: Curve25519.Signing.PrivateKey())
        }

        init(name: String, key: Curve25519.Signing.PrivateKey) { (self.name, self.key) = (name, key) }

        /// Parses `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`.
        /// - Throws: `badKey` saying what is wrong, never quoting the key.
        public init(_ text: String) throws(CheckpointError) {
            let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
                separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY" else {
                throw .badKey("a signing key is PRIVATE+KEY+<name>+<key id>+<key> ('logbook signing-key' makes one)")
            }
            let name = String(parts[2])
            let material = try SignedNote.keyMaterial(parts[4], name: name)
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: material) else {
                throw .badKey("the signing key of '\(name)' is not an Ed25519 key")
            }
            self.init(name: name, key: key)
            guard String(format: "%08x", verifier.id) == parts[3].lowercased() else {
                throw .badKey("the key id of the signing key '\(name)' does not match its key")
            }
        }

        /// The key that verifies what this one signs.
        public var verifier: VerifierKey { VerifierKey(name: name, key: key.publicKey) }

        /// The key as text: keep it secret (a file readable by the server only, or an environment variable).
        public var encoded: String {
            "PRIVATE+KEY+\(name)+\(String(format: "%08x", verifier.id))+\(Data([SignedNote.ed25519] + key.rawRepresentation).base64EncodedString())"
        }

        public var description: String { "signing key '\(name)'" }
    }

    /// Signs `text` (which must end in a newline and hold no control character but newlines) with `key`.
    public static func sign(_ text: String, with key: SignerKey) throws(CheckpointError) -> String {
        try checkText(text)
        guard let signature = try? key.key.signature(for: Data(text.utf8)) else {
            throw .badKey("signing with \(key) failed")
        }
        var idBytes = key.verifier.id.bigEndian
        let line = (withUnsafeBytes(of: &idBytes) { Data($0) } + signature).base64EncodedString()
        return text + "\n\u{2014} \(key.name) \(line)\n"
    }

    /// The text of `note` when `key` signed it.
    /// - Throws: `malformed` for a note that is not a signed note; `notSigned` when no signature line is `key`'s;
    ///   `badSignature` when `key`'s signature does not verify (the text was changed, or signed by another key).
    public static func open(_ note: String, verifiedBy key: VerifierKey) throws(CheckpointError) -> String {
        let text = try unverifiedText(of: note)
        try checkText(text)
        let split = note.range(of: "\n\n", options: .backwards)!
        let lines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "", lines.count >= 2 else {
            throw .malformed("a signed note ends with signature lines, each ending in a newline")
        }
        var sawKey = false
        for line in lines.dropLast() {
            guard line.hasPrefix("\u{2014} ") else {
                throw .malformed("a signature line starts with an em dash and a space: '\(line.prefix(40))'")
            }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let bytes = Data(base64Encoded: String(fields[1])), bytes.count > 4 else {
                throw .malformed("a signature line is '— <key name> <base64 signature>': '\(line.prefix(40))'")
            }
            let id = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard fields[0] == key.name, id == key.id else { continue }  // another key's: ignored
            sawKey = true
            guard key.key.isValidSignature(bytes.dropFirst(4), for: Data(text.utf8)) else {
                throw .badSignature(key.name)
            }
        }
        guard sawKey else { throw .notSigned(key.name) }
        return text
    }

    /// The text of a signed note, its signatures unchecked: only for what a check follows anyway (the signer resuming
    /// from its own last checkpoint).
    public static func unverifiedText(of note: String) throws(CheckpointError) -> String {
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw .malformed("a signed note is its text, a blank line, then signature lines; this has no blank line")
        }
        return String(note[..<split.lowerBound]) + "\n"
    }

    static func keyID(name: String, publicKey: Data) -> UInt32 {
        let digest = SHA256.hash(data: Data(name.utf8) + [0x0A, ed25519] + publicKey)
        return digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    static func checkName(_ name: String) throws(CheckpointError) {
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "+" }),
            !name.unicodeScalars.contains(where: { $0.value < 0x20 })
        else {
            throw .badKey("a key name is not empty and has no spaces or '+' (e.g. logbook.example.com/log)")
        }
    }

    private static func keyMaterial(_ encoded: Substring, name: String) throws(CheckpointError) -> Data {
        try checkName(name)
        guard let bytes = Data(base64Encoded: String(encoded)), bytes.count == 33, bytes.first == ed25519 else {
            throw .badKey("the key of '\(name)' is not base64 of an Ed25519 key (type 0x01 and 32 bytes)")
        }
        return bytes.dropFirst()
    }

    private static func checkText(_ text: String) throws(CheckpointError) {
        guard text.hasSuffix("\n"), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) else {
            throw .malformed("a note's text ends in a newline and holds no control characters but newlines")
        }
    }
}
