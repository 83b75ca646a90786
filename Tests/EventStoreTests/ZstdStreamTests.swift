import Foundation
import Testing
@testable import EventStore

/// The streaming zstd frames that exports are written in: whatever way the input is written and the output read back
/// in pieces, the bytes come back unchanged; a cut or damaged stream is refused, never read as shorter data.
@Suite struct ZstdStreamTests {
    /// Compresses `pieces` through a writer and returns the compressed bytes.
    func compress(_ pieces: [Data]) throws -> Data {
        var compressed = Data()
        let writer = try ZstdStream.Writer { compressed.append($0) }
        for piece in pieces { try writer.write(piece) }
        try writer.finish()
        return compressed
    }

    /// Decompresses `compressed` fed in chunks of the given sizes (cycled), then checks the end.
    func decompress(_ compressed: Data, chunkSizes: [Int]) throws -> Data {
        let reader = try ZstdStream.Reader()
        var plain = Data()
        var offset = 0
        var index = 0
        while offset < compressed.count {
            let size = min(chunkSizes[index % chunkSizes.count], compressed.count - offset)
            plain.append(try reader.decompress(compressed.subdata(in: offset..<(offset + size))))
            offset += size
            index += 1
        }
        try reader.finish()
        return plain
    }

    @Test func anySplitOfInputAndOutputRoundTrips() throws {
        var rng = SplitMix64(seed: 77)
        for _ in 0..<40 {
            // Text-like lines (compressible) with random bytes mixed in, up to ~600 KB so frames span many blocks.
            let count = Int.random(in: 0..<60, using: &rng)
            var pieces: [Data] = []
            for _ in 0..<count {
                let length = Int.random(in: 0..<20_000, using: &rng)
                let random = Bool.random(using: &rng)
                pieces.append(
                    Data(
                        (0..<length).map { i in
                            random ? UInt8.random(in: 0...255, using: &rng) : UInt8(97 + i % 26)
                        }))
            }
            let expected = pieces.reduce(into: Data()) { $0.append($1) }
            let compressed = try compress(pieces)
            #expect(ZstdStream.isCompressed(compressed))
            let sizes = (0..<3).map { _ in Int.random(in: 1...70_000, using: &rng) }
            #expect(try decompress(compressed, chunkSizes: sizes) == expected)
        }
    }

    @Test func framesWrittenOneAfterAnotherReadAsOneStream() throws {
        let first = try compress([Data("one\n".utf8)])
        let second = try compress([Data("two\n".utf8)])
        #expect(try decompress(first + second, chunkSizes: [3]) == Data("one\ntwo\n".utf8))
    }

    @Test func aCutStreamIsRefusedAsTruncated() throws {
        let compressed = try compress([Data(repeating: 7, count: 100_000), Data("tail".utf8)])
        for cut in [compressed.count - 1, compressed.count / 2, 5] {
            let error = #expect(throws: EventStoreError.self) {
                _ = try decompress(compressed.prefix(cut), chunkSizes: [1_000])
            }
            #expect(error?.code == .corrupt, "cut at \(cut)")
            #expect(error?.message.contains("truncated") == true, "cut at \(cut): \(String(describing: error))")
        }
    }

    @Test func aDamagedStreamIsRefused() throws {
        var compressed = try compress([Data((0..<50_000).map { UInt8($0 % 251) })])
        // Flip a byte in the middle: the block no longer decodes, or the content checksum no longer matches.
        compressed[compressed.count / 2] ^= 0xFF
        let error = #expect(throws: EventStoreError.self) {
            _ = try decompress(compressed, chunkSizes: [4_096])
        }
        #expect(error?.code == .corrupt)
        #expect(!ZstdStream.isCompressed(Data("{\"seq\":1}".utf8)))
    }
}
