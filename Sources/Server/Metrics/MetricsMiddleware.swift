import Foundation
import Hummingbird
import Logging

/// Times, counts and logs every request by its route pattern (`/v1/threads/{thread}`, not the thread's id); an error
/// thrown as `HTTPResponseError` counts with its status, anything else as 500. The log line (at `info`) says method,
/// route, status, time to the answer's head (a streamed answer goes on after it) and the verified subject; with
/// tracing on, the trace and span ids (swift-otel's metadata provider, `serve`). Never the query, a header or a body.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: Metrics
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        func record(_ status: Int) {
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let route = context.endpointPath ?? "unmatched"
            metrics.request(method: request.method.rawValue, route: route, status: status, seconds: seconds)
            logger.info(
                "request",
                metadata: [
                    "method": .string(request.method.rawValue), "route": .string(route),
                    "status": .stringConvertible(status), "ms": .string(String(format: "%.1f", seconds * 1000)),
                    "subject": .string(context.callerNote.subject ?? "-"),
                ])
        }
        do {
            let response = try await next(request, context)
            record(Int(response.status.code))
            return response
        } catch let error as HTTPResponseError {
            record(Int(error.status.code))
            throw error
        } catch {
            record(500)
            throw error
        }
    }
}
