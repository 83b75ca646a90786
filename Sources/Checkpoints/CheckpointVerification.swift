import EventStore
import Events

/// Whether a log still extends a signed checkpoint: its event `size` has the signed chain hash, so nothing up to it
/// was changed, removed or reordered since it was signed — even by someone who could write the files and compute the
/// chain again (which plain `verify` cannot catch).
public struct CheckpointVerification: Sendable, Equatable {
    /// The checkpoint checked.
    public let checkpoint: LogCheckpoint
    /// Nil when the log extends it; else what is wrong and where.
    public let failure: Failure?
    /// Checkpoints in the log signed by the same key that the log still matches.
    public let matchingCheckpointsInLog: Int

    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        /// The events among which the log parts from what was signed: the change is at one of them.
        public let seqs: ClosedRange<UInt64>
        public let reason: String
        public var description: String {
            seqs.count == 1
                ? "event \(seqs.lowerBound): \(reason)"
                : "events \(seqs.lowerBound)…\(seqs.upperBound): \(reason)"
        }
    }

    public var extends: Bool { failure == nil }

    /// Checks `store` against `checkpoint`, following the content chain from the log's first event. When it fails,
    /// the checkpoints the server recorded in the log (those that `key` signed) narrow down where: the change is after
    /// the last one that still matches and at or before the first that does not. Without the original events nothing
    /// can say which one of those changed.
    /// - Complexity: O(size): every event up to the checkpoint is read and hashed.
    public static func check(
        _ store: EventStore, against checkpoint: LogCheckpoint, key: SignedNote.VerifierKey
    ) throws(EventStoreError) -> CheckpointVerification {
        let end = store.lastSeq.rawValue
        var marks: [UInt64: [UInt8]] = [:]
        for (_, recorded) in try CheckpointSigner.checkpoints(in: store) {
            guard let signed = try? LogCheckpoint(note: recorded.note, verifiedBy: key), signed.size == recorded.size,
                signed.size < checkpoint.size
            else { continue }
            marks[signed.size] = signed.hash
        }
        marks[checkpoint.size] = checkpoint.hash
        var chain: (seq: UInt64, link: [UInt8]) = (0, ContentChain.genesis)
        var matching = 0
        for size in marks.keys.sorted() {
            let link = size <= end ? try ContentChain.fold(store, from: chain, through: size) : nil
            guard let link, link == marks[size] else {
                let reason =
                    link == nil
                    ? "the log ends at \(end) but the checkpoint signed \(size) events: events were removed, or this is another log"
                    : chain.seq > 0
                        ? "the log no longer has the hash that was signed: an event after \(chain.seq) (the last checkpoint it still matches) and at or before \(size) was changed, removed or inserted, and the chain computed again"
                        : "the log no longer has the hash that was signed: an event at or before \(size) was changed, removed or inserted, and the chain computed again"
                return CheckpointVerification(
                    checkpoint: checkpoint,
                    failure: Failure(seqs: (chain.seq + 1)...max(chain.seq + 1, size), reason: reason),
                    matchingCheckpointsInLog: matching)
            }
            chain = (size, link)
            if size < checkpoint.size { matching += 1 }
        }
        return CheckpointVerification(checkpoint: checkpoint, failure: nil, matchingCheckpointsInLog: matching)
    }
}
