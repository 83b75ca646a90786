// Catches Logbook's projections up over an existing log, checkpointing often and printing each checkpoint's seq,
// until done or killed. The restart test SIGKILLs it mid-way, then checks a new runner resumes and ends equal to a rebuild.
//
// usage: ProjectionCrashHelper <directory> <checkpoint every N events> [<tables directory>: the audit trail on disk]
import EventStore
import Foundation
import Projections

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4, let every = UInt64(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: ProjectionCrashHelper <directory> <checkpoint every N events>\n".utf8))
    exit(2)
}
do {
    let store = try EventStore.open(EventStore.Configuration(directory: arguments[1]))
    let runner =
        arguments.count == 4
        ? try ProjectionRunner(
            store: store, projections: StandardProjections.all, tables: arguments[3], checkpointEveryEvents: every)
        : ProjectionRunner(store: store, projections: StandardProjections.all, checkpointEveryEvents: every)
    try await runner.start { done, _ in
        FileHandle.standardOutput.write(Data("checkpoint \(done)\n".utf8))
    }
    FileHandle.standardOutput.write(Data("done \(runner.position)\n".utf8))
    await store.close()
} catch {
    FileHandle.standardError.write(Data("projection helper failed: \(error)\n".utf8))
    exit(1)
}
