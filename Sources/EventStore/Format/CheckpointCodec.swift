import CZstd
import Foundation

/// A checkpoint as stored: seq (u64 big-endian), state length (u64), form (u8: 0 raw, 1 zstd level 1), the state.
///
/// Small states are compressed. Large ones are stored raw, so that loading one is reading it in place from the
/// memory map: start-up time is what matters for them, and decompressing tens of megabytes costs tens of milliseconds.
enum CheckpointCodec {
    static let compressBelowBytes = 1 << 20
    static let headerBytes = 17

    static func encode(_ c: Checkpoint) -> [UInt8] {
        var out = c.seq.rawValue.bigEndianBytes + UInt64(c.state.count).bigEndianBytes
        guard c.state.count < compressBelowBytes else {
            out.append(0)
            out.append(contentsOf: c.state)
            return out
        }
        out.append(1)
        let bound = ZSTD_compressBound(c.state.count)
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = out.withUnsafeMutableBytes { o in
            c.state.withUnsafeBytes { s in ZSTD_compress(o.baseAddress! + headerBytes, bound, s.baseAddress, s.count, 1)
            }
        }
        precondition(
            ZSTD_isError(written) == 0,
            "zstd cannot compress a checkpoint: \(String(cString: ZSTD_getErrorName(written)))")
        out.removeSubrange((headerBytes + written)...)
        return out
    }

    /// Calls `body` with the checkpoint's seq and state bytes: in place when stored raw, decompressed otherwise.
    static func withState<T>(
        name: String, _ v: UnsafeRawBufferPointer, _ body: (Seq, UnsafeRawBufferPointer) throws -> T
    ) throws -> T {
        guard v.count >= headerBytes else {
            throw EventStoreError(.corrupt, "checkpoint '\(name)' is truncated; rebuild the projection")
        }
        let seq = Seq(v.loadBigEndianUInt64(at: 0))
        let length = v.loadBigEndianUInt64(at: 8)
        let data = UnsafeRawBufferPointer(rebasing: v[headerBytes...])
        switch v[16] {
        case 0:
            guard UInt64(data.count) == length else {
                throw EventStoreError(.corrupt, "checkpoint '\(name)' has the wrong length; rebuild the projection")
            }
            return try body(seq, data)
        case 1:
            guard length <= 1 << 34 else {
                throw EventStoreError(.corrupt, "checkpoint '\(name)' claims \(length) bytes; rebuild the projection")
            }
            var state = [UInt8](repeating: 0, count: Int(length))
            let produced = state.withUnsafeMutableBytes { s in
                ZSTD_decompress(s.baseAddress, s.count, data.baseAddress, data.count)
            }
            guard ZSTD_isError(produced) == 0, produced == Int(length) else {
                throw EventStoreError(.corrupt, "checkpoint '\(name)' does not decompress; rebuild the projection")
            }
            return try state.withUnsafeBytes { try body(seq, $0) }
        default:
            throw EventStoreError(
                .unsupportedFormat,
                "checkpoint '\(name)' has an unknown form \(v[16]); upgrade Logbook or rebuild the projection")
        }
    }
}

extension EventStore {
    /// Stores projection checkpoints and removes the ones named in `removing`, atomically (all or none), through the
    /// writer like every write.
    /// - Throws: `invalidArgument` when a checkpoint's seq is past the end of the log; storage errors.
    public func storeCheckpoints(
        _ checkpoints: [Checkpoint], removing removed: [String] = []
    ) async throws(EventStoreError) {
        guard let writer else { throw EventStoreError(.closed, "the log at \(env.path) is open read-only") }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                do { try writer.submit(.storeCheckpoints(checkpoints, removing: removed, continuation)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.storage, "storing checkpoints failed: \(error)")
        }
    }

    /// The checkpoint stored under `name`, or nil.
    public func checkpoint(named name: String) throws(EventStoreError) -> Checkpoint? {
        do {
            return try withCheckpoint(named: name) { seq, state in Checkpoint(name: name, seq: seq, state: Array(state))
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            preconditionFailure("unreachable: the body does not throw")
        }
    }

    /// Calls `body` with the seq and the state bytes of the checkpoint stored under `name` (in place: valid only inside
    /// `body`), or returns nil when there is none. The fast path for loading large projection states.
    /// - Throws: `corrupt` for a damaged checkpoint; whatever `body` throws.
    public func withCheckpoint<T>(named name: String, _ body: (Seq, UnsafeRawBufferPointer) throws -> T) throws -> T? {
        let result: Result<T?, any Error> = try env.read { (txn) throws(EventStoreError) in
            guard let v = try txn.get(txn.dbs.meta, KeyLayout.checkpointKey(name)) else { return .success(nil) }
            return Result { try CheckpointCodec.withState(name: name, v, body) }
        }
        return try result.get()
    }
}
