import Foundation

/// Event payloads are stored in a compact binary form: decoding it is several times faster than Foundation's JSON,
/// and decoding, not storage, bounds every projection rebuild. JSON stays the format at the edges (API, CLI, export),
/// through each event's `Codable` conformance.
///
/// The layout is positional: fields in declaration order, integers as LEB128 varints (signed ones zigzag), strings and
/// arrays length-prefixed, optionals behind a 0/1 byte. Fields may only be appended at the end of a type; a reader
/// of an older layout stops early (`BinaryReader.isAtEnd`) and a schema version bump marks incompatible changes.
public protocol BinaryCodable {
    func encode(to writer: inout BinaryWriter)
    init(from reader: inout BinaryReader) throws(PayloadDecodingError)
}

/// A payload that does not decode: truncated, malformed, or of a schema this build does not know.
public struct PayloadDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func write(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func write(_ v: Int64) { write(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    public mutating func write(_ v: Int) { write(Int64(v)) }
    public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func write(_ v: Double) {
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            write(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func write(_ id: UUID) { withUnsafeBytes(of: id.uuid) { bytes.append(contentsOf: $0) } }

    public mutating func write<T: BinaryCodable>(_ value: T) { value.encode(to: &self) }

    /// Raw bytes, as they are: for bulk arrays of fixed-size values (length-prefix them yourself).
    public mutating func writeRaw(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }

    /// An array of 32-bit integers as one block: count, then little-endian values (a memcpy on little-endian hosts).
    public mutating func write(block values: [Int32]) {
        write(UInt64(values.count))
        if Int32(1).littleEndian == 1 {
            values.withUnsafeBytes { writeRaw($0) }
        } else {
            for v in values { withUnsafeBytes(of: v.littleEndian) { writeRaw($0) } }
        }
    }

    public mutating func write<T>(_ value: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            body(&self, value)
        } else {
            bytes.append(0)
        }
    }

    public mutating func write<T>(_ values: [T], _ body: (inout BinaryWriter, T) -> Void) {
        write(UInt64(values.count))
        for v in values { body(&self, v) }
    }

    public mutating func write(_ strings: [String]) { write(strings) { $0.write($1) } }
    public mutating func write(_ s: String?) { write(s) { $0.write($1) } }

    /// Keys sorted, so equal dictionaries encode to equal bytes.
    public mutating func write(_ map: [String: String]) {
        write(UInt64(map.count))
        for key in map.keys.sorted() {
            write(key)
            write(map[key]!)
        }
    }
}

public struct BinaryReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    /// When true, `readBulkText` skips its bytes and gives "" (see `readBulkText`).
    public let skipsBulkText: Bool

    public init(_ buffer: UnsafeRawBufferPointer, skipsBulkText: Bool = false) {
        (self.buffer, self.skipsBulkText) = (buffer, skipsBulkText)
    }

    /// True when every byte was read: fields added to a type after this payload was written are absent.
    public var isAtEnd: Bool { offset >= buffer.count }

    public mutating func readUInt64() throws(PayloadDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < buffer.count, shift < 64 {
            let byte = buffer[offset]
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        throw PayloadDecodingError("payload ends inside a number")
    }

    public mutating func readInt64() throws(PayloadDecodingError) -> Int64 {
        let z = try readUInt64()
        return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
    }

    public mutating func readInt() throws(PayloadDecodingError) -> Int {
        let v = try readInt64()
        guard let i = Int(exactly: v) else { throw PayloadDecodingError("number \(v) out of range") }
        return i
    }

    public mutating func readBool() throws(PayloadDecodingError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let b: throw PayloadDecodingError("byte \(b) is not a boolean")
        }
    }

    public mutating func readDouble() throws(PayloadDecodingError) -> Double {
        let raw = try readBytes(8)
        return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)))
    }

    public mutating func readString() throws(PayloadDecodingError) -> String {
        String(decoding: try readStringBytes(), as: UTF8.self)
    }

    /// A string's bytes, not yet decoded.
    private mutating func readStringBytes() throws(PayloadDecodingError) -> UnsafeRawBufferPointer {
        let count = try readUInt64()
        guard count <= UInt64(buffer.count - offset) else {
            throw PayloadDecodingError("string of \(count) bytes runs past the payload")
        }
        return try readBytes(Int(count))
    }

    /// A bulk text: a message's body, a model's answer, a tool's output. Written like any string; when the reader skips
    /// bulk text (folding for read models that never look at it), its bytes are stepped over and the value is "".
    public mutating func readBulkText() throws(PayloadDecodingError) -> String {
        let bytes = try readStringBytes()
        return skipsBulkText ? "" : String(decoding: bytes, as: UTF8.self)
    }

    public mutating func readOptionalBulkText() throws(PayloadDecodingError) -> String? {
        try readOptional { (r) throws(PayloadDecodingError) in try r.readBulkText() }
    }

    public mutating func readUUID() throws(PayloadDecodingError) -> UUID {
        UUID(uuid: try readBytes(16).loadUnaligned(as: uuid_t.self))
    }

    public mutating func read<T: BinaryCodable>(_: T.Type = T.self) throws(PayloadDecodingError) -> T {
        try T(from: &self)
    }

    /// The next `count` bytes, as they are (valid as long as the buffer being read).
    public mutating func readRaw(_ count: Int) throws(PayloadDecodingError) -> UnsafeRawBufferPointer {
        try readBytes(count)
    }

    /// An array written with `write(block:)`.
    public mutating func readInt32Block() throws(PayloadDecodingError) -> [Int32] {
        let count = try readUInt64()
        guard count <= UInt64(buffer.count - offset) / 4 else {
            throw PayloadDecodingError("block of \(count) numbers runs past the payload")
        }
        let raw = try readBytes(Int(count) * 4)
        return [Int32](unsafeUninitializedCapacity: Int(count)) { out, initialized in
            for i in 0..<Int(count) {
                out[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
            }
            initialized = Int(count)
        }
    }

    public mutating func readOptional<T>(
        _ body: (inout BinaryReader) throws(PayloadDecodingError) -> T
    ) throws(PayloadDecodingError) -> T? {
        try readBool() ? try body(&self) : nil
    }

    public mutating func readArray<T>(
        _ body: (inout BinaryReader) throws(PayloadDecodingError) -> T
    ) throws(PayloadDecodingError) -> [T] {
        let count = try readUInt64()
        guard count <= UInt64(buffer.count - offset) else {
            throw PayloadDecodingError("array of \(count) elements runs past the payload")
        }
        var result: [T] = []
        result.reserveCapacity(Int(count))
        for _ in 0..<count { result.append(try body(&self)) }
        return result
    }

    public mutating func readStrings() throws(PayloadDecodingError) -> [String] {
        try readArray { (r) throws(PayloadDecodingError) in try r.readString() }
    }
    public mutating func readOptionalString() throws(PayloadDecodingError) -> String? {
        try readOptional { (r) throws(PayloadDecodingError) in try r.readString() }
    }

    public mutating func readStringMap() throws(PayloadDecodingError) -> [String: String] {
        let count = try readUInt64()
        guard count <= UInt64(buffer.count - offset) else {
            throw PayloadDecodingError("map of \(count) entries runs past the payload")
        }
        var map: [String: String] = [:]
        map.reserveCapacity(Int(count))
        for _ in 0..<count {
            let key = try readString()
            map[key] = try readString()
        }
        return map
    }

    public mutating func readByte() throws(PayloadDecodingError) -> UInt8 {
        guard offset < buffer.count else { throw PayloadDecodingError("payload ends early") }
        defer { offset += 1 }
        return buffer[offset]
    }

    private mutating func readBytes(_ count: Int) throws(PayloadDecodingError) -> UnsafeRawBufferPointer {
        guard count >= 0, buffer.count - offset >= count else { throw PayloadDecodingError("payload ends early") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
    }
}

extension BinaryCodable {
    /// The binary form of this value.
    public var binaryEncoded: [UInt8] {
        var w = BinaryWriter()
        encode(to: &w)
        return w.bytes
    }

    /// Decodes a value from `bytes`, which must hold exactly one.
    public init(binary bytes: some ContiguousBytes) throws(PayloadDecodingError) {
        let result: Result<Self, PayloadDecodingError> = bytes.withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            return Result { () throws(PayloadDecodingError) -> Self in try Self(from: &reader) }
        }
        self = try result.get()
    }
}

/// Enums stored as one small number: the case's position in `cases`.
///
/// `cases` must be a stored constant (`static let cases: [Self] = [...]`, in declaration order, never reordered):
/// a synthesized `allCases` builds a new array on every call, which showed in projection rebuild profiles.
public protocol BinaryCodableEnum: BinaryCodable, Equatable {
    static var cases: [Self] { get }
}

extension BinaryCodableEnum {
    public func encode(to writer: inout BinaryWriter) {
        let cases = Self.cases
        var i = 0
        while cases[i] != self { i += 1 }
        writer.write(UInt64(i))
    }

    public init(from reader: inout BinaryReader) throws(PayloadDecodingError) {
        let index = try reader.readUInt64()
        let cases = Self.cases
        guard index < UInt64(cases.count) else { throw PayloadDecodingError("\(Self.self) has no case \(index)") }
        self = cases[Int(index)]
    }
}

extension String: BinaryCodable {
    public func encode(to w: inout BinaryWriter) { w.write(self) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self = try r.readString() }
}
