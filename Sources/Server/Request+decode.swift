import Foundation
import OpenAIWire
import Hummingbird
import NIOCore

/// A request body that names all its fields: one it does not know is refused with 400 naming it, so a typo
/// (`"agnet"`) or a field the server has no use for (`"admin": true`) is never silently ignored.
protocol KnownFields: Decodable {
    /// The fields the body may have.
    static var fields: Set<String> { get }
    /// The fields of objects nested under a field, by that field's name.
    static var nestedFields: [String: Set<String>] { get }
    /// The fields that may be `null` (the others may be left out, but a `null` is refused, as the document says); a
    /// nested one as `field.nested`.
    static var nullable: Set<String> { get }
}

extension KnownFields {
    static var nestedFields: [String: Set<String>] { [:] }
    static var nullable: Set<String> { [] }
}

extension Request {
    /// Decodes a JSON body: one over the context's limit is 413, anything unreadable (or, for a `KnownFields` body, a
    /// field it does not know) 400 with an example of what works.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: AppRequestContext, example: String) async throws -> T {
        guard let body = try await decodeJSONIfPresent(type, context: context, example: example) else {
            throw APIError(.badRequest, "bad_request", "the body must be JSON like \(example)")
        }
        return body
    }

    /// Like `decodeJSON`, for a body that may be absent: nil when there is none.
    func decodeJSONIfPresent<T: Decodable>(
        _ type: T.Type, context: AppRequestContext, example: String
    ) async throws -> T? {
        let body: ByteBuffer
        do { body = try await self.body.collect(upTo: context.maxUploadSize) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the body is larger than \(context.maxUploadSize) bytes")
        }
        guard body.readableBytes > 0 else { return nil }
        let data = Data(body.readableBytesView)
        let value: T
        if let fast = T.self as? any FastJSONDecodable.Type, let decoded = fast.init(fastDecoding: data) as? T {
            value = decoded
        } else {
            do { value = try JSONDecoder().decode(type, from: data) } catch {
                throw APIError(.badRequest, "bad_request", Self.explain(error, body: data, example: example))
            }
        }
        if let known = T.self as? any KnownFields.Type { try Self.refuseUnknownFields(data, known: known) }
        return value
    }

    /// What is wrong with a body that did not decode: not UTF-8, not JSON, or which field is missing or of the wrong
    /// type — and what works.
    static func explain(_ error: any Error, body: Data, example: String) -> String {
        guard String(validating: body, as: UTF8.self) != nil else {
            return "the body is not UTF-8 text; send JSON like \(example)"
        }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        let problem: String
        switch error as? DecodingError {
        case .typeMismatch(let type, let context)?:
            problem = "'\(path(context).prefix(100))' must be \(Self.describe(type))"
        case .keyNotFound(let key, let context)?:
            let parent = path(context)
            problem = "'\((parent.isEmpty ? key.stringValue : parent + "." + key.stringValue).prefix(100))' is missing"
        case .valueNotFound(_, let context)?:
            problem = "'\(path(context).prefix(100))' may not be null"
        case .dataCorrupted(let context)? where !context.codingPath.isEmpty:
            problem = "'\(path(context).prefix(100))' is not valid: \(context.debugDescription.prefix(200))"
        default:
            problem = "the body is not JSON"
        }
        return "\(problem); send JSON like \(example)"
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array")
                ? "an array" : String(describing: type).hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }

    private static func refuseUnknownFields(_ data: Data, known: any KnownFields.Type) throws(APIError) {
        // Only the keys are looked at, so Foundation's parser (cheaper than decoding every value into a typed tree).
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        try refuse(object, fields: known.fields, nullable: known.nullable, path: "")
        for (field, fields) in known.nestedFields {
            guard let nested = object[field] as? [String: Any] else { continue }
            try refuse(nested, fields: fields, nullable: known.nullable, path: field + ".")
        }
    }

    /// Refuses the first (in key order) field of `object` not in `fields`, then the first null not in `nullable`;
    /// `path` prefixes nested names ("model.") in `nullable` and in the message.
    private static func refuse(
        _ object: [String: Any], fields: Set<String>, nullable: Set<String>, path: String
    ) throws(APIError) {
        let keys = object.keys.sorted()
        if let unknown = keys.first(where: { !fields.contains($0) }) {
            let which = path.isEmpty ? "the fields are" : "its fields are"
            throw APIError(
                .badRequest, "bad_request",
                "unknown field '\(path)\(unknown.prefix(64))'; \(which) \(fields.sorted().joined(separator: ", "))")
        }
        if let null = keys.first(where: { object[$0] is NSNull && !nullable.contains(path + $0) }) {
            throw APIError(.badRequest, "bad_request", "'\(path)\(null)' may not be null; leave it out instead")
        }
    }
}

/// A body type with a decoder faster than `JSONDecoder` for bodies that decode (nil: `JSONDecoder` decides, and says
/// what is wrong).
protocol FastJSONDecodable {
    init?(fastDecoding data: Data)
}

/// The OpenAI-compatible endpoint's body: the whole conversation, on every call (`ChatCompletions+FastDecode`).
extension ChatCompletions.Request: FastJSONDecodable {}
