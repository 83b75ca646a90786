import Engine
import Foundation
import Hummingbird

/// The per-request context: the verified caller (set by `BearerAuthMiddleware`) and the raw token, kept only to be
/// forwarded to HTTP MCP servers.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public var token: String?

    public init(source: Source) { coreContext = .init(source: source) }

    /// The largest request body read (1 MiB): a bigger one is answered 413.
    public var maxUploadSize: Int { 1 << 20 }

    /// JSON answers with `/` left as is (resources and thread ids are full of them).
    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    /// The caller; routes behind the middleware always have one.
    func caller() throws(APIError) -> Principal {
        guard let principal else {
            throw APIError(.unauthorized, "unauthenticated", "send 'Authorization: Bearer <JWT>'")
        }
        return principal
    }
}
