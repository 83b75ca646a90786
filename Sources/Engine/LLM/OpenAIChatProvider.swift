import AsyncHTTPClient
import Events
import Foundation
import NIOCore
import NIOHTTP1

/// Chat Completions over HTTP for OpenAI, Azure OpenAI, Ollama (`/v1`), vLLM and llama.cpp's server: plain JSON or
/// SSE streaming, tool calls (streamed fragments assembled), usage and finish reasons.
///
/// The model id sent on the wire is the registry entry's `parameters["model"]` when set, else its name (Azure uses
/// the deployment in the URL). The API key is read from the secret reference on every call, goes only into the
/// `Authorization` (or Azure's `api-key`) header, and is redacted from any provider text quoted in errors.
public struct OpenAIChatProvider: LLMProvider {
    public let endpoint: ModelEndpoint
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
    }

    public func complete(_ request: ChatRequest, onText: (@Sendable (String) async -> Void)?) async throws(LLMError) -> ChatResponse {
        let secret: Secret?
        do { secret = try endpoint.secret?.resolve(environment: environment) } catch {
            throw LLMError(.configuration, "model '\(modelName)': \(error)")
        }
        let http = try httpRequest(request, secret: secret, stream: onText != nil)
        let emitted = EmittedFlag()
        do {
            return try await withDeadline(timeout) {
                let response = try await client.execute(http, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
                guard (200..<300).contains(Int(response.status.code)) else {
                    let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
                    throw LLMError.status(Int(response.status.code), body: secret?.redact(body) ?? body, model: modelName,
                                          retryAfter: Self.retryAfter(response.headers))
                }
                if let onText {
                    return try await streamed(response, onText: { text in emitted.set(); await onText(text) })
                }
                return try decodeWhole(try await response.body.collect(upTo: maxResponseBytes))
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

    // MARK: - Request

    private func httpRequest(_ request: ChatRequest, secret: Secret?, stream: Bool) throws(LLMError) -> HTTPClientRequest {
        var http = HTTPClientRequest(url: endpoint.url.absoluteString)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Accept", value: stream ? "text/event-stream" : "application/json")
        if let secret {
            switch endpoint.wire {
            case .openAI: http.headers.add(name: "Authorization", value: "Bearer \(secret.value)")
            case .azureOpenAI: http.headers.add(name: "api-key", value: secret.value)
            }
        }
        var wire = OpenAIWire.Request(request, model: endpoint.parameters["model"] ?? endpoint.model, stream: stream)
        if wire.temperature == nil, let t = endpoint.parameters["temperature"].flatMap(Double.init) { wire.temperature = t }
        if wire.max_tokens == nil, let m = endpoint.parameters["max_tokens"].flatMap(Int.init) { wire.max_tokens = m }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(wire) else { throw LLMError(.configuration, "model '\(modelName)': the request does not encode as JSON") }
        http.body = .bytes(ByteBuffer(bytes: body))
        return http
    }

    // MARK: - Answers

    private func decodeWhole(_ body: ByteBuffer) throws(LLMError) -> ChatResponse {
        let response: OpenAIWire.Response
        do { response = try JSONDecoder().decode(OpenAIWire.Response.self, from: Data(body.readableBytesView)) } catch {
            throw LLMError(.malformedResponse, "model '\(modelName)' answered with JSON that is not a chat completion: \(String(buffer: body).prefix(200))")
        }
        guard let choice = response.choices.first else { throw LLMError(.malformedResponse, "model '\(modelName)' answered with no choices") }
        let calls = try (choice.message.tool_calls ?? []).map { (c) throws(LLMError) in
            try ToolCallAssembler.checked(id: c.id, name: c.function.name, arguments: c.function.arguments, model: modelName)
        }
        return ChatResponse(text: choice.message.content, toolCalls: calls, finishReason: FinishReason(wire: choice.finish_reason),
                            usage: TokenUsage(input: response.usage?.prompt_tokens ?? 0, output: response.usage?.completion_tokens ?? 0),
                            model: response.model ?? modelName)
    }

    private func streamed(_ response: HTTPClientResponse, onText: @Sendable (String) async -> Void) async throws -> ChatResponse {
        var parser = SSEParser(maxLineBytes: maxResponseBytes)
        var text = ""
        var assembler = ToolCallAssembler()
        var finish: String?
        var usage = TokenUsage()
        var model = modelName
        var done = false
        var received = 0
        let decoder = JSONDecoder()
        for try await buffer in response.body {
            received += buffer.readableBytes
            guard received <= maxResponseBytes else {
                throw LLMError(.malformedResponse, "model '\(modelName)' streamed more than \(maxResponseBytes) bytes")
            }
            for event in try parser.feed(buffer.readableBytesView) {
                if event.data == "[DONE]" { done = true; continue }
                if let json = JSONValue(parsing: event.data), json["error"] != nil {
                    throw LLMError.status(500, body: event.data, model: modelName, retryAfter: nil)
                }
                let chunk: OpenAIWire.Chunk
                do { chunk = try decoder.decode(OpenAIWire.Chunk.self, from: Data(event.data.utf8)) } catch {
                    throw LLMError(.malformedResponse, "model '\(modelName)' streamed an event that is not a chat completion chunk: \(event.data.prefix(200))")
                }
                if let m = chunk.model { model = m }
                if let u = chunk.usage { usage = TokenUsage(input: u.prompt_tokens ?? 0, output: u.completion_tokens ?? 0) }
                for choice in chunk.choices ?? [] {
                    if let piece = choice.delta?.content, !piece.isEmpty {
                        text += piece
                        await onText(piece)
                    }
                    for call in choice.delta?.tool_calls ?? [] { assembler.add(call) }
                    if let reason = choice.finish_reason { finish = reason }
                }
            }
        }
        guard done || finish != nil, !parser.hasPartialEvent || done else {
            throw LLMError(.malformedResponse, "model '\(modelName)': the stream ended before the answer was complete", retryable: true)
        }
        return ChatResponse(text: text.isEmpty ? nil : text, toolCalls: try assembler.finish(model: modelName),
                            finishReason: FinishReason(wire: finish), usage: usage, model: model)
    }

    // MARK: - Errors

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
