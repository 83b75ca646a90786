import Foundation
import Hummingbird

/// Refuses, with 400 and a message saying why, what no route can use: a path segment (a thread id, a registry name, a
/// workspace) that is over `maxSegmentBytes` once percent-decoded or holds a control character, and a query value
/// holding a NUL. The log would refuse them later as invalid names; refusing here gives the client the reason.
struct InputGuardMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Ids end up inside stream ids and names of at most 256 bytes ("thread/" + id + a fork's suffix).
    static let maxSegmentBytes = 200

    /// Whether `name` can be an id or name (thread, workspace, registry entry): non-empty, printable, at most
    /// `maxSegmentBytes`. The routes that take names in bodies or queries check them with this too.
    static func isUsableName(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && name.utf8.count <= maxSegmentBytes
            && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        for (index, raw) in request.uri.path.split(separator: "/").enumerated() {
            let segment = raw.removingPercentEncoding ?? String(raw)
            guard Self.isUsableName(segment) else {
                throw APIError(
                    .badRequest, "bad_request",
                    "path segment \(index + 1) is not a usable id or name: printable, at most \(Self.maxSegmentBytes) bytes"
                )
            }
        }
        if request.uri.queryParameters.contains(where: { $0.value.utf8.contains(0) }) {
            throw APIError(.badRequest, "bad_request", "a query parameter contains a NUL byte")
        }
        return try await next(request, context)
    }
}
