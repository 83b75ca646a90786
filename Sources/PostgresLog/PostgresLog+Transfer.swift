import EventStore
import Foundation
import PostgresNIO

/// Reading the whole log with its chain checked (`verify`, `logbook copy` out of PostgreSQL), and writing a log's
/// events into it at their positions (`logbook copy` into PostgreSQL).
extension PostgresLog {
    /// One page of rows from `position` on, each checked against the chain hash before it.
    struct VerifiedPage {
        /// The rows the chain vouches for, in order.
        var rows: [LogRow] = []
        /// The chain hash after the last of them.
        var chain: [UInt8]
        /// The first row that breaks the chain or the order (nothing after it is in `rows`).
        var failure: VerificationReport.Failure?
    }

    /// Up to `maxCount` rows from `position` on; `previous` is the chain hash at `position - 1`.
    func verifiedPage(
        from position: UInt64, previous: [UInt8], maxCount: Int
    ) async throws(EventStoreError)
        -> VerifiedPage
    {
        Self.checked(try await rows(from: position, maxCount: maxCount), from: position, previous: previous)
    }

    /// `rows`, which should start at `position`, checked one by one against the chain hash before each.
    static func checked(_ rows: [LogRow], from position: UInt64, previous: [UInt8]) -> VerifiedPage {
        let hasher = SHA256Hasher()
        var page = VerifiedPage(chain: previous)
        page.rows.reserveCapacity(rows.count)
        for (offset, row) in rows.enumerated() {
            let expected = position + UInt64(offset)
            guard row.position == expected else {
                page.failure = .init(
                    seq: Seq(expected), reason: "missing: the shared log's next event is at position \(row.position)")
                return page
            }
            if let damage = row.damage {
                page.failure = .init(seq: Seq(row.position), reason: "cannot be read: \(damage)")
                return page
            }
            let hash = row.expectedChain(after: page.chain, hasher: hasher)
            guard hash == row.chain else {
                page.failure = .init(
                    seq: Seq(row.position),
                    reason:
                        "does not match its chain hash: the row (or one before it) was changed after it was appended")
                return page
            }
            page.chain = hash
            page.rows.append(row)
        }
        return page
    }

    /// Reads the log from `from` through `through` (default: its end as of now) in order, checking every row's
    /// chain hash, and hands each page of checked events to `body`. Stops at the first row that breaks the chain
    /// or the order: the report names it, and `body` has had every event before it.
    /// - Parameter progress: called after each page with (read up to, last position).
    public func forEachVerified(
        from: UInt64 = 1, through: UInt64? = nil, pageSize: Int = 1_000,
        progress: ((_ done: UInt64, _ last: UInt64) -> Void)? = nil,
        _ body: ([CopiedEvent]) async throws -> Void
    ) async throws -> VerificationReport {
        let end = min(through ?? .max, try await lastSeq().rawValue)
        var position = max(from, 1)
        var chain = try await self.chain(at: position - 1)
        var checked: UInt64 = 0
        var revisions: [String: UInt64] = [:]
        while position <= end {
            let page = try await verifiedPage(
                from: position, previous: chain, maxCount: Int(min(UInt64(pageSize), end - position + 1)))
            var events: [CopiedEvent] = []
            events.reserveCapacity(page.rows.count)
            var failure = page.failure
            for row in page.rows {
                // Revisions count each stream's events from 1 without a gap (checked from the log's start only).
                if from <= 1 {
                    let expected = (revisions[row.stream] ?? 0) + 1
                    guard row.revision == expected else {
                        failure = .init(
                            seq: Seq(row.position),
                            reason: "stream '\(row.stream)' is at revision \(row.revision), expected \(expected)")
                        break
                    }
                    revisions[row.stream] = expected
                }
                events.append(
                    CopiedEvent(seq: Seq(row.position), stream: try StreamID(row.stream), event: row.proposed))
            }
            if !events.isEmpty { try await body(events) }
            checked += UInt64(events.count)
            if let failure { return VerificationReport(checkedEvents: checked, firstFailure: failure) }
            guard let last = page.rows.last else {
                return VerificationReport(
                    checkedEvents: checked,
                    firstFailure: .init(seq: Seq(position), reason: "missing: the log's head says it ends at \(end)"))
            }
            chain = page.chain
            position = last.position + 1
            progress?(last.position, end)
        }
        guard from <= 1, through == nil else { return VerificationReport(checkedEvents: checked) }
        if let failure = try await checkHead(end: end, chain: chain, revisions: revisions) {
            return VerificationReport(checkedEvents: checked, firstFailure: failure)
        }
        return VerificationReport(checkedEvents: checked, indexesChecked: true)
    }

    /// The head row and the streams table against what the walk found (when the log did not grow meanwhile).
    private func checkHead(
        end: UInt64, chain: [UInt8], revisions: [String: UInt64]
    ) async throws(EventStoreError)
        -> VerificationReport.Failure?
    {
        try await withDeadline("checking the log's head and streams") { [client] in
            let head = try await client.query("SELECT position, chain FROM logbook_log WHERE id = 1")
            for try await (position, stored) in head.decode((Int64, Data).self) {
                guard UInt64(position) == end else { return nil }  // it grew: the walk's end is not the head
                guard [UInt8](stored) == chain else {
                    return .init(seq: nil, reason: "the log's head row does not carry the chain hash of its last event")
                }
            }
            var streams = 0
            let rows = try await client.query("SELECT stream, revision FROM logbook_streams")
            for try await (stream, revision) in rows.decode((String, Int64).self) {
                streams += 1
                guard revisions[stream] == UInt64(revision) else {
                    return .init(
                        seq: nil,
                        reason:
                            "stream '\(stream)' is at revision \(revision) in logbook_streams, but its events reach \(revisions[stream] ?? 0)"
                    )
                }
            }
            guard streams == revisions.count else {
                return .init(
                    seq: nil, reason: "logbook_streams lists \(streams) streams, the events name \(revisions.count)")
            }
            return nil
        }
    }

    /// Writes events into the log at their positions, with their ids, times and metadata, in one transaction: what
    /// `logbook copy` does to move a log onto PostgreSQL. They must follow on from the log's end without a gap, and
    /// their times must not go back; a position or id already taken fails the whole call, and nothing is written.
    /// - Throws: `invalidArgument` when the events do not follow on from the log's end; `unavailable`.
    public func copyIn(_ events: [CopiedEvent]) async throws(EventStoreError) {
        guard let first = events.first else { return }
        var stored: [PayloadCompressor.Stored] = []
        stored.reserveCapacity(events.count)
        for e in events { stored.append(try compression.compress(e.event.payload)) }
        let end = try await withDeadline("copying \(events.count) events in at position \(first.seq)") {
            [client, logger, stored, self] in
            try await client.withTransaction(logger: logger) { connection in
                var (position, chain, time) = try await RowWriter.takeHead(on: connection, logger: logger)
                guard first.seq.rawValue == position + 1 else {
                    throw EventStoreError(
                        .invalidArgument,
                        "the shared log ends at position \(position); events starting at \(first.seq) do not follow on from it"
                    )
                }
                let streams = Array(Set(events.map(\.stream.rawValue)))
                var revisions: [String: UInt64] = [:]
                let current = try await connection.query(
                    "SELECT stream, revision FROM logbook_streams WHERE stream = ANY(\(streams))", logger: logger)
                for try await (stream, revision) in current.decode((String, Int64).self) {
                    revisions[stream] = UInt64(revision)
                }
                let hasher = SHA256Hasher()
                var rows: [LogRow] = []
                rows.reserveCapacity(events.count)
                for (e, stored) in zip(events, stored) {
                    guard e.seq.rawValue == position + 1 else {
                        throw EventStoreError(
                            .invalidArgument, "event \(e.event.id) is at \(e.seq), expected \(position + 1)")
                    }
                    let eventTime = e.event.recordedTime ?? time
                    guard eventTime >= time else {
                        throw EventStoreError(
                            .invalidArgument,
                            "event \(e.event.id) at \(e.seq): its time is before the event before it; times in the log never go back"
                        )
                    }
                    let stream = e.stream.rawValue
                    let revision = (revisions[stream] ?? 0) + 1
                    try LogRow.checkRevision(revision, of: stream)
                    position += 1
                    let row = LogRow(
                        event: e.event, stored: stored, stream: stream, position: position, revision: revision,
                        time: eventTime, after: chain, hasher: hasher)
                    rows.append(row)
                    chain = row.chain
                    revisions[stream] = revision
                    time = eventTime
                }
                let names = try await RowWriter.write(
                    rows, revisions: streams.sorted().map { ($0, revisions[$0]!) }, head: (position, chain, time),
                    names: self.names, on: connection, logger: logger)
                return (position, names)
            }
        }
        names.remember(end.1)
        compression.appended(through: end.0)
    }

    /// The id of the event at `position` (nil past the end).
    public func eventID(at position: UInt64) async throws(EventStoreError) -> UUID? {
        try await withDeadline("reading the event at \(position)") { [client] in
            let rows = try await client.query(
                "SELECT event_id FROM logbook_events WHERE position = \(Int64(position))")
            for try await id in rows.decode(UUID.self) { return id }
            return nil
        }
    }
}

/// The size and shape of the shared log (`logbook stats --store`).
public struct SharedLogStatistics: Sendable, Codable {
    public var logID: UUID
    public var events: UInt64
    public var streams: UInt64
    /// The payloads' bytes as stored (compressed; PostgreSQL may compress large values further itself).
    public var payloadBytes: UInt64
    /// The payloads' bytes as appended.
    public var rawPayloadBytes: UInt64
    /// How many compression dictionaries the log holds.
    public var dictionaries: UInt64
    /// Each table's size on disk with its indexes and TOAST (`pg_total_relation_size`).
    public var tableBytes: [String: UInt64]

    public var totalBytes: UInt64 { tableBytes.values.reduce(0, +) }
}

extension PostgresLog {
    public func statistics() async throws(EventStoreError) -> SharedLogStatistics {
        try await withDeadline("reading the log's statistics") { [client, logID] in
            var stats = SharedLogStatistics(
                logID: logID, events: 0, streams: 0, payloadBytes: 0, rawPayloadBytes: 0, dictionaries: 0,
                tableBytes: [:])
            let counts = try await client.query(
                """
                SELECT (SELECT position FROM logbook_log WHERE id = 1), (SELECT count(*) FROM logbook_streams),
                       p.stored, p.raw, (SELECT count(*) FROM logbook_dictionaries)
                FROM (SELECT coalesce(sum(octet_length(payload)), 0)::bigint AS stored,
                             coalesce(sum(coalesce(payload_length, octet_length(payload))), 0)::bigint AS raw
                      FROM logbook_events) AS p
                """)
            for try await (events, streams, payload, raw, dictionaries) in counts.decode(
                (Int64, Int64, Int64, Int64, Int64).self)
            {
                (stats.events, stats.streams, stats.payloadBytes) = (UInt64(events), UInt64(streams), UInt64(payload))
                (stats.rawPayloadBytes, stats.dictionaries) = (UInt64(raw), UInt64(dictionaries))
            }
            let sizes = try await client.query(
                """
                SELECT t, pg_total_relation_size(t)::bigint FROM unnest(ARRAY['logbook_log', 'logbook_streams',
                'logbook_events', 'logbook_names', 'logbook_holds', 'logbook_dictionaries']) AS t
                """)
            for try await (table, bytes) in sizes.decode((String, Int64).self) {
                stats.tableBytes[table] = UInt64(bytes)
            }
            return stats
        }
    }
}
