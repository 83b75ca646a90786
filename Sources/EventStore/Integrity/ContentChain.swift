import Foundation

/// The log's content chain: each link is SHA-256 of the previous link (32 zero bytes before the first) and the
/// event's fields — seq, id, stream, revision, type, time, actor, workspace, correlation and causation ids, each
/// fixed-width or length-prefixed, big-endian — then its payload as appended. It says what the log holds, not how a
/// store keeps it (the records' own chain covers their compressed bytes): the shared log on PostgreSQL stores it on
/// every row, and signed checkpoints sign it, so a checkpoint holds for the same events in an LMDB log, on PostgreSQL,
/// or exported and imported again.
public enum ContentChain {
    /// The link before the first event.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// The link of one event after `previous`.
    public static func link(
        previous: [UInt8], seq: UInt64, id: UUID, stream: String, revision: UInt64, type: String, time: Int64,
        metadata: EventMetadata, payload: Data, hasher: SHA256Hasher
    ) -> [UInt8] {
        var fields = [UInt8]()
        fields.reserveCapacity(128 + stream.utf8.count + type.utf8.count)
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { fields += $0 } }
        func uuid(_ v: UUID) { withUnsafeBytes(of: v.uuid) { fields += $0 } }
        func text(_ v: String) {
            u64(UInt64(v.utf8.count))
            fields += v.utf8
        }
        func optional<T>(_ v: T?, _ write: (T) -> Void) {
            if let v {
                fields.append(1)
                write(v)
            } else {
                fields.append(0)
            }
        }
        u64(seq)
        uuid(id)
        text(stream)
        u64(revision)
        text(type)
        u64(UInt64(bitPattern: time))
        optional(metadata.actor, text)
        optional(metadata.workspace, text)
        optional(metadata.correlationID, uuid)
        optional(metadata.causationID, uuid)
        u64(UInt64(payload.count))
        return previous.withUnsafeBytes { p in
            fields.withUnsafeBytes { f in
                payload.withUnsafeBytes { hasher.hash(p, f, $0) }
            }
        }
    }

    /// The link of a recorded event after `previous`.
    public static func link(previous: [UInt8], _ e: RecordedEvent, hasher: SHA256Hasher) -> [UInt8] {
        link(
            previous: previous, seq: e.seq.rawValue, id: e.id, stream: e.stream.rawValue, revision: e.revision.rawValue,
            type: e.type, time: e.timeNanoseconds, metadata: e.metadata, payload: e.payload, hasher: hasher)
    }

    /// Follows the chain from `start` (a seq and its link; seq 0 and `genesis` for the log's beginning) through
    /// `end`, a thousand events at a time; `visit` sees each event's seq and link. Returns the link of `end`, or nil
    /// when the log ends before it.
    public static func fold(
        _ store: EventStore, from start: (seq: UInt64, link: [UInt8]) = (0, genesis), through end: UInt64,
        visit: ((UInt64, [UInt8]) throws(EventStoreError) -> Void)? = nil
    ) throws(EventStoreError) -> [UInt8]? {
        let hasher = SHA256Hasher()
        var (seq, chain) = start
        while seq < end {
            let events = try store.read(from: Seq(seq + 1), maxCount: Int(min(end - seq, 1000)))
            guard let last = events.last else { return nil }
            for e in events {
                guard e.seq.rawValue == seq + 1 else {
                    throw EventStoreError(
                        .corrupt,
                        "event \(seq + 1) is missing from the log (the next is \(e.seq)); run 'logbook verify'")
                }
                chain = link(previous: chain, e, hasher: hasher)
                seq = e.seq.rawValue
                try visit?(seq, chain)
            }
            if last.seq.rawValue >= end { break }
        }
        return seq == end ? chain : nil
    }
}
