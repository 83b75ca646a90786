import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An OpenAI-compatible HTTP server on 127.0.0.1 and a free port, for the tests, the benchmarks and the demo. It
/// answers each request with the next scripted reply (or what `fallback` makes of the request), speaking the real wire
/// format (JSON bodies; `text/event-stream` with `data:` events sent as chunks, with delays), and records every request
/// so a test can check what the client sent (unless told not to: a benchmark sends hundreds of thousands).
///
/// Real servers' quirks are a reply's shape (`Wire.llamaCppToolCall` streams a tool call as llama.cpp does; an SSE
/// reply without a usage chunk is llama.cpp ignoring `stream_options`; `wait` a slow first byte; `stallAfter` a
/// stream that stops) or, for what a server refuses, `Quirks`.
public final class ScriptedLLMServer: Sendable {
    /// What a real server refuses, switched on per server.
    public struct Quirks: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// llama.cpp's server: a message with `"content": null` is a 500 ("validation errors").
        public static let refusesNullContent = Quirks(rawValue: 1)
    }
    public enum Reply: Sendable {
        /// A complete answer.
        case json(status: Int = 200, body: String, headers: [String: String] = [:])
        /// Server-sent events: each string is one event's `data` (or a whole frame when it starts with `event:`), sent
        /// `delay` apart, after `wait` (a slow first byte). `thenClose` cuts the connection after the last one instead
        /// of ending the response (a stream cut off mid-answer); `stallAfter` stops sending after that many events,
        /// keeping the connection open (a stalled stream).
        case sse(
            events: [String], delay: Duration = .zero, thenClose: Bool = false, wait: Duration = .zero,
            stallAfter: Int? = nil)
        /// Never answers.
        case hang
        /// Closes the connection without answering.
        case drop
    }

    public struct Request: Sendable {
        public let method: String
        public let uri: String
        public let headers: [(String, String)]
        public let body: String
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
    }

    private let state = Mutex<(replies: [Reply], requests: [Request])>(([], []))
    private let fallback: (@Sendable (Request) -> Reply)?
    private let quirks: Quirks
    private let recordsRequests: Bool
    private let channel: any Channel
    public let port: Int

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    public var requests: [Request] { state.withLock { $0.requests } }

    /// - Parameters:
    ///   - recordsRequests: keep every request for `requests` (off for a benchmark, whose requests would pile up).
    ///   - fallback: the reply when none is scripted (default: a 500 saying so).
    public init(
        quirks: Quirks = [], recordsRequests: Bool = true, fallback: (@Sendable (Request) -> Reply)? = nil
    ) async throws {
        (self.fallback, self.quirks, self.recordsRequests) = (fallback, quirks, recordsRequests)
        let box = ServerBox()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Handler(server: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
        box.server.withLock { $0 = self }
    }

    public func enqueue(_ replies: Reply...) { state.withLock { $0.replies += replies } }
    public func enqueue(_ replies: [Reply]) { state.withLock { $0.replies += replies } }
    /// Drops the replies nobody asked for.
    public func clear() { state.withLock { $0.replies.removeAll() } }

    public func shutdown() async { try? await channel.close() }

    fileprivate func next(for request: Request) -> Reply {
        if quirks.contains(.refusesNullContent),
            (request.json["messages"] as? [[String: Any]])?.contains(where: { $0["content"] is NSNull }) == true
        {
            state.withLock { $0.requests.append(request) }
            return .json(
                status: 500,
                body:
                    #"{"detail":"7 validation errors for ChatCompletionRequest: messages.1.content: Input should be a valid string"}"#
            )
        }
        return state.withLock { s in
            if recordsRequests { s.requests.append(request) }
            guard s.replies.isEmpty else { return s.replies.removeFirst() }
            return fallback?(request) ?? .json(status: 500, body: #"{"error":{"message":"no scripted reply"}}"#)
        }
    }
}

/// Lets handlers reach the server that owns them (set once it is bound).
private final class ServerBox: Sendable {
    let server = Mutex<ScriptedLLMServer?>(nil)
}

private final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerBox
    private var head: HTTPRequestHead?
    private var body = ""

    init(server: ServerBox) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): (head, body) = (h, "")
        case .body(var buffer): body += buffer.readString(length: buffer.readableBytes) ?? ""
        case .end:
            guard let head, let server = server.server.withLock({ $0 }) else { return }
            let request = ScriptedLLMServer.Request(
                method: "\(head.method)", uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body)
            respond(server.next(for: request), context: context)
        }
    }

    private func respond(_ reply: ScriptedLLMServer.Reply, context: ChannelHandlerContext) {
        switch reply {
        case .json(let status, let text, let extra):
            var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(text.utf8.count)")])
            for (k, v) in extra { headers.add(name: k, value: v) }
            context.write(
                wrapOutboundOut(
                    .head(
                        HTTPResponseHead(
                            version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .sse(let events, let delay, let thenClose, let wait, let stallAfter):
            let headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let sent = stallAfter.map { Array(events.prefix($0)) } ?? events
            context.eventLoop.scheduleTask(in: Self.amount(wait)) {
                let c = bound.value
                c.writeAndFlush(
                    handler.value.wrapOutboundOut(
                        .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                // A stalled stream sends what it has, then nothing: no end, no close.
                handler.value.send(
                    sent[...], delay: delay, thenClose: thenClose, stall: stallAfter != nil, context: bound)
            }
        case .hang:
            break
        case .drop:
            context.close(promise: nil)
        }
    }

    static func amount(_ d: Duration) -> TimeAmount {
        .nanoseconds(Int64(d.components.seconds) * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    private func send(
        _ events: ArraySlice<String>, delay: Duration, thenClose: Bool, stall: Bool = false,
        context: NIOLoopBound<ChannelHandlerContext>
    ) {
        let c = context.value
        guard let first = events.first else {
            if stall { return }
            if thenClose { c.close(promise: nil) } else { c.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
            return
        }
        // An element that starts with `event:` is a whole frame (Anthropic names its events); others are `data:`.
        let frame = first.hasPrefix("event:") ? "\(first)\n\n" : "data: \(first)\n\n"
        c.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: frame)))), promise: nil)
        let rest = events.dropFirst()
        let handler = NIOLoopBound(self, eventLoop: c.eventLoop)
        c.eventLoop.scheduleTask(in: Self.amount(delay)) {
            handler.value.send(rest, delay: delay, thenClose: thenClose, stall: stall, context: context)
        }
    }
}
