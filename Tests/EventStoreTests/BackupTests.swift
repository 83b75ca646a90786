import Foundation
import Testing
@testable import EventStore

@Suite struct BackupTests {
    /// A backup taken while appends go on is a complete log: it verifies, holds a prefix of the original event for
    /// event (ids, streams, payloads, hashes), takes its streams' revisions with it, and accepts appends of its own.
    @Test func aBackupDuringAppendsIsAVerifiedPrefixOfTheLog() async throws {
        let dir = TemporaryDirectory(), backupRoot = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 31)
        for i in 0..<300 { try await store.append([randomEvent(&rng)], to: try StreamID("s\(i % 7)")) }
        let before = store.lastSeq
        let events = (0..<400).map { _ in randomEvent(&rng) }
        let appender = Task {
            for (i, e) in events.enumerated() { try await store.append([e], to: try StreamID("s\(i % 7)")) }
        }
        let target = backupRoot.path + "/copy"
        let result = try await store.backup(to: target)
        try await appender.value
        #expect(result.lastSeq >= before)
        #expect(result.lastSeq <= store.lastSeq)
        #expect(result.bytes > 0)
        #expect(!FileManager.default.fileExists(atPath: target + ".partial"))

        let copy = try EventStore.openForTest(target)
        #expect(copy.lastSeq == result.lastSeq)
        #expect(try copy.verify().isIntact)
        let original = try store.readAll().prefix(Int(result.lastSeq.rawValue))
        let copied = try copy.readAll()
        #expect(copied.count == original.count)
        for (a, b) in zip(original, copied) {
            #expect(a.id == b.id)
            #expect(a.seq == b.seq)
            #expect(a.stream == b.stream)
            #expect(a.revision == b.revision)
            #expect(a.payload == b.payload)
        }
        // The copy is a log in its own right: it appends after its last event, revisions following on.
        let stream = try StreamID("s0")
        let revision = try copy.revision(of: stream)
        let appended = try await copy.append(
            [randomEvent(&rng)], to: stream, expecting: revision.map { .exact($0) } ?? .noStream)
        #expect(appended.firstSeq.rawValue == result.lastSeq.rawValue + 1)
        await copy.close()
        await store.close()
    }

    @Test func aBackupRefusesADirectoryThatHoldsSomething() async throws {
        let dir = TemporaryDirectory(), target = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 32)
        try await store.append([randomEvent(&rng)], to: "s")
        FileManager.default.createFile(atPath: target.path + "/keep.txt", contents: Data("mine".utf8))
        await #expect(throws: EventStoreError.self) { try await store.backup(to: target.path) }
        #expect(try String(contentsOfFile: target.path + "/keep.txt", encoding: .utf8) == "mine")
        await store.close()
    }
}
