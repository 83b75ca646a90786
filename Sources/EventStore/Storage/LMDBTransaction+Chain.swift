import CLMDB

extension LMDBTransaction {
    /// The chain hash of the record at `seq` (the genesis hash for 0), or nil when the log has no such record: the
    /// nearest hash stored at or before it (the end of a commit), then recomputed forward over the records after that.
    func chainHash(through seq: UInt64, hasher: SHA256Hasher) throws(EventStoreError) -> [UInt8]? {
        guard seq > 0 else { return RecordCodec.genesisHash }
        return try withCursor(dbs.events) { (c) throws(EventStoreError) -> [UInt8]? in
            guard var entry = try withBigEndian(seq, { (k) throws(EventStoreError) in try c.get(MDB_SET_KEY, key: k) })
            else { return nil }
            var hash = RecordCodec.genesisHash
            var from: UInt64 = 1
            while true {
                if let stored = RecordCodec.storedHash(entry.value) {
                    hash = stored
                    from = entry.key.loadBigEndianUInt64() + 1
                    break
                }
                guard let previous = try c.get(MDB_PREV) else { break }  // the first record: from the genesis hash
                entry = previous
            }
            guard from <= seq else { return hash }
            var next = try withBigEndian(from) { (k) throws(EventStoreError) in try c.get(MDB_SET_KEY, key: k) }
            while let e = next, case let s = e.key.loadBigEndianUInt64(), s <= seq {
                hash = RecordCodec.chainHash(e.value, seq: s, previousHash: hash, hasher: hasher)
                next = try c.get(MDB_NEXT)
            }
            return hash
        }
    }
}
