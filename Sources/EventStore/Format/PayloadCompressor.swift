import Foundation

/// Payload compression as the log stores it (zstd, bare frames, with trained dictionaries), for a log kept outside
/// LMDB: the shared log on PostgreSQL stores each payload compressed by this, the dictionaries in a table of their own.
/// Contexts are pooled; every method may be called from any task.
public final class PayloadCompressor: Sendable {
    /// How one stored payload was compressed.
    public enum Codec: Hashable, Sendable {
        /// As appended: compression would not have made it smaller.
        case raw
        /// A bare zstd frame without dictionary.
        case zstd
        /// A bare zstd frame compressed with the dictionary of this id.
        case dictionary(UInt32)
    }

    /// A payload as stored: its bytes, how they were compressed and the length of the payload as appended.
    public struct Stored: Hashable, Sendable {
        public var bytes: Data
        public var codec: Codec
        public var rawLength: Int

        public init(bytes: Data, codec: Codec, rawLength: Int) {
            self.bytes = bytes
            self.codec = codec
            self.rawLength = rawLength
        }
    }

    private let codec: ZstdCodec

    /// - Parameter level: the zstd level, `EventStore.Configuration.compressionLevels`.
    public init(level: Int = EventStore.Configuration.defaultCompressionLevel) {
        codec = ZstdCodec(level: Int32(level))
    }

    /// Makes dictionary `id` usable for decompression, and for compression once it is `currentDictionary`.
    /// - Returns: false when zstd could not allocate it (out of memory).
    @discardableResult
    public func register(dictionary id: UInt32, bytes: [UInt8]) -> Bool {
        codec.register(dictionaryID: id, bytes: bytes)
    }

    /// Whether dictionary `id` is registered.
    public func knows(dictionary id: UInt32) -> Bool { codec.hasDictionary(id) }

    /// The dictionary new payloads are compressed with (nil: plain zstd). Only a registered one may be set.
    public var currentDictionary: UInt32? {
        get { codec.currentDictionaryID }
        set { codec.currentDictionaryID = newValue }
    }

    /// Compresses `payload` with the current dictionary; keeps it raw when that would not make it smaller.
    /// - Throws: `outOfMemory` when zstd cannot allocate a context.
    public func compress(_ payload: Data) throws(EventStoreError) -> Stored {
        let (compression, bytes) = try codec.compress(payload)
        switch compression {
        case .none: return Stored(bytes: payload, codec: .raw, rawLength: payload.count)
        case .zstd: return Stored(bytes: Data(bytes), codec: .zstd, rawLength: payload.count)
        case .zstdDictionary(let id, _):
            return Stored(bytes: Data(bytes), codec: .dictionary(id), rawLength: payload.count)
        }
    }

    /// The payload as appended.
    /// - Throws: `corrupt` when the bytes do not decompress to `rawLength` bytes, or name a dictionary that is not
    ///   registered; `outOfMemory`.
    public func decompress(_ stored: Stored) throws(EventStoreError) -> Data {
        let compression: PayloadCompression
        switch stored.codec {
        case .raw: compression = .none
        case .zstd: compression = .zstd(bare: true)
        case .dictionary(let id): compression = .zstdDictionary(id, bare: true)
        }
        return try stored.bytes.withUnsafeBytes { raw in
            Result { () throws(EventStoreError) in
                try codec.decompress(raw, compression, rawLength: stored.rawLength) { _ in nil }
            }
        }.get()
    }

    /// Trains a dictionary of at most `capacity` bytes on `payloads`, on a thread of its own (up to a second of CPU);
    /// nil when they are too few to learn from.
    public func trainDictionary(
        on payloads: [Data], capacity: Int = 256 * 1024
    ) async throws(EventStoreError)
        -> [UInt8]?
    {
        try await EventStore.onOwnThread { [codec] () throws(EventStoreError) in
            var samples = Data()
            samples.reserveCapacity(payloads.reduce(0) { $0 + $1.count })
            var sizes: [Int] = []
            for payload in payloads where !payload.isEmpty {
                samples.append(payload)
                sizes.append(payload.count)
            }
            return try samples.withUnsafeBytes { raw in
                Result { () throws(EventStoreError) in
                    try codec.trainDictionary(samples: raw, sizes: sizes, capacity: capacity)
                }
            }.get()
        }
    }
}
