import EventStore
import Foundation

/// The log as NDJSON, one event a line, in seq order: what `logbook export` writes and `logbook import` reads, and
/// the form of the golden threads under `Tests/Fixtures/golden`. Each line keeps the event's seq, stream, id, type,
/// time and metadata; `data` is the event's JSON (editable), or `payload` (base64 of the stored bytes) for a type
/// this build does not know, so nothing is lost either way.
///
/// Each line ends with `"hash"`, a link of the export's own hash chain (`TransferChain`): SHA-256 of the previous
/// line's hash and the line's own bytes before it. An import recomputes the chain and refuses a line that was changed
/// after the export (naming its seq), or an export without hashes, unless told to re-chain: an edited export is never
/// taken for an intact one by accident. The chain covers the text as written, so it holds across builds whose binary
/// payloads differ. (Whoever edits an export can also recompute this chain, as
/// they could the log's own: proof against a deliberate rewrite needs a signed checkpoint.)
public enum LogTransfer {
    public struct Line: Codable, Sendable {
        public var seq: Seq
        public var stream: String
        public var id: UUID
        public var type: String
        /// Nanoseconds since the epoch, when it was first appended.
        public var time: Int64
        public var actor: String?
        public var workspace: String?
        public var correlationID: UUID?
        public var causationID: UUID?
        /// Base64 of the stored bytes, for a type this build does not know (else the line has `data`, the event's
        /// JSON, written and read as raw JSON so 64-bit integers survive).
        public var payload: String?
        /// The export's hash chain at this event (hex SHA-256).
        public var hash: String?
    }

    public struct TransferError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes every event from `seq` on, a line each (`write` gets whole lines, newline included).
    /// - Returns: how many events were written.
    @discardableResult
    public static func export(
        from store: EventStore, from seq: Seq = 1, write: (String) throws -> Void,
        progress: ((_ done: UInt64, _ last: UInt64) -> Void)? = nil
    ) throws -> Int {
        let encoder = DomainEvent.jsonEncoder
        let last = store.lastSeq.rawValue
        var next = seq, count = 0
        var chain = TransferChain()
        while true {
            let page = try store.read(from: next, maxCount: 1024)
            guard let tail = page.last else { break }
            var text = ""
            for e in page {
                var line = Line(
                    seq: e.seq, stream: e.stream.rawValue, id: e.id, type: e.type, time: e.timeNanoseconds,
                    actor: e.metadata.actor, workspace: e.metadata.workspace, correlationID: e.metadata.correlationID,
                    causationID: e.metadata.causationID)
                let body: String
                if case .event(let domain) = EventCatalog.decode(e), let json = try? domain.json() {
                    // its closing brace
                    let head = String(decoding: try encoder.encode(line), as: UTF8.self).dropLast()
                    body = head + #","data":"# + String(decoding: json, as: UTF8.self)
                } else {
                    line.payload = e.payload.base64EncodedString()
                    body = String(String(decoding: try encoder.encode(line), as: UTF8.self).dropLast())
                }
                text += body + #","hash":""# + chain.link(body) + "\"}\n"
            }
            try write(text)
            count += page.count
            progress?(tail.seq.rawValue, last)
            next = Seq(tail.seq.rawValue + 1)
        }
        return count
    }

    /// Appends the lines' events to an empty log, each to its stream, in order, with their ids and metadata; the
    /// seqs come out as exported (what `llm.request`s name) or the import stops with an error saying where not.
    /// - Parameter rechain: import lines whose `hash` is missing or does not match what they now hold (an export
    ///   edited on purpose, or made before exports carried hashes); without it such a line stops the import.
    /// - Returns: how many events were imported.
    @discardableResult
    public static func `import`(
        _ lines: some Sequence<some StringProtocol>, into store: EventStore, rechain: Bool = false,
        progress: ((_ done: Int) -> Void)? = nil
    ) async throws -> Int {
        guard store.lastSeq.rawValue == 0 else {
            throw TransferError(
                description:
                    "the log is not empty (it ends at seq \(store.lastSeq.rawValue)); import into a new data directory")
        }
        let decoder = JSONDecoder()
        var batch: [ProposedEvent] = [], batchStream: String?, batchFirstSeq: Seq = 0, count = 0, lineNumber = 0
        var chain = TransferChain()
        func flush() async throws {
            guard let stream = batchStream, !batch.isEmpty else { return }
            let result = try await store.append(batch, to: try StreamID(stream))
            guard result.firstSeq == batchFirstSeq else {
                throw TransferError(
                    description:
                        "the export skips seqs before \(batchFirstSeq) (this import gave \(result.firstSeq)): export the whole log from seq 1"
                )
            }
            count += batch.count
            progress?(count)
            batch = []
        }
        for text in lines where !text.allSatisfy(\.isWhitespace) {
            lineNumber += 1
            let line: Line, data: Any?
            do {
                line = try decoder.decode(Line.self, from: Data(text.utf8))
                data = (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["data"]
            } catch {
                throw TransferError(description: "line \(lineNumber) is not an exported event: \(error)")
            }
            let payload: Data
            if let data {
                guard
                    let event = try EventCatalog.decode(
                        type: line.type, json: try JSONSerialization.data(withJSONObject: data))
                else {
                    throw TransferError(
                        description:
                            "line \(lineNumber): type '\(line.type)' is unknown to this build and has no payload")
                }
                payload = event.proposed().payload
            } else if let encoded = line.payload, let bytes = Data(base64Encoded: encoded) {
                payload = bytes
            } else {
                throw TransferError(description: "line \(lineNumber) has neither data nor a base64 payload")
            }
            let (body, written) = TransferChain.split(text)
            let hash = chain.link(body)
            if !rechain, written != hash {
                throw TransferError(
                    description: written == nil
                        ? "line \(lineNumber) (seq \(line.seq)) carries no hash: the export was made before exports were chained, or the hashes were removed; import with --rechain to accept it as it is"
                        : "line \(lineNumber) (seq \(line.seq)) was changed after the export: its hash does not match the event it holds (or an earlier line's); import with --rechain to accept the edit"
                )
            }
            if line.stream != batchStream || batch.count == 256 {
                try await flush()
                (batchStream, batchFirstSeq) = (line.stream, line.seq)
            }
            batch.append(
                ProposedEvent(
                    id: line.id, type: line.type, payload: payload,
                    metadata: EventMetadata(
                        actor: line.actor, workspace: line.workspace, correlationID: line.correlationID,
                        causationID: line.causationID),
                    recordedTime: line.time))
        }
        try await flush()
        return count
    }
}

/// The hash chain of an export: each link is SHA-256 of the previous link (32 zero bytes before the first) and the
/// line's text up to its `"hash"` member (which ends the line).
struct TransferChain {
    private var previous = [UInt8](repeating: 0, count: 32)
    private let hasher = SHA256Hasher()

    /// The next link, in hex: of `body`, the line without `,"hash":"…"}`.
    mutating func link(_ body: some StringProtocol) -> String {
        var bytes = Array(body.utf8)
        let digest = previous.withUnsafeBytes { p in
            bytes.withUnsafeMutableBytes { b in hasher.hash(p, UnsafeRawBufferPointer(b)) }
        }
        previous = digest
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// A line's body (what its link covers) and the link it carries: it ends `,"hash":"<64 hex>"}`; a line that does
    /// not carries none, and its body is all of it.
    static func split(_ line: some StringProtocol) -> (body: Substring, hash: String?) {
        let text = Substring(line).trimmingCharacters(in: .whitespaces)[...]
        let suffixLength = #","hash":""#.count + 64 + 2
        guard text.utf8.count > suffixLength, text.hasSuffix("\"}") else { return (text, nil) }
        let tail = text.suffix(suffixLength)
        guard tail.hasPrefix(#","hash":""#) else { return (text, nil) }
        let hex = tail.dropFirst(#","hash":""#.count).dropLast(2)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return (text, nil)
        }
        return (text.dropLast(suffixLength), String(hex))
    }
}
