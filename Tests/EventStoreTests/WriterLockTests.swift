import Foundation
import Testing
@testable import EventStore

/// One writing process per log: a second process's writable open fails, saying who holds it; read-only opens work
/// beside it; and a writer killed with SIGKILL leaves the log unlocked.
@Suite(.serialized) struct WriterLockTests {
    @Test func aSecondWriterProcessIsRefusedUntilTheFirstDies() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: CrashTests.helperPath),
            "build the StoreCrashHelper product first")
        let dir = TemporaryDirectory()
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: CrashTests.helperPath)
        helper.arguments = [dir.path, "1"]
        let output = Pipe()
        helper.standardOutput = output
        helper.standardError = FileHandle.nullDevice
        try helper.run()
        defer { if helper.isRunning { kill(helper.processIdentifier, SIGKILL) } }
        // Wait for "ready" (the helper has the log open for writing), reading off the cooperative pool.
        let ready = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread {
                let data = output.fileHandleForReading.availableData
                continuation.resume(returning: String(decoding: data, as: UTF8.self).contains("ready"))
            }
        }
        try #require(ready, "the helper did not open the log")

        do {
            _ = try EventStore.openForTest(dir.path)
            Issue.record("a second writer opened the log")
        } catch let error as EventStoreError {
            #expect(
                error.code == .alreadyOpen,
                "\(error.message)")
            #expect(
                error.message.contains("another process"),
                "\(error.message)")
            #expect(
                error.message.contains("pid \(helper.processIdentifier)"),
                "\(error.message)")
        }
        var readOnly = EventStore.Configuration(directory: dir.path)
        readOnly.readOnly = true
        let reader = try EventStore.open(readOnly)
        await reader.close()

        kill(helper.processIdentifier, SIGKILL)
        helper.waitUntilExit()
        let store = try EventStore.openForTest(dir.path)
        #expect(try store.verify().isIntact)
        try await store.append([ProposedEvent(type: "after", payload: Data("{}".utf8))], to: "s")
        await store.close()
    }
}
