import Foundation

extension EventStore {
    /// The shared log this store is a copy of, if it is one.
    public var shared: (any SharedLog)? { configuration.shared }

    /// A copy: brings it up to the shared log's end as of now (what other servers appended). A log of its own: does
    /// nothing (it has everything).
    public func catchUp() async throws(EventStoreError) {
        try await configuration.shared?.bringUp(self, through: nil)
    }

    /// The id of the shared log this store is a copy of (nil: a log of its own).
    public var sharedLogID: UUID? {
        try? env.read { (txn) throws(EventStoreError) in try Self.sharedLogID(txn) }
    }

    /// Writes events of the shared log into this copy, at their positions: they must start right after `lastSeq`
    /// and follow on without a gap. What `SharedLog.bringUp` calls; an append to the copy goes through the shared
    /// log instead.
    /// - Throws: `invalidArgument` when the events do not follow on from the copy's end (nothing is written), `closed`
    ///   for a store that is not a copy or is read-only; storage errors as for an append.
    public func copy(_ events: [CopiedEvent]) async throws(EventStoreError) {
        guard let writer, configuration.shared != nil else {
            throw EventStoreError(.closed, "the log at \(env.path) is not an open copy of a shared log")
        }
        guard !events.isEmpty else { return }
        let prepared = try events.map { (e) throws(EventStoreError) -> PreparedCopy in
            let (compression, stored) = try codec.compress(e.event.payload)
            return PreparedCopy(
                seq: e.seq.rawValue, stream: e.stream,
                event: PreparedEvent(proposed: e.event, compression: compression, stored: stored))
        }
        do {
            try await withCheckedThrowingContinuation { continuation in
                do { try writer.submit(.copy(prepared, continuation)) } catch { continuation.resume(throwing: error) }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "copying failed: \(error)")
        }
    }

    static func sharedLogID(_ txn: LMDBTransaction) throws(EventStoreError) -> UUID? {
        try txn.get(txn.dbs.meta, KeyLayout.sharedLogKey).flatMap { bytes in
            guard bytes.count == 16 else { return nil }
            return UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
        }
    }

    /// A copy follows the shared log it was made of, and only it; a log of its own never becomes a copy, nor a copy
    /// a log of its own (its events would then part from the shared log's). An empty directory becomes a copy.
    static func checkCopy(_ env: LMDBEnvironment, of shared: (any SharedLog)?, path: String) throws(EventStoreError) {
        let (followed, last) = try env.read { (txn) throws(EventStoreError) in
            (try sharedLogID(txn), try lastSeq(txn))
        }
        switch (followed, shared?.logID) {
        case (nil, nil): return
        case (let a?, let b?) where a == b: return
        case (nil, let b?) where last == 0:
            try env.write { (txn) throws(EventStoreError) in
                try txn.put(txn.dbs.meta, KeyLayout.sharedLogKey, withUnsafeBytes(of: b.uuid) { Array($0) })
            }
        case (nil, _?):
            throw EventStoreError(
                .unsupportedFormat,
                "\(path) holds a log of its own (\(last) events), not a copy of the shared log; give the server another data directory, or move this log into the shared one with 'logbook copy'"
            )
        case (let a?, nil):
            throw EventStoreError(
                .unsupportedFormat,
                "\(path) is a server's copy of the shared log \(a), not a log of its own; open it with --store (the shared log), or read it with 'logbook events'/'verify'"
            )
        case (let a?, let b?):
            throw EventStoreError(
                .unsupportedFormat,
                "\(path) is a copy of the shared log \(a), not of \(b); give the server another data directory, or delete this copy"
            )
        }
    }
}
