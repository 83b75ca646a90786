import Foundation
import Testing
@testable import EventStore

/// Record layouts: version 3 (what this build writes) round-trips every envelope, with ids of registered nodes stored
/// compactly; versions 1 and 2 (logs written before) still read, with their chain hash computed as it always was.
@Suite struct RecordCodecTests {
    /// Two registered nodes; the second's base is far from now, so its ids' times are far from it.
    static let nodes = EventIDNodes.Table([
        EventIDNode(index: 0, node: 0x2A, baseMilliseconds: 1_796_000_000_000),
        EventIDNode(index: 1, node: (1 << 62) - 1, baseMilliseconds: 5),
    ])

    func roundTrip(
        _ envelope: RecordCodec.Envelope, seq: UInt64, nodes: EventIDNodes.Table = Self.nodes
    ) throws -> RecordCodec.Envelope {
        var record = RecordCodec.header(envelope, seq: seq, compression: .none, rawLength: 3, nodes: nodes) + [1, 2, 3]
        record.withUnsafeMutableBytes {
            RecordCodec.seal($0, seq: seq, previousHash: RecordCodec.genesisHash, hasher: SHA256Hasher())
        }
        var decoded: RecordCodec.Envelope?
        try record.withBytes { (r) throws(EventStoreError) in
            decoded = try RecordCodec.decode(r, seq: seq, nodes: nodes).envelope
        }
        return try #require(decoded)
    }

    @Test func everyTimeRoundTripsBesideEveryKindOfId() throws {
        var rng = SplitMix64(seed: 5)
        let now = Int64(1_796_000_000_000_000_000)
        for _ in 0..<2_000 {
            let ms = UInt64.random(in: 0..<(1 << 48), using: &rng)
            let counter = UInt16.random(in: 0...0xFFF, using: &rng)
            let ids = [
                EventID.make(unixMilliseconds: ms, using: &rng),
                EventID.make(unixMilliseconds: UInt64(now / 1_000_000), using: &rng), UUID(),
                EventID.layout(milliseconds: ms, counter: counter, node: 0x2A),
                EventID.layout(milliseconds: ms, counter: counter, node: (1 << 62) - 1),
                EventID.layout(milliseconds: UInt64(now / 1_000_000) + 3, counter: counter, node: 0x2A),
            ]
            let times = [
                now, now + Int64.random(in: -5_000_000_000...5_000_000_000, using: &rng),
                Int64.random(in: .min ... .max, using: &rng), .min, .max, 0,
            ]
            for id in ids {
                for time in times {
                    let e = RecordCodec.Envelope(
                        streamNumber: rng.next() >> 1, revision: UInt64.random(in: 1...1_000_000, using: &rng),
                        previousSeq: 0, typeSymbol: UInt32.random(in: 1...UInt32.max, using: &rng),
                        timeNanoseconds: time, id: id, actorSymbol: 7, correlationID: ids.randomElement(using: &rng),
                        causationID: ids.randomElement(using: &rng))
                    let back = try roundTrip(e, seq: 10)
                    #expect(back.timeNanoseconds == time)
                    #expect(back.id == id)
                    #expect(back.streamNumber == e.streamNumber)
                    #expect(back.revision == e.revision)
                    #expect(back.typeSymbol == e.typeSymbol)
                    #expect(back.actorSymbol == 7)
                    #expect(back.correlationID == e.correlationID)
                    #expect(back.causationID == e.causationID)
                }
            }
        }
    }

    @Test func idsOfRegisteredNodesTakeAFewBytesOthersSixteen() throws {
        var rng = SplitMix64(seed: 6)
        let now = Int64(1_796_000_000_000_000_000)
        func headerBytes(_ id: UUID, correlation: UUID? = nil) -> Int {
            RecordCodec.header(
                RecordCodec.Envelope(
                    streamNumber: 1, revision: 1, previousSeq: 0, typeSymbol: 1, timeNanoseconds: now,
                    id: id, correlationID: correlation),
                seq: 1, compression: .none, rawLength: 0, nodes: Self.nodes
            ).count
        }
        // An hour after the node's base, a counter below 128: index, 4 bytes of milliseconds, counter.
        let registered = EventID.layout(milliseconds: UInt64(now / 1_000_000) + 3_600_000, counter: 100, node: 0x2A)
        let foreign = EventID.layout(milliseconds: UInt64(now / 1_000_000) + 3_600_000, counter: 100, node: 0x2B)
        #expect(
            headerBytes(foreign) - headerBytes(registered) >= 10,
            "\(headerBytes(foreign)) vs \(headerBytes(registered))")
        #expect(headerBytes(registered, correlation: foreign) - headerBytes(registered, correlation: registered) >= 10)
        // A v7 id's time a few milliseconds before the record's costs a few bytes, not eight.
        let id = EventID.make(unixMilliseconds: UInt64(now / 1_000_000) - 3, using: &rng)
        #expect(headerBytes(id) + 4 <= headerBytes(UUID()), "\(headerBytes(id)) vs \(headerBytes(UUID()))")
    }

    @Test func aRecordNamingAnUnknownNodeIsCorrupt() throws {
        let id = EventID.layout(milliseconds: 1_796_000_000_000, counter: 1, node: (1 << 62) - 1)
        var record = RecordCodec.header(
            RecordCodec.Envelope(
                streamNumber: 1, revision: 1, previousSeq: 0, typeSymbol: 1, timeNanoseconds: 0, id: id),
            seq: 3, compression: .none, rawLength: 0, nodes: Self.nodes)
        record.withUnsafeMutableBytes {
            RecordCodec.seal($0, seq: 3, previousHash: RecordCodec.genesisHash, hasher: SHA256Hasher())
        }
        let onlyFirst = EventIDNodes.Table([EventIDNode(index: 0, node: 0x2A, baseMilliseconds: 0)])
        var thrown: EventStoreError?
        record.withUnsafeBytes { r in
            do throws(EventStoreError) { _ = try RecordCodec.decode(r, seq: 3, nodes: onlyFirst) } catch {
                thrown = error
            }
        }
        #expect(thrown?.code == .corrupt)
        #expect(thrown?.message.contains("id node 1") == true, "\(String(describing: thrown))")
    }

    /// A record as format 2 wrote it: hash stored only at a commit's end, 16-byte id, time as a difference from it.
    @Test func aVersionTwoRecordStillReads() throws {
        // a registered node: still read whole
        let id = EventID.layout(milliseconds: 1_700_000_000_123, counter: 5, node: 0x2A)
        let correlation = UUID()
        let time = Int64(1_700_000_000_123_456_789)
        var body: [UInt8] = [3, 2, 0, 4]  // stream 3, revision 2, no back link, type 4
        withUnsafeBytes(of: id.uuid) { body += $0 }
        body += [0xAA, 0xE1, 0x37]  // zigzag(456,789) as a varint
        withUnsafeBytes(of: correlation.uuid) { body += $0 }
        body += [5, 104, 101, 108, 108, 111]  // raw length 5, "hello"
        var record: [UInt8] = [2, 1 << 4, 0, 0, 0, 0] + body  // no compression, correlation id present
        let crc = record.withUnsafeBytes { Checksum.crc32(seq: 42, UnsafeRawBufferPointer(rebasing: $0[6...])) }
        withUnsafeBytes(of: crc.littleEndian) { record.replaceSubrange(2..<6, with: $0) }

        var envelope: RecordCodec.Envelope?
        var payload: [UInt8]?
        try record.withBytes { (r) throws(EventStoreError) in
            let d = try RecordCodec.decode(r, seq: 42, nodes: Self.nodes)
            envelope = d.envelope
            payload = Array(d.payload)
        }
        #expect(envelope?.id == id)
        #expect(envelope?.timeNanoseconds == time)
        #expect(envelope?.correlationID == correlation)
        #expect(envelope?.streamNumber == 3)
        #expect(envelope?.revision == 2)
        #expect(envelope?.typeSymbol == 4)
        #expect(payload == Array("hello".utf8))
    }

    /// A record as format 1 wrote it: hash always stored, time before the id.
    @Test func aVersionOneRecordStillReads() throws {
        let id = UUID()
        let time = Int64(1_700_000_000_123_456_789)
        let previous = [UInt8](repeating: 9, count: 32)
        var body: [UInt8] = [3, 2, 0, 4]  // stream 3, revision 2, no back link, type 4
        withUnsafeBytes(of: time.littleEndian) { body += $0 }
        withUnsafeBytes(of: id.uuid) { body += $0 }
        body += [5, 104, 101, 108, 108, 111]  // raw length 5, "hello"
        var record: [UInt8] = [1, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 32) + body
        var seqBE = UInt64(42).bigEndian
        let hash = withUnsafeBytes(of: &seqBE) { s in
            previous.withUnsafeBytes { p in
                record.withUnsafeBytes { r in
                    SHA256Hasher().hash(
                        p, s, UnsafeRawBufferPointer(rebasing: r[0..<2]), UnsafeRawBufferPointer(rebasing: r[38...]))
                }
            }
        }
        record.replaceSubrange(6..<38, with: hash)
        let crc = record.withUnsafeBytes { Checksum.crc32(seq: 42, UnsafeRawBufferPointer(rebasing: $0[6...])) }
        withUnsafeBytes(of: crc.littleEndian) { record.replaceSubrange(2..<6, with: $0) }

        var envelope: RecordCodec.Envelope?
        var stored: [UInt8]?
        var payload: [UInt8]?
        var computed: [UInt8]?
        try record.withBytes { (r) throws(EventStoreError) in
            let d = try RecordCodec.decode(r, seq: 42, nodes: Self.nodes)
            envelope = d.envelope
            stored = d.chainHash.map { Array($0) }
            payload = Array(d.payload)
            computed = RecordCodec.chainHash(r, seq: 42, previousHash: previous, hasher: SHA256Hasher())
        }
        #expect(envelope?.id == id)
        #expect(envelope?.timeNanoseconds == time)
        #expect(envelope?.streamNumber == 3)
        #expect(envelope?.revision == 2)
        #expect(envelope?.typeSymbol == 4)
        #expect(payload == Array("hello".utf8))
        #expect(stored == hash)
        #expect(computed == hash)
    }
}
