import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Traces sent to an OpenTelemetry collector over OTLP/HTTP with protobuf (swift-otel), when one is configured: by
/// `serve --otlp-endpoint URL` or the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, …,
/// which swift-otel reads). Off otherwise: the spans the server and the engine make are then no-ops. Spans are
/// exported in batches in the background; a collector that is down costs failed exports (logged), never a request.
public enum Telemetry {
    /// Bootstraps the process's tracer when an endpoint is configured (a flag wins over its variable).
    /// - Returns: the exporter's service, to run beside the server until it stops (it sends what is left), or nil.
    public static func start(endpoint: String?, serviceName: String?, logger: Logger) throws -> (any Service)? {
        if let endpoint { setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, 1) }
        if let serviceName { setenv("OTEL_SERVICE_NAME", serviceName, 1) }
        let environment = ProcessInfo.processInfo.environment
        let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
            !(environment[$0] ?? "").isEmpty
        }
        guard configured, environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "logbook"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        // A collector that is down must not hold a stopping server for long: an export gives up after 3 s (AHC keeps
        // trying to connect until then) instead of 10 (`OTEL_EXPORTER_OTLP_TIMEOUT` still says otherwise).
        configuration.traces.otlpExporter.timeout = .seconds(3)
        // swift-otel logs each setting it takes from the environment with its value, which for
        // `OTEL_EXPORTER_OTLP_HEADERS` is a collector's credentials: its log goes through a handler that blanks them.
        var redacted = Logger(label: logger.label) { _ in RedactingLogHandler(inner: logger.handler) }
        redacted.logLevel = logger.logLevel
        configuration.diagnosticLogger = .custom(redacted)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }
}

/// Passes log events on without the values swift-otel attaches when it reads a setting from the environment
/// (`environment_value`, `previous_value`, `new_value`): a header setting holds a collector's credentials.
struct RedactingLogHandler: LogHandler {
    var inner: any LogHandler
    static let hidden: Set<String> = ["environment_value", "previous_value", "new_value"]

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue.filter { !Self.hidden.contains($0.key) } }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = Self.hidden.contains(key) ? "<redacted>" : newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.metadata = event.metadata?.filter { !Self.hidden.contains($0.key) }
        inner.log(event: event)
    }
}
