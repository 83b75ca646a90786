import Events
import Foundation

/// Writes compact JSON straight into bytes: for the request body of every model call, where `JSONEncoder` cost more
/// than the rest of a turn's own work. Members are written in the order given; writers give them sorted by key.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether the current container holds a value already (the next needs a comma).
    private var needsComma = false
    /// Whether a member's key was just written (its value needs no comma).
    private var afterKey = false

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    var data: Data { Data(bytes) }

    /// An object whose members `body` writes with `member(_:_:)`.
    mutating func object(_ body: (inout JSONWriter) -> Void) {
        container("{", "}", body)
    }

    /// One member of the object being written.
    mutating func member(_ key: String, _ value: (inout JSONWriter) -> Void) {
        beginValue()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
        value(&self)
    }

    /// An array of `elements`, each written by `element`.
    mutating func array<S: Sequence>(_ elements: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        container("[", "]") { w in for e in elements { element(&w, e) } }
    }

    mutating func null() { beginValue(); bytes += [0x6E, 0x75, 0x6C, 0x6C] }
    mutating func bool(_ b: Bool) { beginValue(); bytes += Array((b ? "true" : "false").utf8) }
    mutating func int(_ i: Int) { beginValue(); bytes += Array(String(i).utf8) }

    /// A number: integral values without a fraction, others in Swift's shortest round-tripping form.
    mutating func number(_ d: Double) {
        guard d.isFinite else { return null() }  // JSON has no infinities
        if d == d.rounded(), abs(d) < 1e15 { return int(Int(d)) }
        beginValue()
        bytes += Array("\(d)".utf8)
    }

    mutating func string(_ s: String) {
        beginValue()
        writeString(s)
    }

    /// Any JSON value, object members sorted by key.
    mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let a): array(a) { $0.value($1) }
        case .object(let o): object { w in for key in o.keys.sorted() { w.member(key) { $0.value(o[key]!) } } }
        }
    }

    private mutating func container(_ open: Unicode.Scalar, _ close: Unicode.Scalar, _ body: (inout JSONWriter) -> Void)
    {
        beginValue()
        bytes.append(UInt8(ascii: open))
        let outer = needsComma
        needsComma = false
        body(&self)
        needsComma = outer
        bytes.append(UInt8(ascii: close))
    }

    private mutating func beginValue() {
        if afterKey { afterKey = false } else if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A string literal: quotes, backslashes and control characters escaped; everything else as UTF-8.
    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var run = 0
            for i in utf8.indices {
                let b = utf8[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<i]))
                run = i + 1
                switch b {
                case 0x22: bytes += [0x5C, 0x22]
                case 0x5C: bytes += [0x5C, 0x5C]
                case 0x0A: bytes += [0x5C, 0x6E]
                case 0x0D: bytes += [0x5C, 0x72]
                case 0x09: bytes += [0x5C, 0x74]
                default: bytes += [0x5C, 0x75, 0x30, 0x30, Self.hex[Int(b >> 4)], Self.hex[Int(b & 0xF)]]
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
