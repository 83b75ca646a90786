import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The log on PostgreSQL, shared by several Logbook servers: each server's `EventStore` is a copy of it that follows
/// it (`EventStore.Configuration.shared`).
///
/// Appends are serialized on the log's head row (`logbook_log`, locked `FOR UPDATE` in each append transaction), so
/// positions are dense and in commit order: a reader that follows `position > cursor` never skips a row that commits
/// late, which a bare `SEQUENCE` would allow. Each process batches the appends queued behind it into one transaction
/// (group commit). The transaction notifies `logbook_appended`; copies listen, and also look every
/// `pollInterval`, always reading from their own last position, so a lost notification or a reconnect loses nothing.
///
/// ```swift
/// let shared = try await PostgresLog.connect(PostgresLocation("postgres://logbook@db/logbook"))
/// var configuration = EventStore.Configuration(directory: "./data")
/// configuration.shared = shared
/// let store = try EventStore.open(configuration)
/// shared.follow(store)
/// ```
public final class PostgresLog: SharedLog {
    public let logID: UUID
    public let location: PostgresLocation
    let client: PostgresClient
    let logger: Logger
    /// How long one operation may wait for the database before it fails with `unavailable`.
    let timeout: Duration
    private let runner: Task<Void, Never>
    let appender: GroupAppender
    let compression: SharedCompression
    let names = SharedNames()
    let feeder = CopyFeeder()
    private let followers = Mutex<[Task<Void, Never>]>([])
    /// The renewals of this process's holds, by token.
    let renewals = Mutex<[UUID: Task<Void, Never>]>([:])
    /// How long a hold lasts unless renewed (renewed every third of it).
    public let holdLease: Duration
    /// How often a copy looks for new events when no notification came.
    public let pollInterval: Duration

    /// The channel each append transaction notifies, with its last position.
    static let channel = "logbook_appended"
    /// The schema version this build writes and reads.
    /// 2: payloads compressed (`codec`, `payload_length`, `logbook_dictionaries`); a log of version 1 is upgraded
    /// in place (its rows stay as they are: raw).
    /// 3: names (stream, type, actor, workspace) as numbers into `logbook_names`; a log of version 1 or 2 is written
    /// again into the new table at connect.
    static let schemaVersion = 3

    /// Connects, and creates the log's tables when the database has none (several servers may start at once).
    /// - Throws: `unavailable` when the database cannot be reached in `timeout`; `unsupportedFormat` for tables of a
    ///   newer Logbook.
    public static func connect(
        _ location: PostgresLocation, timeout: Duration = .seconds(5), pollInterval: Duration = .seconds(1),
        holdLease: Duration = .seconds(15), logger: Logger = Logger(label: "logbook.postgres")
    ) async throws(EventStoreError) -> PostgresLog {
        let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        let runner = Task { await client.run() }
        do {
            let version = try await Self.withDeadline(timeout, "connecting to \(location)") {
                try await Schema.version(client, logger: logger)
            }
            // Tables of an earlier version are written again: that takes longer than connecting.
            let upgrading = version.map { $0 < Self.schemaVersion } ?? false
            if upgrading {
                logger.notice(
                    "upgrading the shared log's tables from schema version \(version!) to \(Self.schemaVersion); appends wait until it is done"
                )
            }
            let logID = try await Self.withDeadline(
                upgrading ? Schema.upgradeDeadline : timeout,
                upgrading ? "upgrading the tables at \(location)" : "connecting to \(location)"
            ) {
                try await Schema.create(client, logger: logger)
            }
            let log = PostgresLog(
                logID: logID, location: location, client: client, runner: runner, timeout: timeout,
                pollInterval: pollInterval, holdLease: holdLease, logger: logger)
            try await Self.withDeadline(timeout, "loading the log's compression dictionaries") {
                try await log.compression.loadNewer { try await client.query($0, logger: logger) }
            }
            return log
        } catch {
            runner.cancel()
            throw error
        }
    }

    /// Connects to `url` (`postgres://…`) with a logger at `logLevel`: what the commands use.
    public static func connect(_ url: String, logLevel: Logger.Level) async throws -> PostgresLog {
        var logger = Logger(label: "logbook.postgres")
        logger.logLevel = logLevel
        return try await connect(PostgresLocation(url), logger: logger)
    }

    /// Connects to `url`, runs `body` with the log, and closes it after, also when `body` throws.
    public static func with<T>(
        _ url: String, logLevel: Logger.Level = .error, _ body: (PostgresLog) async throws -> T
    ) async throws -> T {
        let log = try await connect(url, logLevel: logLevel)
        do {
            let result = try await body(log)
            await log.close()
            return result
        } catch {
            await log.close()
            throw error
        }
    }

    private init(
        logID: UUID, location: PostgresLocation, client: PostgresClient, runner: Task<Void, Never>, timeout: Duration,
        pollInterval: Duration, holdLease: Duration, logger: Logger
    ) {
        self.holdLease = holdLease
        self.logID = logID
        self.location = location
        self.client = client
        self.runner = runner
        self.timeout = timeout
        self.pollInterval = pollInterval
        self.logger = logger
        compression = SharedCompression(client: client, logger: logger, timeout: timeout)
        appender = GroupAppender(
            client: client, compression: compression, names: names, feeder: feeder, logger: logger, timeout: timeout)
    }

    /// Stops following and closes the connections.
    public func close() async {
        let tasks = followers.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        let holds = renewals.withLock { r in
            defer { r = [:] }
            return Array(r.values)
        }
        for task in tasks + holds {
            task.cancel()
            await task.value
        }
        await compression.close()
        runner.cancel()
        await runner.value
    }

    // MARK: - SharedLog

    public func append(
        _ events: [ProposedEvent], closing: (@Sendable (Seq) throws(EventStoreError) -> ProposedEvent)?,
        to stream: StreamID,
        expecting expected: ExpectedRevision
    ) async throws(EventStoreError) -> AppendResult {
        try await appender.submit(events, closing: closing, to: stream, expecting: expected)
    }

    public func observeCommits(_ observer: @escaping CommitObserver) {
        appender.observer.withLock { $0 = observer }
    }

    public func bringUp(_ copy: EventStore, through seq: Seq?) async throws(EventStoreError) {
        try await feeder.bringUp(copy, through: seq?.rawValue, from: self)
    }

    /// Keeps `copy` up with the log until `close`: woken by each append's notification (unless the copy already holds
    /// what it announces), and every `pollInterval`. Every ten minutes it also deletes holds that ended an hour ago.
    public func follow(_ copy: EventStore) {
        let listener = Task { [self] in
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            try? await feeder.bringUp(copy, through: nil, from: self)
                            // A notification carries the log's end after that append: one this copy already holds
                            // (this server's own append, copied as it was acknowledged) needs no read.
                            for try await notification in notifications {
                                let end = UInt64(notification.payload)
                                if let end, copy.lastSeq.rawValue >= end { continue }
                                try? await feeder.bringUp(copy, through: end, from: self)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("listening for appends failed; listening again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: pollInterval)
            }
        }
        let poller = Task { [self] in
            var lastPurge = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                do { try await feeder.bringUp(copy, through: nil, from: self) } catch {
                    logger.warning("copying new events failed", metadata: ["error": "\(error)"])
                }
                if lastPurge.duration(to: .now) > .seconds(600) {
                    lastPurge = .now
                    do { try await purgeHolds() } catch {
                        logger.warning("deleting ended holds failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        followers.withLock { $0 += [listener, poller] }
    }

    // MARK: - Reading

    /// The last position (0 for an empty log).
    public func lastSeq() async throws(EventStoreError) -> Seq {
        try await withDeadline("reading the log's head") {
            let rows = try await self.client.query("SELECT position FROM logbook_log WHERE id = 1")
            for try await position in rows.decode(Int64.self) { return Seq(UInt64(position)) }
            return Seq(0)
        }
    }

    /// Up to `maxCount` rows from `position` on, in order.
    func rows(from position: UInt64, maxCount: Int) async throws(EventStoreError) -> [LogRow] {
        try await withDeadline("reading events from position \(position)") {
            let query: PostgresQuery = """
                SELECT \(unescaped: LogRow.columns) FROM logbook_events
                WHERE position >= \(Int64(position)) ORDER BY position LIMIT \(maxCount)
                """
            return try await LogRow.decode(
                self.client.query(query), names: self.names, compression: self.compression
            ) { try await self.client.query($0) }
        }
    }

    /// The chain hash stored at `position` (the genesis hash for 0).
    func chain(at position: UInt64) async throws(EventStoreError) -> [UInt8] {
        guard position > 0 else { return [UInt8](repeating: 0, count: 32) }
        return try await withDeadline("reading the chain hash at \(position)") {
            let rows = try await self.client.query(
                "SELECT chain FROM logbook_events WHERE position = \(Int64(position))")
            for try await chain in rows.decode(Data.self) { return [UInt8](chain) }
            throw EventStoreError(
                .corrupt, "the shared log has no event at position \(position); run 'logbook verify --store'")
        }
    }

    // MARK: - Deadlines and errors

    func withDeadline<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws(EventStoreError) -> T {
        try await Self.withDeadline(timeout, what, body)
    }

    /// Runs `body`, failing with `unavailable` when the database does not answer within `timeout` or the connection
    /// fails; an `EventStoreError` from `body` passes through. The deadline holds even when `body` does not stop on
    /// cancellation (a query waiting for a connection the pool is still making): `body` is then cancelled and left to
    /// end on its own, and the caller goes on.
    static func withDeadline<T: Sendable>(
        _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws(EventStoreError) -> T {
        let work = Task { try await body() }
        let outcome: Result<T, any Error>? = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>?, Never>) in
                let pending = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(continuation)
                let finish = { @Sendable (outcome: Result<T, any Error>?) in
                    pending.withLock { c in
                        c?.resume(returning: outcome)
                        c = nil
                    }
                }
                let timer = Task {
                    do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: `work` ended first
                    finish(nil)
                }
                Task {
                    let result = await work.result
                    timer.cancel()
                    finish(result)
                }
            }
        } onCancel: {
            work.cancel()
        }
        switch outcome {
        case .success(let value)?: return value
        case .failure(let error as EventStoreError)?: throw error
        case .failure(let error)?: throw unavailable(what, error)
        case nil:
            work.cancel()
            throw EventStoreError(
                .unavailable,
                "the shared log's database did not answer within \(timeout) (\(what)); check that PostgreSQL is running and reachable, then retry"
            )
        }
    }

    /// The error for a failed database call: the server's message when it sent one, never the query's parameters.
    static func unavailable(_ what: String, _ error: any Error) -> EventStoreError {
        let reason: String
        if let error = error as? PSQLError {
            reason = error.serverInfo?[.message] ?? error.code.description
        } else {
            reason = "\(type(of: error))"
        }
        return EventStoreError(
            .unavailable,
            "the shared log's database failed while \(what) (\(reason)); nothing is known to have changed: retry")
    }
}
