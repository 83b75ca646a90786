import Foundation

/// An event whose payload the appending task already compressed, so the writer only writes.
struct PreparedEvent: Sendable {
    let proposed: ProposedEvent
    let compression: PayloadCompression
    let stored: [UInt8]
}

/// An event of the shared log, compressed for its copy.
struct PreparedCopy: Sendable {
    let seq: UInt64
    let stream: StreamID
    let event: PreparedEvent
}

/// Work for the writer thread. Each request is answered exactly once, through its continuation.
enum WriterRequest: Sendable {
    case append(AppendRequest)
    /// Store a trained dictionary and make it the one new records use.
    case storeDictionary([UInt8], CheckedContinuation<DictionaryInfo, any Error>)
    /// Store projection checkpoints and remove others by name, all in the one transaction.
    case storeCheckpoints([Checkpoint], removing: [String], CheckedContinuation<Void, any Error>)
    /// Write events of the shared log into its copy, at their positions (`EventStore.copy`).
    case copy([PreparedCopy], CheckedContinuation<Void, any Error>)

    var eventCount: Int {
        switch self {
        case .append(let r): r.eventCount
        case .copy(let events, _): events.count
        default: 0
        }
    }

    func fail(_ error: EventStoreError) {
        switch self {
        case .append(let r): r.continuation.resume(throwing: error)
        case .storeDictionary(_, let c): c.resume(throwing: error)
        case .storeCheckpoints(_, _, let c): c.resume(throwing: error)
        case .copy(_, let c): c.resume(throwing: error)
        }
    }
}

/// A class, not a struct: the writer passes requests around a lot, and one reference costs one retain.
final class AppendRequest: Sendable {
    let stream: StreamID
    let expected: ExpectedRevision
    let events: [PreparedEvent]
    /// Builds the last event from the first event's seq, on the writer (see `EventStore.append(_:closingWith:to:expecting:)`).
    let closing: (@Sendable (Seq) -> ProposedEvent)?
    /// The events it writes: `events` and the closing one.
    let eventCount: Int
    /// Unsafe (unchecked) continuation: the writer resumes each exactly once, on every path (`acknowledge`, `failAll`).
    let continuation: UnsafeContinuation<AppendResult, any Error>

    init(
        stream: StreamID, expected: ExpectedRevision, events: [PreparedEvent],
        closing: (@Sendable (Seq) -> ProposedEvent)? = nil,
        continuation: UnsafeContinuation<AppendResult, any Error>
    ) {
        self.stream = stream
        self.expected = expected
        self.events = events
        self.closing = closing
        self.eventCount = events.count + (closing == nil ? 0 : 1)
        self.continuation = continuation
    }
}

/// A compression dictionary of the log.
public struct DictionaryInfo: Hashable, Sendable, Codable {
    /// The id records name it by.
    public let id: UInt32
    public let sizeBytes: Int
    /// The last seq in the log when it was stored; records after it may use it.
    public let storedAfterSeq: Seq
}

/// A projection's saved state: what it had folded up to `seq`, in the projection's own encoding.
public struct Checkpoint: Sendable, Equatable {
    public let name: String
    public let seq: Seq
    public let state: [UInt8]

    public init(name: String, seq: Seq, state: [UInt8]) {
        self.name = name
        self.seq = seq
        self.state = state
    }
}
