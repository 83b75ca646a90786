import Foundation

/// A strict JSON parser (RFC 8259) over UTF-8 bytes, for hot paths where `JSONDecoder` costs too much: the
/// OpenAI-compatible endpoint reads the whole conversation a client resends on every call, and decoding its
/// `JSONValue` parts through `JSONDecoder` tries each JSON type in turn, throwing an error for each miss. It keeps
/// whether a number was written as an integer, and refuses duplicate keys, so that a caller can give up (and fall
/// back to `JSONDecoder`, which has the last word and the error messages) wherever the two might disagree.
public enum ParsedJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int`.
    case integer(Int)
    case number(Double)
    case string(String)
    case array([ParsedJSON])
    case object([String: ParsedJSON])

    /// Why parsing stopped (for the caller's fallback; not a message for users).
    public struct Failure: Error, Sendable { public let offset: Int }

    /// Nesting deeper than this fails (as `JSONDecoder`'s limit does).
    public static let maxDepth = 512

    /// Parses one JSON value that fills `bytes` (whitespace around it allowed).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(Failure) {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        self = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw Failure(offset: parser.index) }
    }

    /// Parses `data` (see `init(parsing:)`).
    public init(parsing data: Data) throws(Failure) {
        let result: Result<ParsedJSON, Failure> = data.withUnsafeBytes { bytes in
            do throws(Failure) { return .success(try ParsedJSON(parsing: bytes)) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// The same value as a `JSONValue` (numbers as doubles).
    public var jsonValue: JSONValue {
        switch self {
        case .null: .null
        case .bool(let b): .bool(b)
        case .integer(let i): .number(Double(i))
        case .number(let n): .number(n)
        case .string(let s): .string(s)
        case .array(let a): .array(a.map(\.jsonValue))
        case .object(let o): .object(o.mapValues(\.jsonValue))
        }
    }

    public subscript(key: String) -> ParsedJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

private struct Parser {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func fail() -> ParsedJSON.Failure { ParsedJSON.Failure(offset: index) }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(ParsedJSON.Failure) -> ParsedJSON {
        guard index < bytes.count, depth < ParsedJSON.maxDepth else { throw fail() }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(ParsedJSON.Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail() }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] { throw fail() }
        index += count
    }

    private mutating func object(depth: Int) throws(ParsedJSON.Failure) -> ParsedJSON {
        index += 1
        var members: [String: ParsedJSON] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail() }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail() }
            index += 1
            skipWhitespace()
            let member = try value(depth: depth + 1)
            guard members.updateValue(member, forKey: key) == nil else { throw fail() }  // a duplicate key
            skipWhitespace()
            guard index < bytes.count else { throw fail() }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw fail() }
            index += 1
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws(ParsedJSON.Failure) -> ParsedJSON {
        index += 1
        var elements: [ParsedJSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw fail() }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw fail() }
            index += 1
            return .array(elements)
        }
    }

    /// A string at `index` (its opening quote): runs without escapes are copied whole; the bytes must be UTF-8.
    private mutating func string() throws(ParsedJSON.Failure) -> String {
        index += 1
        let start = index
        // The common case: no escape before the closing quote.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let run = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                guard let text = String(validating: run, as: UTF8.self) else { throw fail() }
                return text
            }
            if b == UInt8(ascii: "\\") { break }
            guard b >= 0x20 else { throw fail() }
            index += 1
        }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: out, as: UTF8.self) else { throw fail() }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail() }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw fail() }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail() }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail()
                    }
                    guard let s = Unicode.Scalar(scalar) else { throw fail() }
                    out.append(contentsOf: String(Character(s)).utf8)
                default: throw fail()
                }
            default:
                guard b >= 0x20 else { throw fail() }
                out.append(b)
                index += 1
            }
        }
        throw fail()
    }

    private mutating func hex4() throws(ParsedJSON.Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail()
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws(ParsedJSON.Failure) -> ParsedJSON {
        let start = index
        func digits(_ p: inout Parser) -> Int {
            let from = p.index
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) {
                p.index += 1
            }
            return p.index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail() }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits(&self) > 0 else { throw fail() }
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            integral = false
            guard digits(&self) > 0 else { throw fail() }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            integral = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits(&self) > 0 else { throw fail() }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let i = Int(text) { return .integer(i) }
        guard let d = Double(text), d.isFinite else { throw fail() }
        return .number(d)
    }
}
