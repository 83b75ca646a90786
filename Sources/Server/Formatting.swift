import Engine
import EventStore
import Events
import Foundation
import Hummingbird

/// Server-sent event frames.
enum SSE {
    /// One frame: `event:`, `id:` (when given), and the data (JSON, one line).
    static func frame(event: String, id: String? = nil, data: String) -> ByteBuffer {
        var text = "event: \(event)\n"
        if let id { text += "id: \(id)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return ByteBuffer(string: text + "\n")
    }
}

/// Forwards a run as it happens to an SSE response: `text` frames as the model streams, one frame per event once it
/// is in the log (named by its type, `id` = its seq, data = its JSON).
struct SSEObserver: RunObserver {
    let continuation: AsyncStream<ByteBuffer>.Continuation

    func text(_ piece: String) async {
        continuation.yield(SSE.frame(event: "text", data: JSON.string(["text": piece])))
    }

    func appended(_ event: DomainEvent, seq: Seq) async {
        let data = (try? event.json()).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        continuation.yield(SSE.frame(event: event.typeName, id: String(seq.rawValue), data: data))
    }
}

enum JSON {
    /// A recorded event's domain JSON (nil for a type this build does not know).
    static func data(of event: RecordedEvent) -> JSONValue? {
        guard case .event(let domain) = EventCatalog.decode(event), let json = try? domain.json() else { return nil }
        return JSONValue(parsing: String(decoding: json, as: UTF8.self))
    }

    /// Compact JSON of an encodable value (sorted keys).
    static func string(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

enum Timestamp {
    /// RFC 3339 with milliseconds, UTC, for nanoseconds since the epoch.
    static func rfc3339(_ nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }
}
