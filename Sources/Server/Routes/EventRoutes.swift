import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import ServiceLifecycle

/// The global log for auditors and integrations: `GET /v1/events?from=&limit=` (a page) and
/// `GET /v1/events/stream?from=` (SSE: the backlog, a `caught-up` frame, then live events). Authorized as `events.read`
/// (an administrator's permission), recorded in `access/events`.
struct EventRoutes {
    let runtime: AgentRuntime
    let store: EventStore
    let metrics: Metrics

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("events", use: page)
        group.get("events/stream", use: tail)
    }

    func page(request: Request, context: AppRequestContext) async throws -> LogPageBody {
        try await authorize(context)
        let from = try request.seq("from") ?? 1
        let limit = try request.integer("limit", in: 1...1000) ?? 100
        let events: [RecordedEvent]
        do { events = try store.read(from: from, maxCount: limit) } catch {
            throw APIError(.serviceUnavailable, "storage", error.message)
        }
        return LogPageBody(
            events: events.map(EventBody.init),
            next: events.count == limit ? events.last.map(\.seq.next) : nil)
    }

    /// How often an idle tail sends an SSE comment: a reader that has gone is found out (the write fails) within this.
    static let heartbeat = Duration.seconds(15)

    /// Written straight from the subscription, so a reader that cannot keep up is dropped (a `dropped` frame saying
    /// why) rather than buffered; ends when the reader goes or the server shuts down.
    func tail(request: Request, context: AppRequestContext) async throws -> Response {
        try await authorize(context)
        let from = try request.integer("from", in: 1...UInt64(Int64.max)) ?? store.lastSeq.rawValue + 1
        let subscription = store.subscribe(from: Seq(from), heartbeat: Self.heartbeat)
        let body = ResponseBody { [metrics] writer in
            metrics.liveTail(+1)
            defer { metrics.liveTail(-1) }
            // Pulled one message per write (the merge with the shutdown signal pulls on demand, it does not buffer).
            for await message in subscription.cancelOnGracefulShutdown() {
                switch message {
                case .event(let e):
                    try await writer.write(
                        SSE.frame(event: e.type, id: String(e.seq.rawValue), data: JSON.string(EventBody(e))))
                case .caughtUp(let seq):
                    try await writer.write(SSE.frame(event: "caught-up", data: JSON.string(["seq": seq.rawValue])))
                case .idle: try await writer.write(ByteBuffer(string: ": idle\n\n"))
                case .dropped(let reason):
                    try await writer.write(
                        SSE.frame(event: "dropped", data: JSON.string(["reason": reason.description])))
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    private func authorize(_ context: AppRequestContext) async throws {
        let principal = try context.caller()
        do throws(EngineError) {
            try await runtime.access.authorize(
                "events.read", on: "log", recorded: "events", workspace: principal.workspace, in: "access/events",
                as: principal)
        } catch { throw APIError(error) }
    }
}
