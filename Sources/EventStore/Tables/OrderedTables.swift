import CLMDB
import Foundation
import Synchronization

/// Ordered tables on disk for read models that should not live in memory: an LMDB environment of their own, beside
/// the log (never inside it: the log's one writer stays the log's). Keys sort by their bytes (write numbers
/// big-endian); a table with `duplicates` keeps several sorted values under one key (an index: name → seqs).
///
/// Writes happen in one transaction per `write` call, committed durably: a read model writes its rows and the position
/// they reflect in the same call, so after any crash its tables are exactly as of some recorded position. Reads see
/// the last committed write and never wait for one.
///
/// ```swift
/// let tables = try OrderedTables(directory: "./data/read-models/audit", tables: [.init("records"), .init("by_actor", duplicates: true)])
/// try tables.write { w in try w.put("records", key: seqKey, value: record) }
/// let record = try tables.read { r in try r.get("records", key: seqKey) }
/// ```
public final class OrderedTables: @unchecked Sendable {
    /// A table's name and whether it keeps duplicates (sorted values under one key, each at most 511 bytes).
    public struct Definition: Sendable {
        public var name: String
        public var duplicates: Bool
        public init(_ name: String, duplicates: Bool = false) {
            (self.name, self.duplicates) = (name, duplicates)
        }
    }

    public let path: String
    private let env: OpaquePointer
    private let dbis: [String: MDB_dbi]
    private let duplicates: Set<String>
    /// Held shared by transactions, exclusively by `close`.
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    private let writer = NSLock()
    private let closed = Atomic<Bool>(false)

    /// Opens (or creates, 0700) the tables in `directory`. `mapBytes` is the most they may hold (address space,
    /// not disk: the file grows as they do). `readOnly`: opens existing tables for reading only (beside a process
    /// that writes them), and fails when there are none.
    public init(
        directory: String, tables: [Definition], mapBytes: Int = 64 << 30, readOnly: Bool = false
    ) throws(EventStoreError) {
        if readOnly {
            guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else {
                throw EventStoreError(.storage, "there are no read model tables in \(directory)")
            }
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw EventStoreError(
                    .storage, "cannot create the read model directory \(directory): \(error.localizedDescription)")
            }
        }
        var pointer: OpaquePointer?
        do throws(EventStoreError) {
            try Self.check(mdb_env_create(&pointer), "creating the environment", directory)
            try Self.check(mdb_env_set_maxdbs(pointer, MDB_dbi(tables.count + 1)), "configuring", directory)
            try Self.check(mdb_env_set_mapsize(pointer, mapBytes), "configuring", directory)
            let flags = MDB_NOTLS | (readOnly ? MDB_RDONLY : 0)
            try Self.check(mdb_env_open(pointer, directory, UInt32(flags), 0o600), "opening", directory)
            var txn: OpaquePointer?
            try Self.check(
                mdb_txn_begin(pointer, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "opening the tables", directory)
            var dbis: [String: MDB_dbi] = [:]
            do throws(EventStoreError) {
                for table in tables {
                    var dbi = MDB_dbi()
                    let flags = (readOnly ? 0 : MDB_CREATE) | (table.duplicates ? MDB_DUPSORT : 0)
                    try Self.check(
                        mdb_dbi_open(txn, table.name, UInt32(flags), &dbi), "opening \(table.name)", directory)
                    dbis[table.name] = dbi
                }
                try Self.check(mdb_txn_commit(txn), "opening the tables", directory)
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            self.dbis = dbis
        } catch {
            mdb_env_close(pointer)
            throw error
        }
        env = pointer!
        path = directory
        duplicates = Set(tables.filter(\.duplicates).map(\.name))
        gate = .allocate(capacity: 1)
        pthread_rwlock_init(gate, nil)
    }

    deinit {
        close()
        pthread_rwlock_destroy(gate)
        gate.deallocate()
    }

    /// Closes the environment, once every transaction under way has ended; later calls fail with `closed`.
    public func close() {
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        mdb_env_close(env)
    }

    /// Runs `body` in one write transaction and commits it (durably) when it returns; nothing of it is written when it
    /// throws. One write at a time.
    public func write<T>(_ body: (TableWriter) throws -> T) throws -> T {
        writer.lock()
        defer { writer.unlock() }
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        guard !closed.load(ordering: .acquiring) else { throw closedError }
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "starting a write", path)
        do {
            let result = try body(TableWriter(reader: reader(txn!)))
            try Self.check(mdb_txn_commit(txn), "committing", path)
            return result
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
    }

    /// Runs `body` in a read transaction: a snapshot as of the last committed write.
    public func read<T>(_ body: (TableReader) throws -> T) throws -> T {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        guard !closed.load(ordering: .acquiring) else { throw closedError }
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "starting a read", path)
        defer { mdb_txn_abort(txn) }
        return try body(reader(txn!))
    }

    private func reader(_ txn: OpaquePointer) -> TableReader {
        TableReader(txn: txn, dbis: dbis, duplicates: duplicates, path: path)
    }

    /// Empties every table, in one transaction.
    public func clear() throws {
        try write { w in for table in dbis.keys { try w.clear(table) } }
    }

    private var closedError: EventStoreError { EventStoreError(.closed, "the read model tables at \(path) are closed") }

    static func check(_ rc: Int32, _ operation: @autoclosure () -> String, _ path: String) throws(EventStoreError) {
        guard rc != MDB_SUCCESS else { return }
        let error = lmdbError(rc, operation(), path: path)
        switch error.code {
        case .corrupt:
            throw EventStoreError(
                .corrupt,
                "the read model tables at \(path) are damaged (\(String(cString: mdb_strerror(rc)))); stop the server, delete \(path) and start it again: they are rebuilt from the log",
                systemCode: rc)
        case .mapFull:
            throw EventStoreError(
                .mapFull, "the read model tables at \(path) reached their maximum size while \(operation())",
                systemCode: rc)
        default: throw error
        }
    }
}

/// Reads inside `OrderedTables.read` or `write`. Bytes handed to a closure are valid only during it.
public struct TableReader {
    let txn: OpaquePointer
    let dbis: [String: MDB_dbi]
    let duplicates: Set<String>
    let path: String

    func dbi(_ table: String) -> MDB_dbi {
        guard let dbi = dbis[table] else { preconditionFailure("no table '\(table)' in \(path)") }
        return dbi
    }

    /// The value under `key` (the first, in a table with duplicates), copied out.
    public func get(_ table: String, key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(k)
            var v = MDB_val()
            let rc = mdb_get(txn, dbi(table), &kv, &v)
            if rc == MDB_NOTFOUND { return nil }
            try OrderedTables.check(rc, "reading \(table)", path)
            return [UInt8](v.bytes)
        }
    }

    /// Entries in `table`, in key order (`reverse`: descending) starting at the first key ≥ `from` (reverse: the last
    /// key ≤ `from`; nil: the first or last key), while `body` returns true. With duplicates, every value of a key is
    /// visited, in value order (reverse: descending).
    public func scan(
        _ table: String, from: [UInt8]? = nil, reverse: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try withCursor(table) { cursor in
            var entry: (UnsafeRawBufferPointer, UnsafeRawBufferPointer)?
            if let from {
                entry = try from.withUnsafeBytes { k in try cursor.get(MDB_SET_RANGE, key: k) }
                if reverse {
                    if let (key, _) = entry {
                        if from.withUnsafeBytes({ $0.elementsEqual(key) }) {
                            if duplicates.contains(table) { entry = try cursor.get(MDB_LAST_DUP) }
                        } else {
                            entry = try cursor.get(MDB_PREV)
                        }
                    } else {
                        entry = try cursor.get(MDB_LAST)
                    }
                }
            } else {
                entry = try cursor.get(reverse ? MDB_LAST : MDB_FIRST)
            }
            while let (key, value) = entry {
                guard try body(key, value) else { return }
                entry = try cursor.get(reverse ? MDB_PREV : MDB_NEXT)
            }
        }
    }

    /// The values under `key` in a table with duplicates, in order (`reverse`: descending), starting at the first ≥
    /// `from` (reverse: the last ≤ `from`; nil: the first or last), while `body` returns true.
    public func scanValues(
        _ table: String, key: [UInt8], from: [UInt8]? = nil, reverse: Bool = false,
        _ body: (_ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try withCursor(table) { cursor in
            try key.withUnsafeBytes { k in
                guard try cursor.get(MDB_SET_KEY, key: k) != nil else { return }
                var entry: (UnsafeRawBufferPointer, UnsafeRawBufferPointer)?
                if let from {
                    entry = try from.withUnsafeBytes { v in try cursor.get(MDB_GET_BOTH_RANGE, key: k, value: v) }
                    if reverse {
                        if let (_, value) = entry {
                            if !from.withUnsafeBytes({ $0.elementsEqual(value) }) {
                                entry = try cursor.get(MDB_PREV_DUP)
                            }
                        } else {
                            entry = try cursor.get(MDB_LAST_DUP)
                        }
                    }
                } else {
                    entry = try cursor.get(reverse ? MDB_LAST_DUP : MDB_FIRST_DUP)
                }
                while let (_, value) = entry {
                    guard try body(value) else { return }
                    entry = try cursor.get(reverse ? MDB_PREV_DUP : MDB_NEXT_DUP)
                }
            }
        }
    }

    /// How many values `key` holds in a table with duplicates (1 or 0 in one without).
    public func count(_ table: String, key: [UInt8]) throws -> Int {
        try withCursor(table) { cursor in
            try key.withUnsafeBytes { k in
                guard try cursor.get(MDB_SET_KEY, key: k) != nil else { return 0 }
                var n = 0
                try OrderedTables.check(mdb_cursor_count(cursor.cursor, &n), "counting \(table)", path)
                return n
            }
        }
    }

    /// How many entries `table` holds.
    public func count(_ table: String) throws -> Int {
        var stat = MDB_stat()
        try OrderedTables.check(mdb_stat(txn, dbi(table), &stat), "reading statistics", path)
        return stat.ms_entries
    }

    func withCursor<T>(_ table: String, _ body: (TableCursor) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try OrderedTables.check(mdb_cursor_open(txn, dbi(table), &cursor), "opening a cursor on \(table)", path)
        defer { mdb_cursor_close(cursor) }
        return try body(TableCursor(cursor: cursor!, path: path))
    }
}

/// Writes inside `OrderedTables.write`; reads there see them.
public struct TableWriter {
    public let reader: TableReader

    /// Stores `value` under `key` (replacing it; in a table with duplicates, adding it to the key's values).
    /// `appending`: the key is past every key of the table (with duplicates: the value past every value of the key),
    /// which LMDB then writes at the end without searching (a row out of order fails the write).
    public func put(_ table: String, key: [UInt8], value: [UInt8], appending: Bool = false) throws {
        let flags = appending ? (reader.duplicates.contains(table) ? MDB_APPENDDUP : MDB_APPEND) : 0
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                var kv = MDB_val(k)
                var vv = MDB_val(v)
                try OrderedTables.check(
                    mdb_put(reader.txn, reader.dbi(table), &kv, &vv, UInt32(flags)), "writing \(table)", reader.path)
            }
        }
    }

    /// Removes `key` (with all its values) from `table`; nothing when it is not there.
    public func delete(_ table: String, key: [UInt8]) throws {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(k)
            let rc = mdb_del(reader.txn, reader.dbi(table), &kv, nil)
            if rc == MDB_NOTFOUND { return }
            try OrderedTables.check(rc, "deleting from \(table)", reader.path)
        }
    }

    /// Empties `table`.
    public func clear(_ table: String) throws {
        try OrderedTables.check(mdb_drop(reader.txn, reader.dbi(table), 0), "emptying \(table)", reader.path)
    }
}

struct TableCursor {
    let cursor: OpaquePointer
    let path: String

    func get(
        _ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil
    ) throws -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer)? {
        var k = key.map(MDB_val.init) ?? MDB_val()
        var v = value.map(MDB_val.init) ?? MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try OrderedTables.check(rc, "reading", path)
        return (k.bytes, v.bytes)
    }
}
