import CZstd
import Foundation

/// zstd frames for exports: `ZstdStream.Writer` compresses what it is given as it goes (bounded memory);
/// `decompress` reads a whole file back. Both use zstd's content checksum, so a damaged export fails to import.
enum ZstdStream {
    /// zstd's frame magic number, little-endian on disk.
    static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    static func isCompressed(_ data: Data) -> Bool { data.prefix(4).elementsEqual(magic) }

    final class Writer {
        private let context: OpaquePointer
        private let sink: (Data) throws -> Void
        private var output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())

        /// - Parameter sink: receives compressed bytes.
        init(level: Int32 = 6, sink: @escaping (Data) throws -> Void) throws {
            guard let context = ZSTD_createCCtx() else { throw Failure("zstd: out of memory") }
            self.context = context
            self.sink = sink
            try Self.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
            try Self.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1))
        }

        deinit { ZSTD_freeCCtx(context) }

        func write(_ data: Data) throws { try pump(data, ZSTD_e_continue) }

        /// Ends the frame; nothing may be written after.
        func finish() throws { try pump(Data(), ZSTD_e_end) }

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
            if ZSTD_isError(code) != 0 { throw Failure("zstd: \(String(cString: ZSTD_getErrorName(code)))") }
        }
    }

    /// The decompressed content of every frame in `data`.
    /// - Throws: naming what is wrong when the data is truncated, damaged (checksum) or not zstd.
    static func decompress(_ data: Data) throws -> Data {
        guard let context = ZSTD_createDCtx() else { throw Failure("zstd: out of memory") }
        defer { ZSTD_freeDCtx(context) }
        var result = Data()
        var output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        var last = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var input = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
            while input.pos < input.size || last > 0 {
                let produced = try output.withUnsafeMutableBytes { out -> Int in
                    var buffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    last = ZSTD_decompressStream(context, &buffer, &input)
                    if ZSTD_isError(last) != 0 { throw Failure("the export is damaged: zstd: \(String(cString: ZSTD_getErrorName(last)))") }
                    return buffer.pos
                }
                result.append(contentsOf: output[0..<produced])
                if produced == 0 && input.pos == input.size && last > 0 {
                    throw Failure("the export is truncated: its last zstd frame is incomplete")
                }
            }
        }
        return result
    }
}
