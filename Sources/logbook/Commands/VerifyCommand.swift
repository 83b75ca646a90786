import ArgumentParser
import Checkpoints
import CommandSupport
import EventStore
import Foundation
import PostgresLog

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every record of a log: checksums, hash chain, indexes, gap-free seqs.",
        discussion: """
            Exits 0 when the log is intact; otherwise prints the first bad seq and exits 1. With --checkpoint and \
            --key it first checks that the log still extends a signed checkpoint (one a witness kept from \
            GET /v1/checkpoints/latest): that catches a log rewritten with its chain computed again, which the \
            chain alone cannot.
            """)

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Option(help: "The first seq to check.") var from: UInt64 = 1
    @Option(help: "The last seq to check (default: the end of the log).") var through: UInt64?
    @Option(
        help: ArgumentHelp("A signed checkpoint the log must still extend (a C2SP signed note).", valueName: "FILE"))
    var checkpoint: String?
    @Option(
        help: ArgumentHelp(
            "The key that signed it: name+id+key as 'logbook signing-key' printed it, or a file holding that.",
            valueName: "KEY"))
    var key: String?

    func run() async throws {
        if let checkpoint {
            guard shared.location == nil else {
                throw Failure("verify: --checkpoint checks a log of its own (--data), not a shared one")
            }
            try await checkExtends(checkpoint)
        } else if key != nil {
            throw Failure("verify: --key goes with --checkpoint FILE")
        }
        let progress = ProgressLine("verifying")
        let started = ContinuousClock.now
        let report: VerificationReport
        if let location = shared.location {
            // The shared log itself, on PostgreSQL: every row's chain hash, dense positions and revisions, the head.
            report = try await PostgresLog.with(location) { log in
                try await log.forEachVerified(
                    from: from, through: through, progress: { progress.update($0, of: $1) }, { _ in })
            }
        } else {
            let store = try options.openReadOnly()
            report = try store.verify(from: Seq(from), through: through.map { Seq($0) }) { done, total in
                progress.update(done.rawValue, of: total.rawValue)
            }
            await store.close()
        }
        progress.finish()
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        if let failure = report.firstFailure {
            FileHandle.standardError.write(
                Data("verify: FAILED at \(failure) (\(report.checkedEvents) events before it are intact)\n".utf8))
            throw ExitCode(1)
        }
        let scope =
            report.indexesChecked
            ? ""
            : (from == 1 && through == nil
                ? "; the log kept growing, so index sizes and stream heads were not compared"
                : "; range only, indexes as a whole not compared")
        print("verify: OK, \(report.checkedEvents) events intact (\(String(format: "%.2f", seconds)) s)\(scope)")
    }

    /// Checks the log against the checkpoint in `file`, signed by `--key`; exits 1 naming where it parts from it.
    private func checkExtends(_ file: String) async throws {
        guard let key else { throw Failure("verify: --checkpoint needs --key, the key that signed it") }
        let keyText =
            FileManager.default.fileExists(atPath: key)
            ? String(decoding: FileManager.default.contents(atPath: key) ?? Data(), as: UTF8.self) : key
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Failure("verify: cannot read the checkpoint \(file)")
        }
        let verifier: SignedNote.VerifierKey
        let signed: LogCheckpoint
        do {
            verifier = try SignedNote.VerifierKey(keyText)
            signed = try LogCheckpoint(note: String(decoding: data, as: UTF8.self), verifiedBy: verifier)
        } catch { throw Failure("verify: \(file): \(error)") }
        let store = try options.openReadOnly()
        let outcome = Result { try CheckpointVerification.check(store, against: signed, key: verifier) }
        await store.close()
        let result = try outcome.get()
        if let failure = result.failure {
            FileHandle.standardError.write(
                Data(
                    "verify: FAILED: the log does not extend the checkpoint of \(signed.origin) at \(signed.size) events: \(failure)\n"
                        .utf8))
            throw ExitCode(1)
        }
        print(
            "verify: the log extends the checkpoint of \(signed.origin) at \(signed.size) events (signed by \(verifier.name)); \(result.matchingCheckpointsInLog) checkpoints in the log match too"
        )
    }
}
