/// The name of a stream, such as `thread/8d2f…` or `registry/models`.
///
/// ## Invariants
/// Non-empty, valid UTF-8 without NUL; the length limit (`Limits.maxStreamIDBytes`) is checked at append.
public struct StreamID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    /// A stream id from a string. Throws `invalidArgument` when it is empty or contains NUL.
    public init(_ rawValue: String) throws(EventStoreError) {
        if rawValue.isEmpty {
            throw EventStoreError(.invalidArgument, "stream id is empty; name the stream, e.g. 'thread/<id>'")
        }
        if rawValue.utf8.contains(0) {
            throw EventStoreError(.invalidArgument, "stream id contains a NUL byte; use printable characters")
        }
        self.rawValue = rawValue
    }

    /// A stream id from raw bytes, which must be valid UTF-8.
    public init(utf8 bytes: some Collection<UInt8>) throws(EventStoreError) {
        guard let string = String(validatingUTF8Bytes: bytes) else {
            throw EventStoreError(.invalidArgument, "stream id is not valid UTF-8; send it as UTF-8 text")
        }
        try self.init(string)
    }

    /// For literals in code and tests; traps on an invalid id.
    public init(stringLiteral value: String) {
        do { try self.init(value) } catch { preconditionFailure("invalid stream id literal '\(value)': \(error)") }
    }

    init(unchecked rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
}

extension String {
    /// Decodes bytes as UTF-8, or nil when they are not valid UTF-8 (unlike `String(decoding:)`, which repairs).
    init?(validatingUTF8Bytes bytes: some Collection<UInt8>) {
        var iterator = bytes.makeIterator()
        var codec = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch codec.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}
