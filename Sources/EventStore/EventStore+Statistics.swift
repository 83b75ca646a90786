import Foundation

/// What `logbook stats` shows: size, compression and shape of a log, read without a scan.
public struct StoreStatistics: Sendable, Codable, Equatable {
    public var events: UInt64
    public var streams: Int
    /// Size of `data.mdb` on disk (allocated blocks).
    public var fileBytes: Int
    /// Bytes of the data file in use by pages, `(last page + 1) × page size`.
    public var usedBytes: Int
    public var mapSizeBytes: Int
    /// The largest the map may grow for this opening of the log (`Limits.maxMapSizeBytes`: a setting, not stored).
    public var maxMapSizeBytes: Int
    /// Payload bytes as appended, and as stored after compression.
    public var rawPayloadBytes: UInt64
    public var storedPayloadBytes: UInt64
    /// Record bytes (header and stored payload) as written.
    public var recordBytes: UInt64
    /// Pages (4 KiB) per database: events, stream index, event ids (the id index and its marks), and the rest.
    public var pagesByDatabase: [String: Int]
    /// The dictionary new records use, if any, and how many the log holds in all.
    public var currentDictionary: DictionaryInfo?
    public var dictionaries: Int
    /// The log's format version (`EventStore.formatVersion` once a writer of this build has opened it).
    public var formatVersion: UInt32
    /// Writing processes registered in the log, whose event ids it stores compactly (`EventID.node`).
    public var idNodes: Int

    /// Raw payload bytes per stored payload byte.
    public var compressionRatio: Double {
        storedPayloadBytes == 0 ? 0 : Double(rawPayloadBytes) / Double(storedPayloadBytes)
    }
    /// Used bytes of the data file per event: records, indexes and page overhead together.
    public var usedBytesPerEvent: Double { events == 0 ? 0 : Double(usedBytes) / Double(events) }
}

extension EventStore {
    /// Size, compression and shape of the log.
    public func statistics() throws(EventStoreError) -> StoreStatistics {
        // st_blocks counts 512-byte units (Foundation's allocated-size key multiplies by the block size instead).
        var info = stat()
        let fileBytes = stat(env.path + "/data.mdb", &info) == 0 ? Int(info.st_blocks) * 512 : 0
        return try env.read { (txn) throws(EventStoreError) in
            let dbs = txn.dbs
            let totals = try txn.get(dbs.meta, KeyLayout.totalsKey).flatMap(Totals.init) ?? Totals()
            let dictionaries = try Self.dictionaries(txn)
            var current: DictionaryInfo?
            if let id = codec.currentDictionaryID, let bytes = dictionaries.first(where: { $0.0 == id })?.1 {
                let seq = try txn.get(dbs.meta, KeyLayout.dictionarySeqKey(id)).map { $0.loadBigEndianUInt64() } ?? 0
                current = DictionaryInfo(id: id, sizeBytes: bytes.count, storedAfterSeq: Seq(seq))
            }
            try txn.idNodes.load(txn)
            let pages = [
                "events": try txn.pages(dbs.events), "stream_index": try txn.pages(dbs.streamIndex),
                "event_ids": try txn.pages(dbs.eventIDs)
                    + (dbs.eventIDMarks.map { (m) throws(EventStoreError) in try txn.pages(m) } ?? 0),
                "other": try txn.pages(dbs.streams) + txn.pages(dbs.streamNames) + txn.pages(dbs.symbols)
                    + txn.pages(dbs.symbolNames) + txn.pages(dbs.meta),
            ]
            return StoreStatistics(
                events: try Self.lastSeq(txn), streams: try txn.count(dbs.streams), fileBytes: fileBytes,
                usedBytes: env.usedBytes,
                mapSizeBytes: env.mapSizeBytes, maxMapSizeBytes: env.maxMapSizeBytes,
                rawPayloadBytes: totals.rawPayloadBytes, storedPayloadBytes: totals.storedPayloadBytes,
                recordBytes: totals.recordBytes, pagesByDatabase: pages, currentDictionary: current,
                dictionaries: dictionaries.count,
                formatVersion: try Self.storedFormat(txn) ?? 0, idNodes: txn.idNodes.count)
        }
    }
}
