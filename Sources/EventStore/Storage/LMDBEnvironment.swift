import CLMDB
import Foundation
import Synchronization

/// The named databases of a log. Keys are big-endian so cursor order is numeric order.
struct LMDBDatabases: Sendable {
    /// seq (u64) → record (`RecordCodec`).
    let events: MDB_dbi
    /// stream id (UTF-8) → stream number (u64), written once when the stream starts.
    let streams: MDB_dbi
    /// stream number (u64) → stream id (UTF-8).
    let streamNames: MDB_dbi
    /// stream number (u64) → last revision (u64) ‖ seq of the last event (u64). Keyed by number, not name, so the heads
    /// of the streams active now (recent numbers) share a few pages and a commit dirties few of them.
    let streamHeads: MDB_dbi
    /// stream number (u64) → checkpoints revision (u64) ‖ seq (u64) for revisions 1, 1 + k, 1 + 2k, …
    /// (k = `KeyLayout.checkpointInterval`), as sorted duplicates (DUPSORT|DUPFIXED, 16 bytes each). Records link back to
    /// their stream's previous event, so a checkpoint plus at most k - 1 back links reach any revision while a
    /// commit touches the index once per k events of a stream instead of once per event.
    let streamIndex: MDB_dbi
    /// event id (16 bytes) → seq (u64), for ids not in order (see `EventIDIndex`).
    let eventIDs: MDB_dbi
    /// largest event id so far (16 bytes) ‖ seq (u64) → nothing, every `EventIDIndex.markInterval`-th seq. Nil only for a
    /// log written before format 2 and opened read-only.
    let eventIDMarks: MDB_dbi?
    /// name (UTF-8) → symbol (u32): event types, actors and workspaces, stored once.
    let symbols: MDB_dbi
    /// symbol (u32) → name (UTF-8).
    let symbolNames: MDB_dbi
    /// format version, totals, compression dictionaries, checkpoints.
    let meta: MDB_dbi
}

/// How commits reach the disk.
public enum Durability: String, Sendable, Equatable {
    /// Every group commit is flushed to the device (fdatasync) before appends are acknowledged. The default.
    case durable
    /// Commits are written but not flushed (`MDB_NOSYNC`); a background flush every
    /// `EventStore.Configuration.relaxedFlushInterval` (1 s) and `close()` put them on the device. An acknowledged
    /// append survives a crash of the process (`kill -9`). A power failure or kernel crash loses what the last flush
    /// did not cover (`EventStore.durableSeq` says how far it got), and can leave the log damaged unless the file
    /// system writes in the order it was given (LMDB's condition; ext4 does not promise it): `logbook verify` tells,
    /// and a backup restores. Use it where that trade is acceptable.
    case relaxed
}

/// An open LMDB environment (one directory holding `data.mdb` and `lock.mdb`).
///
/// ## Invariants
/// - `env` is valid from `init` until `close()`; the database handles are opened once in `init` and valid for every
///   later transaction.
/// - Read transactions hold `gate` shared and the map is resized only under it exclusively, because
///   `mdb_env_set_mapsize` requires that no transaction of this process is active.
/// - Only the writer thread begins write transactions. These invariants make the class safe to share (`@unchecked`).
final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer
    let path: String
    let dbs: LMDBDatabases
    let readOnly: Bool
    /// Registered id nodes, loaded when the log opens and when a record names one registered since.
    let idNodes = EventIDNodes()
    let maxMapSizeBytes: Int
    /// Tests' fault injection (`EventStore.Configuration.commitFault`); set before the writer starts, then only read.
    nonisolated(unsafe) var commitFault: (@Sendable () -> Int32?)?
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    private let closed = Atomic<Bool>(false)

    private static let openPaths = Mutex<Set<String>>([])

    init(directory: String, limits: Limits, durability: Durability, readOnly: Bool) throws(EventStoreError) {
        let fm = FileManager.default
        if readOnly {
            guard fm.fileExists(atPath: directory + "/data.mdb") else {
                throw EventStoreError(
                    .storage, "no Logbook log at \(directory): check --data, or append events to create one")
            }
        } else {
            // The log holds everyone's conversations: only its owner reads it (0700 for a directory made here, 0600 files).
            do {
                try fm.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw EventStoreError(
                    .storage, "cannot create the log directory \(directory): \(error.localizedDescription)")
            }
        }
        let canonical = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().path
        let inserted = Self.openPaths.withLock { $0.insert(canonical).inserted }
        guard inserted else {
            throw EventStoreError(
                .alreadyOpen,
                "the log at \(directory) is already open in this process; share the open EventStore instead")
        }
        var lockFD: Int32 = -1
        if !readOnly {
            do { lockFD = try Self.lockForWriting(directory) } catch {
                _ = Self.openPaths.withLock { $0.remove(canonical) }
                throw error
            }
        }
        var envPointer: OpaquePointer?
        do {
            try check(mdb_env_create(&envPointer), "creating the environment", path: directory)
            let env = envPointer!
            try check(mdb_env_set_maxdbs(env, 12), "configuring", path: directory)
            try check(mdb_env_set_maxreaders(env, UInt32(limits.maxReaders)), "configuring", path: directory)
            try check(mdb_env_set_mapsize(env, limits.initialMapSizeBytes), "configuring", path: directory)
            var flags = UInt32(MDB_NOTLS)
            // Durable: LMDB's default commit (flush the data pages, then write the meta page synchronously), so a
            // commit that returned is on the device. (MDB_NOMETASYNC with deferred acknowledgements measured no faster:
            // it saves a flush per group but cuts the groups to two thirds.)
            if durability == .relaxed { flags |= UInt32(MDB_NOSYNC) }
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, directory, flags, 0o600), "opening", path: directory)
            self.dbs = try Self.openDatabases(env, path: directory, create: !readOnly)
            self.env = env
        } catch {
            mdb_env_close(envPointer)
            if lockFD >= 0 { Glibc.close(lockFD) }
            _ = Self.openPaths.withLock { $0.remove(canonical) }
            throw error
        }
        writerLock = lockFD
        self.path = directory
        self.readOnly = readOnly
        self.maxMapSizeBytes = limits.maxMapSizeBytes
        gate = .allocate(capacity: 1)
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(gate, &attr)
        pthread_rwlockattr_destroy(&attr)
        canonicalPath = canonical
    }

    private let canonicalPath: String
    /// The descriptor holding `writer.lock` (an exclusive `flock`) while this process may write; -1 when read-only.
    private let writerLock: Int32

    /// One writing process per log: the group-commit writer keeps the log's head, stream heads and name tables in
    /// memory, so a second writer would work from stale ones. `flock` is released by the kernel when the holder dies
    /// (kill -9 included), so a crash never leaves the log locked.
    private static func lockForWriting(_ directory: String) throws(EventStoreError) -> Int32 {
        let path = directory + "/writer.lock"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw EventStoreError(.storage, "cannot open \(path): errno \(errno); check the directory's permissions")
        }
        // The lock file names its holder. When that is this process, which does not have the log open (`openPaths`),
        // the lock is held by a child this process is starting: between fork and exec a child shares the lock's open
        // file (O_CLOEXEC drops it only at exec). Wait that out, briefly; any other holder is refused at once.
        let deadline = ContinuousClock.now + .seconds(2)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder =
                (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? ""
            guard holder == String(getpid()), ContinuousClock.now < deadline else {
                Glibc.close(fd)
                throw EventStoreError(
                    .alreadyOpen,
                    "the log at \(directory) is open for writing by another process\(holder.isEmpty ? "" : " (pid \(holder))"); stop it, or open the log read-only (logbook's reading commands do)"
                )
            }
            usleep(1_000)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { Glibc.pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    private static func openDatabases(
        _ env: OpaquePointer, path: String, create: Bool
    ) throws(EventStoreError) -> LMDBDatabases {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, create ? 0 : UInt32(MDB_RDONLY), &txn), "opening the databases", path: path)
        func open(_ name: String, _ flags: Int32) throws(EventStoreError) -> MDB_dbi {
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(txn, name, UInt32(flags | (create ? MDB_CREATE : 0)), &dbi)
            if rc == MDB_NOTFOUND {
                throw EventStoreError(
                    .unsupportedFormat,
                    "\(path) holds an LMDB environment without Logbook's '\(name)' database; it is not a Logbook log")
            }
            try check(rc, "opening database '\(name)'", path: path)
            return dbi
        }
        do {
            // Absent from a log written before format 2 until a writer opens it.
            var marksDBI = MDB_dbi()
            let rc = mdb_dbi_open(txn, "event_id_marks", UInt32(create ? MDB_CREATE : 0), &marksDBI)
            if rc != MDB_NOTFOUND { try check(rc, "opening database 'event_id_marks'", path: path) }
            let marks: MDB_dbi? = rc == MDB_NOTFOUND ? nil : marksDBI
            let dbs = LMDBDatabases(
                events: try open("events", 0), streams: try open("streams", 0),
                streamNames: try open("stream_names", 0),
                streamHeads: try open("stream_heads", 0),
                streamIndex: try open("stream_index", MDB_DUPSORT | MDB_DUPFIXED), eventIDs: try open("event_ids", 0),
                eventIDMarks: marks,
                symbols: try open("symbols", 0), symbolNames: try open("symbol_names", 0), meta: try open("meta", 0))
            try check(mdb_txn_commit(txn), "opening the databases", path: path)
            return dbs
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
    }

    /// Closes the environment. Callers must have ended every transaction first.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pthread_rwlock_wrlock(gate)
        mdb_env_close(env)
        pthread_rwlock_unlock(gate)
        pthread_rwlock_destroy(gate)
        gate.deallocate()
        if writerLock >= 0 { Glibc.close(writerLock) }
        _ = Self.openPaths.withLock { $0.remove(canonicalPath) }
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Runs `body` in a read-only transaction. Never call it from inside another transaction on the same thread.
    func read<T>(_ body: (LMDBTransaction) throws(EventStoreError) -> T) throws(EventStoreError) -> T {
        while true {
            pthread_rwlock_rdlock(gate)
            if isClosed {
                pthread_rwlock_unlock(gate)
                throw EventStoreError(.closed, "the log at \(path) is closed")
            }
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                pthread_rwlock_unlock(gate)
                try adoptMapSizeOfOtherProcess()
                continue
            }
            defer { pthread_rwlock_unlock(gate) }
            try check(rc, "starting a read", path: path)
            defer { mdb_txn_abort(txn) }
            return try body(
                LMDBTransaction(txn: txn!, dbs: dbs, path: path, idNodes: idNodes, knownIDNodes: idNodes.current))
        }
    }

    /// Flushes every committed transaction to the device (what a durable commit does each time).
    func sync() throws(EventStoreError) {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        if isClosed { throw EventStoreError(.closed, "the log at \(path) is closed") }
        try check(mdb_env_sync(env, 1), "flushing", path: path)
    }

    /// Copies the environment into `directory` (existing, empty) as of one read transaction: appends go on meanwhile.
    /// `compact` leaves out free pages and renumbers the rest (LMDB's `MDB_CP_COMPACT`).
    func copy(to directory: String, compact: Bool) throws(EventStoreError) {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        if isClosed { throw EventStoreError(.closed, "the log at \(path) is closed") }
        try check(
            mdb_env_copy2(env, directory, compact ? UInt32(MDB_CP_COMPACT) : 0), "copying to \(directory)", path: path)
    }

    /// Runs `body` in a write transaction and commits it; aborts on a thrown error. Only the writer thread calls this.
    func write<T>(_ body: (LMDBTransaction) throws(EventStoreError) -> T) throws(EventStoreError) -> T {
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, 0, &txn)
            if rc == MDB_MAP_RESIZED {
                try adoptMapSizeOfOtherProcess()
                continue
            }
            try check(rc, "starting a write", path: path)
            let result: T
            do {
                result = try body(
                    LMDBTransaction(txn: txn!, dbs: dbs, path: path, idNodes: idNodes, knownIDNodes: idNodes.current))
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            if let fault = commitFault?() {
                mdb_txn_abort(txn)
                try check(fault, "committing", path: path)
            }
            try check(mdb_txn_commit(txn), "committing", path: path)
            return result
        }
    }

    /// The current map size in bytes.
    var mapSizeBytes: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_mapsize
    }

    /// Bytes of the data file in use: (last page + 1) × page size.
    var usedBytes: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }

    /// Doubles the map size, up to the configured maximum. Returns false when the map is already at the maximum.
    /// Only the writer thread calls this, between write transactions.
    func grow() throws(EventStoreError) -> Bool {
        let current = mapSizeBytes
        guard current < maxMapSizeBytes else { return false }
        let next = min(maxMapSizeBytes, current * 2)
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        try check(mdb_env_set_mapsize(env, next), "growing the map to \(next) bytes", path: path)
        return true
    }

    private func adoptMapSizeOfOtherProcess() throws(EventStoreError) {
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        try check(mdb_env_set_mapsize(env, 0), "adopting a larger map", path: path)
    }

    deinit { close() }
}
