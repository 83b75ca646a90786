import Events
import Foundation
import Logging
import OTel
import Synchronization

/// How `serve` logs: readable lines (`--log-format text`, swift-log's stream handler) or one JSON object per line
/// (`--log-format json`, for log shippers), on standard error; with tracing on, each line made inside a span carries its
/// `trace_id` and `span_id` (swift-otel's metadata provider).
enum LogOutput {
    static func bootstrap(format: String) {
        let provider = OTel.makeLoggingMetadataProvider()
        LoggingSystem.bootstrap(
            { label, provider in
                format == "json"
                    ? JSONLogHandler(label: label, metadataProvider: provider) as any LogHandler
                    : StreamLogHandler.standardError(label: label, metadataProvider: provider)
            }, metadataProvider: provider)
    }
}

/// One JSON object per log message: `time` (RFC 3339, UTC, milliseconds), `level`, `label`, `message`, and the
/// metadata's keys. Written whole with one `write`, so lines of concurrent messages never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        (self.label, self.metadataProvider) = (label, metadataProvider)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let lock = Mutex(())
    // ISO8601DateFormatter is safe to share between threads (Foundation documents it so).
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    func log(event: LogEvent) {
        var all = metadataProvider?.get() ?? [:]
        all.merge(metadata) { _, new in new }
        all.merge(event.metadata ?? [:]) { _, new in new }
        var object = all.mapValues(Self.json)
        object["time"] = .string(Self.formatter.string(from: Date()))
        object["level"] = .string(event.level.rawValue)
        object["label"] = .string(label)
        object["message"] = .string("\(event.message)")
        let line = Data((JSONValue.object(object).jsonText + "\n").utf8)
        Self.lock.withLock { _ in FileHandle.standardError.write(line) }
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let s): .string(s.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let values): .object(values.mapValues(json))
        }
    }
}
