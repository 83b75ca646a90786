import CZstd
import Foundation

/// A checkpoint as stored: seq (u64 big-endian), raw state length (u64), then the state compressed with zstd level 1
/// (states are large and written often; level 1 keeps saving and loading them fast).
enum CheckpointCodec {
    static func encode(_ c: Checkpoint) -> [UInt8] {
        let bound = ZSTD_compressBound(c.state.count)
        var out = c.seq.rawValue.bigEndianBytes + UInt64(c.state.count).bigEndianBytes
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = out.withUnsafeMutableBytes { o in
            c.state.withUnsafeBytes { s in ZSTD_compress(o.baseAddress! + 16, bound, s.baseAddress, s.count, 1) }
        }
        precondition(ZSTD_isError(written) == 0, "zstd cannot compress a checkpoint: \(String(cString: ZSTD_getErrorName(written)))")
        out.removeSubrange((16 + written)...)
        return out
    }

    static func decode(name: String, _ v: UnsafeRawBufferPointer) throws(EventStoreError) -> Checkpoint {
        guard v.count >= 16 else { throw EventStoreError(.corrupt, "checkpoint '\(name)' is truncated; rebuild the projection") }
        let seq = v.loadBigEndianUInt64(at: 0)
        let length = v.loadBigEndianUInt64(at: 8)
        guard length <= 1 << 34 else { throw EventStoreError(.corrupt, "checkpoint '\(name)' claims \(length) bytes; rebuild the projection") }
        var state = [UInt8](repeating: 0, count: Int(length))
        let produced = state.withUnsafeMutableBytes { s in
            ZSTD_decompress(s.baseAddress, s.count, v.baseAddress! + 16, v.count - 16)
        }
        guard ZSTD_isError(produced) == 0, produced == Int(length) else {
            throw EventStoreError(.corrupt, "checkpoint '\(name)' does not decompress; rebuild the projection")
        }
        return Checkpoint(name: name, seq: Seq(seq), state: state)
    }
}

extension EventStore {
    /// Stores projection checkpoints atomically (all or none), through the writer like every write.
    /// - Throws: `invalidArgument` when a checkpoint's seq is past the end of the log; storage errors.
    public func storeCheckpoints(_ checkpoints: [Checkpoint]) async throws(EventStoreError) {
        guard let writer else { throw EventStoreError(.closed, "the log at \(env.path) is open read-only") }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                do { try writer.submit(.storeCheckpoints(checkpoints, continuation)) } catch { continuation.resume(throwing: error) }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "storing checkpoints failed: \(error)")
        }
    }

    /// The checkpoint stored under `name`, or nil.
    public func checkpoint(named name: String) throws(EventStoreError) -> Checkpoint? {
        try env.read { (txn) throws(EventStoreError) in
            try txn.get(txn.dbs.meta, KeyLayout.checkpointKey(name)).map { (v) throws(EventStoreError) in try CheckpointCodec.decode(name: name, v) }
        }
    }
}
