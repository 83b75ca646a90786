import CZstd
import Foundation

/// Streaming zstd frames, for exports and backups: `ZstdStream.Writer` compresses what it is given as it goes and
/// `ZstdStream.Reader` decompresses chunks as they are read (bounded memory both ways). Frames carry zstd's content
/// checksum, so damaged input fails to decompress. Owned here so that only the store links the C library.
public enum ZstdStream {
    /// zstd's frame magic number, little-endian on disk.
    public static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// Whether `data` starts with a zstd frame.
    public static func isCompressed(_ data: Data) -> Bool { data.prefix(4).elementsEqual(magic) }

    /// Compresses a stream of bytes into one frame, handing compressed bytes to a sink as they are produced.
    public final class Writer {
        private let context: OpaquePointer
        private let sink: (Data) throws -> Void
        private var output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())

        /// - Parameter sink: receives compressed bytes.
        public init(level: Int32 = 6, sink: @escaping (Data) throws -> Void) throws {
            guard let context = ZSTD_createCCtx() else {
                throw EventStoreError(.storage, "zstd could not allocate a compression context (out of memory)")
            }
            self.context = context
            self.sink = sink
            try Self.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
            try Self.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1))
        }

        deinit { ZSTD_freeCCtx(context) }

        /// Compresses `data` (output may be held back until later writes or `finish`).
        public func write(_ data: Data) throws { try pump(data, ZSTD_e_continue) }

        /// Ends the frame; nothing may be written after.
        public func finish() throws { try pump(Data(), ZSTD_e_end) }

        private func pump(_ data: Data, _ directive: ZSTD_EndDirective) throws {
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var input = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
                while true {
                    let (remaining, produced) = try output.withUnsafeMutableBytes { out -> (Int, Int) in
                        var buffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                        let remaining = ZSTD_compressStream2(context, &buffer, &input, directive)
                        try Self.check(remaining)
                        return (remaining, buffer.pos)
                    }
                    if produced > 0 { try sink(Data(output[0..<produced])) }
                    let done = directive == ZSTD_e_end ? remaining == 0 : input.pos == input.size
                    if done { break }
                }
            }
        }

        static func check(_ code: Int) throws {
            if ZSTD_isError(code) != 0 {
                throw EventStoreError(.storage, "zstd could not compress: \(String(cString: ZSTD_getErrorName(code)))")
            }
        }
    }

    /// Decompresses a stream of compressed chunks as they come, every frame in turn.
    public final class Reader {
        private let context: OpaquePointer
        private var output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        /// What `ZSTD_decompressStream` last returned: 0 at the end of a frame.
        private var pending = 0
        private var sawInput = false

        public init() throws {
            guard let context = ZSTD_createDCtx() else {
                throw EventStoreError(.storage, "zstd could not allocate a decompression context (out of memory)")
            }
            self.context = context
        }

        deinit { ZSTD_freeDCtx(context) }

        /// The bytes `chunk` decompresses to (possibly none yet).
        public func decompress(_ chunk: Data) throws -> Data {
            var result = Data()
            sawInput = sawInput || !chunk.isEmpty
            try chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var input = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
                while true {
                    let produced = try output.withUnsafeMutableBytes { out -> Int in
                        var buffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                        pending = ZSTD_decompressStream(context, &buffer, &input)
                        if ZSTD_isError(pending) != 0 {
                            let reason = String(cString: ZSTD_getErrorName(pending))
                            throw EventStoreError(.corrupt, "the compressed input is damaged: zstd: \(reason)")
                        }
                        return buffer.pos
                    }
                    result.append(contentsOf: output[0..<produced])
                    // Done with this chunk once it is consumed and zstd has nothing more to flush.
                    if input.pos == input.size && produced < output.count { break }
                }
            }
            return result
        }

        /// Checks the input ended at the end of a frame.
        public func finish() throws {
            if sawInput && pending != 0 {
                throw EventStoreError(.corrupt, "the compressed input is truncated: its last zstd frame is incomplete")
            }
        }
    }
}
