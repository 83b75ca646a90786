import Hummingbird

/// Times and counts every request by its route pattern (`/v1/threads/{thread}`, not the thread's id); an error
/// thrown as `HTTPResponseError` counts with its status, anything else as 500.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: Metrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        func record(_ status: Int) {
            metrics.request(
                method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: status,
                seconds: (ContinuousClock.now - started) / .seconds(1))
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
