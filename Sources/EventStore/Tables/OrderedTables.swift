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
/// let tables = try OrderedTables(directory: "./data/read-models/audit", tables: [.init("records"), .init("by_actor", duplicates: .fixedSize)])
/// let records = tables.table("records")
/// try tables.write { w in try w.put(records, key: seqKey, value: record) }
/// let record = try tables.read { r in try r.get(records, key: seqKey) }
/// ```
public final class OrderedTables: @unchecked Sendable {
    /// A table's name and whether it keeps duplicates (sorted values under one key, each at most 511 bytes).
    public struct Definition: Sendable {
        public var name: String
        public var duplicates: Duplicates
        public init(_ name: String, duplicates: Duplicates = .none) {
            (self.name, self.duplicates) = (name, duplicates)
        }

        var flags: UInt32 {
            switch duplicates {
            case .none: 0
            case .sorted: UInt32(MDB_DUPSORT)
            case .fixedSize: UInt32(MDB_DUPSORT | MDB_DUPFIXED)
            }
        }
    }

    /// Whether a table keeps several values under one key.
    public enum Duplicates: Sendable {
        /// One value per key.
        case none
        /// Sorted values under a key.
        case sorted
        /// Sorted values of one size under a key, packed (an index of seqs: no per-value overhead), which
        /// `TableWriter.append(_:key:values:)` adds many at a time.
        case fixedSize
    }

    /// A table of these tables, resolved once by `table(_:)` (a write or read names it without a lookup by name).
    public struct Table: Sendable {
        public let name: String
        let dbi: MDB_dbi
        let duplicates: Duplicates
    }

    public let path: String
    private let env: OpaquePointer
    private let tablesByName: [String: Table]
    /// Held shared by transactions, exclusively by `close`.
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    private let writer = NSLock()
    private let closed = Atomic<Bool>(false)

    /// Opens (or creates, 0700) the tables in `directory`. `mapBytes` is the most they may hold (address space,
    /// not disk: the file grows as they do). `readOnly`: opens existing tables for reading only (beside a process
    /// that writes them), and fails when there are none. Tables stored with other duplicate settings than `tables`
    /// define (an older layout) are all emptied and made anew (read-only: the open fails), as a read model is rebuilt
    /// from the log.
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
            tablesByName = try Self.open(pointer!, tables, readOnly: readOnly, directory)
        } catch {
            mdb_env_close(pointer)
            throw error
        }
        env = pointer!
        path = directory
        gate = .allocate(capacity: 1)
        pthread_rwlock_init(gate, nil)
    }

    /// Opens (creates) each table, in one transaction; when one is stored with other flags than its definition's,
    /// deletes them all and creates them anew.
    private static func open(
        _ env: OpaquePointer, _ tables: [Definition], readOnly: Bool, _ directory: String
    ) throws(EventStoreError) -> [String: Table] {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "opening the tables", directory)
        do throws(EventStoreError) {
            var opened: [String: Table] = [:]
            var mismatched = false
            for table in tables {
                var dbi = MDB_dbi()
                let create = readOnly ? 0 : UInt32(MDB_CREATE)
                try check(mdb_dbi_open(txn, table.name, create | table.flags, &dbi), "opening \(table.name)", directory)
                var stored: UInt32 = 0
                try check(mdb_dbi_flags(txn, dbi, &stored), "opening \(table.name)", directory)
                if stored & UInt32(MDB_DUPSORT | MDB_DUPFIXED) != table.flags { mismatched = true }
                opened[table.name] = Table(name: table.name, dbi: dbi, duplicates: table.duplicates)
            }
            if mismatched {
                guard !readOnly else {
                    throw EventStoreError(
                        .storage,
                        "the read model tables in \(directory) are of an older layout: start the server (or run `logbook rebuild`) to rebuild them"
                    )
                }
                for table in opened.values {
                    try check(mdb_drop(txn, table.dbi, 1), "deleting \(table.name) (of an older layout)", directory)
                }
                opened = [:]
                for table in tables {
                    var dbi = MDB_dbi()
                    try check(
                        mdb_dbi_open(txn, table.name, UInt32(MDB_CREATE) | table.flags, &dbi),
                        "creating \(table.name)", directory)
                    opened[table.name] = Table(name: table.name, dbi: dbi, duplicates: table.duplicates)
                }
            }
            try check(mdb_txn_commit(txn), "opening the tables", directory)
            return opened
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
    }

    /// The table named `name` (one of the definitions the tables were opened with).
    public func table(_ name: String) -> Table {
        guard let table = tablesByName[name] else { preconditionFailure("no table '\(name)' in \(path)") }
        return table
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

    private func reader(_ txn: OpaquePointer) -> TableReader { TableReader(txn: txn, path: path) }

    /// Empties every table, in one transaction.
    public func clear() throws {
        try write { w in for table in tablesByName.values { try w.clear(table) } }
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
    public typealias Table = OrderedTables.Table
    let txn: OpaquePointer
    let path: String

    /// The value under `key` (the first, in a table with duplicates), copied out.
    public func get(_ table: Table, key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(k)
            var v = MDB_val()
            let rc = mdb_get(txn, table.dbi, &kv, &v)
            if rc == MDB_NOTFOUND { return nil }
            try OrderedTables.check(rc, "reading \(table.name)", path)
            return [UInt8](v.bytes)
        }
    }

    /// Entries in `table`, in key order (`reverse`: descending) starting at the first key ≥ `from` (reverse: the last
    /// key ≤ `from`; nil: the first or last key), while `body` returns true. With duplicates, every value of a key is
    /// visited, in value order (reverse: descending).
    public func scan(
        _ table: Table, from: [UInt8]? = nil, reverse: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try withCursor(table) { cursor in
            var entry: (UnsafeRawBufferPointer, UnsafeRawBufferPointer)?
            if let from {
                entry = try from.withUnsafeBytes { k in try cursor.get(MDB_SET_RANGE, key: k) }
                if reverse {
                    if let (key, _) = entry {
                        if from.withUnsafeBytes({ $0.elementsEqual(key) }) {
                            if table.duplicates != .none { entry = try cursor.get(MDB_LAST_DUP) }
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
        _ table: Table, key: [UInt8], from: [UInt8]? = nil, reverse: Bool = false,
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
    public func count(_ table: Table, key: [UInt8]) throws -> Int {
        try withCursor(table) { cursor in
            try key.withUnsafeBytes { k in
                guard try cursor.get(MDB_SET_KEY, key: k) != nil else { return 0 }
                var n = 0
                try OrderedTables.check(mdb_cursor_count(cursor.cursor, &n), "counting \(table.name)", path)
                return n
            }
        }
    }

    /// How many entries `table` holds.
    public func count(_ table: Table) throws -> Int {
        var stat = MDB_stat()
        try OrderedTables.check(mdb_stat(txn, table.dbi, &stat), "reading statistics", path)
        return stat.ms_entries
    }

    func withCursor<T>(_ table: Table, _ body: (TableCursor) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try OrderedTables.check(mdb_cursor_open(txn, table.dbi, &cursor), "opening a cursor on \(table.name)", path)
        defer { mdb_cursor_close(cursor) }
        return try body(TableCursor(cursor: cursor!, path: path))
    }
}

/// Writes inside `OrderedTables.write`; reads there see them.
public struct TableWriter {
    public typealias Table = OrderedTables.Table
    public let reader: TableReader

    /// Stores `value` under `key` (replacing it; in a table with duplicates, adding it to the key's values).
    /// `appending`: the key is past every key of the table (with duplicates: the value past every value of the key),
    /// which LMDB then writes at the end without searching (a row out of order fails the write).
    public func put(_ table: Table, key: [UInt8], value: [UInt8], appending: Bool = false) throws {
        let flags = appending ? (table.duplicates == .none ? MDB_APPEND : MDB_APPENDDUP) : 0
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                var kv = MDB_val(k)
                var vv = MDB_val(v)
                try OrderedTables.check(
                    mdb_put(reader.txn, table.dbi, &kv, &vv, UInt32(flags)), "writing \(table.name)", reader.path)
            }
        }
    }

    /// Adds `values` — `count` values of `size` bytes each, packed, ascending, all past the key's last — to `key`'s
    /// values in a table of `.fixedSize` duplicates, in one call (LMDB's `MDB_MULTIPLE`: no search per value).
    public func append(
        _ table: Table, key: [UInt8], values: UnsafeRawBufferPointer, size: Int
    ) throws {
        precondition(table.duplicates == .fixedSize && size > 0 && values.count % size == 0)
        guard !values.isEmpty else { return }
        var cursor: OpaquePointer?
        try OrderedTables.check(
            mdb_cursor_open(reader.txn, table.dbi, &cursor), "opening a cursor on \(table.name)", reader.path)
        defer { mdb_cursor_close(cursor) }
        try key.withUnsafeBytes { k in
            var written = 0
            let count = values.count / size
            while written < count {
                var kv = MDB_val(k)
                var data = (
                    MDB_val(
                        mv_size: size, mv_data: UnsafeMutableRawPointer(mutating: values.baseAddress! + written * size)),
                    MDB_val(mv_size: count - written, mv_data: nil)
                )
                try withUnsafeMutableBytes(of: &data) { pair in
                    let vals = pair.baseAddress!.assumingMemoryBound(to: MDB_val.self)
                    try OrderedTables.check(
                        mdb_cursor_put(cursor, &kv, vals, UInt32(MDB_MULTIPLE | MDB_APPENDDUP)),
                        "writing \(table.name)", reader.path)
                    written += vals[1].mv_size
                }
            }
        }
    }

    /// Removes `key` (with all its values) from `table`; nothing when it is not there.
    public func delete(_ table: Table, key: [UInt8]) throws {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(k)
            let rc = mdb_del(reader.txn, table.dbi, &kv, nil)
            if rc == MDB_NOTFOUND { return }
            try OrderedTables.check(rc, "deleting from \(table.name)", reader.path)
        }
    }

    /// Empties `table`.
    public func clear(_ table: Table) throws {
        try OrderedTables.check(mdb_drop(reader.txn, table.dbi, 0), "emptying \(table.name)", reader.path)
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
