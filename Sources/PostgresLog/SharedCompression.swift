import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// How the shared log stores payloads: zstd with dictionaries trained on the log's own events, as the embedded store
/// does. Dictionaries live in `logbook_dictionaries` (id, bytes, the position the log had reached), each inserted and
/// committed before any row uses it and never changed (at most `Int16.max`: the `codec` column is a smallint; three
/// are trained); a row names the one its payload was compressed with (`codec`:
/// 0 raw, -1 zstd without dictionary, n > 0 dictionary n) and the payload's length as appended. Every server
/// compresses with the newest dictionary it knows and learns of newer ones from the rows it reads. The chain hashes
/// the payload as appended, so a dictionary changed in the database breaks the chain of every row that uses it.
final class SharedCompression: Sendable {
    let compressor = PayloadCompressor()
    /// A dictionary is trained when the log reaches each of these positions (by whichever server appends there):
    /// early, so that few rows go without one, and again on larger samples. One point more than the embedded store's
    /// (`EventStore.Configuration.dictionaryTrainingPoints`): a row here carries its envelope in columns, so the
    /// payload is a larger share of it, and a first dictionary trained on a log's start (a warm-up, the registry)
    /// fits later events badly — the shared workload stored 1,318 bytes per message with the point at 16,384
    /// against 1,380 without.
    static let trainingPoints: [UInt64] = [4_096, 16_384, 65_536]
    /// How many recent payloads a dictionary is trained on, and its largest size.
    static let sampleEvents = 32_768
    static let capacityBytes = 256 * 1024

    private let client: PostgresClient
    private let logger: Logger
    private let timeout: Duration
    /// The highest dictionary id registered (ids are dense from 1).
    private let newest = Mutex<UInt32>(0)
    private let training = Mutex<Task<Void, Never>?>(nil)

    init(client: PostgresClient, logger: Logger, timeout: Duration) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
    }

    /// Waits for a training under way to end.
    func close() async {
        await training.withLock { $0 }?.value
    }

    // MARK: - Codec column

    static func column(_ codec: PayloadCompressor.Codec) -> Int16 {
        switch codec {
        case .raw: 0
        case .zstd: -1
        case .dictionary(let id): Int16(id)
        }
    }

    static func codec(_ column: Int16) -> PayloadCompressor.Codec {
        switch column {
        case 0: .raw
        case ..<0: .zstd
        default: .dictionary(UInt32(column))
        }
    }

    // MARK: - Writing and reading

    func compress(_ payload: Data) throws(EventStoreError) -> PayloadCompressor.Stored {
        try compressor.compress(payload)
    }

    /// Decompresses payloads as stored. A dictionary this process does not know yet is read through `query` (the
    /// caller's connection or the pool). A payload that does not decompress is a failure of its own, for the caller
    /// to report by position.
    func decompress(
        _ stored: [PayloadCompressor.Stored], query: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [Result<Data, EventStoreError>] {
        var needed: Set<UInt32> = []
        for s in stored {
            if case .dictionary(let n) = s.codec, !compressor.knows(dictionary: n) { needed.insert(n) }
        }
        if !needed.isEmpty { try await load(needed.sorted(), query: query) }
        return stored.map { s in Result { () throws(EventStoreError) in try compressor.decompress(s) } }
    }

    /// Registers the dictionaries the database holds beyond the newest this process knows, and compresses with the
    /// newest from then on: at start, and when a row names one this process has not seen.
    func loadNewer(query: (PostgresQuery) async throws -> PostgresRowSequence) async throws {
        try await load([], query: query)
    }

    /// Registers dictionaries `ids` and every one newer than the newest this process knows.
    private func load(_ ids: [UInt32], query: (PostgresQuery) async throws -> PostgresRowSequence) async throws {
        let known = Int32(newest.withLock { $0 })
        let rows = try await query(
            "SELECT id, bytes FROM logbook_dictionaries WHERE id = ANY(\(ids.map { Int32($0) })) OR id > \(known)")
        for try await (id, bytes) in rows.decode((Int32, Data).self) {
            let id = UInt32(id)
            guard compressor.register(dictionary: id, bytes: [UInt8](bytes)) else {
                logger.warning(
                    "a compression dictionary could not be loaded (out of memory)", metadata: ["id": "\(id)"])
                continue
            }
            let newer = newest.withLock { n in
                defer { n = max(n, id) }
                return id > n
            }
            if newer { compressor.currentDictionary = id }
        }
    }

    // MARK: - Training

    /// Called after this process appended through `position`: trains the next dictionary in the background when the
    /// log has reached its training point and no server has stored it yet.
    func appended(through position: UInt64) {
        let count = Int(newest.withLock { $0 })
        guard count < Self.trainingPoints.count, position >= Self.trainingPoints[count] else { return }
        training.withLock { task in
            guard task == nil else { return }
            task = Task {
                await self.train(id: UInt32(count + 1), at: position)
                self.training.withLock { $0 = nil }
            }
        }
    }

    /// Trains dictionary `id` on the most recent payloads and stores it, unless another server stored one of that
    /// id first (then that one is used). A failure is logged: appends go on with the dictionary they had.
    private func train(id: UInt32, at position: UInt64) async {
        do {
            let sample = try await PostgresLog.withDeadline(.seconds(60), "reading a dictionary's training sample") {
                [client] in
                let stored = try await client.query(
                    """
                    SELECT payload, codec, payload_length FROM logbook_events
                    ORDER BY position DESC LIMIT \(Self.sampleEvents)
                    """)
                var rows: [PayloadCompressor.Stored] = []
                for try await (payload, codec, length) in stored.decode((Data, Int16, Int32).self) {
                    rows.append(.init(bytes: payload, codec: Self.codec(codec), rawLength: Int(length)))
                }
                return try await self.decompress(rows, query: { try await client.query($0) }).compactMap {
                    try? $0.get()
                }
            }
            guard
                let bytes = try await compressor.trainDictionary(on: sample, capacity: Self.capacityBytes)
            else { return }
            try await PostgresLog.withDeadline(timeout, "storing a compression dictionary") { [client, logger] in
                try await client.query(
                    """
                    INSERT INTO logbook_dictionaries (id, bytes, position, time_ns)
                    VALUES (\(Int32(id)), \(Data(bytes)), \(Int64(position)), \(Int64(Date().timeIntervalSince1970 * 1e9)))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
                try await self.loadNewer(query: { try await client.query($0) })
            }
            logger.info(
                "trained a compression dictionary for the shared log",
                metadata: ["id": "\(id)", "bytes": "\(bytes.count)", "position": "\(position)"])
        } catch {
            logger.warning(
                "training a compression dictionary failed; appends go on with the one they had",
                metadata: ["error": "\(error)"])
        }
    }
}
