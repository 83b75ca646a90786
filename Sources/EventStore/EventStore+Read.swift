import CLMDB
import Foundation

extension EventStore {
    /// Up to `maxCount` events in log order from `seq` on.
    /// - Complexity: O(log N + maxCount).
    public func read(from seq: Seq, maxCount: Int) throws(EventStoreError) -> [RecordedEvent] {
        guard maxCount > 0 else { return [] }
        return try env.read { (txn) throws(EventStoreError) in
            try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) in
                var events: [RecordedEvent] = []
                events.reserveCapacity(min(maxCount, 4096))
                var entry = try withBigEndian(max(seq.rawValue, 1)) { (k) throws(EventStoreError) in try c.get(MDB_SET_RANGE, key: k) }
                while let e = entry, events.count < maxCount {
                    events.append(try decode(e.value, seq: e.key.loadBigEndianUInt64(), txn: txn))
                    entry = try c.get(MDB_NEXT)
                }
                return events
            }
        }
    }

    /// The event at `seq`, or nil when there is none.
    /// - Complexity: O(log N).
    public func event(at seq: Seq) throws(EventStoreError) -> RecordedEvent? {
        try env.read { (txn) throws(EventStoreError) in
            try txn.get(txn.dbs.events, seq.rawValue).map { (v) throws(EventStoreError) in try decode(v, seq: seq.rawValue, txn: txn) }
        }
    }

    /// Up to `maxCount` events of `stream` in revision order from `revision` on; empty for an unknown stream.
    /// - Complexity: O(log N + maxCount · log N).
    public func read(stream: StreamID, from revision: StreamRevision = 1, maxCount: Int) throws(EventStoreError) -> [RecordedEvent] {
        guard maxCount > 0 else { return [] }
        return try env.read { (txn) throws(EventStoreError) in
            guard let head = try txn.get(txn.dbs.streams, Array(stream.rawValue.utf8)).flatMap(KeyLayout.decodeStreamHead) else { return [] }
            return try txn.withCursor(txn.dbs.streamIndex) { (c) throws(EventStoreError) in
                var events: [RecordedEvent] = []
                let key = head.number.bigEndianBytes
                let start = KeyLayout.streamIndexEntry(revision: revision.rawValue, seq: 0)
                var entry = try key.withBytes { (k) throws(EventStoreError) in
                    try start.withBytes { (v) throws(EventStoreError) in try c.get(MDB_GET_BOTH_RANGE, key: k, value: v) }
                }
                while let e = entry, events.count < maxCount {
                    let seq = e.value.loadBigEndianUInt64(at: 8)
                    guard let record = try txn.get(txn.dbs.events, seq) else {
                        throw EventStoreError(.corrupt, "stream '\(stream)' indexes seq \(seq), which is missing; run 'logbook verify'")
                    }
                    events.append(try decode(record, seq: seq, txn: txn))
                    entry = try c.get(MDB_NEXT_DUP)
                }
                return events
            }
        }
    }

    /// The revision of the stream's last event, or nil when the stream does not exist.
    public func revision(of stream: StreamID) throws(EventStoreError) -> StreamRevision? {
        try env.read { (txn) throws(EventStoreError) in
            try txn.get(txn.dbs.streams, Array(stream.rawValue.utf8)).flatMap(KeyLayout.decodeStreamHead).map { StreamRevision($0.revision) }
        }
    }

    /// Events from `seq` on: the backlog, then `.caughtUp`, then live events. See `Subscription`.
    public func subscribe(from seq: Seq = 1) -> Subscription {
        Subscription(store: self, start: Seq(max(seq.rawValue, 1)))
    }

    func decode(_ record: UnsafeRawBufferPointer, seq: UInt64, txn: LMDBTransaction) throws(EventStoreError) -> RecordedEvent {
        let d = try RecordCodec.decode(record, seq: seq)
        let e = d.envelope
        return RecordedEvent(
            seq: Seq(seq), stream: try names.stream(e.streamNumber, txn: txn), revision: StreamRevision(e.revision), id: e.id,
            type: try names.symbol(e.typeSymbol, txn: txn), timeNanoseconds: e.timeNanoseconds,
            metadata: EventMetadata(actor: try e.actorSymbol.map { (s) throws(EventStoreError) in try names.symbol(s, txn: txn) },
                                    workspace: try e.workspaceSymbol.map { (s) throws(EventStoreError) in try names.symbol(s, txn: txn) },
                                    correlationID: e.correlationID, causationID: e.causationID),
            payload: try codec.decompress(d.payload, d.compression, rawLength: d.rawLength),
            chainHash: Array(d.chainHash))
    }
}
