import Engine
import Foundation
import Hummingbird

/// Every error the API returns, as `{"error": {"code": "...", "message": "..."}}` with the right status. Messages say
/// what to do; they never carry a stack trace, a token or a key.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Headers to send with it (`Retry-After` on a 429).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        (self.status, self.code, self.message) = (status, code, message)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(ErrorBody(code: code, message: message))
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The API's view of an engine error.
    init(_ error: EngineError) {
        switch error.kind {
        case .denied: self.init(.forbidden, "forbidden", error.message)
        case .sessionExpired: self.init(.unauthorized, "session_expired", error.message)
        case .noModel: self.init(.serviceUnavailable, "no_model", error.message)
        case .unknownModel: self.init(.notFound, "model_not_found", error.message)
        case .llmFailed: self.init(.badGateway, "model_failed", error.message)
        case .notFound: self.init(.notFound, "not_found", error.message)
        case .invalidArgument: self.init(.badRequest, "bad_request", error.message)
        case .unprocessable: self.init(.unprocessableContent, "unprocessable", error.message)
        case .conflict: self.init(.conflict, "conflict", error.message)
        case .storage: self.init(.serviceUnavailable, "storage", error.message)
        case .unavailable: self.init(.serviceUnavailable, "tool_server_unavailable", error.message)
        case .diskFull:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "disk_full", error.message)
        case .logFull:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "log_full", error.message)
        // nginx's "client closed request": the client gave up, so it rarely sees this.
        case .cancelled:
            self.init(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), "cancelled", error.message)
        }
    }

    /// Runs an engine call, answering its errors as the API does.
    static func engine<T>(_ body: () async throws(EngineError) -> T) async throws(APIError) -> T {
        do { return try await body() } catch { throw APIError(error) }
    }

    /// The API's view of a refused token: only whether it expired (`AuthError.publicMessage`).
    init(_ error: AuthError) {
        self.init(.unauthorized, "unauthenticated", error.publicMessage)
    }
}
