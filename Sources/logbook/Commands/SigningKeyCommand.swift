import ArgumentParser
import Checkpoints
import CommandSupport
import Foundation

struct SigningKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing-key",
        abstract: "Make a key for signing checkpoints of the log (Ed25519, C2SP signed-note format).",
        discussion: """
            Writes the signing key to FILE (readable by its owner only) and prints the key that verifies its \
            signatures: give the file to 'serve --signing-key file:FILE' and the printed key to whoever checks \
            checkpoints ('logbook verify --checkpoint … --key …', a witness). Keep the signing key away from the \
            log's data directory: whoever can write the log must not be able to sign.
            """)

    @Option(
        help: ArgumentHelp(
            "The key's name, which is also the checkpoints' origin: a schema-less URL such as logbook.example.com/log.",
            valueName: "NAME"))
    var name: String
    @Option(help: ArgumentHelp("Where to write the signing key (must not exist).", valueName: "FILE")) var out: String

    func run() throws {
        let key = try SignedNote.SignerKey.generate(name: name)
        guard !FileManager.default.fileExists(atPath: out) else {
            throw Failure("signing-key: \(out) exists; choose another file (a key is never overwritten)")
        }
        guard
            FileManager.default.createFile(
                atPath: out, contents: Data((key.encoded + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw Failure("signing-key: cannot write \(out)")
        }
        print(key.verifier)
    }
}
