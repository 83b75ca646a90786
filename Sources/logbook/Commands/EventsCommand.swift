import ArgumentParser
import CommandSupport
import EventStore
import Events
import Foundation

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print events of the log or of one stream.")

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Option(help: "The first seq to print (or, with --stream, the first revision).") var from: UInt64 = 1
    @Option(help: "At most this many events.") var limit: Int = 100
    @Option(help: "Print only this stream, in revision order.") var stream: String?
    @Flag(help: "Print one JSON object per line (NDJSON).") var json = false

    func validate() throws {
        guard limit > 0 && limit <= 1_000_000 else { throw ValidationError("--limit must be between 1 and 1000000") }
    }

    func run() async throws {
        let log = try await shared.open(options)
        do {
            try printEvents(log.store)
        } catch {
            await log.close()
            throw error
        }
        await log.close()
    }

    private func printEvents(_ store: EventStore) throws {
        var remaining = limit
        var position = from
        while remaining > 0 {
            let chunk: [RecordedEvent]
            if let stream {
                chunk = try store.read(
                    stream: try StreamID(stream), from: StreamRevision(position), maxCount: min(remaining, 1000))
            } else {
                chunk = try store.read(from: Seq(position), maxCount: min(remaining, 1000))
            }
            if chunk.isEmpty { break }
            for event in chunk { print(json ? try EventJSON.line(event) : Self.text(event)) }
            remaining -= chunk.count
            position = (stream == nil ? chunk.last!.seq.rawValue : chunk.last!.revision.rawValue) + 1
        }
    }

    static func text(_ e: RecordedEvent) -> String {
        let time = ISO8601DateFormatter.withFractions.string(from: e.time)
        let who = [e.metadata.actor, e.metadata.workspace.map { "@\($0)" }].compactMap { $0 }.joined()
        let text = EventJSON.embeddablePayload(e).map { String($0) } ?? "(\(e.payload.count) bytes of binary)"
        var preview = String(text.prefix(120)).replacingOccurrences(of: "\n", with: " ")
        if text.count > 120 { preview += "…" }
        return ["\(e.seq)", time, "\(e.stream)#\(e.revision)", e.type, who.isEmpty ? "-" : who, preview].map(
            \.terminalSafeLine
        ).joined(separator: "\t")
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractions: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}

/// The JSON form of an event at the edges (CLI): one line per event, its JSON under `data` (as the export and the API
/// name it), or the stored bytes in base64 under `payload` when they are not JSON (as the export does).
enum EventJSON {
    struct Line: Encodable {
        let seq: Seq
        let stream: String
        let revision: StreamRevision
        let id: UUID
        let type: String
        let time: String
        let actor: String?
        let workspace: String?
        let correlationID: UUID?
        let causationID: UUID?
        let hash: String?
        /// The stored bytes in base64, when they are not JSON.
        let payload: String?
    }

    static func line(_ e: RecordedEvent) throws -> String {
        let embedded = embeddablePayload(e)
        let line = Line(
            seq: e.seq, stream: e.stream.rawValue, revision: e.revision, id: e.id, type: e.type,
            time: ISO8601DateFormatter.withFractions.string(from: e.time), actor: e.metadata.actor,
            workspace: e.metadata.workspace, correlationID: e.metadata.correlationID,
            causationID: e.metadata.causationID,
            hash: e.chainHash?.description,
            payload: embedded == nil ? e.payload.base64EncodedString() : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = String(decoding: try encoder.encode(line), as: UTF8.self)
        if let embedded {
            // Splice the stored JSON in as is: decoding and re-encoding would change numbers and key order.
            text.removeLast()
            text += ",\"data\":" + embedded + "}"
        }
        return text
    }

    /// The payload as one line of JSON: a domain event's own JSON form, a JSON payload as stored, or nil otherwise.
    static func embeddablePayload(_ e: RecordedEvent) -> String? {
        if case .event(let domain) = EventCatalog.decode(e), let json = try? domain.json() {
            return String(decoding: json, as: UTF8.self)
        }
        return embeddableJSON(e.payload)
    }

    private static func embeddableJSON(_ payload: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed]) else {
            return nil
        }
        if !payload.contains(UInt8(ascii: "\n")) && !payload.contains(UInt8(ascii: "\r")) {
            return String(decoding: payload, as: UTF8.self)
        }
        guard let compact = try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]) else {
            return nil
        }
        return String(decoding: compact, as: UTF8.self)
    }
}
