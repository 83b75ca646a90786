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
    let sink: StreamedBody.Sink

    func text(_ piece: String) async {
        await sink.send(SSE.frame(event: "text", data: JSON.string(TextFrameBody(text: piece))))
    }

    func appended(_ event: DomainEvent, seq: Seq) async {
        let data = (try? event.json()).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        await sink.send(SSE.frame(event: event.typeName, id: String(seq.rawValue), data: data))
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
    /// RFC 3339 with milliseconds, UTC, for nanoseconds since the epoch (`2026-11-22T08:00:00.123Z`). Formatted by
    /// hand from `gmtime_r`: a formatter per call cost tens of microseconds, and answers format many times.
    static func rfc3339(_ nanoseconds: Int64) -> String {
        let (seconds, remainder) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        let (wholeSeconds, nanos) = remainder < 0 ? (seconds - 1, remainder + 1_000_000_000) : (seconds, remainder)
        var time = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(nanos / 1_000_000), 3))Z"
    }
}
