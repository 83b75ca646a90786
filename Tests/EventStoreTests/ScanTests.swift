import Foundation
import Testing
@testable import EventStore

@Suite struct ScanTests {
    @Test(arguments: Backend.all) func scanSeesExactlyWhatReadReturnsAcrossChunks(_ backend: Backend) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 30)
        for i in 0..<100 { try await store.append([randomEvent(&rng)], to: try StreamID("s/\(i % 4)")) }
        let all = try store.readAll()
        for chunk in [1, 7, 100, 1000] {
            var seen: [RecordedEvent] = []
            let last = try store.scan(chunkEvents: chunk) { view in
                let payload = try view.withPayload { Data($0) }
                let copy = try view.recordedEvent()
                #expect(copy.payload == payload)
                #expect(try view.type() == copy.type)
                #expect(try view.stream() == copy.stream)
                #expect(try view.actor() == copy.metadata.actor)
                #expect(try view.workspace() == copy.metadata.workspace)
                #expect(try view.revision == copy.revision)
                #expect(try view.id == copy.id)
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
        try store.scan(from: 95, through: 500) {
            ranged.append($0.seq); return true
        }
        #expect(ranged == (95...100).map { Seq($0) })
        // Errors from the closure come out unchanged.
        struct Stop: Error {}
        #expect(throws: Stop.self) { try store.scan { _ in throw Stop() } }
        await log.close()
    }

    @Test(arguments: Backend.all) func aScanOfSomeStreamsSeesTheirEventsInLogOrderUpToASeq(
        _ backend: Backend
    ) async throws {
        let log = try await TestLog(backend)
        let store = log.store
        var rng = SplitMix64(seed: 31)
        for i in 0..<300 {
            let stream = try StreamID("s/\(Int(rng.next() % 5))")
            try await store.append((0...(i % 3)).map { _ in randomEvent(&rng) }, to: stream)
        }
        let all = try store.readAll()
        for (streams, through) in [
            (["s/0"], UInt64.max), (["s/1", "s/3"], 200), (["s/2", "s/4", "nope"], 1),
            (["s/0", "s/1", "s/2", "s/3", "s/4"], 450),
        ] {
            var seen: [RecordedEvent] = []
            try store.scan(streams: streams.map { try StreamID($0) }, through: Seq(through)) { view in
                seen.append(try view.recordedEvent())
                return true
            }
            let expected = all.filter { streams.contains($0.stream.rawValue) && $0.seq.rawValue <= through }
            #expect(seen == expected, "\(streams) through \(through)")
        }
        var stopped: [Seq] = []
        try store.scan(streams: ["s/0"]) {
            stopped.append($0.seq); return stopped.count < 3
        }
        #expect(stopped.count == 3)
        struct Stop: Error {}
        #expect(throws: Stop.self) { try store.scan(streams: ["s/0"]) { _ in throw Stop() } }
        await log.close()
    }
}
