import Foundation
import Hummingbird
import NIOCore

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

    /// Like `decodeJSON`, for a body that may be absent: nil when there is none.
    func decodeJSONIfPresent<T: Decodable>(_ type: T.Type, context: AppRequestContext, example: String) async throws -> T? {
        let body: ByteBuffer
        do { body = try await self.body.collect(upTo: context.maxUploadSize) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the body is larger than \(context.maxUploadSize) bytes")
        }
        guard body.readableBytes > 0 else { return nil }
        do { return try JSONDecoder().decode(type, from: Data(body.readableBytesView)) } catch {
            throw APIError(.badRequest, "bad_request", "the body must be JSON like \(example)")
        }
    }
}
