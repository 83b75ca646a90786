import Foundation

/// The server signed the log's head: `note` is the checkpoint as a C2SP signed note (origin, size, the chain hash of
/// event `size`, then the signature), the same text `GET /v1/checkpoints/latest` serves to outside witnesses. Kept in
/// the log (stream `log/checkpoints`) so that `logbook verify --checkpoint` can also say where a rewritten log parts
/// from what was signed. Holds no personal data.
public struct CheckpointSigned: EventPayload {
    public static let typeName = "checkpoint.signed"

    /// The events the checkpoint covers (1 through `size`).
    public var size: UInt64
    /// The signed note, as served.
    public var note: String

    public init(size: UInt64, note: String) {
        (self.size, self.note) = (size, note)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(size); w.write(note)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(size: try r.readUInt64(), note: try r.readString())
    }
}
