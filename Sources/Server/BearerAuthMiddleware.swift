import Engine
import Hummingbird

/// Verifies the bearer JWT of every request it guards and puts the caller in the context; refuses the rest with 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: VerifiedTokens

    init(verifier: TokenVerifier) { tokens = VerifiedTokens(verifier: verifier) }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, "unauthenticated", "send 'Authorization: Bearer <JWT>'")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        var context = context
        do { context.principal = try tokens.principal(of: token) } catch {
            // The detail goes to the server's log only; the message never quotes the token.
            context.logger.notice(
                "token refused", metadata: ["reason": .string(error.message), "path": .string(request.uri.path)])
            throw APIError(error)
        }
        context.token = token
        return try await next(request, context)
    }
}
