import Engine
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An OpenAI-compatible server on 127.0.0.1 for the benchmarks: answers every chat completion at once (by default
/// with the same short answer; `reply` picks one from the request's body), so what is measured is the client and
/// the engine, not a model.
final class LoopbackLLM: Sendable {
    private let channel: any Channel
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The text of the default answer.
    static let answerText = "All pods in payments are healthy."
    static let answer =
        #"{"id":"chatcmpl-bench","object":"chat.completion","model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":""#
        + answerText
        + #""},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":8,"total_tokens":50}}"#

    /// - Parameter reply: the completion's JSON for a request's body (default: `answer`).
    init(reply: @escaping @Sendable (ByteBuffer) -> String = { _ in LoopbackLLM.answer }) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Responder(reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func shutdown() async { try? await channel.close() }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let reply: @Sendable (ByteBuffer) -> String
        var request = ByteBuffer()

        init(reply: @escaping @Sendable (ByteBuffer) -> String) { self.reply = reply }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: request.clear()
            case .body(var part): request.writeBuffer(&part)
            case .end: respond(context)
            }
        }

        private func respond(_ context: ChannelHandlerContext) {
            let body = ByteBuffer(string: reply(request))
            let headers = HTTPHeaders([
                ("Content-Type", "application/json"), ("Content-Length", "\(body.readableBytes)"),
            ])
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// Chat Completions as the OpenAI wire carries it, for the benchmarks' and the demo's clients and scripted models.
enum ChatWire {
    struct Message: Codable, Sendable {
        struct ToolCall: Codable, Sendable {
            struct Function: Codable, Sendable { let name: String; let arguments: String }
            let id: String
            var type = "function"
            let function: Function
        }
        let role: String
        var content: String?
        var tool_calls: [ToolCall]?
        var tool_call_id: String?
    }

    struct Request: Codable {
        let model: String
        let messages: [Message]
        var tools: [JSONValue]?
    }

    struct Completion: Codable {
        struct Choice: Codable {
            var index = 0
            let message: Message
            var finish_reason: String?
        }
        struct Usage: Codable { let prompt_tokens: Int; let completion_tokens: Int; let total_tokens: Int }
        var id = "chatcmpl-scripted"
        var object = "chat.completion"
        var created = 0
        let model: String
        let choices: [Choice]
        var usage: Usage?
    }

    /// A completion's JSON: `message` as the model's one choice.
    static func completion(_ message: Message, finish: String, model: String) -> String {
        let body = Completion(
            model: model, choices: [.init(message: message, finish_reason: finish)],
            usage: .init(prompt_tokens: 100, completion_tokens: 50, total_tokens: 150))
        return String(decoding: (try? JSONEncoder().encode(body)) ?? Data(), as: UTF8.self)
    }

    /// The request a scripted model was sent (nil when it is not one).
    static func request(_ body: ByteBuffer) -> Request? {
        try? JSONDecoder().decode(Request.self, from: Data(body.readableBytesView))
    }
}
