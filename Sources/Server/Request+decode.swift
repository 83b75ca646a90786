import Hummingbird

extension Request {
    /// Decodes a JSON body: one over the context's limit is 413, anything unreadable 400 with an example of what works.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: AppRequestContext, example: String) async throws -> T {
        do {
            return try await decode(as: type, context: context)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "too_large", "the body is larger than \(context.maxUploadSize) bytes")
        } catch {
            throw APIError(.badRequest, "bad_request", "the body must be JSON like \(example)")
        }
    }
}
