import ArgumentParser
import EventStore
import Foundation
import Projections

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild", abstract: "Fold every projection (registry, conversations, audit trail, usage) from the first event and store their checkpoints.",
        discussion: """
            The server catches its read models up from their checkpoints at start, and rebuilds one whose fold changed \
            version by itself; this forces it, e.g. to check a suspect checkpoint. Needs the log to itself (stop the \
            server first).
            """)

    @OptionGroup var options: DataOptions

    func run() async throws {
        let store = try EventStore.open(EventStore.Configuration(directory: options.data))
        let runner = ProjectionRunner(store: store, projections: StandardProjections.all, checkpointEveryEvents: .max)
        let progress = ProgressLine("rebuilding")
        let started = ContinuousClock.now
        do {
            let folded = try await runner.rebuild { done, total in progress.update(done.rawValue, of: total.rawValue) }
            progress.finish()
            try await runner.checkpoint()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let skipped = runner.skipped
            print("rebuild: \(folded) events folded into \(StandardProjections.all.map { $0.name }.joined(separator: ", ")) in \(String(format: "%.2f", seconds)) s; checkpoints stored at seq \(runner.position.rawValue)")
            if skipped != ProjectionRunner.Skipped() {
                print("rebuild: skipped \(skipped.unknownType) of unknown types, \(skipped.newerVersion) of newer schemas, \(skipped.malformed) malformed")
            }
        } catch {
            progress.finish()
            await store.close()
            throw error
        }
        await store.close()
    }
}
