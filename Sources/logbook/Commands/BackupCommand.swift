import ArgumentParser
import CommandSupport
import EventStore
import Foundation

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent, compacted copy of the log to a new directory, then verify it.",
        discussion: """
            Works while a server has the log open: the copy is one read transaction, appends go on. The copy is a \
            complete log (`logbook serve --data DEST` serves it). Exits 1 if the copy does not verify.
            """)

    @OptionGroup var options: DataOptions
    @Option(
        name: .customLong("to"),
        help: ArgumentHelp("The new directory (must not exist, or be empty).", valueName: "DEST")) var destination:
        String
    @Flag(help: "Skip verifying the copy.") var noVerify = false

    private func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

    func run() async throws {
        let store = try options.openReadOnly()
        let started = ContinuousClock.now
        let original = try store.statistics()
        let result: BackupResult
        do { result = try await store.backup(to: destination) } catch {
            await store.close()
            throw error
        }
        await store.close()
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print(
            "backup: \(result.lastSeq.rawValue) events to \(destination), \(megabytes(result.bytes)) (the log's file: \(megabytes(original.fileBytes))), \(String(format: "%.2f", seconds)) s"
        )
        guard !noVerify else { return }
        var configuration = EventStore.Configuration(directory: destination)
        configuration.readOnly = true
        let copy = try EventStore.open(configuration)
        let progress = ProgressLine("verifying the copy")
        let report = try copy.verify { done, total in progress.update(done.rawValue, of: total.rawValue) }
        progress.finish()
        await copy.close()
        if let failure = report.firstFailure {
            FileHandle.standardError.write(Data("backup: the copy does not verify: \(failure)\n".utf8))
            throw ExitCode(1)
        }
        print("backup: verified, \(report.checkedEvents) events intact")
    }
}
