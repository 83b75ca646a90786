import EventStore
import Events
import Foundation
import Synchronization

/// Signs the log's head when `everyEvents` events were appended since the last checkpoint, or `interval` passed
/// with any appended at all: each checkpoint goes into the log as a `checkpoint.signed` event (stream
/// `log/checkpoints`) and is kept as the latest, which `GET /v1/checkpoints/latest` serves to witnesses.
public final class CheckpointSigner: Sendable {
    /// The stream the checkpoints are appended to.
    public static let stream: StreamID = "log/checkpoints"

    public let key: SignedNote.SignerKey
    let store: EventStore
    let everyEvents: UInt64
    let interval: Duration

    private struct State {
        /// The latest checkpoint's note, and the seq of its event (what it covers, plus that event).
        var note: String?
        var coveredThrough: UInt64 = 0
        var signedAt = ContinuousClock.now
        /// Where the content chain was last followed to (the latest checkpoint's size and hash).
        var chain: (seq: UInt64, link: [UInt8]) = (0, ContentChain.genesis)
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - everyEvents: events after which a checkpoint is signed at once (at least 1).
    ///   - interval: time after which one is signed if any event was appended since the last.
    /// - Throws: what reading the log's last checkpoint throws.
    public init(
        store: EventStore, key: SignedNote.SignerKey, everyEvents: UInt64 = 10_000, interval: Duration = .seconds(60)
    ) throws(EventStoreError) {
        (self.store, self.key, self.everyEvents, self.interval) = (store, key, max(everyEvents, 1), interval)
        // The chain is followed on from the last checkpoint in the log (its own, unless the key changed: a checkpoint
        // signed on a wrong hash would fail every check of the log, not pass one).
        if let last = try Self.checkpoints(in: store, last: 1).last,
            let text = try? SignedNote.unverifiedText(of: last.checkpoint.note),
            let signed = try? LogCheckpoint(text: text), signed.size == last.checkpoint.size,
            signed.size < last.seq.rawValue
        {
            state.withLock {
                $0.note = last.checkpoint.note
                $0.coveredThrough = last.seq.rawValue
                $0.chain = (signed.size, signed.hash)
            }
        }
    }

    /// The latest checkpoint as a signed note (nil before the first).
    public var latest: String? { state.withLock { $0.note } }

    /// Signs the head now if anything but the last checkpoint was appended since it; returns the new checkpoint.
    /// Follows the content chain over the events since the last one (reading and hashing them). Not to be called
    /// while another call runs.
    @discardableResult
    public func sign() async throws(EventStoreError) -> LogCheckpoint? {
        let (covered, chain) = state.withLock { ($0.coveredThrough, $0.chain) }
        let size = store.lastSeq
        guard size.rawValue > covered else { return nil }
        guard let hash = try ContentChain.fold(store, from: chain, through: size.rawValue) else { return nil }
        let checkpoint = LogCheckpoint(origin: key.name, size: size.rawValue, hash: hash)
        let note: String
        do { note = try checkpoint.signed(with: key) } catch {
            throw EventStoreError(.invalidArgument, "signing the checkpoint at \(size) failed: \(error)")
        }
        let result = try await store.append(
            [
                DomainEvent.checkpointSigned(CheckpointSigned(size: size.rawValue, note: note)).proposed(
                    metadata: EventMetadata(actor: "system:checkpoints"))
            ], to: Self.stream)
        state.withLock {
            $0 = State(
                note: note, coveredThrough: result.lastSeq.rawValue, signedAt: .now, chain: (size.rawValue, hash))
        }
        return checkpoint
    }

    /// Signs whenever one is due, checking every second, until cancelled. `failed` hears of a failure once, not at
    /// every retry, until a checkpoint is signed again (then `recovered`): a full disk makes one line, not one a second.
    public func run(
        failed: @Sendable (EventStoreError) -> Void, recovered: @Sendable () -> Void = {}
    ) async {
        var failing: EventStoreError?
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            let (covered, signedAt) = state.withLock { ($0.coveredThrough, $0.signedAt) }
            let appended = store.lastSeq.rawValue - min(covered, store.lastSeq.rawValue)
            guard appended >= everyEvents || (appended > 0 && ContinuousClock.now - signedAt >= interval) else {
                continue
            }
            do {
                try await sign()
                if failing != nil { recovered() }
                failing = nil
            } catch {
                if failing?.code != error.code || failing?.message != error.message { failed(error) }
                failing = error
            }
        }
    }

    /// The last `last` checkpoints recorded in `store`, oldest first, with the seqs of their events.
    public static func checkpoints(
        in store: EventStore, last: Int = Int.max
    ) throws(EventStoreError) -> [(seq: Seq, checkpoint: CheckpointSigned)] {
        guard let revision = try store.revision(of: stream) else { return [] }
        let from = revision.rawValue > UInt64(last) ? revision.rawValue - UInt64(last) + 1 : 1
        var found: [(Seq, CheckpointSigned)] = []
        var next = StreamRevision(from)
        while true {
            let events = try store.read(stream: stream, from: next, maxCount: 1000)
            for event in events {
                if case .event(.checkpointSigned(let c)) = EventCatalog.decode(event) { found.append((event.seq, c)) }
            }
            guard events.count == 1000 else { return found }
            next = StreamRevision(next.rawValue + 1000)
        }
    }
}
