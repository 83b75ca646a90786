import Engine
import EventStore
import Events
import Foundation
import Hummingbird

extension ThreadRoutes {
    /// Runs the thread's agent on the message. With `"stream": true` (or `Accept: text/event-stream`) the answer is SSE:
    /// `text` frames as the model writes, a frame per event as it is recorded, then `done` (or `error`). A client
    /// that disconnects cancels the run, which is recorded as cancelled; one still waiting for the thread's turn ahead
    /// of it leaves the queue, and nothing is recorded.
    func postMessage(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let threadID = try context.threadID()
        let body = try await request.decodeJSON(
            PostMessageBody.self, context: context, example: #"{"text": "…", "agent": "optional", "stream": false}"#)
        guard !body.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError(.badRequest, "bad_request", "the message text is empty")
        }
        guard body.text.utf8.count <= maxMessageBytes else {
            throw APIError(
                .contentTooLarge, "too_large",
                "the message is \(body.text.utf8.count) bytes; the limit is \(maxMessageBytes)")
        }
        let turn = ChatTurn(
            threadID: threadID, text: body.text, agent: body.agent, title: body.title, model: body.model)
        let streaming = body.stream == true || request.headers[.accept]?.contains("text/event-stream") == true
        guard streaming else {
            let result: RunResult
            do { result = try await runtime.conversations.chat(turn, as: principal, token: context.token) } catch {
                throw APIError(error)
            }
            return try RunResultBody(result).response(from: request, context: context)
        }
        let runtime = runtime
        let token = context.token
        let frames = StreamedBody.make { sink in
            do throws(EngineError) {
                let result = try await runtime.conversations.chat(
                    turn, as: principal, token: token, observer: SSEObserver(sink: sink))
                await sink.send(SSE.frame(event: "done", data: JSON.string(RunResultBody(result))))
            } catch {
                let api = APIError(error)
                await sink.send(
                    SSE.frame(event: "error", data: JSON.string(["error": ["code": api.code, "message": api.message]])))
            }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: frames)
    }

    /// A page of the thread's events (`from` revision, `limit` ≤ 1000). Authorized as `thread.read` and recorded.
    func events(request: Request, context: AppRequestContext) async throws -> ThreadEventsPageBody {
        let principal = try context.caller()
        let thread = try context.threadID()
        let from = try request.integer("from", in: 1...UInt64(Int64.max)) ?? 1
        let limit = try request.integer("limit", in: 1...1000) ?? 100
        let page = try await APIError.engine { () async throws(EngineError) in
            try await runtime.conversations.events(
                of: thread, from: StreamRevision(from), limit: limit, as: principal)
        }
        return ThreadEventsPageBody(
            events: page.map(EventBody.init),
            next: page.count == limit ? page.last.map { StreamRevision($0.revision.rawValue + 1) } : nil)
    }
}
