import ArgumentParser
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import Logging
import ServiceLifecycle

/// `logbook traces`: the spans of a thread's past runs, made again from the log (`TraceRebuild`) and sent to an
/// OpenTelemetry collector — for conversations that ran while tracing was off, or to send them to a new backend.
struct TracesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces",
        abstract: "Send a thread's runs as OpenTelemetry traces, rebuilt from the log (OTLP/HTTP).",
        discussion: """
            The spans have the names, tree, attributes and events of the live ones (docs/observability.md); each \
            top-level run is the root of a trace of its own. The collector is --otlp-endpoint, else the OTEL_* \
            variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, …).
            """)

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Option(help: "The thread whose runs to send.") var thread: String
    @Option(help: "Only events from this seq on.") var from: UInt64 = 1
    @Option(help: "Only events up to this seq.") var to: UInt64 = UInt64(Int64.max)
    @Option(help: ArgumentHelp("The collector (OTLP/HTTP, e.g. http://127.0.0.1:4318).", valueName: "URL"))
    var otlpEndpoint: String?
    @Option(help: "The service name the spans carry (default $OTEL_SERVICE_NAME, else logbook).") var serviceName:
        String?

    func validate() throws {
        guard from <= to else { throw ValidationError("--from must not be after --to") }
    }

    func run() async throws {
        let threadID: ThreadID
        do { threadID = try ThreadID(thread) } catch { throw ValidationError("--thread: \(error)") }
        var logger = Logger(label: "logbook.telemetry")
        logger.logLevel = .warning
        guard let exporter = try Telemetry.start(endpoint: otlpEndpoint, serviceName: serviceName, logger: logger)
        else {
            throw Failure("no collector: give --otlp-endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT")
        }
        let log = try await shared.open(options)
        let events: [RecordedEvent]
        do {
            events = try Self.events(of: threadID, in: log.store).filter {
                (from...to).contains($0.seq.rawValue)
            }
        } catch {
            await log.close()
            throw error
        }
        await log.close()
        guard !events.isEmpty else { throw Failure("thread '\(thread)' has no events in seqs \(from)…\(to)") }

        // The exporter sends in the background; stopping it sends what is left.
        let group = ServiceGroup(services: [exporter], logger: logger)
        let running = Task { try await group.run() }
        let summary = TraceRebuild.spans(of: events, thread: threadID.rawValue)
        await group.triggerGracefulShutdown()
        try await running.value
        print(
            "sent \(summary.spans) spans of \(summary.runs) runs of thread \(thread) (seqs \(events.first!.seq)–\(events.last!.seq))"
        )
    }

    static func events(of thread: ThreadID, in store: EventStore) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        var revision: UInt64 = 1
        while true {
            let chunk = try store.read(stream: thread.stream, from: StreamRevision(revision), maxCount: 1000)
            events += chunk
            guard chunk.count == 1000 else { return events }
            revision += 1000
        }
    }
}
