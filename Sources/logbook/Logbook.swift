import ArgumentParser
import EventStore
import Foundation

@main
struct Logbook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logbook",
        abstract: "Logbook: an event-sourced agent engine on an append-only, hash-chained LMDB log.",
        subcommands: [
            ServeCommand.self, DemoCommand.self, StatsCommand.self, VerifyCommand.self, EventsCommand.self,
            ExportCommand.self, ImportCommand.self, BackupCommand.self,
            TailCommand.self, RebuildCommand.self, ReplayCommand.self, TokenCommand.self, ChatCommand.self,
            ThreadsCommand.self, AuditCommand.self,
            ModelsCommand.self, MCPCommand.self, AgentsCommand.self, PolicyCommand.self, BenchCommand.self,
        ]
    )
}

/// `--data DIR`, shared by every command that works on a log.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The log's directory.", valueName: "DIR"))
    var data: String = "./data"

    /// Opens the log read-only; the error says what to check when there is none.
    func openReadOnly() throws -> EventStore {
        var configuration = EventStore.Configuration(directory: data)
        configuration.readOnly = true
        return try EventStore.open(configuration)
    }
}

/// Ends the command with `message` on standard error and a non-zero exit status.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension EventStoreError: LocalizedError {
    public var errorDescription: String? { message }
}
