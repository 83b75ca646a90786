import EventStore
import Events
import Foundation

extension BinaryWriter {
    /// A dictionary with its keys sorted, so equal states encode to equal bytes.
    mutating func write<K: Comparable, V>(
        _ map: [K: V], key: (inout BinaryWriter, K) -> Void, value: (inout BinaryWriter, V) -> Void
    ) {
        write(UInt64(map.count))
        for k in map.keys.sorted() {
            key(&self, k)
            value(&self, map[k]!)
        }
    }
}

extension BinaryReader {
    mutating func readMap<K: Hashable, V>(
        key: (inout BinaryReader) throws(PayloadDecodingError) -> K,
        value: (inout BinaryReader) throws(PayloadDecodingError) -> V
    ) throws(PayloadDecodingError) -> [K: V] {
        let count = try readUInt64()
        var map: [K: V] = [:]
        map.reserveCapacity(Int(min(count, 1 << 20)))
        for _ in 0..<count {
            let k = try key(&self)
            map[k] = try value(&self)
        }
        return map
    }
}

/// A value and the seq of the event that set it: the provenance of every registry entry.
public struct Versioned<Value: Sendable & Equatable & BinaryCodable>: Sendable, Equatable, BinaryCodable {
    public var value: Value
    public var seq: Seq

    public init(_ value: Value, seq: Seq) { (self.value, self.seq) = (value, seq) }
    public func encode(to w: inout BinaryWriter) { w.write(value); w.write(seq) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(try r.read(), seq: try r.readSeq())
    }
}
