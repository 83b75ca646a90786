import Foundation
import Hummingbird
import Logging

/// One log line per request, at `info`: method, route pattern (never ids: `/v1/threads/{thread}`), status, time to the
/// answer's head (a streamed answer goes on after it) and the verified subject; with tracing on, the trace and span
/// ids (swift-otel's metadata provider, `serve`). Never the query, a header or a body.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        func log(_ status: Int) {
            let elapsed = ContinuousClock.now - started
            let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            logger.info(
                "request",
                metadata: [
                    "method": .string(request.method.rawValue), "route": .string(context.endpointPath ?? "unmatched"),
                    "status": .stringConvertible(status), "ms": .string(String(format: "%.1f", milliseconds)),
                    "subject": .string(context.callerNote.subject ?? "-"),
                ])
        }
        do {
            let response = try await next(request, context)
            log(Int(response.status.code))
            return response
        } catch let error as HTTPResponseError {
            log(Int(error.status.code))
            throw error
        } catch {
            log(500)
            throw error
        }
    }
}
