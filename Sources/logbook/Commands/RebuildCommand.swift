import ArgumentParser
import CommandSupport
import EventStore
import Foundation
import Projections

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract:
            "Fold every projection (registry, conversations, audit trail, usage) from the first event and store them.",
        discussion: """
            The server keeps the audit trail and the conversations in tables beside the log (DATA/read-models) and \
            catches them up at start, rebuilding one whose fold changed version by itself; this forces it, e.g. to \
            check suspect tables. Needs the log to itself (stop the server first). With --check it stores nothing: \
            it reads the log and the tables (beside a running server, if one holds them), folds each projection from \
            the first event to the position its tables (or checkpoint) were written through, and says whether they \
            agree (exit status 1 if one does not).
            """)

    @OptionGroup var options: DataOptions
    @Flag(help: "Compare the stored checkpoints (caught up) with a fold from the first event, storing nothing.")
    var check = false

    func run() async throws {
        if check { return try await checkCheckpoints() }
        let store = try EventStore.open(EventStore.Configuration(directory: options.data))
        let runner = try ProjectionRunner(
            store: store, projections: StandardProjections.all, tables: options.data + "/read-models")
        let progress = ProgressLine("rebuilding")
        let started = ContinuousClock.now
        do {
            let folded = try await runner.rebuild { done, total in progress.update(done.rawValue, of: total.rawValue) }
            progress.finish()
            try await runner.checkpoint()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let skipped = runner.skipped
            print(
                "rebuild: \(folded) events folded into \(StandardProjections.all.map { $0.name }.joined(separator: ", ")) in \(String(format: "%.2f", seconds)) s; stored at seq \(runner.position.rawValue)"
            )
            if skipped != ProjectionRunner.Skipped() {
                print(
                    "rebuild: skipped \(skipped.unknownType) of unknown types, \(skipped.newerVersion) of newer schemas, \(skipped.malformed) malformed"
                )
            }
        } catch {
            progress.finish()
            await store.close()
            throw error
        }
        await store.close()
    }

    /// Folds every projection twice on a read-only log, from its checkpoint and from zero, to the same seq, and
    /// compares the states; and the tables on disk with a fold to their position.
    private func checkCheckpoints() async throws {
        let store = try options.openReadOnly()
        var differing: [String] = []
        let onDisk: [ReadModelCheck.Outcome]
        do { onDisk = try ReadModelCheck.check(store: store, tables: options.data + "/read-models") } catch {
            await store.close()
            throw error
        }
        for outcome in onDisk {
            guard let position = outcome.position else {
                print(
                    "rebuild --check: \(outcome.projection): no tables on disk (the server makes them at its next start)"
                )
                continue
            }
            print(
                "rebuild --check: \(outcome.projection): \(outcome.difference.map { "the tables DIFFER from a fold from the first event (\($0)): run `logbook rebuild` with the server stopped" } ?? "the tables agree with a fold from the first event") (at seq \(position.rawValue))"
            )
            if outcome.difference != nil { differing.append(outcome.projection) }
        }
        let inTables = Set(onDisk.map(\.projection))
        let fromCheckpoints = ProjectionRunner(
            store: store, projections: StandardProjections.all, checkpointEveryEvents: .max)
        let fromZero = ProjectionRunner(store: store, projections: StandardProjections.all, checkpointEveryEvents: .max)
        let progress = ProgressLine("folding")
        do {
            _ = try await fromCheckpoints.start()
            _ = try await fromZero.rebuild { done, total in progress.update(done.rawValue, of: total.rawValue) }
            // A server may append meanwhile: catch both up until they stand at the same seq.
            for _ in 0..<100 where fromCheckpoints.position != fromZero.position {
                _ = try await fromCheckpoints.catchUp()
                _ = try await fromZero.catchUp()
            }
            progress.finish()
        } catch {
            progress.finish()
            await store.close()
            throw error
        }
        await store.close()
        guard fromCheckpoints.position == fromZero.position else {
            throw Failure("rebuild --check: the log kept growing; try again")
        }
        func same<P: Projection>(_: P.Type) -> Bool {
            fromCheckpoints.read(P.self) { $0 } == fromZero.read(P.self) { $0 }
        }
        for projection in StandardProjections.all where !inTables.contains(projection.name) {
            let agrees = same(projection)
            print(
                "rebuild --check: \(projection.name): \(agrees ? "the checkpoint agrees with a fold from the first event" : "DIFFERS from a fold from the first event: run `logbook rebuild` with the server stopped")"
            )
            if !agrees { differing.append(projection.name) }
        }
        print("rebuild --check: compared at seq \(fromZero.position.rawValue)")
        if !differing.isEmpty { throw ExitCode(1) }
    }
}
