import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Group commit on the shared log: the appends queued in this process while a transaction runs go together into
/// the next one. One transaction takes the head row's lock, checks each append (ids, expected revision) against the
/// log as every server left it, assigns the next positions, hashes the chain, inserts, moves the head, notifies and
/// commits; an append that fails its own checks fails alone.
final class GroupAppender: Sendable {
    struct Pending: Sendable {
        let events: [ProposedEvent]
        /// The events' payloads as stored, compressed by the appending task before it queued.
        let stored: [PayloadCompressor.Stored]
        let closing: (@Sendable (Seq) throws(EventStoreError) -> ProposedEvent)?
        let stream: StreamID
        let expected: ExpectedRevision
        /// The token of the hold the append was made under (`SharedHold.current`, for this stream).
        let fence: UUID?
        let continuation: CheckedContinuation<AppendResult, any Error>

        var eventCount: Int { events.count + (closing == nil ? 0 : 1) }
    }

    private struct Queue {
        var pending: [Pending] = []
        var events = 0
        var draining = false
    }

    /// At most this many events wait (beyond that appends fail with `overloaded`), and at most this many go into one
    /// transaction.
    static let maxQueuedEvents = 262_144
    static let maxTransactionEvents = 8_192

    private let queue = Mutex(Queue())
    /// Told of each committed transaction (`SharedLog.observeCommits`).
    let observer = Mutex<CommitObserver?>(nil)
    private let client: PostgresClient
    private let logger: Logger
    private let timeout: Duration
    private let clock: @Sendable () -> Int64
    private let compression: SharedCompression
    private let names: SharedNames
    private let feeder: CopyFeeder

    init(
        client: PostgresClient, compression: SharedCompression, names: SharedNames, feeder: CopyFeeder,
        logger: Logger, timeout: Duration,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1e9) }
    ) {
        self.client = client
        self.compression = compression
        self.names = names
        self.feeder = feeder
        self.logger = logger
        self.timeout = timeout
        self.clock = clock
    }

    func submit(
        _ events: [ProposedEvent], closing: (@Sendable (Seq) throws(EventStoreError) -> ProposedEvent)?,
        to stream: StreamID,
        expecting expected: ExpectedRevision
    ) async throws(EventStoreError) -> AppendResult {
        let fence = SharedHold.current.flatMap { $0.stream == stream ? $0.token : nil }
        var stored: [PayloadCompressor.Stored] = []
        stored.reserveCapacity(events.count)
        for event in events { stored.append(try compression.compress(event.payload)) }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let pending = Pending(
                    events: events, stored: stored, closing: closing, stream: stream, expected: expected, fence: fence,
                    continuation: continuation)
                let start = queue.withLock { q -> Bool? in
                    guard q.events + pending.eventCount <= Self.maxQueuedEvents else { return nil }
                    q.pending.append(pending)
                    q.events += pending.eventCount
                    defer { q.draining = true }
                    return !q.draining
                }
                switch start {
                case nil:
                    continuation.resume(
                        throwing: EventStoreError(
                            .overloaded,
                            "\(Self.maxQueuedEvents) events already wait for the shared log; retry later"))
                case true?: Task { await self.drain() }
                case false?: break
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw PostgresLog.unavailable("appending to '\(stream)'", error)
        }
    }

    private func drain() async {
        while true {
            let batch = queue.withLock { q -> [Pending] in
                var count = 0, events = 0
                while count < q.pending.count,
                    count == 0 || events + q.pending[count].eventCount <= Self.maxTransactionEvents
                {
                    events += q.pending[count].eventCount
                    count += 1
                }
                let batch = Array(q.pending.prefix(count))
                q.pending.removeFirst(count)
                q.events -= events
                if batch.isEmpty { q.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let now = clock()
        let started = ContinuousClock.now
        do {
            let (outcomes, rows, given) = try await PostgresLog.withDeadline(
                timeout, "appending \(batch.count) requests"
            ) { [client, logger, compression, names] in
                try await client.withTransaction(logger: logger) { connection in
                    var transaction = AppendTransaction(
                        connection: connection, compression: compression, names: names, logger: logger, now: now)
                    return try await transaction.run(batch)
                }
            }
            names.remember(given)
            feeder.remember(rows)
            observer.withLock { $0 }?(
                CommitReport(
                    events: batch.reduce(0) { $0 + $1.eventCount }, requests: batch.count,
                    duration: ContinuousClock.now - started))
            for (pending, outcome) in zip(batch, outcomes) { pending.continuation.resume(with: outcome) }
            if let end = rows.last?.position { compression.appended(through: end) }
        } catch {
            for pending in batch { pending.continuation.resume(throwing: error) }
        }
    }
}

/// One append transaction: what the log holds as it goes, and the rows it will write.
private struct AppendTransaction {
    let connection: PostgresConnection
    let compression: SharedCompression
    let names: SharedNames
    let logger: Logger
    let now: Int64
    private var position: UInt64 = 0
    private var chain: [UInt8] = []
    private var lastTime: Int64 = 0
    private var known: [UUID: LogRow] = [:]
    private var revisions: [String: UInt64] = [:]
    /// Who holds the fenced streams now, by token.
    private var holders: [String: UUID] = [:]
    private var rows: [LogRow] = []
    private var touchedStreams: Set<String> = []
    private let hasher = SHA256Hasher()

    init(
        connection: PostgresConnection, compression: SharedCompression, names: SharedNames, logger: Logger, now: Int64
    ) {
        self.connection = connection
        self.compression = compression
        self.names = names
        self.logger = logger
        self.now = now
    }

    /// Checks and writes the batch; returns each append's outcome, the rows written and the names they gave.
    mutating func run(
        _ batch: [GroupAppender.Pending]
    ) async throws -> ([Result<AppendResult, any Error>], [LogRow], SharedNames.Assignment) {
        // The head under its lock first, in a statement of its own: a statement reads the log as of its start
        // (READ COMMITTED), so the lookups after it see every append committed while this one waited for the head.
        // (A PL/pgSQL function doing both, whose statements each read a fresh snapshot, saves that round trip but
        // measured slower as the table grew: 6,000 appends/s at 256 appenders where this does 14,000.)
        (position, chain, lastTime) = try await RowWriter.takeHead(on: connection, logger: logger)
        // One round trip for the streams' revisions, which ids are in the log already (rare: a retry; the rows of
        // those are read only then) and the holds of fenced appends, read under a share lock: a server taking one
        // of these streams now waits for this transaction, and its run then sees what this one appends.
        let ids = batch.flatMap { $0.events.map(\.id) }
        let streams = Array(Set(batch.map(\.stream.rawValue)))
        let fenced = Array(Set(batch.compactMap { $0.fence == nil ? nil : $0.stream.rawValue }))
        let lookup = try await connection.query(
            """
            WITH h AS (SELECT stream, token FROM logbook_holds WHERE stream = ANY(\(fenced)) FOR SHARE)
            SELECT stream, revision, NULL::uuid FROM logbook_streams WHERE stream = ANY(\(streams))
            UNION ALL SELECT NULL, NULL, event_id FROM logbook_events WHERE event_id = ANY(\(ids))
            UNION ALL SELECT stream, NULL, token FROM h
            """, logger: logger)
        var retried: [UUID] = []
        for try await (stream, revision, id) in lookup.decode((String?, Int64?, UUID?).self) {
            switch (stream, revision, id) {
            case (let stream?, let revision?, _): revisions[stream] = UInt64(revision)
            case (nil, _, let id?): retried.append(id)
            case (let stream?, nil, let token?): holders[stream] = token
            default: throw EventStoreError(.corrupt, "the append's lookup answered a row it never makes")
            }
        }
        if !retried.isEmpty {
            for row in try await read(
                "SELECT \(unescaped: LogRow.columns) FROM logbook_events WHERE event_id = ANY(\(retried))")
            {
                known[row.id] = row
            }
        }

        var outcomes: [Result<AppendResult, any Error>] = []
        for pending in batch {
            do { outcomes.append(.success(try await plan(pending))) } catch { outcomes.append(.failure(error)) }
        }
        guard !rows.isEmpty else { return (outcomes, [], .init()) }
        return (outcomes, rows, try await write())
    }

    /// Checks one append and adds its rows; throws the append's own failure (nothing of it is written then).
    private mutating func plan(_ p: GroupAppender.Pending) async throws -> AppendResult {
        let stream = p.stream.rawValue
        let earlier = p.events.map { known[$0.id] }
        if let first = earlier.first ?? nil {
            guard earlier.allSatisfy({ $0 != nil }) else {
                throw EventStoreError(
                    .duplicateEventID,
                    "event \(p.events[0].id) and others: the request mixes new events with events already in the log (e.g. at seq \(first.position)); retry with exactly the original events or with new ids"
                )
            }
            var all = zip(p.events, earlier.map { $0! }).map { ($0, $1) }
            if let closing = p.closing {
                let event = try closing(Seq(first.position))
                guard let row = try await lookUp(event.id) else {
                    throw EventStoreError(
                        .duplicateEventID,
                        "the events of an append to '\(stream)' are in the log but its closing event \(event.id) is not; retry with new ids"
                    )
                }
                all.append((event, row))
            }
            for (event, row) in all where !row.holds(event, in: stream) {
                throw EventStoreError(
                    .duplicateEventID,
                    "event id \(event.id) was appended before (seq \(row.position)) with different content; give a new event a new id"
                )
            }
            return AppendResult(
                firstSeq: Seq(all.map(\.1.position).min()!), lastSeq: Seq(all.map(\.1.position).max()!),
                revision: StreamRevision(all.map(\.1.revision).max()!), wasAlreadyAppended: true)
        }
        if let fence = p.fence, holders[stream] != fence {
            throw EventStoreError(
                .holdLost,
                "another server has taken '\(stream)' since this one took it for the run (this server was paused or cut off longer than the hold's lease); nothing was appended: the run stops, post the turn again"
            )
        }
        let revision = revisions[stream]
        guard p.expected.isSatisfied(by: revision.map { StreamRevision($0) }) else {
            let actual = revision.map { "is at revision \($0)" } ?? "does not exist"
            throw EventStoreError(
                .wrongExpectedRevision,
                "append to '\(stream)' expected \(p.expected), but the stream \(actual); read the stream and decide again"
            )
        }
        let firstSeq = position + 1
        var events = p.events
        var stored = p.stored
        if let closing = p.closing {
            let event = try closing(Seq(firstSeq))
            guard !events.contains(where: { $0.id == event.id }), known[event.id] == nil else {
                throw EventStoreError(
                    .duplicateEventID,
                    "the closing event of an append to '\(stream)' reuses the id \(event.id); give it its own id")
            }
            events.append(event)
            stored.append(try compression.compress(event.payload))
        }
        let time = max(now, lastTime)
        var previousTime = lastTime
        for event in events {
            guard let recorded = event.recordedTime else { continue }
            guard recorded >= previousTime else {
                throw EventStoreError(
                    .invalidArgument,
                    "event \(event.id): its recorded time \(recorded) is before the event before it (\(previousTime)); times in the log never go back"
                )
            }
            previousTime = recorded
        }
        var next = revision ?? 0
        try LogRow.checkRevision(next + UInt64(events.count), of: stream)
        for (event, stored) in zip(events, stored) {
            next += 1
            position += 1
            let eventTime = event.recordedTime ?? time
            let row = LogRow(
                event: event, stored: stored, stream: stream, position: position, revision: next, time: eventTime,
                after: chain, hasher: hasher)
            chain = row.chain
            rows.append(row)
            known[event.id] = row
            lastTime = eventTime
        }
        revisions[stream] = next
        touchedStreams.insert(stream)
        return AppendResult(
            firstSeq: Seq(firstSeq), lastSeq: Seq(position), revision: StreamRevision(next), wasAlreadyAppended: false)
    }

    /// A row by event id: from this transaction, or from the log.
    private mutating func lookUp(_ id: UUID) async throws -> LogRow? {
        if let row = known[id] { return row }
        let found = try await read("SELECT \(unescaped: LogRow.columns) FROM logbook_events WHERE event_id = \(id)")
        for row in found { known[row.id] = row }
        return found.first
    }

    /// Rows read in this transaction, with their names and payloads.
    private func read(_ query: PostgresQuery) async throws -> [LogRow] {
        try await LogRow.decode(connection.query(query, logger: logger), names: names, compression: compression) {
            [connection, logger] in try await connection.query($0, logger: logger)
        }
    }

    /// Inserts the rows, sets the streams' revisions, moves the head and notifies; returns the names it gave.
    private func write() async throws -> SharedNames.Assignment {
        try await RowWriter.write(
            rows, revisions: touchedStreams.sorted().map { ($0, revisions[$0]!) },
            head: (position, chain, lastTime), names: names, on: connection, logger: logger)
    }
}

/// Takes the head row and writes checked rows under it: what an append and a copy into the log
/// (`PostgresLog.copyIn`) share.
enum RowWriter {
    /// Locks the log's head row for this transaction and reads it: the last position, its chain hash and time.
    static func takeHead(
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (position: UInt64, chain: [UInt8], time: Int64) {
        let head = try await connection.query(
            "SELECT position, chain, time_ns FROM logbook_log WHERE id = 1 FOR UPDATE", logger: logger)
        var taken: (UInt64, [UInt8], Int64)?
        for try await (position, chain, time) in head.decode((Int64, Data, Int64).self) {
            taken = (UInt64(position), [UInt8](chain), time)
        }
        guard let taken else {
            throw EventStoreError(.corrupt, "the shared log's head row is missing; the tables were changed by hand")
        }
        return taken
    }

    /// Writes `rows` (names given ids as needed), the streams' revisions and the head, and notifies; returns the
    /// names given, for the caller to remember once the transaction has committed.
    static func write(
        _ rows: [LogRow], revisions: [(stream: String, revision: UInt64)],
        head: (position: UInt64, chain: [UInt8], time: Int64), names: SharedNames, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> SharedNames.Assignment {
        var used: Set<String> = []
        for row in rows {
            used.insert(row.stream)
            used.insert(row.type)
            if let actor = row.actor { used.insert(actor) }
            if let workspace = row.workspace { used.insert(workspace) }
        }
        let assignment = try await names.assign(used, on: connection, logger: logger)
        let ids = assignment.ids
        // All but the last 1,000 rows in statements of their own (a statement takes at most 65,535 parameters); the
        // last rows, the new names, the streams' revisions, the head and the notification in one statement: one
        // round trip for an append of up to 1,000 events (what a transaction costs is mostly its round trips).
        let chunks = stride(from: 0, to: rows.count, by: 1_000).map { rows[$0..<min($0 + 1_000, rows.count)] }
        for chunk in chunks.dropLast() {
            var binds = PostgresBindings(capacity: chunk.count * 14)
            let sql = try insertEvents(chunk, ids: ids, into: &binds)
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
        var binds = PostgresBindings(
            capacity: (chunks.last?.count ?? 0) * 14 + assignment.new.count * 2 + revisions.count * 2 + 5)
        var sql = "WITH e AS (" + (try insertEvents(chunks.last ?? [], ids: ids, into: &binds)) + ")"
        for chunk in stride(from: 0, to: assignment.new.count, by: 1_000).map({
            assignment.new[$0..<min($0 + 1_000, assignment.new.count)]
        }) {
            sql += ", n\(binds.count) AS (INSERT INTO logbook_names (id, name) VALUES "
            for (i, entry) in chunk.enumerated() {
                sql += (i == 0 ? "" : ",") + "($\(binds.count + 1),$\(binds.count + 2))"
                binds.append(entry.id)
                binds.append(entry.name)
            }
            sql += ")"
        }
        for chunk in stride(from: 0, to: revisions.count, by: 1_000).map({
            revisions[$0..<min($0 + 1_000, revisions.count)]
        }) {
            sql += ", s\(binds.count) AS (INSERT INTO logbook_streams (stream, revision) VALUES "
            for (i, entry) in chunk.enumerated() {
                sql += (i == 0 ? "" : ",") + "($\(binds.count + 1),$\(binds.count + 2))"
                binds.append(entry.stream)
                binds.append(Int64(entry.revision))
            }
            sql += " ON CONFLICT (stream) DO UPDATE SET revision = EXCLUDED.revision)"
        }
        let n = binds.count
        sql += """
            , h AS (UPDATE logbook_log SET position = $\(n + 1), chain = $\(n + 2), time_ns = $\(n + 3) WHERE id = 1)
            SELECT pg_notify($\(n + 4), $\(n + 5))
            """
        binds.append(Int64(head.position))
        try binds.append(Data(head.chain))
        binds.append(head.time)
        binds.append(PostgresLog.channel)
        binds.append(String(head.position))
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        return assignment
    }

    /// `INSERT INTO logbook_events … VALUES …` for `rows`, their values appended to `binds`; `ids` holds each name's.
    private static func insertEvents(
        _ rows: ArraySlice<LogRow>, ids: [String: Int32], into binds: inout PostgresBindings
    ) throws -> String {
        var sql = "INSERT INTO logbook_events (\(LogRow.columns)) VALUES "
        for (i, row) in rows.enumerated() {
            let b = binds.count
            sql += (i == 0 ? "(" : ",(") + (1...14).map { "$\(b + $0)" }.joined(separator: ",") + ")"
            binds.append(Int64(row.position))
            binds.append(row.id)
            binds.append(ids[row.stream]!)
            binds.append(Int32(row.revision))
            binds.append(ids[row.type]!)
            binds.append(row.time)
            binds.append(row.actor.map { ids[$0]! })
            binds.append(row.workspace.map { ids[$0]! })
            binds.append(row.correlationID)
            binds.append(row.causationID)
            try binds.append(row.stored.bytes)
            try binds.append(Data(row.chain))
            binds.append(SharedCompression.column(row.stored.codec))
            binds.append(Int32(row.stored.rawLength))
        }
        return sql
    }
}
