import Hummingbird

/// Answers what no route takes in the API's error shape: a path that exists under other methods is 405 with `Allow`
/// naming them (a `TRACE` or a `PATCH` on a thread, say), any other 404. Without it the router answers both with an
/// empty 404.
struct UnmatchedRouteMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Every route: its method and path segments (`{capture}` for a parameter).
    let routes: [(method: String, segments: [String])]

    /// - Parameter routes: as `METHOD /path/{capture}` (`OpenAPIDocument.routes`, which a test holds equal to the router's).
    init(routes: some Sequence<String>) {
        self.routes = routes.compactMap { route in
            let parts = route.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), parts[1].split(separator: "/").map(String.init))
        }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
            let methods = routes.compactMap { route -> String? in
                guard route.segments.count == segments.count,
                    zip(route.segments, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
                else { return nil }
                return route.method
            }
            guard !methods.isEmpty else {
                throw APIError(
                    .notFound, "not_found",
                    "there is no route \(request.uri.path.prefix(200)); GET /openapi.json lists them")
            }
            var refused = APIError(
                .methodNotAllowed, "method_not_allowed",
                "\(request.method) is not allowed here; use \(Set(methods).sorted().joined(separator: ", "))")
            refused.headers[.allow] = Set(methods).sorted().joined(separator: ", ")
            throw refused
        }
    }
}
