import Foundation
import Testing
@testable import EventStore
import CHashing

@Suite struct AppendTests {
    @Test(arguments: Backend.all) func appendedEventsReadBackExactlyWithPositions(_ backend: Backend) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 1)
        let a = (0..<3).map { _ in randomEvent(&rng) }
        let b = (0..<2).map { _ in randomEvent(&rng) }
        let ra = try await store.append(a, to: "thread/a", expecting: .noStream)
        let rb = try await store.append(b, to: "thread/b", expecting: .noStream)
        #expect(ra == AppendResult(firstSeq: 1, lastSeq: 3, revision: 3, wasAlreadyAppended: false))
        #expect(rb == AppendResult(firstSeq: 4, lastSeq: 5, revision: 2, wasAlreadyAppended: false))

        let all = try store.readAll()
        #expect(all.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(all.map(\.revision) == [1, 2, 3, 1, 2])
        for (recorded, proposed) in zip(all, a) { expectSame(recorded, proposed, stream: "thread/a") }
        for (recorded, proposed) in zip(all.dropFirst(3), b) { expectSame(recorded, proposed, stream: "thread/b") }

        let streamB = try store.read(stream: "thread/b", maxCount: 10)
        #expect(streamB.map(\.seq) == [4, 5])
        #expect(try store.read(stream: "thread/a", from: 2, maxCount: 1).map(\.seq) == [2])
        #expect(try store.read(stream: "thread/none", maxCount: 10).isEmpty)
        #expect(try store.event(at: 4)?.id == b[0].id)
        #expect(try store.event(at: 6) == nil)
        #expect(try store.revision(of: "thread/a") == 3)
        #expect(try store.revision(of: "thread/none") == nil)
        #expect(store.lastSeq == 5)
        await log.close()
    }

    @Test(arguments: Backend.all) func wrongExpectedRevisionNamesBothSidesAndWritesNothing(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 2)
        try await store.append([randomEvent(&rng), randomEvent(&rng)], to: "s", expecting: .noStream)

        let cases: [(ExpectedRevision, String)] = [
            (.noStream, "expected no stream, but the stream is at revision 2"),
            (.exact(1), "expected revision 1, but the stream is at revision 2"),
            (.exact(3), "expected revision 3, but the stream is at revision 2"),
        ]
        for (expected, message) in cases {
            let error = await #expect(throws: EventStoreError.self) {
                try await store.append([randomEvent(&rng)], to: "s", expecting: expected)
            }
            #expect(error?.code == .wrongExpectedRevision)
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
        let missing = await #expect(throws: EventStoreError.self) {
            try await store.append([randomEvent(&rng)], to: "other", expecting: .streamExists)
        }
        #expect(missing?.message.contains("expected stream exists, but the stream does not exist") == true)
        #expect(store.lastSeq == 2)
        #expect(try await store.append([randomEvent(&rng)], to: "s", expecting: .exact(2)).revision == 3)
        #expect(try await store.append([randomEvent(&rng)], to: "s", expecting: .streamExists).revision == 4)
        #expect(try await store.append([randomEvent(&rng)], to: "s", expecting: .any).revision == 5)
        await log.close()
    }

    @Test(arguments: Backend.all) func reappendingTheSameEventsReturnsTheOriginalPositions(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 3)
        let events = [randomEvent(&rng), randomEvent(&rng)]
        let first = try await store.append(events, to: "s", expecting: .noStream)
        try await store.append([randomEvent(&rng)], to: "s")
        // The retry's expected revision no longer holds; the retry still succeeds with the original positions.
        let retry = try await store.append(events, to: "s", expecting: .noStream)
        #expect(
            retry
                == AppendResult(firstSeq: first.firstSeq, lastSeq: first.lastSeq, revision: 2, wasAlreadyAppended: true)
        )
        #expect(store.lastSeq == 3)
        await log.close()
    }

    @Test(arguments: Backend.all) func reusedIDWithOtherContentOrMixedRequestsAreRejected(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 4)
        let original = randomEvent(&rng)
        try await store.append([original], to: "s")

        var changed = original
        changed.payload = Data("{\"other\":true}".utf8)
        let e1 = await #expect(throws: EventStoreError.self) { try await store.append([changed], to: "s") }
        #expect(e1?.code == .duplicateEventID)
        #expect(e1?.message.contains("different content") == true)

        let e2 = await #expect(throws: EventStoreError.self) { try await store.append([original], to: "elsewhere") }
        #expect(e2?.code == .duplicateEventID)

        let e3 = await #expect(throws: EventStoreError.self) {
            try await store.append([original, randomEvent(&rng)], to: "s")
        }
        #expect(e3?.code == .duplicateEventID)
        #expect(e3?.message.contains("mixes new events") == true)

        let fresh = randomEvent(&rng)
        let e4 = await #expect(throws: EventStoreError.self) { try await store.append([fresh, fresh], to: "s") }
        #expect(e4?.code == .duplicateEventID)
        #expect(store.lastSeq == 1)
        await log.close()
    }

    @Test(arguments: Backend.all) func invalidInputFailsWithActionableErrorsAndLeavesTheLogUnchanged(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend) {
            $0.limits.maxEventBytes = 1000; $0.limits.maxStreamIDBytes = 16
        }
        let store = log.store
        var rng = SplitMix64(seed: 5)

        // Variables, not literals: `StreamID("literal")` is a literal coercion, which traps on invalid ids.
        let emptyName = "", nulName = "a\u{0}b"
        let empty = #expect(throws: EventStoreError.self) { _ = try StreamID(emptyName) }
        #expect(empty?.code == .invalidArgument)
        #expect(throws: EventStoreError.self) { _ = try StreamID(nulName) }
        let invalidUTF8 = #expect(throws: EventStoreError.self) { _ = try StreamID(utf8: [0x74, 0xFF, 0xFE]) }
        #expect(invalidUTF8?.message.contains("not valid UTF-8") == true)
        #expect(try StreamID(utf8: Array("thread/é".utf8)).rawValue == "thread/é")

        let long = await #expect(throws: EventStoreError.self) {
            try await store.append([randomEvent(&rng)], to: "thread/0123456789abcdef")
        }
        #expect(long?.code == .invalidArgument)
        #expect(long?.message.contains("limit of 16") == true)

        let big = ProposedEvent(type: "big", payload: Data(repeating: 65, count: 1001))
        let tooBig = await #expect(throws: EventStoreError.self) { try await store.append([big], to: "s") }
        #expect(tooBig?.code == .invalidArgument)
        #expect(tooBig?.message.contains("1001 bytes, more than the limit of 1000") == true)

        let noEvents = await #expect(throws: EventStoreError.self) { try await store.append([], to: "s") }
        #expect(noEvents?.code == .invalidArgument)
        let noType = await #expect(throws: EventStoreError.self) {
            try await store.append([ProposedEvent(type: "", payload: Data())], to: "s")
        }
        #expect(noType?.code == .invalidArgument)

        #expect(store.lastSeq == 0)
        #expect(try store.verify().isIntact)
        await log.close()
    }

    @Test(arguments: Backend.all) func readingAStreamFromAnyRevisionReturnsExactlyThatSlice(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 7)
        // Two streams interleaved, long enough to span several checkpoints (every 32 revisions).
        var appended: [StreamID: [UUID]] = ["long": [], "other": []]
        for i in 0..<150 {
            let stream: StreamID = i % 3 == 0 ? "other" : "long"
            let event = randomEvent(&rng)
            try await store.append([event], to: stream)
            appended[stream, default: []].append(event.id)
        }
        for stream in ["long", "other"] as [StreamID] {
            let ids = appended[stream]!
            for from in [1, 2, 31, 32, 33, 34, 64, 65, 66, ids.count - 1, ids.count, ids.count + 1] {
                for maxCount in [1, 2, 31, 32, 33, 1000] {
                    let got = try store.read(stream: stream, from: StreamRevision(UInt64(from)), maxCount: maxCount)
                    let want = Array(ids.dropFirst(from - 1).prefix(maxCount))
                    #expect(got.map(\.id) == want, "\(stream) from \(from) max \(maxCount)")
                    #expect(got.map(\.revision.rawValue) == Array(UInt64(from)..<UInt64(from + want.count)))
                }
            }
        }
        #expect(try store.verify().isIntact)
        await log.close()
    }

    @Test func eventIDsFromOneProcessOnlyGrow() {
        let ids = (0..<10_000).map { _ in EventID.make() }
        let keys = ids.map { withUnsafeBytes(of: $0.uuid) { Array($0) } }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) })
        #expect(ids.allSatisfy { $0.uuidString.dropFirst(14).first == "7" }, "version 7")
        // Each ends with this process's node, and its parts lay it out again.
        #expect(
            ids.allSatisfy { id in
                EventID.parts(of: id).map {
                    $0.node == EventID.node
                        && EventID.layout(milliseconds: $0.milliseconds, counter: $0.counter, node: $0.node) == id
                } ?? false
            })
    }

    @Test func theLogSurvivesCloseAndReopen() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 6)
        let events = (0..<20).map { _ in randomEvent(&rng) }
        do {
            let store = try EventStore.openForTest(dir.path)
            for event in events { try await store.append([event], to: "s") }
            await store.close()
        }
        let store = try EventStore.openForTest(dir.path)
        let all = try store.readAll()
        #expect(all.count == 20)
        for (recorded, proposed) in zip(all, events) { expectSame(recorded, proposed, stream: "s") }
        #expect(try await store.append([randomEvent(&rng)], to: "s", expecting: .exact(20)).lastSeq == 21)
        #expect(try store.verify().isIntact)
        await store.close()
    }

    @Test func openingTheSameDirectoryTwiceInOneProcessFails() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        let error = #expect(throws: EventStoreError.self) { try EventStore.openForTest(dir.path) }
        #expect(error?.code == .alreadyOpen)
        await store.close()
        let again = try EventStore.openForTest(dir.path)
        await again.close()
    }
}

@Suite struct ChecksumTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        // CRC-32C("123456789") = 0xE3069283 (the catalogue's check value); both the hardware and the portable path.
        let bytes = Array("123456789".utf8)
        bytes.withUnsafeBytes { raw in
            #expect(logbook_crc32c(0, raw.baseAddress, raw.count) == 0xE306_9283)
            #expect(
                ~logbook_crc32c_portable(~0, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count)
                    == 0xE306_9283)
            // Continuing in pieces gives the same as one pass.
            let first = logbook_crc32c(0, raw.baseAddress, 4)
            #expect(logbook_crc32c(first, raw.baseAddress! + 4, 5) == 0xE306_9283)
        }
    }
}

@Suite struct RecordedTimeTests {
    /// Restoring an export keeps each event's original time, as long as times stay in order and behind the clock.
    @Test func recordedTimesAreKeptInOrderAndNeverAheadOfTheClock() async throws {
        let dir = TemporaryDirectory()
        let now: Int64 = 1_800_000_000_000_000_000
        let store = try EventStore.openForTest(dir.path) { $0.clock = { now } }
        var rng = SplitMix64(seed: 41)
        func event(_ time: Int64?) -> ProposedEvent { var e = randomEvent(&rng); e.recordedTime = time; return e }
        try await store.append([event(now - 3000), event(now - 2000)], to: "a")
        try await store.append([event(now - 2000)], to: "b")
        #expect(try store.readAll().map(\.timeNanoseconds) == [now - 3000, now - 2000, now - 2000])
        // Back in time, or ahead of the clock: refused, and the log is as it was.
        await #expect(throws: EventStoreError.self) { try await store.append([event(now - 2500)], to: "a") }
        await #expect(throws: EventStoreError.self) { try await store.append([event(now + 1)], to: "a") }
        await #expect(throws: EventStoreError.self) {
            try await store.append([event(now - 1000), event(now - 1500)], to: "c")
        }
        #expect(store.lastSeq == 3)
        // Without one, the commit time as always.
        try await store.append([event(nil)], to: "a")
        #expect(try store.event(at: 4)?.timeNanoseconds == now)
        let report = try store.verify()
        #expect(report.isIntact, "\(String(describing: report.firstFailure))")
        await store.close()
    }
}
