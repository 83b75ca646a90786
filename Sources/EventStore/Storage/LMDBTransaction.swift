import CLMDB

/// One LMDB transaction, used only inside the closure that received it and only on that closure's thread.
/// Bytes it returns are valid until the transaction writes again or ends: copy them out before returning.
struct LMDBTransaction {
    let txn: OpaquePointer
    let dbs: LMDBDatabases
    let path: String
    /// The log's registered id nodes (`EventIDNodes`), shared by every transaction of the environment, and those known
    /// when this transaction began.
    let idNodes: EventIDNodes
    let knownIDNodes: EventIDNodes.Table

    /// The value under `key`, or nil when there is none.
    func get(_ db: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(EventStoreError) -> LMDBBytes? {
        var k = MDB_val(key)
        var v = MDB_val()
        let rc = mdb_get(txn, db, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "reading", path: path)
        return v.bytes
    }

    /// The value under the big-endian key `key`.
    func get(_ db: MDB_dbi, _ key: UInt64) throws(EventStoreError) -> LMDBBytes? {
        try withBigEndian(key) { (k) throws(EventStoreError) in try get(db, k) }
    }

    func put(
        _ db: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: Int32
    ) throws(EventStoreError) {
        var k = MDB_val(key)
        var v = MDB_val(value)
        try check(mdb_put(txn, db, &k, &v, UInt32(flags)), "writing", path: path)
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place (saves one copy of every record).
    func reserve(
        _ db: MDB_dbi, _ key: UnsafeRawBufferPointer, count: Int, flags: Int32,
        _ fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(EventStoreError) {
        var k = MDB_val(key)
        var v = MDB_val(mv_size: count, mv_data: nil)
        try check(mdb_put(txn, db, &k, &v, UInt32(flags | MDB_RESERVE)), "writing", path: path)
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// The number of entries in `db`.
    func count(_ db: MDB_dbi) throws(EventStoreError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, db, &stat), "reading statistics", path: path)
        return stat.ms_entries
    }

    /// Pages used by `db` (branch + leaf + overflow).
    func pages(_ db: MDB_dbi) throws(EventStoreError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, db, &stat), "reading statistics", path: path)
        return stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages
    }

    /// Runs `body` with a cursor on `db` that is closed afterwards.
    func withCursor<T>(_ db: MDB_dbi, _ body: (LMDBCursor) throws(EventStoreError) -> T) throws(EventStoreError) -> T {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, db, &cursor), "opening a cursor", path: path)
        defer { mdb_cursor_close(cursor) }
        return try body(LMDBCursor(cursor: cursor!, path: path))
    }
}

/// A cursor, valid inside `LMDBTransaction.withCursor` only.
struct LMDBCursor {
    let cursor: OpaquePointer
    let path: String

    /// Moves the cursor (`MDB_FIRST`, `MDB_NEXT`, `MDB_SET_RANGE`, …) and returns the entry there, or nil at the end.
    func get(
        _ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil
    )
        throws(EventStoreError) -> (key: LMDBBytes, value: LMDBBytes)?
    {
        var k = key.map(MDB_val.init) ?? MDB_val()
        var v = value.map(MDB_val.init) ?? MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "reading", path: path)
        return (k.bytes, v.bytes)
    }
}

extension LMDBTransaction {
    func get(_ db: MDB_dbi, _ key: [UInt8]) throws(EventStoreError) -> LMDBBytes? {
        try key.withBytes { (k) throws(EventStoreError) in try get(db, k) }
    }

    /// Removes `key` from `db`; nothing when it is not there.
    func delete(_ db: MDB_dbi, _ key: [UInt8]) throws(EventStoreError) {
        try key.withBytes { (k) throws(EventStoreError) in
            var kv = MDB_val(k)
            let rc = mdb_del(txn, db, &kv, nil)
            if rc != MDB_NOTFOUND { try check(rc, "deleting", path: path) }
        }
    }

    func put(_ db: MDB_dbi, _ key: [UInt8], _ value: [UInt8], flags: Int32 = 0) throws(EventStoreError) {
        try key.withBytes { (k) throws(EventStoreError) in
            try value.withBytes { (v) throws(EventStoreError) in try put(db, k, v, flags: flags) }
        }
    }
}
