import ArgumentParser
import CommandSupport
import EventStore
import Foundation

/// `logbook tail [-f]`: the last events of the log, and with `-f` every event as it is appended — by a server on the
/// same log too (the log is opened read-only and polled).
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the last events of the log; with -f, keep printing them as they are appended.",
        discussion: "Works on a log a server has open. Stop following with Ctrl-C.")

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Option(name: [.customShort("n"), .long], help: "How many of the last events to print first.") var lines: UInt64 =
        20
    @Flag(name: .shortAndLong, help: "Follow: print events as they are appended.") var follow = false
    @Option(help: "Only streams starting with this (e.g. thread/ or access/).") var stream: String?
    @Flag(help: "Print one JSON object per line (NDJSON).") var json = false

    func run() async throws {
        let log = try await shared.open(options)
        let store = log.store
        // A copy of a shared log: kept up with what every server appends.
        if follow { log.shared?.follow(store) }
        let last = store.lastSeq.rawValue
        let start = last >= lines ? last - lines + 1 : 1
        for await message in store.subscribe(from: Seq(start)) {
            switch message {
            case .event(let e):
                guard stream.map({ e.stream.rawValue.hasPrefix($0) }) ?? true else { continue }
                // Unbuffered: a pipe sees each event as it comes.
                FileHandle.standardOutput.write(
                    Data(((json ? try EventJSON.line(e) : EventsCommand.text(e)) + "\n").utf8))
            case .caughtUp:
                if !follow { await log.close(); return }
            case .idle:
                continue
            case .dropped(let reason):
                await log.close()
                throw Failure("tail: \(reason)")
            }
        }
        await log.close()
    }
}
