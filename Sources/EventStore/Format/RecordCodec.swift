import Foundation

/// The binary layout of one stored event (version 3). All of it but the payload is uncompressed, so a reader can
/// skip events by stream or type without decompressing anything.
///
/// ```
/// 0      u8      record version (3; 1 and 2 in logs written before)
/// 1      u8      flags: bits 0-1 compression (0 none, 1 zstd, 2 zstd + dictionary);
///                bit 2 actor, 3 workspace, 4 correlation id, 5 causation id present;
///                bit 6 bare zstd frame (no magic number, no content size); bit 7 chain hash stored
/// 2..6   u32 LE  CRC-32 of (seq big-endian ‖ bytes 6...)
/// [6..38 [32]    chain hash, when stored (always in version 1)]
/// B...   (B = 38 with the hash, else 6) varint stream number, varint revision, varint seq distance to the stream's previous event (0: none),
///        varint type symbol, [varint dictionary id], ID event id, time (ns since epoch: for a UUIDv7 id a
///        zigzag varint of its difference from the id's time, ~3 bytes; else i64 LE; version 1: i64 LE before the
///        id), [varint actor symbol], [varint workspace symbol],
///        [ID correlation id], [ID causation id], varint raw payload length, stored payload (to the end)
///
/// ID (version 3): varint 0 and the 16 bytes of the id; or, for a UUIDv7 made by a process whose node the log has
///        registered (`EventIDNodes`), varint node index + 1, zigzag varint of the id's milliseconds minus the node's
///        base, varint the id's 12-bit counter: ~6 bytes. Versions 1 and 2: the 16 bytes.
/// ```
///
/// Every record has a chain hash, SHA-256(previous record's chain hash ‖ seq big-endian ‖ bytes 0..<2 with bit 7 of
/// the flags clear ‖ bytes B...), but only the last record of each commit stores it (format 2): it covers every
/// record before it, and a group of 100 events saves 31 of its 32 bytes each. `verify` recomputes all of them.
enum RecordCodec {
    static let formatVersion: UInt8 = 3
    static let checksumOffset = 2
    static let hashOffset = 6
    /// Where the envelope starts in a record that stores its chain hash, and in one that does not.
    static let hashedBodyOffset = 38
    static let plainBodyOffset = 6
    static let genesisHash = [UInt8](repeating: 0, count: 32)
    private static let flagChainHash: UInt8 = 1 << 7

    private static let flagActor: UInt8 = 1 << 2
    private static let flagWorkspace: UInt8 = 1 << 3
    private static let flagCorrelation: UInt8 = 1 << 4
    private static let flagCausation: UInt8 = 1 << 5
    private static let flagBareFrame: UInt8 = 1 << 6

    /// The envelope fields the writer resolved for one event.
    struct Envelope {
        var streamNumber: UInt64
        var revision: UInt64
        /// The seq of the stream's previous event, 0 for its first.
        var previousSeq: UInt64
        var typeSymbol: UInt32
        var timeNanoseconds: Int64
        var id: UUID
        var actorSymbol: UInt32?
        var workspaceSymbol: UInt32?
        var correlationID: UUID?
        var causationID: UUID?
    }

    /// The record's bytes before the stored payload, without chain hash and with the checksum left zero for `seal`.
    static func header(
        _ e: Envelope, seq: UInt64, compression: PayloadCompression, rawLength: Int, nodes: some EventIDNodeLookup
    ) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        header(e, seq: seq, compression: compression, rawLength: rawLength, nodes: nodes, into: &w)
        return w.bytes
    }

    /// Appends the header to `w`; ids of a node registered in `nodes` are written compactly.
    static func header(
        _ e: Envelope, seq: UInt64, compression: PayloadCompression, rawLength: Int, nodes: some EventIDNodeLookup,
        into w: inout ByteWriter
    ) {
        precondition(e.previousSeq < seq, "a stream's previous event must come before it in the log")
        var flags: UInt8
        switch compression {
        case .none: flags = 0
        case .zstd: flags = 1
        case .zstdDictionary: flags = 2
        }
        if e.actorSymbol != nil { flags |= flagActor }
        if e.workspaceSymbol != nil { flags |= flagWorkspace }
        if e.correlationID != nil { flags |= flagCorrelation }
        if e.causationID != nil { flags |= flagCausation }
        if compression.isBare { flags |= flagBareFrame }
        w.u8(formatVersion)
        w.u8(flags)
        w.raw(repeatElement(0 as UInt8, count: plainBodyOffset - checksumOffset))
        w.varint(e.streamNumber)
        w.varint(e.revision)
        w.varint(e.previousSeq == 0 ? 0 : seq - e.previousSeq)
        w.varint(UInt64(e.typeSymbol))
        if case .zstdDictionary(let id, _) = compression { w.varint(UInt64(id)) }
        w.eventID(e.id, nodes)
        if let base = timeBase(of: e.id) {
            w.varint(zigzag(e.timeNanoseconds &- base))
        } else {
            w.i64(e.timeNanoseconds)
        }
        if let a = e.actorSymbol { w.varint(UInt64(a)) }
        if let s = e.workspaceSymbol { w.varint(UInt64(s)) }
        if let c = e.correlationID { w.eventID(c, nodes) }
        if let c = e.causationID { w.eventID(c, nodes) }
        w.varint(UInt64(rawLength))
    }

    /// Whether a record stores its chain hash, and where its envelope starts.
    static func storesHash(_ record: UnsafeRawBufferPointer) -> Bool {
        record.count > 1 && (record[0] == 1 || record[1] & flagChainHash != 0)
    }

    static func bodyOffset(_ record: UnsafeRawBufferPointer) -> Int {
        storesHash(record) ? hashedBodyOffset : plainBodyOffset
    }

    /// Fills in the checksum (and the chain hash, when the record has room for it) of a complete record in place;
    /// returns its chain hash.
    @discardableResult
    static func seal(
        _ record: UnsafeMutableRawBufferPointer, seq: UInt64, previousHash: [UInt8], hasher: SHA256Hasher
    ) -> [UInt8] {
        let hash = chainHash(UnsafeRawBufferPointer(record), seq: seq, previousHash: previousHash, hasher: hasher)
        if storesHash(UnsafeRawBufferPointer(record)) {
            record.baseAddress!.advanced(by: hashOffset).copyMemory(from: hash, byteCount: 32)
        }
        let crc = Checksum.crc32(seq: seq, UnsafeRawBufferPointer(rebasing: record[hashOffset...]))
        record.storeBytes(of: crc.littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
        return hash
    }

    /// `record` (sealed, without its chain hash) with `hash` stored in it and its checksum updated.
    static func storingHash(_ record: UnsafeRawBufferPointer, _ hash: [UInt8], seq: UInt64) -> [UInt8] {
        precondition(!storesHash(record) && hash.count == 32, "the record stores its chain hash already")
        var bytes = [UInt8](record[0..<hashOffset])
        bytes[1] |= flagChainHash
        bytes += hash
        bytes += record[plainBodyOffset...]
        bytes.withUnsafeMutableBytes { b in
            let crc = Checksum.crc32(seq: seq, UnsafeRawBufferPointer(rebasing: b[hashOffset...]))
            b.storeBytes(of: crc.littleEndian, toByteOffset: checksumOffset, as: UInt32.self)
        }
        return bytes
    }

    /// The chain hash of a record, given its predecessor's (whether or not the record stores it).
    static func chainHash(
        _ record: UnsafeRawBufferPointer, seq: UInt64, previousHash: [UInt8], hasher: SHA256Hasher
    ) -> [UInt8] {
        var seqBE = seq.bigEndian
        var versionAndFlags = (record[0], record[1] & ~flagChainHash)
        return withUnsafeBytes(of: &seqBE) { seqBytes in
            withUnsafeBytes(of: &versionAndFlags) { head in
                previousHash.withUnsafeBytes { prev in
                    hasher.hash(prev, seqBytes, head, UnsafeRawBufferPointer(rebasing: record[bodyOffset(record)...]))
                }
            }
        }
    }

    /// The stored chain hash of a record, or nil when it stores none (no validation beyond length).
    static func storedHash(_ record: UnsafeRawBufferPointer) -> [UInt8]? {
        guard storesHash(record), record.count >= hashedBodyOffset else { return nil }
        return Array(record[hashOffset..<hashedBodyOffset])
    }

    /// A record parsed in place; `payload` and `chainHash` point into the transaction's memory.
    struct Decoded {
        var compression: PayloadCompression
        var envelope: Envelope
        var rawLength: Int
        var payload: UnsafeRawBufferPointer
        /// The stored chain hash: the last record of each commit's (and every record of format 1).
        var chainHash: UnsafeRawBufferPointer?
    }

    /// Parses a record, checking its version and (unless told not to) its checksum.
    static func decode(
        _ record: UnsafeRawBufferPointer, seq: UInt64, nodes: some EventIDNodeLookup, verifyChecksum: Bool = true
    )
        throws(EventStoreError) -> Decoded
    {
        guard record.count > plainBodyOffset else {
            throw corrupt(seq, "record is \(record.count) bytes, shorter than its header")
        }
        let version = record[0]
        guard (1...formatVersion).contains(version) else {
            if version > formatVersion {
                throw EventStoreError(
                    .unsupportedFormat,
                    "event \(seq) has record format \(version); this build reads format \(formatVersion): upgrade Logbook"
                )
            }
            throw corrupt(seq, "record format \(version) is unknown")
        }
        if verifyChecksum {
            let stored = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: checksumOffset, as: UInt32.self))
            let actual = Checksum.crc32(seq: seq, UnsafeRawBufferPointer(rebasing: record[hashOffset...]))
            guard stored == actual else {
                throw corrupt(seq, "checksum mismatch (stored \(stored), computed \(actual))")
            }
        }
        let flags = record[1]
        let hashed = storesHash(record)
        let body = hashed ? hashedBodyOffset : plainBodyOffset
        guard record.count > body else {
            throw corrupt(seq, "record is \(record.count) bytes, shorter than its header")
        }
        var r = ByteReader(record, offset: body)
        guard let stream = r.varint(), let revision = r.varint(), let distance = r.varint(), distance < seq,
            let type = r.varint(), type <= UInt32.max
        else {
            throw corrupt(seq, "envelope is truncated")
        }
        let compression: PayloadCompression
        switch flags & 3 {
        case 0: compression = .none
        case 1: compression = .zstd(bare: flags & flagBareFrame != 0)
        case 2:
            guard let id = r.varint(), id <= UInt32.max else { throw corrupt(seq, "dictionary id is truncated") }
            compression = .zstdDictionary(UInt32(id), bare: flags & flagBareFrame != 0)
        default: throw corrupt(seq, "compression kind 3 is unknown")
        }
        let id: UUID
        let time: Int64
        if version == 1 {
            guard let t = r.i64(), let i = r.uuid() else { throw corrupt(seq, "envelope is truncated") }
            (id, time) = (i, t)
        } else {
            id = try r.eventID(version: version, nodes: nodes, seq: seq, what: "event id")
            if let base = timeBase(of: id) {
                guard let delta = r.varint() else { throw corrupt(seq, "envelope is truncated") }
                time = base &+ unzigzag(delta)
            } else {
                guard let t = r.i64() else { throw corrupt(seq, "envelope is truncated") }
                time = t
            }
        }
        var envelope = Envelope(
            streamNumber: stream, revision: revision, previousSeq: distance == 0 ? 0 : seq - distance,
            typeSymbol: UInt32(type), timeNanoseconds: time, id: id)
        if flags & flagActor != 0 { envelope.actorSymbol = try r.symbol(seq) }
        if flags & flagWorkspace != 0 { envelope.workspaceSymbol = try r.symbol(seq) }
        if flags & flagCorrelation != 0 {
            envelope.correlationID = try r.eventID(version: version, nodes: nodes, seq: seq, what: "correlation id")
        }
        if flags & flagCausation != 0 {
            envelope.causationID = try r.eventID(version: version, nodes: nodes, seq: seq, what: "causation id")
        }
        guard let rawLength = r.varint(), rawLength <= UInt64(Int32.max) else {
            throw corrupt(seq, "payload length is truncated")
        }
        let payload = UnsafeRawBufferPointer(rebasing: record[r.offset...])
        return Decoded(
            compression: compression, envelope: envelope, rawLength: Int(rawLength), payload: payload,
            chainHash: hashed ? UnsafeRawBufferPointer(rebasing: record[hashOffset..<hashedBodyOffset]) : nil)
    }

    /// For a UUIDv7 id, its time in nanoseconds: the record's time is stored as the (small) difference from it.
    static func timeBase(of id: UUID) -> Int64? {
        EventIDIndex.milliseconds(ofVersion7: id).map { Int64(truncatingIfNeeded: $0) &* 1_000_000 }
    }

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    static func corrupt(_ seq: UInt64, _ what: String) -> EventStoreError {
        EventStoreError(.corrupt, "event \(seq) is corrupt: \(what); run 'logbook verify' and restore from a backup")
    }
}

extension ByteWriter {
    mutating func uuid(_ id: UUID) {
        withUnsafeBytes(of: id.uuid) { bytes.append(contentsOf: $0) }
    }

    /// An id as version 3 stores it (`RecordCodec`'s ID).
    fileprivate mutating func eventID(_ id: UUID, _ nodes: some EventIDNodeLookup) {
        if let p = EventID.parts(of: id), let n = nodes.registered(node: p.node) {
            varint(UInt64(n.index) + 1)
            varint(RecordCodec.zigzag(Int64(bitPattern: p.milliseconds &- n.baseMilliseconds)))
            varint(UInt64(p.counter))
        } else {
            varint(0)
            uuid(id)
        }
    }
}

extension ByteReader {
    mutating func uuid() -> UUID? {
        bytes(16).map { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
    }

    /// An id as record `version` stores it.
    fileprivate mutating func eventID(
        version: UInt8, nodes: some EventIDNodeLookup, seq: UInt64, what: String
    ) throws(EventStoreError) -> UUID {
        if version >= 3 {
            guard let form = varint() else { throw RecordCodec.corrupt(seq, "\(what) is truncated") }
            if form != 0 {  // compact: node index + 1, milliseconds since the node's base, counter
                guard form - 1 <= UInt32.max, let delta = varint(), let counter = varint() else {
                    throw RecordCodec.corrupt(seq, "\(what) is truncated")
                }
                let node = try nodes.node(at: UInt32(form - 1), seq: seq)
                let milliseconds = UInt64(
                    bitPattern: Int64(bitPattern: node.baseMilliseconds) &+ RecordCodec.unzigzag(delta))
                guard counter <= UInt64(EventID.maxCounter), milliseconds < 1 << 48 else {
                    throw RecordCodec.corrupt(seq, "\(what) is out of range")
                }
                return EventID.layout(milliseconds: milliseconds, counter: UInt16(counter), node: node.node)
            }
        }
        guard let id = uuid() else { throw RecordCodec.corrupt(seq, "\(what) is truncated") }
        return id
    }

    fileprivate mutating func symbol(_ seq: UInt64) throws(EventStoreError) -> UInt32 {
        guard let v = varint(), v <= UInt32.max else { throw RecordCodec.corrupt(seq, "symbol is truncated") }
        return UInt32(v)
    }
}
