import Foundation
import Testing
@testable import EventStore

@Suite struct ScanTests {
    @Test func scanSeesExactlyWhatReadReturnsAcrossChunks() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 30)
        for i in 0..<100 { try await store.append([randomEvent(&rng)], to: try StreamID("s/\(i % 4)")) }
        let all = try store.readAll()
        for chunk in [1, 7, 100, 1000] {
            var seen: [RecordedEvent] = []
            let last = try store.scan(chunkEvents: chunk) { view in
                let payload = try view.withPayload { Data($0) }
                let copy = try view.recordedEvent()
                #expect(copy.payload == payload)
                #expect(try view.type() == copy.type && view.stream() == copy.stream && view.actor() == copy.metadata.actor)
                #expect(try view.workspace() == copy.metadata.workspace && view.revision == copy.revision && view.id == copy.id)
                seen.append(copy)
                return true
            }
            #expect(seen == all, "chunk \(chunk)")
            #expect(last == 100)
        }
        // A range, and stopping early.
        var seqs: [Seq] = []
        let stoppedAt = try store.scan(from: 10, through: 50, chunkEvents: 8) { view in
            seqs.append(view.seq)
            return view.seq < 20
        }
        #expect(seqs == (10...20).map { Seq($0) })
        #expect(stoppedAt == 20)
        var ranged: [Seq] = []
        try store.scan(from: 95, through: 500) { ranged.append($0.seq); return true }
        #expect(ranged == (95...100).map { Seq($0) })
        // Errors from the closure come out unchanged.
        struct Stop: Error {}
        #expect(throws: Stop.self) { try store.scan { _ in throw Stop() } }
        await store.close()
    }
}
