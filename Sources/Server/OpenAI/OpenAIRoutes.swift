import Engine
import EventStore
import Events
import Foundation
import HTTPTypes
import Hummingbird
import OpenAIWire
import Projections

/// The OpenAI-compatible endpoint, so the official SDKs and LangChain's ChatOpenAI work unchanged (the JWT is the
/// API key): `POST /v1/chat/completions` (JSON or SSE chunks, the client's tools) and `GET /v1/models` (the
/// registered models the caller may use). Each call is recorded in a thread: the one named by the `X-Logbook-Thread`
/// header, else a new one per call; the answer names it in the same header.
struct OpenAIRoutes {
    let runtime: AgentRuntime

    static let threadHeader = HTTPField.Name("X-Logbook-Thread")!

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("chat/completions", use: complete)
        group.get("models", use: models)
    }

    /// The models the caller may use; listing them is authorized as `chat` (whoever may not chat has no model to
    /// use) and recorded in `access/models`.
    func models(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        try await APIError.engine { () async throws(EngineError) in
            try await runtime.access.authorize(
                "chat", on: "models", recorded: "models", workspace: principal.workspace, in: "access/models",
                as: principal)
        }
        let usable = try await APIError.engine { () async throws(EngineError) in
            try await runtime.registry.usableModels(as: principal)
        }
        let list = ChatCompletions.ModelList(
            data: usable.map { m in
                .init(
                    id: m.definition.name, created: Int(m.registeredNanoseconds / 1_000_000_000),
                    owned_by: m.definition.provider)
            })
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSON.string(list))))
    }

    func complete(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let body = try await request.decodeJSON(
            ChatCompletions.Request.self, context: context,
            example: #"{"model": "logbook", "messages": [{"role": "user", "content": "…"}]}"#)
        let threadID =
            try request.headers[Self.threadHeader].map { (t) throws(APIError) in
                try ThreadID.parse(t, from: "X-Logbook-Thread")
            }
            ?? ThreadID.fresh("chatcmpl")
        let call = try body.call(threadID: threadID)
        let created = Int(Date().timeIntervalSince1970)
        var headers: HTTPFields = [Self.threadHeader: threadID.rawValue]
        guard body.stream == true else {
            let result: CompletionResult
            do { result = try await runtime.conversations.complete(call, as: principal, token: context.token) } catch {
                throw APIError(error)
            }
            let r = result.response
            let completion = ChatCompletions.Completion(
                id: "chatcmpl-\(result.runID.uuidString.lowercased())", created: created, model: result.model,
                choices: [
                    .init(
                        message: .init(
                            role: "assistant", content: r.toolCalls.isEmpty ? (r.text ?? "") : r.text,
                            tool_calls: r.toolCalls.isEmpty ? nil : r.toolCalls.map(Self.wire)),
                        finish_reason: r.finishReason.description)
                ],
                usage: .init(r.usage))
            headers[.contentType] = "application/json"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: JSON.string(completion))))
        }
        let id = "chatcmpl-\(UUID().uuidString.lowercased())"
        let model = body.model
        let includeUsage = body.stream_options?.include_usage == true
        let chunk = ChunkFramer(id: id, created: created, model: model)
        let runtime = runtime
        let token = context.token
        let stream = StreamedBody.make { sink in
            await sink.send(chunk(.init(role: "assistant", content: "")))
            do throws(EngineError) {
                let result = try await runtime.conversations.complete(
                    call, as: principal, token: token,
                    observer: TextObserver { piece in
                        await sink.send(chunk(.init(content: piece)))
                    })
                let r = result.response
                if !r.toolCalls.isEmpty {
                    let calls = r.toolCalls.enumerated().map {
                        ChatCompletions.Chunk.ToolCallDelta(
                            index: $0.offset, id: $0.element.callID, name: $0.element.name,
                            arguments: $0.element.arguments)
                    }
                    await sink.send(chunk(.init(tool_calls: calls)))
                }
                await sink.send(chunk(.init(), finish: r.finishReason.description))
                if includeUsage { await sink.send(chunk(nil, usage: .init(r.usage))) }
            } catch {
                let api = APIError(error)
                await sink.send(
                    ByteBuffer(
                        string:
                            "data: \(JSON.string(["error": ["code": api.code, "message": api.message, "type": api.code]]))\n\n"
                    ))
            }
            await sink.send(ByteBuffer(string: "data: [DONE]\n\n"))
        }
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: stream)
    }

    static func wire(_ call: RequestedToolCall) -> ChatCompletions.ToolCall {
        ChatCompletions.ToolCall(id: call.callID, function: .init(name: call.name, arguments: call.arguments))
    }
}

/// Passes a run's streamed text on; its recorded events are not part of an OpenAI stream.
struct TextObserver: RunObserver {
    let onText: @Sendable (String) async -> Void
    func text(_ piece: String) async { await onText(piece) }
    func appended(_ event: DomainEvent, seq: Seq) async {}
}

/// One SSE `data:` frame per chunk of a streamed completion.
struct ChunkFramer: Sendable {
    let id: String
    let created: Int
    let model: String

    /// A chunk with one choice carrying `delta` (none when nil: the closing usage chunk).
    func callAsFunction(
        _ delta: ChatCompletions.Chunk.Delta?, finish: String? = nil, usage: ChatCompletions.Usage? = nil
    ) -> ByteBuffer {
        let c = ChatCompletions.Chunk(
            id: id, created: created, model: model,
            choices: delta.map { [.init(delta: $0, finish_reason: finish)] } ?? [], usage: usage)
        return ByteBuffer(string: "data: \(JSON.string(c))\n\n")
    }
}
