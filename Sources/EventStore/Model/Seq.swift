/// A position in the global log: 1 for the first event, gap-free and strictly increasing.
public struct Seq: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (a: Seq, b: Seq) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
    /// The position after this one.
    public var next: Seq { Seq(rawValue + 1) }
}

/// An event's position within its stream: 1 for the stream's first event, contiguous.
public struct StreamRevision: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt64) { self.rawValue = value }
    public static func < (a: StreamRevision, b: StreamRevision) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}
