import EventStore

/// A position in the log is written as its number (a varint).
extension BinaryWriter {
    public mutating func write(_ seq: Seq) { write(seq.rawValue) }
}

extension BinaryReader {
    public mutating func readSeq() throws(PayloadDecodingError) -> Seq { Seq(try readUInt64()) }
}
