import Foundation
import Testing
@testable import EventStore

/// What `durableSeq` promises in each mode: durable, every acknowledged append; relaxed, what the background flush
/// covered, which catches up within its interval and never claims more than was flushed.
@Suite struct DurabilityTests {
    @Test func aDurableLogHasEveryAcknowledgedAppendOnTheDevice() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 71)
        for n in 1...20 {
            let result = try await store.append([randomEvent(&rng)], to: "s")
            #expect(store.durableSeq == result.lastSeq, "after append \(n)")
        }
        await store.close()
    }

    @Test func aRelaxedLogIsFlushedWithinItsInterval() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path) {
            $0.durability = .relaxed
            $0.relaxedFlushInterval = .milliseconds(20)
        }
        var rng = SplitMix64(seed: 72)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                let events = (0..<25).map { _ in randomEvent(&rng) }
                group.addTask { for e in events { try await store.append([e], to: StreamID("task-\(task)")) } }
            }
            try await group.waitForAll()
        }
        #expect(store.lastSeq == 200)
        let deadline = ContinuousClock.now + .seconds(10)
        while store.durableSeq < store.lastSeq && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(store.durableSeq == 200, "the flush every 20 ms reached \(store.durableSeq) of 200 within 10 s")
        await store.close()
    }

    @Test func aRelaxedLogClaimsNothingItHasNotFlushed() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 73)
        let first = try EventStore.openForTest(dir.path)
        for _ in 0..<5 { try await first.append([randomEvent(&rng)], to: "s") }
        await first.close()

        // Opening flushes once, so the five events from before are on the device; then no flush for an hour.
        let store = try EventStore.openForTest(dir.path) {
            $0.durability = .relaxed
            $0.relaxedFlushInterval = .seconds(3600)
        }
        #expect(store.durableSeq == 5)
        for _ in 0..<10 { try await store.append([randomEvent(&rng)], to: "s") }
        #expect(store.lastSeq == 15)
        #expect(store.durableSeq == 5, "no flush ran, yet durableSeq says \(store.durableSeq)")
        try store.sync()
        #expect(store.durableSeq == 15, "after sync()")
        await store.close()

        let reopened = try EventStore.openForTest(dir.path)
        #expect(try reopened.readAll().count == 15)
        #expect(try reopened.verify().isIntact)
        await reopened.close()
    }

    @Test func aFlushIntervalThatIsNotPositiveIsRefusedBeforeTheDirectoryIsTouched() throws {
        let dir = TemporaryDirectory()
        for interval in [Duration.zero, .milliseconds(-5)] {
            #expect {
                try EventStore.openForTest(dir.path) {
                    $0.durability = .relaxed
                    $0.relaxedFlushInterval = interval
                }
            } throws: { error in
                (error as? EventStoreError)?.code == .invalidArgument && "\(error)".contains("flush interval")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data.mdb"))
    }
}
