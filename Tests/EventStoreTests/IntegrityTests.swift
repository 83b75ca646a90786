import CLMDB
import Foundation
import Testing
@testable import EventStore

@Suite struct IntegrityTests {
    /// Appends `count` events to a fresh log and closes it.
    func makeLog(_ dir: TemporaryDirectory, count: Int, seed: UInt64 = 20) async throws -> [ProposedEvent] {
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: seed)
        let events = (0..<count).map { _ in randomEvent(&rng) }
        for (i, event) in events.enumerated() { try await store.append([event], to: try StreamID("s/\(i % 5)")) }
        await store.close()
        return events
    }

    @Test(arguments: [1, 17, 40])
    func flippingOneByteOfARecordIsReportedAtItsSeq(target: UInt64) async throws {
        let dir = TemporaryDirectory()
        _ = try await makeLog(dir, count: 40)
        let opened = try EventStore.openForTest(dir.path)
        let record = try opened.env.read { (txn) throws(EventStoreError) in Array(try txn.get(txn.dbs.events, target)!)
        }
        await opened.close()
        // Every copy: LMDB's copy-on-write leaves stale copies of earlier page versions in the file beside the live one.
        try flipByte(in: dir.path + "/data.mdb", everywhere: record, atOffset: record.count / 2)

        let store = try EventStore.openForTest(dir.path)
        let report = try store.verify()
        #expect(report.firstFailure?.seq == Seq(target), "\(report.firstFailure?.description ?? "intact")")
        #expect(report.checkedEvents == target - 1)
        // A direct read of that event fails as corrupt instead of returning wrong bytes.
        let error = #expect(throws: EventStoreError.self) { try store.event(at: Seq(target)) }
        #expect(error?.code == .corrupt)
        // Verifying a range that excludes it passes.
        if target > 1 { #expect(try store.verify(from: 1, through: Seq(target - 1)).isIntact) }
        await store.close()
    }

    @Test func rewritingARecordWithAValidChecksumStillBreaksTheChain() async throws {
        let dir = TemporaryDirectory()
        _ = try await makeLog(dir, count: 10)
        let store = try EventStore.openForTest(dir.path)
        // Forge event 5 well: backdate it by a second and reseal it (valid checksum, valid link from event 4).
        // Event 6 still links to the original event 5, so the chain breaks there.
        try store.env.write { (txn) throws(EventStoreError) in
            let original = try RecordCodec.decode(txn.get(txn.dbs.events, 5)!, seq: 5, nodes: txn)
            var envelope = original.envelope
            envelope.timeNanoseconds -= 1_000_000_000
            var bytes =
                RecordCodec.header(
                    envelope, seq: 5, compression: original.compression, rawLength: original.rawLength, nodes: txn)
                + Array(original.payload)
            let previous = RecordCodec.storedHash(try txn.get(txn.dbs.events, 4)!)!
            bytes.withUnsafeMutableBytes {
                _ = RecordCodec.seal($0, seq: 5, previousHash: previous, hasher: SHA256Hasher())
            }
            try txn.put(txn.dbs.events, UInt64(5).bigEndianBytes, bytes)
        }
        let report = try store.verify()
        #expect(report.firstFailure?.seq == 6, "\(report.firstFailure?.description ?? "")")
        #expect(report.firstFailure?.reason.contains("hash chain broken") == true)
        await store.close()
    }

    /// Only the last record of a commit stores its chain hash; verify still recomputes every link, from the start or
    /// from inside a commit, and a well-forged record inside a commit breaks the chain at the commit's end.
    @Test func aCommitStoresOneChainHashThatCoversAllItsRecords() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path)
        var rng = SplitMix64(seed: 22)
        try await store.append([randomEvent(&rng)], to: "s/a")  // seq 1
        try await store.append((0..<40).map { _ in randomEvent(&rng) }, to: "s/b")  // seqs 2...41, one commit
        for _ in 0..<3 { try await store.append([randomEvent(&rng)], to: "s/a") }  // 42, 43, 44
        let stored = try (1...44).filter { try store.event(at: Seq($0))!.chainHash != nil }
        #expect(stored == [1, 41, 42, 43, 44])
        // The stored hashes are the chain's: recomputed from the genesis hash through every record.
        let hasher = SHA256Hasher()
        var hash = RecordCodec.genesisHash
        for seq in UInt64(1)...44 {
            hash = try store.env.read { (txn) throws(EventStoreError) in
                RecordCodec.chainHash(try txn.get(txn.dbs.events, seq)!, seq: seq, previousHash: hash, hasher: hasher)
            }
            if let kept = try store.event(at: Seq(seq))!.chainHash { #expect(kept.bytes == hash, "seq \(seq)") }
        }
        for from: UInt64 in [1, 2, 20, 41, 42, 44] {
            let report = try store.verify(from: Seq(from))
            #expect(
                report.isIntact,
                "from \(from): \(report.firstFailure?.description ?? "")")
            #expect(
                report.checkedEvents == 45 - from,
                "from \(from): \(report.firstFailure?.description ?? "")")
        }

        // Forge event 20 well (valid checksum, its own link from 19): the commit's stored hash at 41 no longer follows.
        try store.env.write { (txn) throws(EventStoreError) in
            let original = try RecordCodec.decode(txn.get(txn.dbs.events, 20)!, seq: 20, nodes: txn)
            var envelope = original.envelope
            envelope.timeNanoseconds -= 1_000_000_000
            var bytes =
                RecordCodec.header(
                    envelope, seq: 20, compression: original.compression, rawLength: original.rawLength, nodes: txn)
                + Array(original.payload)
            bytes.withUnsafeMutableBytes {
                RecordCodec.seal($0, seq: 20, previousHash: RecordCodec.genesisHash, hasher: hasher)
            }
            try txn.put(txn.dbs.events, UInt64(20).bigEndianBytes, bytes)
        }
        let report = try store.verify()
        #expect(report.firstFailure?.seq == 41, "\(report.firstFailure?.description ?? "intact")")
        #expect(report.firstFailure?.reason.contains("events 2…41") == true, "\(report.firstFailure?.reason ?? "")")
        // A range that ends inside the commit is followed to the commit's stored hash.
        #expect(try store.verify(from: 1, through: 30).firstFailure?.seq == 41)
        #expect(try store.verify(from: 1, through: 19).firstFailure?.seq == 41)
        await store.close()
    }

    @Test func aLogWrittenByANewerFormatIsRefusedClearly() async throws {
        let dir = TemporaryDirectory()
        _ = try await makeLog(dir, count: 3)
        do {
            let store = try EventStore.openForTest(dir.path)
            try store.env.write { (txn) throws(EventStoreError) in
                try txn.put(txn.dbs.meta, KeyLayout.formatKey, UInt32(99).bigEndianBytes)
            }
            await store.close()
        }
        let error = #expect(throws: EventStoreError.self) { try EventStore.openForTest(dir.path) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.message.contains("format version 99") == true)
        #expect(error?.message.contains("upgrade Logbook") == true)
        // And the directory can be opened again once fixed: the failed open released it.
        let again = #expect(throws: EventStoreError.self) { try EventStore.openForTest(dir.path) }
        #expect(again?.code == .unsupportedFormat)
    }

    @Test func aFullMapFailsAppendsClearlyAndLeavesAVerifiableLog() async throws {
        let dir = TemporaryDirectory()
        var acknowledged: [UUID] = []
        var failure: EventStoreError?
        do {
            let store = try EventStore.openForTest(dir.path) {
                $0.limits.initialMapSizeBytes = 256 << 10
                $0.limits.maxMapSizeBytes = 1 << 20
            }
            var rng = SplitMix64(seed: 21)
            for i in 0..<5_000 {
                let event = randomEvent(&rng)
                do {
                    try await store.append([event], to: try StreamID("s/\(i % 7)"))
                    acknowledged.append(event.id)
                } catch {
                    failure = error
                    break
                }
            }
            #expect(try store.statistics().mapSizeBytes == 1 << 20, "the map grew to its maximum before failing")
            #expect(try store.verify().isIntact)
            await store.close()
        }
        #expect(failure?.code == .mapFull)
        #expect(failure?.message.contains("maximum") == true)
        #expect(failure?.message.contains("the log is unchanged") == true)
        #expect(acknowledged.count > 100)

        let store = try EventStore.openForTest(dir.path) { $0.limits.maxMapSizeBytes = 8 << 20 }
        #expect(try store.readAll().map(\.id) == acknowledged)
        #expect(try store.verify().isIntact)
        // With a larger maximum, appends go on.
        var rng = SplitMix64(seed: 22)
        try await store.append([randomEvent(&rng)], to: "s/after")
        #expect(store.lastSeq == Seq(UInt64(acknowledged.count) + 1))
        await store.close()
    }

    /// The writer caches stream heads across commits; a group that fails in storage must leave no trace in them,
    /// including the heads of its requests that were written before the one that did not fit.
    @Test func aGroupThatFailsInStorageDoesNotMoveItsStreamsHeads() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path) {
            $0.limits.initialMapSizeBytes = 256 << 10
            $0.limits.maxMapSizeBytes = 512 << 10
            $0.limits.maxEventBytes = 1 << 20
        }
        var rng = SplitMix64(seed: 24)
        let streams = try (0..<16).map { try StreamID("conversation/\($0)") }
        for stream in streams { try await store.append([randomEvent(&rng)], to: stream) }
        // Random bytes do not compress: 600 KB cannot fit in a 512 KB map.
        let large = ProposedEvent(
            type: "blob", payload: Data((0..<(600 << 10)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        let small = (0..<16).map { _ in randomEvent(&rng) }
        let writer = try #require(store.writer)
        // Hold the writer inside a transaction (a closing event is built on it) while the small appends and then the
        // large one queue, so that they form one group in that order: written, then failed together.
        let gate = DispatchSemaphore(value: 0)
        defer { gate.signal() }  // never leave the writer held, whatever fails
        let opening = randomEvent(&rng)
        let blocker = Task {
            try await store.append(
                [opening],
                closingWith: { _ in
                    _ = gate.wait(timeout: .now() + 60)
                    return ProposedEvent(
                        id: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!, type: "gate",
                        payload: Data("{}".utf8))
                }, to: "gate")
        }
        func waitForQueue(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while writer.queuedRequests < count {
                try #require(ContinuousClock.now < deadline, "the writer's queue did not reach \(count)")
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        var appends: [Task<Void, any Error>] = []
        for (i, (stream, event)) in zip(streams, small).enumerated() {
            appends.append(Task { try await store.append([event], to: stream) })
            try await waitForQueue(i + 1)
        }
        appends.append(Task { try await store.append([large], to: "blobs") })
        try await waitForQueue(streams.count + 1)
        gate.signal()
        _ = try await blocker.value
        for append in appends {
            let failure = await #expect(throws: EventStoreError.self) { try await append.value }
            #expect(failure?.code == .mapFull)
        }

        for stream in streams {
            let revision = UInt64(try store.read(stream: stream, maxCount: 1_000).count)
            let result = try await store.append(
                [randomEvent(&rng)], to: stream, expecting: .exact(StreamRevision(revision)))
            #expect(result.revision == StreamRevision(revision + 1))
        }
        #expect(try store.verify().isIntact)
        await store.close()
    }

    @Test func retrainingTheDictionaryKeepsOlderRecordsReadable() async throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 23)
        var appended: [ProposedEvent] = []
        let store = try EventStore.openForTest(dir.path) { $0.dictionarySampleEvents = 300 }
        func appendSome(_ n: Int) async throws {
            for _ in 0..<n {
                let e = randomEvent(&rng)
                try await store.append([e], to: "s")
                appended.append(e)
            }
        }
        try await appendSome(300)
        let first = try #require(try await store.trainDictionary())
        try await appendSome(300)
        let second = try #require(try await store.trainDictionary())
        try await appendSome(50)
        #expect(first.id == 1)
        #expect(second.id == 2)
        #expect(first.storedAfterSeq == 300)
        #expect(second.storedAfterSeq == 600)
        // At most a quarter of the sample (zstd learns little from less): here far below the 256 KiB maximum.
        let sampleBytes = appended[0..<300].reduce(0) { $0 + $1.payload.count }
        #expect(
            first.sizeBytes > 0,
            "\(first.sizeBytes) B from \(sampleBytes) B of samples")
        #expect(
            first.sizeBytes <= sampleBytes / 4,
            "\(first.sizeBytes) B from \(sampleBytes) B of samples")

        // Records name the dictionary they were written with.
        let kinds = try store.env.read { (txn) throws(EventStoreError) in
            try [1, 301, 601].map { (seq: UInt64) throws(EventStoreError) in
                try RecordCodec.decode(txn.get(txn.dbs.events, seq)!, seq: seq, nodes: txn).compression
            }
        }
        #expect(kinds == [.zstd(bare: true), .zstdDictionary(1, bare: true), .zstdDictionary(2, bare: true)])
        let stats = try store.statistics()
        #expect(stats.currentDictionary?.id == 2)
        #expect(stats.dictionaries == 2)
        #expect(stats.compressionRatio > 1.5, "dictionary compression of small JSON events: \(stats.compressionRatio)")
        await store.close()

        let reopened = try EventStore.openForTest(dir.path)
        #expect(try reopened.readAll().map(\.payload) == appended.map(\.payload))
        #expect(try reopened.verify().isIntact)
        await reopened.close()
    }

    @Test func dictionariesAreTrainedAutomaticallyAtEachTrainingPoint() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path) {
            $0.dictionaryTrainingPoints = [200, 600]; $0.dictionarySampleEvents = 200
        }
        var rng = SplitMix64(seed: 24)
        for _ in 0..<200 { try await store.append([randomEvent(&rng)], to: "s") }
        // Training runs in the background after the point's event commits; appends go on meanwhile.
        var appended = 200
        while try store.statistics().currentDictionary?.id != 2 {
            try await store.append([randomEvent(&rng)], to: "s")
            appended += 1
            try #require(appended < 100_000, "no second dictionary was trained")
        }
        let stats = try store.statistics()
        #expect(stats.dictionaries == 2)
        #expect((stats.currentDictionary?.storedAfterSeq ?? 0) >= 600)
        await store.close()
        // Reopened past both points, it trains no more.
        let reopened = try EventStore.openForTest(dir.path) {
            $0.dictionaryTrainingPoints = [200, 600]; $0.dictionarySampleEvents = 200
        }
        for _ in 0..<50 { try await reopened.append([randomEvent(&rng)], to: "s") }
        #expect(try reopened.statistics().dictionaries == 2)
        await reopened.close()
    }
}

/// Flips the byte at `offset` of every occurrence of `needle` in the file at `path`.
func flipByte(in path: String, everywhere needle: [UInt8], atOffset offset: Int) throws {
    let url = URL(fileURLWithPath: path)
    var data = try Data(contentsOf: url)
    var start = data.startIndex
    var flipped = 0
    while let range = data.range(of: Data(needle), in: start..<data.endIndex) {
        data[range.lowerBound + offset] ^= 0x5A
        flipped += 1
        start = range.upperBound
    }
    try #require(flipped > 0, "record bytes not found in the data file")
    try data.write(to: url)
}

@Suite struct CompressionTests {
    /// An incompressible payload makes zstd fail with "destination too small" (it is then stored raw); the context
    /// that failed must still take the next dictionary. A regression test for records labelled with the new
    /// dictionary but compressed with the old one.
    @Test func incompressiblePayloadsBetweenDictionaryChangesLeaveEveryRecordReadable() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore.openForTest(dir.path) { $0.dictionarySampleEvents = 300 }
        var rng = SplitMix64(seed: 40)
        func noise() -> ProposedEvent {
            ProposedEvent(type: "noise", payload: Data((0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        }
        for round in 0..<3 {
            for _ in 0..<300 { try await store.append([randomEvent(&rng)], to: "s") }
            for _ in 0..<5 { try await store.append([noise()], to: "s") }  // fail in zstd, stored raw
            try #require(try await store.trainDictionary() != nil, "round \(round)")
            for _ in 0..<20 { try await store.append([randomEvent(&rng)], to: "s") }
        }
        let report = try store.verify()
        #expect(report.isIntact, "\(report.firstFailure?.description ?? "")")
        #expect(try store.readAll().count == 3 * 325)
        await store.close()
    }

    /// The level applies to new records only: a log written at one level appends, reads back and verifies at
    /// another, and a higher level stores fewer bytes. An impossible level is refused before the directory is touched.
    @Test func aHigherCompressionLevelStoresFewerBytesAndLevelsMixInOneLog() async throws {
        var rng = SplitMix64(seed: 44)
        let first = (0..<300).map { _ in randomEvent(&rng) }
        let later = (0..<50).map { _ in randomEvent(&rng) }
        func storedBytes(level: Int, _ dir: TemporaryDirectory) async throws -> UInt64 {
            let store = try EventStore.openForTest(dir.path) { $0.compressionLevel = level }
            for e in first { try await store.append([e], to: "s") }
            let bytes = try store.statistics().storedPayloadBytes
            await store.close()
            return bytes
        }
        let fast = TemporaryDirectory(), small = TemporaryDirectory()
        let fastBytes = try await storedBytes(level: 1, fast)
        let smallBytes = try await storedBytes(level: 19, small)
        #expect(smallBytes < fastBytes, "level 19 stored \(smallBytes) bytes of payload, level 1 \(fastBytes)")

        let reopened = try EventStore.openForTest(small.path) { $0.compressionLevel = 1 }
        for e in later { try await reopened.append([e], to: "s") }
        #expect(try reopened.readAll().map(\.payload) == (first + later).map(\.payload))
        #expect(try reopened.verify().isIntact)
        await reopened.close()

        let refused = TemporaryDirectory()
        for level in [0, 20] {
            #expect {
                try EventStore.openForTest(refused.path) { $0.compressionLevel = level }
            } throws: { error in
                (error as? EventStoreError)?.code == .invalidArgument
                    && "\(error)".contains("compression level \(level)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: refused.path + "/data.mdb"))
    }

    /// Bare frames (format 2) and full frames (format 1, magic number and content size) both read back, with and
    /// without a dictionary, through a record's flags; a bare frame is smaller.
    @Test func bareAndFullFramesBothDecompress() throws {
        var rng = SplitMix64(seed: 43)
        let samples = (0..<400).map { _ in randomEvent(&rng).payload }
        let bytes = try #require(try ZstdCodec().trainDictionary(samples: samples, capacity: 16 * 1024))
        for dictionary in [false, true] {
            let codec = ZstdCodec()
            if dictionary {
                codec.register(dictionaryID: 3, bytes: bytes)
                codec.currentDictionaryID = 3
            }
            var bareBytes = 0
            var fullBytes = 0
            var compressed = 0
            for payload in samples.prefix(50) {
                for bare in [true, false] {
                    let (compression, stored) = try payload.withUnsafeBytes { try codec.compress($0, bare: bare) }
                    // a short payload that does not shrink without a dictionary
                    guard compression != .none else { continue }
                    #expect(compression == (dictionary ? .zstdDictionary(3, bare: bare) : .zstd(bare: bare)))
                    compressed += 1
                    let envelope = RecordCodec.Envelope(
                        streamNumber: 1, revision: 1, previousSeq: 0, typeSymbol: 1, timeNanoseconds: 5, id: UUID())
                    var record =
                        RecordCodec.header(
                            envelope, seq: 9, compression: compression, rawLength: payload.count,
                            nodes: EventIDNodes.Table()) + stored
                    record.withUnsafeMutableBytes {
                        _ = RecordCodec.seal($0, seq: 9, previousHash: RecordCodec.genesisHash, hasher: SHA256Hasher())
                    }
                    var readCompression: PayloadCompression?
                    var readPayload: Data?
                    try record.withBytes { (r) throws(EventStoreError) in
                        let d = try RecordCodec.decode(r, seq: 9, nodes: EventIDNodes.Table())
                        readCompression = d.compression
                        readPayload = try codec.decompress(d.payload, d.compression, rawLength: d.rawLength) {
                            (_) throws(EventStoreError) in nil
                        }
                    }
                    #expect(readCompression == compression)
                    #expect(readPayload == payload)
                    if bare { bareBytes += stored.count } else { fullBytes += stored.count }
                }
            }
            #expect(compressed >= 60, "most payloads compress (\(compressed) of 100)")
            #expect(
                bareBytes + compressed / 2 * 4 <= fullBytes,
                "a bare frame saves at least the 4-byte magic number: \(bareBytes) vs \(fullBytes)")
        }
    }

    /// A record naming a dictionary the codec does not know must fail with a clear error (or load it when the log holds
    /// it), never decompress with a garbage dictionary. A regression test for a miscompiled lookup that crashed zstd.
    @Test func aMissingDictionaryIsAnErrorAndAStoredOneIsLoadedOnFirstUse() throws {
        let codec = ZstdCodec()
        var rng = SplitMix64(seed: 41)
        let samples = (0..<400).map { _ in randomEvent(&rng).payload }
        let bytes = try #require(try ZstdCodec().trainDictionary(samples: samples, capacity: 16 * 1024))
        let writer = ZstdCodec()
        writer.register(dictionaryID: 7, bytes: bytes)
        writer.currentDictionaryID = 7
        let payload = samples[0]
        let (compression, stored) = try writer.compress(payload)
        #expect(compression == .zstdDictionary(7, bare: true))

        var loads = 0
        #expect(throws: EventStoreError.self) {
            try stored.withUnsafeBytes { (s) throws(EventStoreError) in
                try codec.decompress(s, compression, rawLength: payload.count) { (_) throws(EventStoreError) in
                    loads += 1; return nil
                }
            }
        }
        let loaded = try stored.withUnsafeBytes { (s) throws(EventStoreError) in
            try codec.decompress(s, compression, rawLength: payload.count) { (id) throws(EventStoreError) in
                loads += 1; return id == 7 ? bytes : nil
            }
        }
        #expect(loaded == payload)
        // Registered now: no further loads.
        _ = try stored.withUnsafeBytes { (s) throws(EventStoreError) in
            try codec.decompress(s, compression, rawLength: payload.count) { (_) throws(EventStoreError) in
                loads += 1; return nil
            }
        }
        #expect(loads == 2)
    }
}

extension ZstdCodec {
    /// Trains on payloads given one by one.
    func trainDictionary(samples: [Data], capacity: Int) throws -> [UInt8]? {
        let joined = samples.reduce(into: Data()) { $0.append($1) }
        return try joined.withUnsafeBytes {
            try trainDictionary(samples: $0, sizes: samples.map(\.count).filter { $0 > 0 }, capacity: capacity)
        }
    }
}
