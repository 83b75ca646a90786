import Foundation
import NIOCore

/// One provider API's JSON: how a request is written, and how an answer is read whole or as a stream of events.
/// `HTTPChatProvider` does the HTTP (deadlines, statuses, retries' information, redaction) for every wire.
protocol ChatWire: Sendable {
    /// Headers besides the content type, including the credential.
    func headers(secret: Secret?, streaming: Bool) -> [(String, String)]
    func body(_ request: ChatRequest, streaming: Bool) throws(LLMError) -> Data
    /// A complete (non-streamed) answer.
    func response(_ body: ByteBuffer) throws(LLMError) -> ChatResponse
    func streamDecoder() -> any ChatStreamDecoder
}

/// Reads a streamed answer event by event.
protocol ChatStreamDecoder {
    /// Consumes one server-sent event; returns the text it adds, to pass on at once.
    mutating func consume(_ event: ServerSentEvent) throws(LLMError) -> String?
    /// Whether the stream has said that the answer is complete (a cut-off stream has not).
    var isComplete: Bool { get }
    /// The whole answer, once complete.
    func response() throws(LLMError) -> ChatResponse
}

extension ChatWire {
    /// JSON with sorted keys (stable bytes) for request bodies.
    func encodeJSON<T: Encodable>(_ value: T, model: String) throws(LLMError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else {
            throw LLMError(.configuration, "model '\(model)': the request does not encode as JSON")
        }
        return data
    }

    func decodeJSON<T: Decodable>(
        _ type: T.Type, _ bytes: some Sequence<UInt8>, model: String, what: String
    ) throws(LLMError) -> T {
        let data = Data(bytes)
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw LLMError(
                .malformedResponse,
                "model '\(model)' sent \(what) that does not decode: \(String(decoding: data.prefix(200), as: UTF8.self))"
            )
        }
    }
}
