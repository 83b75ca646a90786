import CLMDB
#if canImport(Glibc)
    import Glibc
#endif

/// Maps an LMDB or errno return code of one C call to an `EventStoreError` that says what to do.
func lmdbError(_ rc: Int32, _ operation: String, path: String) -> EventStoreError {
    let reason = String(cString: mdb_strerror(rc))
    switch rc {
    case MDB_MAP_FULL:
        return EventStoreError(
            .mapFull,
            "the log at \(path) reached its maximum size while \(operation) (\(reason)); "
                + "raise the log's maximum size (serve --max-log-size or LOGBOOK_MAX_LOG_SIZE; Limits.maxMapSizeBytes) and restart; the log is unchanged",
            systemCode: rc)
    case ENOSPC:
        return EventStoreError(
            .diskFull,
            "no space left on the device holding \(path) while \(operation); "
                + "free disk space and retry; the log is unchanged", systemCode: rc)
    case MDB_VERSION_MISMATCH, MDB_INVALID:
        return EventStoreError(
            .unsupportedFormat, "\(path) is not an LMDB environment this build can read (\(reason))", systemCode: rc)
    case MDB_CORRUPTED, MDB_PAGE_NOTFOUND:
        return EventStoreError(
            .corrupt,
            "the log at \(path) is corrupted (\(reason)) while \(operation); "
                + "run 'logbook verify' and restore from a backup", systemCode: rc)
    case MDB_READERS_FULL:
        return EventStoreError(
            .storage,
            "too many concurrent readers of \(path) while \(operation); "
                + "raise Limits.maxReaders or close idle readers", systemCode: rc)
    case EACCES, EROFS:
        return EventStoreError(
            .storage, "permission denied on \(path) while \(operation); check the directory's owner and mode",
            systemCode: rc)
    default:
        return EventStoreError(.storage, "\(operation) failed on \(path): \(reason)", systemCode: rc)
    }
}

@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String, path: String) throws(EventStoreError) {
    if rc != MDB_SUCCESS { throw lmdbError(rc, operation(), path: path) }
}

/// A view of bytes valid only until the transaction ends or writes again (LMDB's rule).
typealias LMDBBytes = UnsafeRawBufferPointer

extension MDB_val {
    init(_ bytes: UnsafeRawBufferPointer) {
        self.init(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
    }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: mv_data, count: mv_size) }
}

/// Calls `body` with the 8 big-endian bytes of `value`: keys sort numerically under LMDB's memcmp order.
@inline(__always)
func withBigEndian<T>(
    _ value: UInt64, _ body: (UnsafeRawBufferPointer) throws(EventStoreError) -> T
) throws(EventStoreError) -> T {
    var be = value.bigEndian
    return try withUnsafeBytes(of: &be) { (raw) throws(EventStoreError) -> T in try body(raw) }
}

extension UnsafeRawBufferPointer {
    /// The big-endian UInt64 at `offset`.
    @inline(__always)
    func loadBigEndianUInt64(at offset: Int = 0) -> UInt64 {
        UInt64(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
