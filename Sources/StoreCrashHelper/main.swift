// Appends under load and prints one line per acknowledged append, until killed.
// The crash tests SIGKILL it at a random moment, reopen the log and check every acknowledged append is there.
// It stops by itself as soon as the process that started it is gone, so a test that dies never leaves it filling the
// disk; and after 200,000 appends or 10 minutes in any case. (Not sooner: on a loaded machine a test may take a minute
// to get back to a helper it started, and a helper that had stopped by then would have let go of the log.)
//
// usage: StoreCrashHelper <directory> <appenders> [relaxed]
// output: "ack <stream> <lastRevision> <firstSeq> <lastSeq> <id>,<id>..." per append, after it was acknowledged.
import EventStore
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3, let appenders = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: StoreCrashHelper <directory> <appenders> [relaxed]\n".utf8))
    exit(2)
}
var configuration = EventStore.Configuration(directory: arguments[1])
configuration.dictionaryTrainingPoints = [500, 3_000]
if arguments.count > 3, arguments[3] == "relaxed" { configuration.durability = .relaxed }
let store: EventStore
do { store = try EventStore.open(configuration) } catch {
    FileHandle.standardError.write(Data("open failed: \(error)\n".utf8))
    exit(1)
}
FileHandle.standardOutput.write(Data("ready\n".utf8))

// Bounds: a deadline, an append budget, and the parent's life.
let parent = getppid()
let deadline = ContinuousClock.now + .seconds(600)
let budget = AppendBudget(200_000)
Thread.detachNewThread {
    while getppid() == parent, ContinuousClock.now < deadline { usleep(100_000) }
    exit(0)
}

await withTaskGroup(of: Void.self) { group in
    for appender in 0..<appenders {
        group.addTask {
            guard let stream = try? StreamID("crash/\(appender)/\(UUID().uuidString.prefix(8))") else { return }
            var revision: StreamRevision? = nil
            var n = 0
            while budget.take() {
                n += 1
                let events = (0..<(1 + n % 3)).map { i in
                    ProposedEvent(
                        type: "crash.tick",
                        payload: Data(
                            "{\"appender\":\(appender),\"n\":\(n),\"i\":\(i),\"text\":\"\(String(repeating: "lorem ipsum ", count: 1 + (n * 7 + i) % 40))\"}"
                                .utf8))
                }
                do {
                    let result = try await store.append(
                        events, to: stream, expecting: revision.map { .exact($0) } ?? .noStream)
                    revision = result.revision
                    let ids = events.map(\.id.uuidString).joined(separator: ",")
                    // One write(2) per line: lines from concurrent appenders never interleave.
                    FileHandle.standardOutput.write(
                        Data("ack \(stream) \(result.revision) \(result.firstSeq) \(result.lastSeq) \(ids)\n".utf8))
                } catch {
                    FileHandle.standardError.write(Data("append failed: \(error)\n".utf8))
                    exit(1)
                }
            }
        }
    }
}

/// How many more appends the helper may make.
final class AppendBudget: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int
    init(_ total: Int) { left = total }
    func take() -> Bool {
        lock.withLock {
            left -= 1; return left >= 0
        }
    }
}
