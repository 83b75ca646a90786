import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

/// A helper process catches the projections up with frequent checkpoints and is SIGKILLed mid-way; a new runner
/// resumes from the last checkpoint (it does not start over) and ends equal to a rebuild.
@Suite struct RestartTests {
    static var helperPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "ProjectionCrashHelper"
        ).path
    }

    @Test func killedMidCatchUpResumesFromItsCheckpointAndMatchesARebuild() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.helperPath),
            "build the ProjectionCrashHelper product first")
        let dir = TemporaryDirectory()
        try await Self.writeLog(dir, seed: 31)
        for round in 0..<3 {
            let lines = try await runAndKill(arguments: [dir.path, "250"], afterLines: 2 + round)
            #expect(
                lines.contains { $0.hasPrefix("checkpoint ") },
                "round \(round): the helper checkpointed before it was killed")
        }
        let store = try openStore(dir)
        let saved = try #require(try store.checkpoint(named: "projection/conversations")).seq
        #expect(saved.rawValue >= 250, "a checkpoint survived the kills")
        #expect(saved < store.lastSeq, "the helper was killed before it caught up")
        let resumed = ProjectionRunner(store: store, projections: StandardProjections.all)
        let folded = try await resumed.start()
        #expect(folded == store.lastSeq.rawValue - saved.rawValue, "resumed from seq \(saved), not from zero")
        let rebuilt = ProjectionRunner(store: store, projections: StandardProjections.all)
        try await rebuilt.rebuild()
        #expect(AllStates(resumed) == AllStates(rebuilt))
        await store.close()
    }

    /// The same with the audit trail and the conversations on disk: the tables are never ahead of or inconsistent with
    /// their recorded position, a new runner resumes from it, and it answers as a rebuild in memory does.
    @Test func killedMidCatchUpWithTheAuditOnDiskResumesFromItsTables() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.helperPath))
        let dir = TemporaryDirectory()
        let tables = dir.path + "/read-models"
        try await Self.writeLog(dir, seed: 37)
        for round in 0..<3 {
            let lines = try await runAndKill(arguments: [dir.path, "250", tables], afterLines: 2 + round)
            #expect(lines.contains { $0.hasPrefix("checkpoint ") }, "round \(round): the helper checkpointed")
        }
        let store = try openStore(dir)
        let resumed = try ProjectionRunner(store: store, projections: StandardProjections.all, tables: tables)
        let folded = try await resumed.start()
        #expect(folded > 0 && folded < store.lastSeq.rawValue, "resumed from a stored position, not from zero")
        let rebuilt = ProjectionRunner(store: store, projections: StandardProjections.all)
        try await rebuilt.rebuild()
        for newestFirst in [true, false] {
            let q = AuditQuery(newestFirst: newestFirst, limit: 1000)
            let expected = try AuditTablesTests.pages(q, rebuilt.queryAudit)
            #expect(try AuditTablesTests.pages(q, resumed.queryAudit) == expected)
            #expect(expected.map(\.entries.count).reduce(0, +) > 1_000)
        }
        let threads = rebuilt.read(ConversationProjection.self) { Array($0.threads.keys) }
        #expect(threads.count > 10)
        #expect(
            try ConversationTablesTests.Answers(resumed, threads: threads)
                == ConversationTablesTests.Answers(rebuilt, threads: threads))
        await store.close()
    }

    /// Writes 1,500 steps of a workload of 16 concurrent threads into a new log in `dir`, and closes it.
    static func writeLog(_ dir: TemporaryDirectory, seed: UInt64) async throws {
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: seed, activeThreads: 16)
        try await appendWorkload(store, &workload, appends: 1500)
        await store.close()
    }

    /// Runs the helper until it printed `afterLines` lines, SIGKILLs it, and returns the lines.
    func runAndKill(arguments: [String], afterLines: Int) async throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.helperPath)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var buffer = Data()
                var killed = false
                while true {
                    let chunk = output.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    if !killed, buffer.filter({ $0 == UInt8(ascii: "\n") }).count >= afterLines {
                        kill(process.processIdentifier, SIGKILL)
                        killed = true
                    }
                }
                process.waitUntilExit()
                continuation.resume(
                    returning: String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init))
            }
        }
    }
}
