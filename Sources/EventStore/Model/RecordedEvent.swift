import Foundation

/// An event as stored: the proposed event plus the positions and time the log gave it.
public struct RecordedEvent: Hashable, Sendable {
    public let seq: Seq
    public let stream: StreamID
    public let revision: StreamRevision
    public let id: UUID
    public let type: String
    /// When the writer committed the event, in nanoseconds since the Unix epoch.
    public let timeNanoseconds: Int64
    public let metadata: EventMetadata
    public let payload: Data
    /// SHA-256 over the previous event's hash and this record: the hash chain link. Stored (and so given here) for the
    /// last event of each commit, whose hash covers every event before it; `verify` recomputes the others.
    public let chainHash: ChainHash?

    /// The commit time as a `Date`.
    public var time: Date { Date(timeIntervalSince1970: Double(timeNanoseconds) / 1e9) }
}

/// Where an append put its events.
public struct AppendResult: Hashable, Sendable {
    /// The seq of the first and last appended event.
    public let firstSeq: Seq
    public let lastSeq: Seq
    /// The stream's revision after the append (its last event's revision).
    public let revision: StreamRevision
    /// True when every event was already in the log and nothing was written (an idempotent retry).
    public let wasAlreadyAppended: Bool

    public init(firstSeq: Seq, lastSeq: Seq, revision: StreamRevision, wasAlreadyAppended: Bool) {
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.revision = revision
        self.wasAlreadyAppended = wasAlreadyAppended
    }
}

/// A SHA-256 digest of the hash chain, held inline (no allocation per event).
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    init(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "a chain hash is 32 bytes")
        words = (
            bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
            bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        )
    }

    /// The 32 bytes of the digest.
    public var bytes: [UInt8] { withUnsafeBytes(of: words) { Array($0) } }

    /// Lowercase hex, as `sha256sum` prints it.
    public var description: String { bytes.map { String(format: "%02x", $0) }.joined() }

    public static func == (a: ChainHash, b: ChainHash) -> Bool { a.words == b.words }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
