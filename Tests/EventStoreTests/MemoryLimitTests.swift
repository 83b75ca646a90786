import Foundation
import Synchronization
import Testing
@testable import EventStore

/// A process at its memory limit fails the operation that needed the memory, with `outOfMemory`, and goes on: the
/// allocations whose size the data or the configuration decides (a payload read back, a dictionary's training sample,
/// a zstd context) are made fallibly. Refusals are injected (`Configuration.allocationFault`); under `ulimit -v` the
/// same allocations used to end the process while it trained a dictionary.
@Suite struct MemoryLimitTests {
    /// Fails every fallible allocation while `on`.
    final class Refusal: Sendable {
        let on = Mutex(false)
        func set(_ value: Bool) { on.withLock { $0 = value } }
        func refuses(_ size: Int) -> Bool { on.withLock { $0 } }
    }

    @Test func trainingWithoutMemoryFailsAloneAndAppendsGoOn() async throws {
        let dir = TemporaryDirectory()
        let refusal = Refusal()
        let reported = Mutex<[EventStoreError]>([])
        let store = try EventStore.openForTest(dir.path) {
            $0.dictionaryTrainingPoints = [64]
            $0.allocationFault = { refusal.refuses($0) }
            $0.onBackgroundFailure = { error in reported.withLock { $0.append(error) } }
        }
        var rng = SplitMix64(seed: 61)
        for _ in 0..<63 { try await store.append([randomEvent(&rng)], to: "s") }
        refusal.set(true)
        try await store.append([randomEvent(&rng)], to: "s")  // the 64th: training starts in the background
        for _ in 0..<500 where reported.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        let failure = try #require(reported.withLock { $0.first }, "the background training reported nothing")
        #expect(failure.code == .outOfMemory, "\(failure)")
        #expect(failure.message.contains("training a compression dictionary"), "\(failure)")
        #expect(failure.message.contains("give it more memory"), "\(failure)")

        await #expect(throws: EventStoreError.self) { try await store.trainDictionary() }
        refusal.set(false)
        for _ in 0..<10 { try await store.append([randomEvent(&rng)], to: "s") }
        #expect(try store.statistics().currentDictionary == nil)
        #expect(store.writeRefusal == nil)
        let trained = try #require(try await store.trainDictionary())
        #expect(trained.storedAfterSeq == 74)
        #expect(try store.verify().isIntact)
        await store.close()
    }

    @Test func aReadWithoutMemoryFailsAloneAndTheNextSucceeds() async throws {
        let dir = TemporaryDirectory()
        let refusal = Refusal()
        let store = try EventStore.openForTest(dir.path) { $0.allocationFault = { refusal.refuses($0) } }
        var rng = SplitMix64(seed: 62)
        let appended = (0..<20).map { _ in randomEvent(&rng) }
        try await store.append(appended, to: "s")
        #expect(try store.event(at: 1)?.payload == appended[0].payload)  // its zstd context is pooled now
        refusal.set(true)
        do { _ = try store.event(at: 3); Issue.record("the read did not fail") } catch {
            #expect(error.code == .outOfMemory, "\(error)")
            #expect(error.message.contains("an event's payload"), "\(error)")
        }
        refusal.set(false)
        #expect(try store.event(at: 3)?.payload == appended[2].payload)
        #expect(try store.readAll().map(\.payload) == appended.map(\.payload))
        await store.close()
    }

    @Test func aFallibleBufferGrowsUntilRefused() throws {
        let refused = Mutex(Int.max)
        let memory = FallibleMemory(fault: { size in size >= refused.withLock { $0 } })
        var buffer = try FallibleMemory.Buffer(capacity: 4, memory: memory, purpose: "a test buffer")
        let chunk = [UInt8](0..<100)
        for _ in 0..<10 { try chunk.withUnsafeBytes { try buffer.append($0) } }
        #expect(buffer.count == 1_000)
        #expect(Array(buffer.bytes.prefix(100)) == chunk)
        #expect(Array(buffer.bytes.suffix(100)) == chunk)
        refused.withLock { $0 = 2_000 }
        do {
            for _ in 0..<20 { try chunk.withUnsafeBytes { try buffer.append($0) } }
            Issue.record("the buffer grew past its refusal")
        } catch let error as EventStoreError {
            #expect(error.code == .outOfMemory, "\(error)")
            #expect(error.message.contains("a test buffer"), "\(error)")
        } catch {
            Issue.record("not an EventStoreError: \(error)")
        }
        #expect(buffer.count < 2_000)
        #expect(Array(buffer.bytes.prefix(100)) == chunk)
    }
}
