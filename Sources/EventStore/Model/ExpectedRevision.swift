/// What an append expects of its stream: optimistic concurrency control.
public enum ExpectedRevision: Hashable, Sendable, CustomStringConvertible {
    /// Append whatever the stream's state.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must have at least one event.
    case streamExists
    /// The stream's last event must have exactly this revision.
    case exact(StreamRevision)

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .streamExists: "stream exists"
        case .exact(let revision): "revision \(revision)"
        }
    }

    /// Whether a stream at `current` (nil: no stream) meets the expectation.
    public func isSatisfied(by current: StreamRevision?) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == nil
        case .streamExists: current != nil
        case .exact(let revision): current == revision
        }
    }
}
