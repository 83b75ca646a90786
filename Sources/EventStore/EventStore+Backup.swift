import Foundation

/// What `backup(to:)` wrote.
public struct BackupResult: Sendable, Equatable {
    /// The last seq the copy holds (the log as of the copy's one read transaction).
    public var lastSeq: Seq
    /// Size of the copy's data file.
    public var bytes: Int
}

extension EventStore {
    /// Flushes everything committed to the device: after appends with `.relaxed` durability (a bulk import, say),
    /// they are durable once this returns (and `durableSeq` says so).
    public func sync() throws(EventStoreError) {
        if let flusher { try flusher.flushNow() } else { try env.sync() }
    }

    /// Writes a consistent, compacted copy of the log to `directory`: one LMDB read transaction, so appends (in this
    /// process or a server's) go on while it runs, and the copy holds exactly the events committed when it began.
    /// The copy is a complete log: open it, verify it, serve it. It is written beside `directory` and renamed into
    /// place once flushed, so `directory` never holds half a backup.
    /// - Throws: `.invalidArgument` when `directory` exists and is not empty; `.storage` when it cannot be written.
    public func backup(to directory: String) async throws(EventStoreError) -> BackupResult {
        let fm = FileManager.default
        if let contents = try? fm.contentsOfDirectory(atPath: directory), !contents.isEmpty {
            throw EventStoreError(.invalidArgument, "\(directory) is not empty; back up into a new directory")
        }
        let partial = directory.hasSuffix("/") ? String(directory.dropLast()) + ".partial" : directory + ".partial"
        try? fm.removeItem(atPath: partial)
        do {
            try fm.createDirectory(
                atPath: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw EventStoreError(.storage, "cannot create \(partial): \(error.localizedDescription)")
        }
        do throws(EventStoreError) {
            try env.copy(to: partial, compact: true)
            chmod(partial + "/data.mdb", 0o600)  // LMDB makes the copy 0666 less the umask
            try Self.flush(partial + "/data.mdb")
            _ = try? fm.removeItem(atPath: directory)
            do { try fm.moveItem(atPath: partial, toPath: directory) } catch {
                throw EventStoreError(
                    .storage, "cannot move the backup into \(directory): \(error.localizedDescription)")
            }
            try Self.flush(URL(fileURLWithPath: directory).deletingLastPathComponent().path)
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
        var configuration = Configuration(directory: directory)
        configuration.readOnly = true
        let copy = try EventStore.open(configuration)
        let lastSeq = copy.lastSeq
        await copy.close()
        let bytes = (try? fm.attributesOfItem(atPath: directory + "/data.mdb")[.size] as? Int) ?? 0
        return BackupResult(lastSeq: lastSeq, bytes: bytes)
    }

    /// fsync of a file or a directory.
    private static func flush(_ path: String) throws(EventStoreError) {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw EventStoreError(.storage, "cannot open \(path) to flush it: errno \(errno)") }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else {
            throw EventStoreError(.storage, "flushing \(path) failed: errno \(errno); check the disk")
        }
    }
}
