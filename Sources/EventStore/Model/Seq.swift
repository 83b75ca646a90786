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

/// A seq or a revision is a bare number in JSON (and in any other Codable format), as the API has always written it.
extension Seq: Codable {
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(UInt64.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension Seq {
    /// The position `n` after this one.
    public static func + (seq: Seq, n: UInt64) -> Seq { Seq(seq.rawValue + n) }
    /// How many positions `b` is before `a` (`a` ≥ `b`).
    public static func - (a: Seq, b: Seq) -> UInt64 { a.rawValue - b.rawValue }
}

extension StreamRevision: Codable {
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(UInt64.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
