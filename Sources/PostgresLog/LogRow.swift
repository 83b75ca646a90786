import EventStore
import Foundation

/// One event as the shared log stores it: a column per envelope field (so SQL can read the log), the payload
/// compressed (`SharedCompression`), and the chain hash that links it to the event before it.
struct LogRow: Sendable {
    var position: UInt64
    var id: UUID
    var stream: String
    var revision: UInt64
    var type: String
    var time: Int64
    var actor: String?
    var workspace: String?
    var correlationID: UUID?
    var causationID: UUID?
    /// The payload as appended (empty when `damage` says why it could not be read back).
    var payload: Data
    /// The payload as stored.
    var stored: PayloadCompressor.Stored
    var chain: [UInt8]
    /// Why the stored payload could not be decompressed (a row read back from a damaged table).
    var damage: String? = nil

    static let columns =
        "position, event_id, stream, revision, type, time_ns, actor, workspace, correlation_id, causation_id, payload, chain, codec, payload_length"

    /// SHA-256(previous chain hash ‖ the row's fields, each fixed-width or length-prefixed, big-endian): every field
    /// the row holds, so any change to a stored row, or a row removed or moved, breaks the chain from there on.
    static func chainHash(
        previous: [UInt8], position: UInt64, id: UUID, stream: String, revision: UInt64, event: ProposedEvent,
        time: Int64, hasher: SHA256Hasher
    ) -> [UInt8] {
        var fields = [UInt8]()
        fields.reserveCapacity(128 + event.payload.count)
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { fields += $0 } }
        func uuid(_ v: UUID) { withUnsafeBytes(of: v.uuid) { fields += $0 } }
        func text(_ v: String) {
            u64(UInt64(v.utf8.count))
            fields += v.utf8
        }
        func optional<T>(_ v: T?, _ write: (T) -> Void) {
            if let v {
                fields.append(1)
                write(v)
            } else {
                fields.append(0)
            }
        }
        u64(position)
        uuid(id)
        text(stream)
        u64(revision)
        text(event.type)
        u64(UInt64(bitPattern: time))
        optional(event.metadata.actor, text)
        optional(event.metadata.workspace, text)
        optional(event.metadata.correlationID, uuid)
        optional(event.metadata.causationID, uuid)
        u64(UInt64(event.payload.count))
        return previous.withUnsafeBytes { p in
            fields.withUnsafeBytes { f in
                event.payload.withUnsafeBytes { payload in hasher.hash(p, f, payload) }
            }
        }
    }

    var proposed: ProposedEvent {
        ProposedEvent(
            id: id, type: type, payload: payload,
            metadata: EventMetadata(
                actor: actor, workspace: workspace, correlationID: correlationID, causationID: causationID),
            recordedTime: time)
    }

    /// The chain hash this row should have after `previous`.
    func expectedChain(after previous: [UInt8], hasher: SHA256Hasher) -> [UInt8] {
        Self.chainHash(
            previous: previous, position: position, id: id, stream: stream, revision: revision, event: proposed,
            time: time, hasher: hasher)
    }

    /// Whether `event`, appended to `stream`, is what this row holds (an idempotent retry).
    func holds(_ event: ProposedEvent, in stream: String) -> Bool {
        damage == nil && self.stream == stream && type == event.type && actor == event.metadata.actor
            && workspace == event.metadata.workspace && correlationID == event.metadata.correlationID
            && causationID == event.metadata.causationID && payload == event.payload
    }
}

extension LogRow {
    /// The row for `event`, appended at `position` as revision `revision` of `stream`, chained after `previous`.
    init(
        event: ProposedEvent, stored: PayloadCompressor.Stored, stream: String, position: UInt64, revision: UInt64,
        time: Int64, after previous: [UInt8], hasher: SHA256Hasher
    ) {
        self.init(
            position: position, id: event.id, stream: stream, revision: revision, type: event.type, time: time,
            actor: event.metadata.actor, workspace: event.metadata.workspace,
            correlationID: event.metadata.correlationID, causationID: event.metadata.causationID,
            payload: event.payload, stored: stored,
            chain: Self.chainHash(
                previous: previous, position: position, id: event.id, stream: stream, revision: revision,
                event: event, time: time, hasher: hasher))
    }
}
