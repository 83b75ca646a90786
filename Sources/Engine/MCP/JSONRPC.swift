import Events
import Foundation

/// JSON-RPC 2.0 messages as MCP uses them (one JSON object per message).
enum JSONRPC {
    struct Request: Encodable {
        let jsonrpc = "2.0"
        let id: Int
        let method: String
        let params: JSONValue?
    }

    struct Notification: Encodable {
        let jsonrpc = "2.0"
        let method: String
        let params: JSONValue?
    }

    /// What arrives from a server: a response (id with result or error), or a request/notification of its own.
    struct Incoming: Decodable {
        let id: JSONValue?
        let method: String?
        let result: JSONValue?
        let error: ErrorObject?
    }

    struct ErrorObject: Decodable, Sendable {
        let code: Int
        let message: String
    }

    /// The reply to a server's own request: "method not found" (we offer no sampling, roots or elicitation).
    struct ErrorReply: Encodable {
        let jsonrpc = "2.0"
        let id: JSONValue
        let error: Body
        struct Body: Encodable { let code: Int; let message: String }
    }

    static func encode<T: Encodable>(_ message: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(message)) ?? Data()
    }
}
