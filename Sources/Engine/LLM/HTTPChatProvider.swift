import AsyncHTTPClient
import Events
import Foundation
import NIOCore
import NIOHTTP1

/// A chat model behind HTTP: OpenAI's Chat Completions (OpenAI, Azure OpenAI, Ollama's `/v1`, vLLM, llama.cpp's
/// server) or Anthropic's Messages, as the model's registry entry says. Plain JSON or SSE streaming, tool calls,
/// usage and finish reasons.
///
/// The API key is read from the secret reference on every call, goes only into the credential header, and is
/// redacted from any provider text quoted in errors. One attempt per call: `RetryPolicy` decides about more.
public struct HTTPChatProvider: LLMProvider {
    public let endpoint: ModelEndpoint
    private let wire: any ChatWire
    private let client: HTTPClient
    private let timeout: Duration
    private let maxResponseBytes: Int
    private let environment: [String: String]

    public var modelName: String { endpoint.model }
    public var providerName: String { endpoint.provider }

    /// - Parameters:
    ///   - timeout: the most one call may take, streaming included.
    ///   - maxResponseBytes: the largest answer accepted (a bigger one is `malformedResponse`).
    ///   - environment: where `env:` secret references are looked up.
    public init(endpoint: ModelEndpoint, client: HTTPClient = EngineHTTPClient.shared, timeout: Duration = .seconds(120),
                maxResponseBytes: Int = 16 << 20, environment: [String: String] = ProcessInfo.processInfo.environment) {
        (self.endpoint, self.client, self.timeout, self.maxResponseBytes, self.environment) = (endpoint, client, timeout, maxResponseBytes, environment)
        let wireModel = endpoint.parameters["model"] ?? endpoint.model
        switch endpoint.wire {
        case .openAI: wire = OpenAIChatWire(model: endpoint.model, wireModel: wireModel, azure: false, parameters: endpoint.parameters)
        case .azureOpenAI: wire = OpenAIChatWire(model: endpoint.model, wireModel: wireModel, azure: true, parameters: endpoint.parameters)
        case .anthropic(let version): wire = AnthropicChatWire(model: endpoint.model, wireModel: wireModel, version: version, parameters: endpoint.parameters)
        }
    }

    public func complete(_ request: ChatRequest, onText: (@Sendable (String) async -> Void)?) async throws(LLMError) -> ChatResponse {
        let secret: Secret?
        do { secret = try endpoint.secret?.resolve(environment: environment) } catch {
            throw LLMError(.configuration, "model '\(modelName)': \(error)")
        }
        var http = HTTPClientRequest(url: endpoint.url.absoluteString)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in wire.headers(secret: secret, streaming: onText != nil) { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(bytes: try wire.body(request, streaming: onText != nil)))
        let emitted = EmittedFlag()
        do {
            return try await withDeadline(timeout) { [self, http] in
                let response = try await client.execute(http, timeout: timeout.timeAmount)
                guard (200..<300).contains(Int(response.status.code)) else {
                    let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
                    throw LLMError.status(Int(response.status.code), body: body, model: modelName, retryAfter: Self.retryAfter(response.headers))
                }
                // What came back decides how it is read: some servers stream when not asked to, or answer whole when asked.
                if response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true {
                    return try await streamed(response, onText: { text in
                        guard let onText else { return }
                        emitted.set()
                        await onText(text)
                    })
                }
                let whole = try wire.response(try await response.body.collect(upTo: maxResponseBytes))
                if let onText, let text = whole.text, !text.isEmpty {
                    emitted.set()
                    await onText(text)
                }
                return whole
            }
        } catch let error as LLMError {
            var error = error
            if let secret { error.message = secret.redact(error.message) }
            if emitted.value { error.retryable = false }
            throw error
        } catch {
            throw mapTransportError(error, partial: emitted.value)
        }
    }

    private func streamed(_ response: HTTPClientResponse, onText: @Sendable (String) async -> Void) async throws -> ChatResponse {
        var parser = SSEParser(maxLineBytes: maxResponseBytes)
        var decoder = wire.streamDecoder()
        var received = 0
        for try await buffer in response.body {
            received += buffer.readableBytes
            guard received <= maxResponseBytes else {
                throw LLMError(.malformedResponse, "model '\(modelName)' streamed more than \(maxResponseBytes) bytes")
            }
            for event in try parser.feed(buffer.readableBytesView) {
                if let piece = try decoder.consume(event) { await onText(piece) }
            }
        }
        guard decoder.isComplete else {
            throw LLMError(.malformedResponse, "model '\(modelName)': the stream ended before the answer was complete", retryable: true)
        }
        return try decoder.response()
    }

    private func mapTransportError(_ error: any Error, partial: Bool) -> LLMError {
        if Task.isCancelled || error is CancellationError {
            return LLMError(.cancelled, "model '\(modelName)': the call was cancelled")
        }
        if let e = error as? SSEParser.LineTooLong {
            return LLMError(.malformedResponse, "model '\(modelName)': \(e)")
        }
        if error is DeadlineExceeded || (error as? HTTPClientError) == .deadlineExceeded || (error as? HTTPClientError) == .readTimeout {
            return LLMError(.timeout, "model '\(modelName)': no complete answer within \(timeout)", retryable: !partial)
        }
        let host = endpoint.url.host.map { "\($0)\(endpoint.url.port.map { ":\($0)" } ?? "")" } ?? endpoint.url.absoluteString
        return LLMError(.connection, "model '\(modelName)': cannot reach \(host) (\(String(describing: error).prefix(200)))", retryable: !partial)
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let value = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}

/// Whether a streamed call already passed text on (then it must not be retried: the caller has seen part of it).
private final class EmittedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var emitted = false
    func set() { lock.withLock { emitted = true } }
    var value: Bool { lock.withLock { emitted } }
}
