/// One server-sent event.
public struct ServerSentEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?
}

/// An incremental parser of `text/event-stream` (the WHATWG rules): feed it bytes as they arrive, take complete events.
///
/// Lines end in LF, CR LF or CR; `:` starts a comment; a field's value loses one leading space; `data` lines join with
/// LF; a blank line dispatches the event. Memory is bounded: a line longer than `maxLineBytes` is an error, not a buffer
/// that grows without end.
public struct SSEParser: Sendable {
    public struct LineTooLong: Error, Sendable, CustomStringConvertible {
        public let limit: Int
        public var description: String { "a server-sent event line is longer than \(limit) bytes" }
    }

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var event: String?
    private var data: [String] = []
    private var id: String?
    private var hasFields = false
    private let maxLineBytes: Int

    public init(maxLineBytes: Int = 8 << 20) { self.maxLineBytes = maxLineBytes }

    /// Consumes `bytes`; returns the events they completed.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws(LineTooLong) -> [ServerSentEvent] {
        var out: [ServerSentEvent] = []
        for byte in bytes {
            if byte == 0x0A, lastWasCR { lastWasCR = false; continue }  // the LF of a CR LF
            lastWasCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D {
                if let e = endLine() { out.append(e) }
            } else {
                guard line.count < maxLineBytes else { throw LineTooLong(limit: maxLineBytes) }
                line.append(byte)
            }
        }
        return out
    }

    /// Whether bytes of an unfinished event are pending (a stream that ends now was cut off mid-event).
    public var hasPartialEvent: Bool { !line.isEmpty || hasFields }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasFields else { return nil }
            defer { (event, data, hasFields) = (nil, [], false) }
            guard !data.isEmpty else { return nil }
            return ServerSentEvent(event: event, data: data.joined(separator: "\n"), id: id)
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let name = String(decoding: line[..<(colon ?? line.endIndex)], as: UTF8.self)
        var valueStart = colon.map { $0 + 1 } ?? line.endIndex
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = String(decoding: line[valueStart...], as: UTF8.self)
        hasFields = true
        switch name {
        case "data": data.append(value)
        case "event": event = value
        case "id": id = value
        default: break  // `retry` and unknown fields
        }
        return nil
    }
}
