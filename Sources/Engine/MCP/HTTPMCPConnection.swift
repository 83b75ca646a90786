import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The caller's bearer token for the MCP requests made in this task: `HTTPMCPConnection` forwards it to internal
/// servers, so the system behind one re-validates the caller. Bound by the engine around a run's tool work; never
/// logged, never sent to an external server.
public enum MCPCallContext {
    @TaskLocal public static var bearerToken: String?
}

/// An MCP server over streamable HTTP (protocol 2025-06-18): every message is a POST to the endpoint; a request's
/// answer comes back as JSON or as an SSE stream (read as it arrives, never buffered whole); the session id the
/// server assigns at `initialize` goes with every later message; `close` ends the session (DELETE).
///
/// Unlike the MCP swift-sdk's HTTP transport (which hangs on SSE answers on Linux, `../shared/SWIFT-NOTES.md`), this
/// one reads SSE with our own parser on AsyncHTTPClient.
public final class HTTPMCPConnection: MCPConnection {
    public let incoming: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let name: String
    private let url: String
    private let client: HTTPClient
    private let timeout: Duration
    private let maxMessageBytes: Int
    private let sessionID = Mutex<String?>(nil)
    private let closed = Atomic<Bool>(false)
    private let forwardsCallerToken: Bool
    private let headers: [(name: String, value: Secret)]

    /// - Parameters:
    ///   - forwardsCallerToken: send the caller's token (`MCPCallContext.bearerToken`) as `Authorization`: for an
    ///     internal server only.
    ///   - headers: the server's own credentials, sent with every request (an `Authorization` among them wins over
    ///     the caller's token).
    public init(
        name: String, url: String, forwardsCallerToken: Bool = true, headers: [(name: String, value: Secret)] = [],
        client: HTTPClient = EngineHTTPClient.shared, timeout: Duration = .seconds(60), maxMessageBytes: Int = 8 << 20
    ) throws(MCPError) {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil
        else {
            throw MCPError(.unavailable, "MCP server '\(name)': '\(url)' is not an http(s) URL")
        }
        (self.name, self.url, self.client, self.timeout, self.maxMessageBytes) = (
            name, url, client, timeout, maxMessageBytes
        )
        (self.forwardsCallerToken, self.headers) = (forwardsCallerToken, headers)
        (incoming, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
    }

    public func send(_ message: Data) async throws(MCPError) {
        guard !closed.load(ordering: .acquiring) else {
            throw MCPError(.disconnected, "MCP server '\(name)' is closed")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "MCP-Protocol-Version", value: MCPClient.clientProtocolVersion)
        if let session = sessionID.withLock({ $0 }) { request.headers.add(name: "Mcp-Session-Id", value: session) }
        for header in headers { request.headers.replaceOrAdd(name: header.name, value: header.value.value) }
        if forwardsCallerToken, !request.headers.contains(name: "Authorization"), let token = MCPCallContext.bearerToken
        {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        request.body = .bytes(ByteBuffer(bytes: message))

        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout.timeAmount)
        } catch {
            throw MCPError(
                .unavailable,
                "MCP server '\(name)' at \(url) cannot be reached (\(String(describing: error).prefix(200)))")
        }
        if let session = response.headers.first(name: "mcp-session-id") { sessionID.withLock { $0 = session } }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            let hint =
                switch status {
                case 401, 403: ": the server refused the caller's credentials"
                case 404: ": no such endpoint, or the session ended"
                default: ""
                }
            let detail = headers.reduce(String(body.prefix(200))) { $1.value.redact($0) }
            throw MCPError(
                .server(code: status),
                "MCP server '\(name)': HTTP \(status)\(hint)\(detail.isEmpty ? "" : " (\(detail))")")
        }
        guard status != 202 else { return }  // a notification or response, accepted
        let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
        if type.hasPrefix("text/event-stream") {
            // The answer may take a while; read it alongside, so `send` returns once the server accepted the message.
            let body = response.body
            Task { [self] in await forward(events: body) }
        } else {
            do {
                let body = try await response.body.collect(upTo: maxMessageBytes)
                if body.readableBytes > 0 { continuation.yield(Data(body.readableBytesView)) }
            } catch {
                throw MCPError(
                    .protocolViolation,
                    "MCP server '\(name)': the answer could not be read or is larger than \(maxMessageBytes) bytes")
            }
        }
    }

    private func forward(events body: HTTPClientResponse.Body) async {
        var parser = SSEParser(maxLineBytes: maxMessageBytes)
        do {
            for try await buffer in body {
                for event in try parser.feed(buffer.readableBytesView) where !event.data.isEmpty {
                    continuation.yield(Data(event.data.utf8))
                }
            }
        } catch {
            // The stream broke: the request it answered times out in the client, which reports it.
        }
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        continuation.finish(throwing: MCPError(.disconnected, "MCP server '\(name)' was closed"))
        guard let session = sessionID.withLock({ $0 }) else { return }
        var request = HTTPClientRequest(url: url)
        request.method = .DELETE
        request.headers.add(name: "Mcp-Session-Id", value: session)
        _ = try? await client.execute(request, timeout: .seconds(5))
    }
}
