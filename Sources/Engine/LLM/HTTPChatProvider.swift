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
    private let deadlines: ModelDeadlines
    private let maxResponseBytes: Int
    private let environment: [String: String]

    public var modelName: String { endpoint.model }
    public var providerName: String { endpoint.provider }

    /// - Parameters:
    ///   - deadlines: how long a call may wait for its answer to begin, between two pieces of it, and in all.
    ///   - maxResponseBytes: the largest answer accepted (a bigger one is `malformedResponse`).
    ///   - environment: where `env:` secret references are looked up.
    /// One deadline for the whole call (and as long for its first byte and between pieces).
    public init(
        endpoint: ModelEndpoint, timeout: Duration, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.init(
            endpoint: endpoint, deadlines: ModelDeadlines(total: timeout, firstByte: timeout, idle: timeout),
            environment: environment)
    }

    public init(
        endpoint: ModelEndpoint, client: HTTPClient = EngineHTTPClient.shared,
        deadlines: ModelDeadlines = ModelDeadlines(),
        maxResponseBytes: Int = 16 << 20, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        (self.endpoint, self.client, self.deadlines, self.maxResponseBytes, self.environment) = (
            endpoint, client, deadlines, maxResponseBytes, environment
        )
        let wireModel = endpoint.parameters["model"] ?? endpoint.model
        switch endpoint.wire {
        case .openAI:
            wire = OpenAIChatWire(
                model: endpoint.model, wireModel: wireModel, azure: false, parameters: endpoint.parameters)
        case .azureOpenAI:
            wire = OpenAIChatWire(
                model: endpoint.model, wireModel: wireModel, azure: true, parameters: endpoint.parameters)
        case .anthropic(let version):
            wire = AnthropicChatWire(
                model: endpoint.model, wireModel: wireModel, version: version, parameters: endpoint.parameters)
        }
    }

    public func complete(
        _ request: ChatRequest, onText: (@Sendable (String) async -> Void)?
    ) async throws(LLMError) -> ChatResponse {
        let secret: Secret?
        do { secret = try endpoint.secret?.resolve(environment: environment) } catch {
            throw LLMError(.configuration, "model '\(modelName)': \(error)", cause: error)
        }
        var http = HTTPClientRequest(url: endpoint.url.absoluteString)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in wire.headers(secret: secret, streaming: onText != nil) {
            http.headers.add(name: name, value: value)
        }
        http.body = .bytes(ByteBuffer(bytes: try wire.body(request, streaming: onText != nil)))
        let emitted = EmittedFlag()
        let watch = ActivityWatch(deadlines)
        do {
            return try await withDeadline(deadlines.total) { [self, http] in
                try await withThrowingTaskGroup(of: ChatResponse.self) { group in
                    group.addTask { try await watch.watch() }
                    group.addTask { try await self.exchange(http, watch: watch, emitted: emitted, onText: onText) }
                    defer { group.cancelAll() }
                    return try await group.next()!
                }
            }
        } catch let error as LLMError {
            var error = error
            if let secret { error.message = secret.redact(error.message) }
            if emitted.value { error.retryable = false }
            throw error
        } catch {
            throw mapTransportError(error, partial: emitted.value, received: watch.receivedBytes)
        }
    }

    /// Sends the request and reads the answer, reporting its progress to `watch`.
    private func exchange(
        _ http: HTTPClientRequest, watch: ActivityWatch, emitted: EmittedFlag,
        onText: (@Sendable (String) async -> Void)?
    ) async throws -> ChatResponse {
        let response = try await client.execute(http, timeout: deadlines.total.timeAmount)
        watch.answered()
        guard (200..<300).contains(Int(response.status.code)) else {
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            throw LLMError.status(
                Int(response.status.code), body: body, model: modelName, retryAfter: Self.retryAfter(response.headers))
        }
        // What came back decides how it is read: some servers stream when not asked to, or answer whole when asked.
        if response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true {
            return try await streamed(
                response, watch: watch,
                onText: { text in
                    guard let onText else { return }
                    emitted.set()
                    await onText(text)
                })
        }
        var body = ByteBuffer()
        for try await piece in response.body {
            watch.received(piece.readableBytes)
            guard body.readableBytes + piece.readableBytes <= maxResponseBytes else {
                throw LLMError(
                    .malformedResponse, "model '\(modelName)' answered with more than \(maxResponseBytes) bytes")
            }
            var piece = piece
            body.writeBuffer(&piece)
        }
        let whole = try wire.response(body)
        if let onText, let text = whole.text, !text.isEmpty {
            emitted.set()
            await onText(text)
        }
        return whole
    }

    private func streamed(
        _ response: HTTPClientResponse, watch: ActivityWatch, onText: @Sendable (String) async -> Void
    ) async throws -> ChatResponse {
        var parser = SSEParser(maxLineBytes: maxResponseBytes)
        var decoder = wire.streamDecoder()
        var received = 0
        for try await buffer in response.body {
            watch.received(buffer.readableBytes)
            received += buffer.readableBytes
            guard received <= maxResponseBytes else {
                throw LLMError(.malformedResponse, "model '\(modelName)' streamed more than \(maxResponseBytes) bytes")
            }
            for event in try parser.feed(buffer.readableBytesView) {
                if let piece = try decoder.consume(event) { await onText(piece) }
            }
        }
        guard decoder.isComplete else {
            throw LLMError(
                .malformedResponse, "model '\(modelName)': the stream ended before the answer was complete",
                retryable: true)
        }
        return try decoder.response()
    }

    /// Says what happened: the server could not be reached, the connection broke after the answer began (how much had
    /// come), or which deadline passed.
    private func mapTransportError(_ error: any Error, partial: Bool, received: Int) -> LLMError {
        if let stalled = error as? ActivityWatch.Stalled {
            let message =
                stalled.phase == .waitingForAnswer
                ? "model '\(modelName)': no answer began within \(deadlines.firstByte) (first_byte_timeout)"
                : "model '\(modelName)': the answer stalled: nothing for \(deadlines.idle) after \(stalled.bytes) bytes (idle_timeout)"
            return LLMError(.timeout, message, retryable: !partial, cause: error)
        }
        if Task.isCancelled || error is CancellationError {
            return LLMError(.cancelled, "model '\(modelName)': the call was cancelled")
        }
        if let e = error as? SSEParser.LineTooLong {
            return LLMError(.malformedResponse, "model '\(modelName)': \(e)")
        }
        if error is DeadlineExceeded || (error as? HTTPClientError) == .deadlineExceeded
            || (error as? HTTPClientError) == .readTimeout
        {
            return LLMError(
                .timeout,
                "model '\(modelName)': no complete answer within \(deadlines.total) (timeout; \(received) bytes had come)",
                retryable: !partial, cause: error)
        }
        let host =
            endpoint.url.host.map { "\($0)\(endpoint.url.port.map { ":\($0)" } ?? "")" } ?? endpoint.url.absoluteString
        let detail = String(describing: error).prefix(200)
        guard received == 0 else {
            return LLMError(
                .connection,
                "model '\(modelName)': the connection to \(host) broke after \(received) bytes of the answer\(partial ? " (some text had been passed on)" : "") (\(detail))",
                retryable: !partial, cause: error)
        }
        return LLMError(
            .connection, "model '\(modelName)': cannot reach \(host) (\(detail))", retryable: !partial, cause: error)
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
