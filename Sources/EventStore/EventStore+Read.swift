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
                var entry = try withBigEndian(max(seq.rawValue, 1)) { (k) throws(EventStoreError) in
                    try c.get(MDB_SET_RANGE, key: k)
                }
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
            try txn.get(txn.dbs.events, seq.rawValue).map { (v) throws(EventStoreError) in
                try decode(v, seq: seq.rawValue, txn: txn)
            }
        }
    }

    /// Up to `maxCount` events of `stream` in revision order from `revision` on; empty for an unknown stream.
    ///
    /// Starts at the stream's first checkpoint at or after the last wanted revision (or its head) and follows the
    /// records' back links, so it reads at most `KeyLayout.checkpointInterval - 1` events it does not return.
    /// - Complexity: O(log N · (maxCount + 32)).
    public func read(
        stream: StreamID, from revision: StreamRevision = 1, maxCount: Int
    ) throws(EventStoreError) -> [RecordedEvent] {
        guard maxCount > 0 else { return [] }
        return try env.read { (txn) throws(EventStoreError) in
            guard let head = try txn.streamHead(of: stream) else { return [] }
            let first = max(revision.rawValue, 1)
            guard first <= head.revision else { return [] }
            let last = min(head.revision, first + UInt64(min(maxCount, Int(UInt32.max))) - 1)
            var (rev, seq) = (head.revision, head.lastSeq)
            let checkpoint = KeyLayout.checkpoint(atOrAfter: last)
            if checkpoint < head.revision {
                guard let found = try txn.checkpoint(stream: head.number, revision: checkpoint) else {
                    throw EventStoreError(
                        .corrupt,
                        "stream '\(stream)' has no checkpoint for revision \(checkpoint); run 'logbook verify'")
                }
                (rev, seq) = (checkpoint, found)
            }
            var events: [RecordedEvent] = []
            events.reserveCapacity(Int(last - first + 1))
            while rev >= first {
                guard let record = try txn.get(txn.dbs.events, seq) else {
                    throw EventStoreError(
                        .corrupt, "stream '\(stream)' links to seq \(seq), which is missing; run 'logbook verify'")
                }
                let decoded = try RecordCodec.decode(record, seq: seq, nodes: txn)
                guard decoded.envelope.streamNumber == head.number, decoded.envelope.revision == rev else {
                    throw EventStoreError(
                        .corrupt,
                        "stream '\(stream)' revision \(rev) links to seq \(seq), which holds another event; run 'logbook verify'"
                    )
                }
                if rev <= last { events.append(try decode(decoded, seq: seq, txn: txn)) }
                seq = decoded.envelope.previousSeq
                rev -= 1
            }
            events.reverse()
            return events
        }
    }

    /// The revision of the stream's last event, or nil when the stream does not exist.
    public func revision(of stream: StreamID) throws(EventStoreError) -> StreamRevision? {
        try env.read { (txn) throws(EventStoreError) in
            try txn.streamHead(of: stream).map { StreamRevision($0.revision) }
        }
    }

    /// Events from `seq` on: the backlog, then `.caughtUp`, then live events; with a `heartbeat`, `.idle` after each
    /// such wait for an append. See `Subscription`.
    public func subscribe(from seq: Seq = 1, heartbeat: Duration? = nil) -> Subscription {
        Subscription(store: self, start: Seq(max(seq.rawValue, 1)), heartbeat: heartbeat)
    }

    func decode(
        _ record: UnsafeRawBufferPointer, seq: UInt64, txn: LMDBTransaction
    ) throws(EventStoreError) -> RecordedEvent {
        try decode(try RecordCodec.decode(record, seq: seq, nodes: txn), seq: seq, txn: txn)
    }

    func decode(_ d: RecordCodec.Decoded, seq: UInt64, txn: LMDBTransaction) throws(EventStoreError) -> RecordedEvent {
        let e = d.envelope
        return RecordedEvent(
            seq: Seq(seq), stream: try names.stream(e.streamNumber, txn: txn), revision: StreamRevision(e.revision),
            id: e.id,
            type: try names.symbol(e.typeSymbol, txn: txn), timeNanoseconds: e.timeNanoseconds,
            metadata: EventMetadata(
                actor: try e.actorSymbol.map { (s) throws(EventStoreError) in try names.symbol(s, txn: txn) },
                workspace: try e.workspaceSymbol.map { (s) throws(EventStoreError) in try names.symbol(s, txn: txn) },
                correlationID: e.correlationID, causationID: e.causationID),
            payload: try codec.decompress(d.payload, d.compression, rawLength: d.rawLength, load: txn.dictionary),
            chainHash: d.chainHash.map(ChainHash.init))
    }
}
