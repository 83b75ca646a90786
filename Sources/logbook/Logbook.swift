import ArgumentParser
import EventStore
import Foundation
import LogbookBench

@main
struct Logbook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logbook",
        abstract: "Logbook: an event-sourced agent engine on an append-only, hash-chained LMDB log.",
        subcommands: [
            ServeCommand.self, DemoCommand.self, StatsCommand.self, VerifyCommand.self, EventsCommand.self,
            ExportCommand.self, ImportCommand.self, BackupCommand.self, CopyCommand.self,
            TailCommand.self, RebuildCommand.self, ReplayCommand.self, TokenCommand.self, ChatCommand.self,
            ThreadsCommand.self, AuditCommand.self,
            ModelsCommand.self, MCPCommand.self, AgentsCommand.self, PolicyCommand.self, TracesCommand.self,
            SigningKeyCommand.self,
            BenchCommand.self,
        ]
    )
}
