import Engine
import Foundation
import Hummingbird
import Synchronization

/// The per-request context: the verified caller (set by `BearerAuthMiddleware`) and the raw token, kept only to be
/// forwarded to HTTP MCP servers.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal? {
        didSet { callerNote.subject = principal?.subject }
    }
    public var token: String?
    /// Who the request turned out to be, for the request's log line (written by an outer middleware, which sees the
    /// context as it was before authentication: a reference it shares with the inner ones).
    let callerNote = CallerNote()

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

/// The verified subject of a request, once known.
final class CallerNote: Sendable {
    private let value = Mutex<String?>(nil)
    var subject: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
