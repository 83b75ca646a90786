import CZstd
import Foundation
import Synchronization

/// How a record's payload is stored.
enum PayloadCompression: Equatable, Sendable {
    /// Raw bytes: compression would not have made them smaller.
    case none
    /// A zstd frame without dictionary. `bare`: without the frame's magic number and content size (format 2 writes
    /// these; the record holds the raw length), which saves ~5 bytes per event.
    case zstd(bare: Bool)
    /// A zstd frame compressed with the log's dictionary of this id.
    case zstdDictionary(UInt32, bare: Bool)

    /// Whether the frame is bare (no magic number, no content size).
    var isBare: Bool {
        switch self {
        case .none: false
        case .zstd(let bare), .zstdDictionary(_, let bare): bare
        }
    }
}

/// Per-record zstd compression with trained dictionaries (level 3 unless configured; bare frames: no magic number, no content size —
/// the record holds the raw length —, no checksum — the record has its own — and no dictionary id — the record names it).
///
/// Contexts are pooled so appending tasks compress in parallel outside the writer. Dictionaries, once registered,
/// are immutable and shared by every context (zstd's CDict/DDict are read-only and thread-safe).
final class ZstdCodec: @unchecked Sendable {
    // Invariant: pointers in the pools are used by one thread at a time (taken out under the lock, put back after).
    fileprivate struct Pointer: @unchecked Sendable { let raw: OpaquePointer }
    private struct Dictionary: @unchecked Sendable {
        let compress: OpaquePointer
        let decompress: OpaquePointer
        let size: Int
    }

    private let level: Int32
    private let compressContexts = Mutex<[Pointer]>([])
    fileprivate let decompressContexts = Mutex<[Pointer]>([])
    private let dictionaries = Mutex<[UInt32: Dictionary]>([:])
    private let currentID = Mutex<UInt32?>(nil)

    /// Where payloads read back and dictionary training get their memory.
    let memory: FallibleMemory

    init(level: Int32 = 3, memory: FallibleMemory = FallibleMemory()) {
        self.level = level
        self.memory = memory
    }

    deinit {
        for c in compressContexts.withLock({ $0 }) { ZSTD_freeCCtx(c.raw) }
        for d in decompressContexts.withLock({ $0 }) { ZSTD_freeDCtx(d.raw) }
        for dict in dictionaries.withLock({ $0.values }) {
            ZSTD_freeCDict(dict.compress)
            ZSTD_freeDDict(dict.decompress)
        }
    }

    /// Makes a stored dictionary usable for decompression (and for compression once made current).
    /// - Returns: false when zstd could not allocate it (out of memory): the caller goes on without it.
    @discardableResult
    func register(dictionaryID: UInt32, bytes: [UInt8]) -> Bool {
        dictionaries.withLock { dicts in
            guard dicts[dictionaryID] == nil else { return true }
            let (cdict, ddict) = bytes.withUnsafeBytes { raw in
                (ZSTD_createCDict(raw.baseAddress, raw.count, level), ZSTD_createDDict(raw.baseAddress, raw.count))
            }
            guard let cdict, let ddict else {
                ZSTD_freeCDict(cdict)
                ZSTD_freeDDict(ddict)
                return false
            }
            dicts[dictionaryID] = Dictionary(compress: cdict, decompress: ddict, size: bytes.count)
            return true
        }
    }

    /// The dictionary new records are compressed with, or nil for plain zstd.
    var currentDictionaryID: UInt32? {
        get { currentID.withLock { $0 } }
        set {
            precondition(newValue == nil || dictionary(newValue!) != nil, "dictionary \(newValue!) is not registered")
            currentID.withLock { $0 = newValue }
        }
    }

    /// Compresses `input` with the current dictionary; keeps it raw when compression does not make it smaller.
    /// `bare: false` writes a full frame (magic number and content size), as format 1 did.
    /// - Throws: `outOfMemory` when zstd cannot allocate a context.
    func compress(
        _ input: UnsafeRawBufferPointer, bare: Bool = true
    ) throws(EventStoreError) -> (PayloadCompression, [UInt8]) {
        let dictionaryID = currentDictionaryID
        let cdict = dictionaryID.flatMap { id in dictionary(id)?.compress }
        let cctx = try takeCompressContext()
        defer { compressContexts.withLock { $0.append(cctx) } }
        // A context whose last compression failed (the payload did not shrink: "destination too small") is left
        // mid-frame, and then refuses a new dictionary (`stage_wrong`) and would compress with the previous one.
        // Reset it first, and never ignore the answer.
        ZSTD_CCtx_reset(cctx.raw, ZSTD_reset_session_only)
        ZSTD_CCtx_setParameter(cctx.raw, ZSTD_c_contentSizeFlag, bare ? 0 : 1)
        ZSTD_CCtx_setParameter(cctx.raw, Self.formatParameter, bare ? Self.magicless : 0)
        let referenced = ZSTD_CCtx_refCDict(cctx.raw, cdict)
        precondition(
            ZSTD_isError(referenced) == 0,
            "zstd refused the dictionary: \(String(cString: ZSTD_getErrorName(referenced)))")
        // At most input.count - 1 bytes: anything larger is stored raw anyway.
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: max(input.count - 1, 0)) { out, count in
            written = ZSTD_compress2(cctx.raw, out.baseAddress, out.count, input.baseAddress, input.count)
            count = ZSTD_isError(written) == 0 ? written : 0
        }
        if ZSTD_isError(written) != 0 || output.isEmpty {
            return (.none, Array(input))  // did not shrink (dstSize_tooSmall) or could not compress
        }
        if let dictionaryID, cdict != nil { return (.zstdDictionary(dictionaryID, bare: bare), output) }
        return (.zstd(bare: bare), output)
    }

    /// `compress` of a payload held in `Data`.
    func compress(_ payload: Data) throws(EventStoreError) -> (PayloadCompression, [UInt8]) {
        try payload.withUnsafeBytes { raw in Result { () throws(EventStoreError) in try compress(raw) } }.get()
    }

    /// Reads a dictionary's stored bytes by id; nil when the log does not hold it.
    typealias DictionaryLoader = (UInt32) throws(EventStoreError) -> [UInt8]?

    /// Whether dictionary `id` is registered.
    func hasDictionary(_ id: UInt32) -> Bool { dictionary(id) != nil }

    /// The registered dictionary `id`, if any.
    ///
    /// Copies the entry out of the lock before projecting a field: Swift 6.3.1 miscompiles optional chaining on a struct
    /// of pointers inside `Mutex.withLock` (`withLock { $0[id]?.decompress }` returns a garbage non-nil pointer when
    /// `id` is missing).
    private func dictionary(_ id: UInt32) -> Dictionary? {
        dictionaries.withLock { $0[id] }
    }

    /// The DDict a payload needs (nil for plain zstd), registering it through `load` on first use.
    private func decompressionDictionary(
        for compression: PayloadCompression, load: DictionaryLoader
    ) throws(EventStoreError) -> OpaquePointer? {
        guard case .zstdDictionary(let id, _) = compression else { return nil }
        if let known = dictionary(id) { return known.decompress }
        guard let bytes = try load(id) else {
            throw EventStoreError(.corrupt, "record names compression dictionary \(id), which the log does not hold")
        }
        register(dictionaryID: id, bytes: bytes)
        guard let loaded = dictionary(id) else { fatalError("dictionary \(id) vanished after registration") }
        return loaded.decompress
    }

    /// Decompresses a stored payload back to exactly `rawLength` bytes.
    /// `load` fetches a dictionary this codec has not registered yet (one another process trained after this one opened
    /// the log) from the caller's transaction.
    func decompress(
        _ stored: UnsafeRawBufferPointer, _ compression: PayloadCompression, rawLength: Int,
        load: DictionaryLoader
    ) throws(EventStoreError) -> Data {
        if compression == .none {
            guard stored.count == rawLength else {
                throw EventStoreError(
                    .corrupt, "raw payload length \(stored.count) differs from the recorded \(rawLength)")
            }
            return Data(stored)
        }
        let ddict = try decompressionDictionary(for: compression, load: load)
        let dctx = try takeDecompressContext()
        defer { decompressContexts.withLock { $0.append(dctx) } }
        return try memory.data(rawLength, for: "an event's payload") { (out) throws(EventStoreError) in
            let produced = Self.decompress(
                dctx.raw, out.baseAddress, rawLength, stored, ddict, bare: compression.isBare)
            if ZSTD_isError(produced) != 0 {
                throw EventStoreError(
                    .corrupt, "payload does not decompress: \(String(cString: ZSTD_getErrorName(produced)))")
            }
            guard produced == rawLength else {
                throw EventStoreError(
                    .corrupt, "payload decompressed to \(produced) bytes, the record says \(rawLength)")
            }
        }
    }

    /// Decompresses a stored payload into `output` (at least `rawLength` bytes) with a context the caller holds.
    /// For scans: no allocation per event.
    func decompress(
        _ stored: UnsafeRawBufferPointer, _ compression: PayloadCompression, rawLength: Int,
        into output: UnsafeMutableRawBufferPointer, context: DecompressionContext,
        load: DictionaryLoader
    ) throws(EventStoreError) {
        precondition(output.count >= rawLength, "decompression buffer too small")
        if compression == .none {
            guard stored.count == rawLength else {
                throw EventStoreError(
                    .corrupt, "raw payload length \(stored.count) differs from the recorded \(rawLength)")
            }
            output.copyMemory(from: stored)
            return
        }
        let ddict = try decompressionDictionary(for: compression, load: load)
        let produced = Self.decompress(
            context.pointer.raw, output.baseAddress, rawLength, stored, ddict, bare: compression.isBare)
        if ZSTD_isError(produced) != 0 {
            throw EventStoreError(
                .corrupt, "payload does not decompress: \(String(cString: ZSTD_getErrorName(produced)))")
        }
        guard produced == rawLength else {
            throw EventStoreError(.corrupt, "payload decompressed to \(produced) bytes, the record says \(rawLength)")
        }
    }

    /// A decompression context lent to one scan, returned to the pool when the scan ends.
    final class DecompressionContext {
        fileprivate let pointer: Pointer
        private let codec: ZstdCodec
        fileprivate init(_ codec: ZstdCodec) throws(EventStoreError) {
            self.codec = codec
            pointer = try codec.takeDecompressContext()
        }
        deinit { codec.decompressContexts.withLock { $0.append(pointer) } }
    }

    func borrowDecompressionContext() throws(EventStoreError) -> DecompressionContext {
        try DecompressionContext(self)
    }

    /// Trains a dictionary of at most `capacity` bytes, and at most a quarter of the sample's bytes (zstd learns
    /// little from a sample smaller than a few times its dictionary), on `samples` (payloads end to end, `sizes` long
    /// each); nil when zstd finds too little to learn from.
    ///
    /// zstd's fastCover trainer with fixed parameters (segments of 2,048 bytes, 8-byte d-mers, acceleration 4), not
    /// `ZDICT_trainFromBuffer`, which runs the same trainer four times over to choose the segment size: on the
    /// benchmark's events 0.40 s instead of 2.7 s for 32,768 payloads, and 187.0 bytes per event stored instead of
    /// 188.9 (`docs/event-store.md`). Falls back to `ZDICT_trainFromBuffer` if fastCover refuses the sample. zstd's
    /// own tables are `malloc`ed, so a process at its memory limit gets nil from zstd rather than a trap.
    /// - Throws: `outOfMemory` when the dictionary's buffer cannot be allocated.
    func trainDictionary(
        samples: UnsafeRawBufferPointer, sizes: [Int], capacity requested: Int
    ) throws(EventStoreError) -> [UInt8]? {
        guard sizes.count >= 8 else { return nil }
        let capacity = min(requested, max(samples.count / 4, 1024))
        let dictionary = try memory.allocate(capacity, for: "a compression dictionary")
        defer { free(dictionary) }
        var parameters = ZDICT_fastCover_params_t()
        parameters.k = UInt32(min(2048, capacity))
        parameters.d = 8
        parameters.f = 20
        parameters.accel = 4
        parameters.splitPoint = 1.0
        let count = UInt32(sizes.count)
        var size = ZDICT_trainFromBuffer_fastCover(
            dictionary, capacity, samples.baseAddress, sizes, count, parameters)
        if ZDICT_isError(size) != 0 {
            size = ZDICT_trainFromBuffer(dictionary, capacity, samples.baseAddress, sizes, count)
        }
        if ZDICT_isError(size) != 0 { return nil }
        return Array(UnsafeRawBufferPointer(start: dictionary, count: size))
    }

    /// zstd's experimental `ZSTD_c_format` / `ZSTD_d_format` and `ZSTD_f_zstd1_magicless` (stable since zstd 1.4;
    /// the header declares them only for static linking, the shared library accepts them).
    private static let formatParameter = ZSTD_cParameter(rawValue: 10)
    private static let decompressionFormatParameter = ZSTD_dParameter(rawValue: 1000)
    private static let magicless: Int32 = 1

    /// One-shot decompression of a full or bare frame (the context's format is set for each call).
    private static func decompress(
        _ dctx: OpaquePointer, _ output: UnsafeMutableRawPointer?, _ capacity: Int,
        _ stored: UnsafeRawBufferPointer, _ ddict: OpaquePointer?, bare: Bool
    ) -> Int {
        let set = ZSTD_DCtx_setParameter(dctx, decompressionFormatParameter, bare ? magicless : 0)
        if ZSTD_isError(set) != 0 { return set }
        return ZSTD_decompress_usingDDict(dctx, output, capacity, stored.baseAddress, stored.count, ddict)
    }

    /// A pooled compression context, or a new one.
    private func takeCompressContext() throws(EventStoreError) -> Pointer {
        if let pooled = compressContexts.withLock({ $0.popLast() }) { return pooled }
        return try makeCompressContext()
    }

    /// A pooled decompression context, or a new one.
    fileprivate func takeDecompressContext() throws(EventStoreError) -> Pointer {
        if let pooled = decompressContexts.withLock({ $0.popLast() }) { return pooled }
        return try makeDecompressContext()
    }

    private func makeCompressContext() throws(EventStoreError) -> Pointer {
        guard memory.fault?(0) != true, let cctx = ZSTD_createCCtx() else {
            throw FallibleMemory.refused(for: "a zstd compression context")
        }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0)
        return Pointer(raw: cctx)
    }

    private func makeDecompressContext() throws(EventStoreError) -> Pointer {
        guard memory.fault?(0) != true, let dctx = ZSTD_createDCtx() else {
            throw FallibleMemory.refused(for: "a zstd decompression context")
        }
        return Pointer(raw: dctx)
    }
}
