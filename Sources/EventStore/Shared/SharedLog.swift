import Foundation

/// The log of record when several servers share one log (PostgreSQL, `PostgresLog`). An `EventStore` opened with
/// one is that server's own copy of it: appends go to the shared log, which orders them among every server's, and
/// come back into the copy in the shared log's order; everything else (reads, scans, subscriptions, projections and
/// their checkpoints) works on the copy, unchanged.
public protocol SharedLog: Sendable {
    /// Names the shared log: a copy made of one shared log never follows another.
    var logID: UUID { get }

    /// Appends to the shared log, checking `expected` and event-id idempotency against every server's appends;
    /// `closing` builds the last event from the first event's position, as in `EventStore.append(_:closingWith:…)`,
    /// and checks it against the copy's limits (an error fails this append alone).
    /// - Throws: as `EventStore.append`; `unavailable` when the shared log cannot be reached (nothing is known to be
    ///   appended then: retry with the same event ids).
    func append(
        _ events: [ProposedEvent], closing: (@Sendable (Seq) throws(EventStoreError) -> ProposedEvent)?,
        to stream: StreamID,
        expecting expected: ExpectedRevision
    ) async throws(EventStoreError) -> AppendResult

    /// Brings `copy` up to at least `seq` (nil: to the log's end as of this call): copies what every server
    /// appended up to there, in order.
    func bringUp(_ copy: EventStore, through seq: Seq?) async throws(EventStoreError)

    /// Takes `stream` for this process, across every server: one run per thread at a time. Waits while another
    /// server holds it. The hold is kept alive in the background until `release`; a server that stops (crashes, or
    /// loses the database) loses its holds after a lease time.
    /// - Throws: `unavailable`; `CancellationError` as `closed` when the caller's task is cancelled while waiting.
    func hold(_ stream: StreamID) async throws(EventStoreError) -> SharedHold

    /// Takes `stream` only if no server holds it now; nil when one does.
    func tryHold(_ stream: StreamID) async throws(EventStoreError) -> SharedHold?

    /// Gives up a hold (no error: a hold that cannot be given up lapses after its lease time).
    func release(_ hold: SharedHold) async

    /// The log's last position (0 when empty); `unavailable` says the log cannot be reached now.
    func lastSeq() async throws(EventStoreError) -> Seq

    /// Tells `observer` of each of this process's append transactions on the shared log (its group commits), for
    /// metrics; replaces an earlier observer.
    func observeCommits(_ observer: @escaping CommitObserver)

    /// Keeps `copy` up with the log in the background (what other servers append) until `close`.
    func follow(_ copy: EventStore)

    /// Stops following, gives up holds and closes the connections. Close it before the copy.
    func close() async
}

/// A stream this process holds in a shared log (`SharedLog.hold`).
public struct SharedHold: Sendable, Hashable {
    public let stream: StreamID
    /// Names this hold among all of them, so that only its holder renews or releases it.
    public let token: UUID

    public init(stream: StreamID, token: UUID) {
        self.stream = stream
        self.token = token
    }

    /// The hold the current task works under (the engine sets it around a run). A shared log appends the task's
    /// events to the held stream only while this hold is still the stream's (a fencing token): once another server
    /// has taken the stream, they fail with `holdLost` and nothing is written.
    @TaskLocal public static var current: SharedHold?
}

/// One event of the shared log, at its position there, for its copy.
public struct CopiedEvent: Sendable {
    public var seq: Seq
    public var stream: StreamID
    /// The event, with `recordedTime` set to its time in the shared log.
    public var event: ProposedEvent

    public init(seq: Seq, stream: StreamID, event: ProposedEvent) {
        self.seq = seq
        self.stream = stream
        self.event = event
    }
}
