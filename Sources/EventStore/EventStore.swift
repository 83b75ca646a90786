import CLMDB
import Foundation
import Synchronization

/// An append-only, hash-chained event log in one LMDB environment, with zstd-compressed records.
///
/// One global order (`Seq`, gap-free from 1), many streams with contiguous revisions, idempotent appends by event id,
/// group commit through a single writer thread, reads from any thread, and subscriptions that catch up and go live.
///
/// ```swift
/// let store = try EventStore.open(EventStore.Configuration(directory: "./data"))
/// let result = try await store.append([ProposedEvent(type: "message.user", payload: json)],
///                                     to: "thread/42", expecting: .noStream)
/// for await message in store.subscribe(from: 1) { … }
/// await store.close()
/// ```
///
/// Open a directory once per process and share the instance (LMDB's rule); other processes may open it too.
public final class EventStore: Sendable {
    /// How to open a log.
    public struct Configuration: Sendable {
        /// The directory holding `data.mdb` and `lock.mdb`; created when missing (unless read-only).
        public var directory: String
        public var limits = Limits()
        public var durability = Durability.durable
        /// Open for reading only: no writer thread, appends fail with `closed`.
        public var readOnly = false
        /// Read-only: how often live subscriptions look for events other processes appended.
        public var readOnlyPollInterval: Duration = .milliseconds(50)
        /// When to train compression dictionaries automatically, in the background: once the log holds each of these
        /// many events (and its current dictionary is older). Early, so that few records go without one; again later on
        /// a larger sample, for a better one. Empty: only `trainDictionary()` trains.
        public var dictionaryTrainingPoints: [UInt64] = [4_096, 65_536]
        /// How many recent payloads a dictionary is trained on (at most), and its largest size in bytes (at most a
        /// quarter of the sample's bytes). Small events compress better against a large dictionary: on the benchmark's
        /// events a 256 KiB one trained on 32,768 of them stores 187.0 bytes per event where a 64 KiB one trained on
        /// 16,384 stores 193.3 (zstd level 3, the same compression time; training takes 0.4 s; `docs/event-store.md`).
        public var dictionarySampleEvents = 32_768
        public var dictionaryCapacityBytes = 256 * 1024
        /// With `.relaxed`: how often a background flush puts what was committed on the device, which bounds what a
        /// power failure can lose (LMDB alone leaves it to the OS, ~30 s here). Each flush is one `fdatasync`.
        public var relaxedFlushInterval: Duration = .seconds(1)
        /// The zstd level new payloads are compressed at, 1...19. Higher levels store fewer bytes for more CPU per
        /// append, paid by the appending task; reading costs the same at any level. On the benchmark's events, with a
        /// 256 KiB dictionary: level 3 stores 187.6 bytes per event and takes 3.2 µs, level 4 186.2 and 3.6 µs,
        /// level 5 181.5 and 6.7 µs, level 7 175.6 and ~27 µs.
        public var compressionLevel = defaultCompressionLevel
        /// The zstd levels `compressionLevel` may take, and its default.
        public static let compressionLevels = 1...19
        public static let defaultCompressionLevel = 3
        /// The commit time source, in nanoseconds since the Unix epoch. Inject a fixed clock for reproducible logs.
        public var clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1e9) }
        /// Called once when a fatal error (an I/O error, a damaged log) makes the store refuse every later write,
        /// with that error: the server logs it and turns not ready.
        public var onWritesRefused: (@Sendable (EventStoreError) -> Void)?
        /// Told of each group commit (its size and how long it took), for metrics. On a copy of a shared log it is
        /// handed to the shared log (`SharedLog.observeCommits`), whose commits are the appends'.
        public var onCommit: CommitObserver?
        /// Called when background work fails (training a dictionary, when the process is at its memory limit):
        /// nothing is lost, appends go on with the dictionary they had; the server logs it.
        public var onBackgroundFailure: (@Sendable (EventStoreError) -> Void)?
        /// Faults to inject, for tests: asked with the size of each allocation the store makes fallibly (payloads
        /// read back, a dictionary's training sample; 0 for a zstd context); true fails it as if `malloc` had said no.
        public var allocationFault: (@Sendable (Int) -> Bool)?
        /// Faults to inject, for tests: asked before each commit, a non-nil errno or LMDB code fails it as if
        /// `mdb_txn_commit` had returned it (the transaction is aborted; the log is unchanged).
        public var commitFault: (@Sendable () -> Int32?)?
        /// The shared log this store is a copy of (several servers on one PostgreSQL log): appends go there and come
        /// back in its order; reads stay local. The directory then holds this server's copy only, which can be
        /// deleted (it is made again from the shared log) and never serves as a log of its own.
        public var shared: (any SharedLog)?

        public init(directory: String) { self.directory = directory }
    }

    /// The format version this build writes and the newest it reads. 2: event ids in order are found through marks
    /// (`EventIDIndex`), not indexed one by one. 3: records of version 3, whose ids from a registered process are
    /// compact (`EventIDNodes`). An older log is upgraded when opened for writing; its records stay as they are.
    public static let formatVersion: UInt32 = 3

    let env: LMDBEnvironment
    let codec: ZstdCodec
    let names = NameCache()
    let head: HeadWatcher
    let limits: Limits
    let configuration: Configuration
    /// The log's directory.
    public var directory: String { configuration.directory }
    let writer: GroupCommitWriter?
    /// Relaxed mode's background flushes (nil when durable or read-only).
    let flusher: RelaxedFlusher?
    private let trainingState = Mutex(false)
    /// The last seq when the current dictionary was stored, at open (0: none).
    private let dictionaryTrainedAt: UInt64

    /// Opens (or creates) the log in `configuration.directory`.
    /// - Throws: `unsupportedFormat` for a log written by a newer format or not a Logbook log, `alreadyOpen` when this
    ///   process has it open, `storage` for permissions and I/O.
    public static func open(_ configuration: Configuration) throws(EventStoreError) -> EventStore {
        try EventStore(configuration)
    }

    private init(_ configuration: Configuration) throws(EventStoreError) {
        guard configuration.relaxedFlushInterval > .zero else {
            throw EventStoreError(
                .invalidArgument,
                "the relaxed flush interval must be positive (it is \(configuration.relaxedFlushInterval)); the default is 1 second"
            )
        }
        guard Configuration.compressionLevels.contains(configuration.compressionLevel) else {
            throw EventStoreError(
                .invalidArgument,
                "compression level \(configuration.compressionLevel) is not in \(Configuration.compressionLevels); \(Configuration.defaultCompressionLevel) is the default"
            )
        }
        self.configuration = configuration
        limits = configuration.limits.validated()
        env = try LMDBEnvironment(
            directory: configuration.directory, limits: limits,
            durability: configuration.durability, readOnly: configuration.readOnly)
        codec = ZstdCodec(
            level: Int32(configuration.compressionLevel), memory: FallibleMemory(fault: configuration.allocationFault))
        do throws(EventStoreError) {
            if !configuration.readOnly {
                try Self.initializeFormat(env)
                try Self.checkCopy(env, of: configuration.shared, path: configuration.directory)
                let now = UInt64(max(configuration.clock(), 0) / 1_000_000)
                try env.write { (txn) throws(EventStoreError) in
                    try txn.idNodes.register(EventID.node, now: now, txn: txn)
                }
            }
            let (lastSeq, dictionaries, current, trainedAt) = try env.read { (txn) throws(EventStoreError) in
                try Self.checkFormat(txn, path: configuration.directory)
                try txn.idNodes.load(txn)
                let current = try txn.get(txn.dbs.meta, KeyLayout.currentDictionaryKey)
                    .flatMap { $0.count == 4 ? UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) : nil }
                let trainedAt = try current.flatMap { (id) throws(EventStoreError) in
                    try txn.get(txn.dbs.meta, KeyLayout.dictionarySeqKey(id)).map { $0.loadBigEndianUInt64() }
                }
                return (try Self.lastSeq(txn), try Self.dictionaries(txn), current, trainedAt ?? 0)
            }
            dictionaryTrainedAt = trainedAt
            for (id, bytes) in dictionaries where !codec.register(dictionaryID: id, bytes: bytes) {
                throw EventStoreError(
                    .storage,
                    "not enough memory to load compression dictionary \(id) of \(configuration.directory); give the process more memory"
                )
            }
            codec.currentDictionaryID = current
            head = HeadWatcher(head: lastSeq)
            if let shared = configuration.shared, let observer = configuration.onCommit {
                shared.observeCommits(observer)
            }
        } catch {
            env.close()
            throw error
        }
        if configuration.readOnly {
            writer = nil
            flusher = nil
        } else {
            let head = self.head
            // The training points still ahead: those past the current dictionary's own.
            let trainedAt = dictionaryTrainedAt
            let points = Mutex(configuration.dictionaryTrainingPoints.sorted().filter { $0 > trainedAt })
            let trigger = Mutex<(@Sendable () -> Void)?>(nil)
            env.commitFault = configuration.commitFault
            let writer = GroupCommitWriter(
                env: env, codec: codec, limits: limits, clock: configuration.clock,
                onRefusal: configuration.onWritesRefused,
                report: configuration.shared == nil ? configuration.onCommit : nil
            ) { lastSeq in
                head.advance(to: lastSeq)
                let due = points.withLock { (remaining: inout [UInt64]) -> Bool in
                    guard let next = remaining.first, lastSeq >= next else { return false }
                    remaining.removeAll { $0 <= lastSeq }
                    return true
                }
                if due { trigger.withLock { $0 }?() }
            }
            self.writer = writer
            if configuration.durability == .relaxed {
                do {
                    flusher = try RelaxedFlusher(env: env, head: head, interval: configuration.relaxedFlushInterval) {
                        error in
                        writer.refuseWrites(after: error)
                    }
                } catch {
                    writer.shutdown()
                    env.close()
                    throw error
                }
            } else {
                flusher = nil
            }
            trigger.withLock { $0 = { [weak self] in self?.trainDictionaryInBackground() } }
        }
    }

    /// Why the store refuses writes, if a fatal error made it (nil: it writes; a full disk or log is not fatal).
    public var writeRefusal: EventStoreError? { writer?.refusal }

    /// Lets queued appends finish, stops the writer, flushes (relaxed) and closes the environment. Subscriptions end
    /// with `.storeClosed`. A relaxed log's last flush cannot report a failure here: call `sync()` first to know.
    public func close() async {
        await Self.onOwnThread { [self] in
            writer?.shutdown()
            flusher?.stop()
            head.close()
            env.close()
        }
    }

    /// Group commit counters of this process's writer (zero when read-only).
    public var writerStatistics: WriterStatistics { writer?.statistics ?? WriterStatistics() }

    /// The last seq known to be on the device. Durable: every acknowledged append, so `lastSeq`. Relaxed: what the
    /// latest background flush covered (`Configuration.relaxedFlushInterval`); the rest survives a crash of this
    /// process but not a power failure. Read-only: `lastSeq`, as far as this process can tell.
    public var durableSeq: Seq { flusher.map { Seq($0.flushedThrough) } ?? lastSeq }

    /// The last committed seq (0 for an empty log). Read-only, it includes what other processes committed since.
    public var lastSeq: Seq { Seq(currentHead()) }

    /// The last committed seq. This process's writer keeps `head` current; a read-only store reads it from the log,
    /// since another process writes.
    func currentHead() -> UInt64 {
        guard writer == nil else { return head.head }
        if let last = try? env.read({ (txn) throws(EventStoreError) in try Self.lastSeq(txn) }) {
            head.advance(to: last)
        }
        return head.head
    }

    // MARK: - Append

    /// Appends `events` to `stream` atomically, if the stream is where `expected` says.
    ///
    /// Events are compressed on the calling task, then the writer commits them with every other pending append in one
    /// transaction and, with `.durable`, one fsync. When this returns, the events are durable and readable.
    ///
    /// Idempotent: when every event id was appended before with the same content, returns the original positions
    /// (`wasAlreadyAppended`) whatever `expected` says. A cancelled caller may or may not have appended: retry with
    /// the same ids to find out.
    /// - Throws: `wrongExpectedRevision` (naming the expected and actual revision), `duplicateEventID` (an id reused
    ///   with other content, or a request mixing new and old ids), `invalidArgument` (empty request, size and name
    ///   limits), `mapFull`, `diskFull`, `overloaded`, `closed`. On any error nothing of the request was written.
    /// - Complexity: O(n log N) for n events into a log of N.
    @discardableResult
    public func append(
        _ events: [ProposedEvent], to stream: StreamID, expecting expected: ExpectedRevision = .any
    )
        async throws(EventStoreError) -> AppendResult
    {
        try await submit(events, closing: nil, to: stream, expecting: expected)
    }

    /// Appends `events` and, last, the event `closing` builds from the seq the first of them gets, atomically: for an
    /// event that names the events before it by seq and must be committed with them (a model request naming the
    /// messages of its prompt). Otherwise like `append(_:to:expecting:)`.
    ///
    /// `closing` runs on the writer thread, inside the group's transaction: keep it quick and pure. Given the same
    /// seq it must build the same event (same id and content), so that a retried append is recognised.
    /// - Throws: as `append(_:to:expecting:)`; `invalidArgument` when `events` is empty or the built event breaks a
    ///   limit (nothing of the request is written then).
    @discardableResult
    public func append(
        _ events: [ProposedEvent], closingWith closing: @escaping @Sendable (_ firstSeq: Seq) -> ProposedEvent,
        to stream: StreamID, expecting expected: ExpectedRevision = .any
    ) async throws(EventStoreError) -> AppendResult {
        try await submit(events, closing: closing, to: stream, expecting: expected)
    }

    private func submit(
        _ events: [ProposedEvent], closing: (@Sendable (Seq) -> ProposedEvent)?, to stream: StreamID,
        expecting expected: ExpectedRevision
    ) async throws(EventStoreError) -> AppendResult {
        guard let writer else { throw EventStoreError(.closed, "the log at \(env.path) is open read-only") }
        if let shared = configuration.shared {
            try validate(events, stream: stream, extra: closing == nil ? 0 : 1)
            let limits = self.limits
            var checked: (@Sendable (Seq) throws(EventStoreError) -> ProposedEvent)?
            if let closing {
                checked = { (seq: Seq) throws(EventStoreError) -> ProposedEvent in
                    let event = closing(seq)
                    try limits.validate(event)
                    return event
                }
            }
            let result = try await shared.append(events, closing: checked, to: stream, expecting: expected)
            try await shared.bringUp(self, through: result.lastSeq)
            return result
        }
        let prepared = try prepare(events, stream: stream, extra: closing == nil ? 0 : 1)
        do {
            return try await withUnsafeThrowingContinuation { continuation in
                do {
                    try writer.submit(
                        .append(
                            AppendRequest(
                                stream: stream, expected: expected, events: prepared, closing: closing,
                                continuation: continuation)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "append failed: \(error)")
        }
    }

    private func prepare(
        _ events: [ProposedEvent], stream: StreamID, extra: Int
    ) throws(EventStoreError) -> [PreparedEvent] {
        try validate(events, stream: stream, extra: extra)
        return try events.map { (event) throws(EventStoreError) -> PreparedEvent in
            let (compression, stored) = try codec.compress(event.payload)
            return PreparedEvent(proposed: event, compression: compression, stored: stored)
        }
    }

    /// Checks an append against the limits: counts, sizes, names, ids unique within it.
    private func validate(_ events: [ProposedEvent], stream: StreamID, extra: Int) throws(EventStoreError) {
        guard !events.isEmpty else {
            throw EventStoreError(.invalidArgument, "append to '\(stream)' carries no events; send at least one")
        }
        guard events.count + extra <= limits.maxEventsPerAppend else {
            throw EventStoreError(
                .invalidArgument,
                "append to '\(stream)' carries \(events.count + extra) events, more than the limit of \(limits.maxEventsPerAppend); split it"
            )
        }
        guard stream.rawValue.utf8.count <= limits.maxStreamIDBytes else {
            throw EventStoreError(
                .invalidArgument,
                "stream id '\(stream.rawValue.prefix(64))…' is \(stream.rawValue.utf8.count) bytes, more than the limit of \(limits.maxStreamIDBytes)"
            )
        }
        if events.count > 1, Set(events.map(\.id)).count != events.count {
            throw EventStoreError(
                .duplicateEventID, "an event id appears twice in one append to '\(stream)'; give each event its own id")
        }
        for event in events { try limits.validate(event) }
    }

    // MARK: - Dictionaries

    /// Trains a compression dictionary on the most recent payloads and makes new records use it.
    /// Records keep naming the dictionary they were written with, so older records stay readable.
    /// - Returns: the new dictionary, or nil when the log holds too little to train on.
    @discardableResult
    public func trainDictionary() async throws(EventStoreError) -> DictionaryInfo? {
        guard let writer else { throw EventStoreError(.closed, "the log at \(env.path) is open read-only") }
        // Up to a second of CPU: on a thread of its own, not one of the cooperative pool's (one per core), which the
        // appending tasks need meanwhile.
        let trained = try await Self.onOwnThread { [self] () throws(EventStoreError) in
            try trainOnRecentPayloads()
        }
        guard let bytes = trained else { return nil }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                do { try writer.submit(.storeDictionary(bytes, continuation)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "storing the dictionary failed: \(error)")
        }
    }

    private func trainDictionaryInBackground() {
        let start = trainingState.withLock { running in
            defer { running = true }
            return !running
        }
        guard start else { return }
        let report = configuration.onBackgroundFailure
        Task.detached(priority: .utility) { [weak self] in
            do throws(EventStoreError) { _ = try await self?.trainDictionary() } catch {
                // A store closed while it trained has nothing to report.
                if error.code != .closed {
                    report?(
                        EventStoreError(
                            error.code, "training a compression dictionary failed: \(error.message)",
                            systemCode: error.systemCode))
                }
            }
            self?.trainingState.withLock { $0 = false }
        }
    }

    /// Runs blocking work (a commit's wait, seconds of CPU) on a thread of its own, not on the cooperative pool.
    static func onOwnThread<T: Sendable, E: Error>(
        _ work: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, E>, Never>) in
            Thread.detachNewThread { continuation.resume(returning: Result { () throws(E) in try work() }) }
        }
        return try result.get()
    }

    /// A dictionary trained on the last `dictionarySampleEvents` payloads, gathered end to end in one buffer that
    /// fails with `outOfMemory` (rather than trapping) when the process is at its memory limit.
    private func trainOnRecentPayloads() throws(EventStoreError) -> [UInt8]? {
        let last = head.head
        let count = UInt64(configuration.dictionarySampleEvents)
        guard last > 0, count > 0 else { return nil }
        var samples = try FallibleMemory.Buffer(
            capacity: 1 << 20, memory: codec.memory, purpose: "a dictionary's training sample")
        var sizes: [Int] = []
        do {
            try scan(from: Seq(last > count ? last - count + 1 : 1), through: Seq(last)) { view in
                try view.withPayload { payload in
                    if !payload.isEmpty {
                        try samples.append(payload)
                        sizes.append(payload.count)
                    }
                }
                return true
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "reading the dictionary's training sample failed: \(error)")
        }
        return try codec.trainDictionary(
            samples: samples.bytes, sizes: sizes, capacity: configuration.dictionaryCapacityBytes)
    }

    // MARK: - Format

    /// Writes the format of a new log, or upgrades an older one. From format 1 (every event id indexed; see
    /// `EventIDIndex`) its ids stay indexed, and events after its last seq are indexed the new way; from format 2
    /// nothing changes but the version (new records are version 3). A newer format is left for `checkFormat` to refuse.
    private static func initializeFormat(_ env: LMDBEnvironment) throws(EventStoreError) {
        let current = try env.read { (txn) throws(EventStoreError) in try storedFormat(txn) }
        if let current, current >= formatVersion { return }
        try env.write { (txn) throws(EventStoreError) in
            let stored = try storedFormat(txn)
            if stored ?? 0 < 2 {
                let marksFrom: UInt64 = stored == nil ? 0 : try lastSeq(txn)
                try txn.put(txn.dbs.meta, EventIDIndex.marksFromKey, marksFrom.bigEndianBytes)
            }
            try txn.put(txn.dbs.meta, KeyLayout.formatKey, formatVersion.bigEndianBytes)
        }
    }

    static func storedFormat(_ txn: LMDBTransaction) throws(EventStoreError) -> UInt32? {
        try txn.get(txn.dbs.meta, KeyLayout.formatKey).flatMap {
            $0.count == 4 ? UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) : nil
        }
    }

    private static func checkFormat(_ txn: LMDBTransaction, path: String) throws(EventStoreError) {
        guard let v = try txn.get(txn.dbs.meta, KeyLayout.formatKey), v.count == 4 else {
            throw EventStoreError(.unsupportedFormat, "\(path) has no Logbook format version; it is not a Logbook log")
        }
        let version = UInt32(bigEndian: v.loadUnaligned(as: UInt32.self))
        guard version <= formatVersion else {
            throw EventStoreError(
                .unsupportedFormat,
                "the log at \(path) has format version \(version); this build reads up to version \(formatVersion): upgrade Logbook"
            )
        }
    }

    static func lastSeq(_ txn: LMDBTransaction) throws(EventStoreError) -> UInt64 {
        try txn.withCursor(txn.dbs.events) { (c) throws(EventStoreError) in
            try c.get(MDB_LAST)?.key.loadBigEndianUInt64() ?? 0
        }
    }

    static func dictionaries(_ txn: LMDBTransaction) throws(EventStoreError) -> [(UInt32, [UInt8])] {
        try txn.withCursor(txn.dbs.meta) { (c) throws(EventStoreError) in
            var result: [(UInt32, [UInt8])] = []
            let prefix = KeyLayout.dictionaryPrefix
            var entry = try prefix.withBytes { (k) throws(EventStoreError) in try c.get(MDB_SET_RANGE, key: k) }
            while let e = entry, e.key.starts(with: prefix) {
                if e.key.count == prefix.count + 4 {
                    result.append(
                        (
                            UInt32(bigEndian: e.key.loadUnaligned(fromByteOffset: prefix.count, as: UInt32.self)),
                            Array(e.value)
                        ))
                }
                entry = try c.get(MDB_NEXT)
            }
            return result
        }
    }
}
