import EventStore
import Foundation
import PostgresNIO

/// One event as the shared log stores it: a column per envelope field (so SQL can read the log; names as numbers,
/// `SharedNames`), the payload compressed (`SharedCompression`), and the chain hash that links it to the event
/// before it. The chain hashes the names as text and the payload as appended, so it does not depend on how they are
/// stored.
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
    /// Why the row could not be read back whole (a damaged table: a payload that does not decompress, a name id
    /// `logbook_names` does not hold).
    var damage: String? = nil

    /// The most events one stream holds on PostgreSQL: `revision` is an integer column (4 bytes a row fewer than a
    /// bigint; a thread's revision is its turns' events).
    static let maxRevision = UInt64(Int32.max)

    /// Fails an append that would take `stream` past `maxRevision`.
    static func checkRevision(_ revision: UInt64, of stream: String) throws(EventStoreError) {
        guard revision > maxRevision else { return }
        throw EventStoreError(
            .invalidArgument,
            "stream '\(stream)' would reach revision \(revision); a stream of the shared log holds at most \(maxRevision) events: append to a new stream"
        )
    }

    /// The columns of `logbook_events`, in the order `decode` reads and `RowWriter` writes them.
    static let columns =
        "position, event_id, stream_id, revision, type_id, time_ns, actor_id, workspace_id, correlation_id, causation_id, payload, chain, codec, payload_length"

    /// Rows as `SELECT columns FROM logbook_events` gives them, with their names and payloads. Names and dictionaries
    /// this process does not know yet are read through `query` (the caller's connection or the pool).
    static func decode(
        _ sequence: PostgresRowSequence, names: SharedNames, compression: SharedCompression,
        query: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [LogRow] {
        typealias Stored = (
            position: Int64, id: UUID, stream: Int32, revision: Int32, type: Int32, time: Int64, actor: Int32?,
            workspace: Int32?, correlation: UUID?, causation: UUID?, payload: Data, chain: Data, codec: Int16,
            length: Int32
        )
        var stored: [Stored] = []
        var ids: Set<Int32> = []
        for try await row in sequence {
            let r = try row.decode(
                (Int64, UUID, Int32, Int32, Int32, Int64, Int32?, Int32?, UUID?, UUID?, Data, Data, Int16, Int32).self)
            stored.append(r)
            ids.insert(r.2)
            ids.insert(r.4)
            if let actor = r.6 { ids.insert(actor) }
            if let workspace = r.7 { ids.insert(workspace) }
        }
        let known = ids.isEmpty ? [:] : try await names.names(of: ids, query: query)
        let payloads = try await compression.decompress(
            stored.map {
                PayloadCompressor.Stored(
                    bytes: $0.payload, codec: SharedCompression.codec($0.codec), rawLength: Int($0.length))
            }, query: query)
        return zip(stored, payloads).map { s, payload in
            var missing: [Int32] = []
            func name(_ id: Int32) -> String {
                if let name = known[id] { return name }
                missing.append(id)
                return ""
            }
            var row = LogRow(
                position: UInt64(s.position), id: s.id, stream: name(s.stream), revision: UInt64(s.revision),
                type: name(s.type), time: s.time, actor: s.actor.map(name), workspace: s.workspace.map(name),
                correlationID: s.correlation, causationID: s.causation, payload: Data(),
                stored: .init(bytes: s.payload, codec: SharedCompression.codec(s.codec), rawLength: Int(s.length)),
                chain: [UInt8](s.chain))
            switch payload {
            case .success(let data): row.payload = data
            case .failure(let error): row.damage = "its payload does not decompress: \(error.message)"
            }
            if let id = missing.first { row.damage = "it names id \(id), which logbook_names does not hold" }
            return row
        }
    }

    /// The log's content chain (`ContentChain`): every field the row holds, so any change to a stored row, or a row
    /// removed or moved, breaks the chain from there on.
    static func chainHash(
        previous: [UInt8], position: UInt64, id: UUID, stream: String, revision: UInt64, event: ProposedEvent,
        time: Int64, hasher: SHA256Hasher
    ) -> [UInt8] {
        ContentChain.link(
            previous: previous, seq: position, id: id, stream: stream, revision: revision, type: event.type,
            time: time, metadata: event.metadata, payload: event.payload, hasher: hasher)
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
