import Engine
import Foundation
import Events
import Hummingbird

/// Debugging a conversation after the fact: `POST /v1/threads/{thread}/fork` (a new thread sharing its history up to
/// a seq, optionally continued at once with a new message), `POST /v1/threads/{thread}/replay` (recorded
/// re-execution with a divergence report) and `GET /v1/threads/{a}/diff/{b}`. All authorized and recorded.
struct DebugRoutes {
    let runtime: AgentRuntime

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("threads/:thread/fork", use: fork)
        group.post("threads/:thread/replay", use: replay)
        group.get("threads/:thread/diff/:other", use: diff)
    }

    struct ForkBody: Decodable {
        /// The last shared event's seq (default: the whole thread).
        let at: UInt64?
        /// The new thread's id (default: a fresh one).
        let threadID: String?
        /// A message to continue the fork with at once (an edited or injected input).
        let text: String?
        let agent: String?
    }

    struct ForkedBody: ResponseEncodable, Encodable {
        let threadID: String
        let forkedFrom: String
        let atSeq: UInt64
        /// The run the message started (when one was given).
        let run: ThreadRoutes.RunBody?
    }

    func fork(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let source = try context.parameters.require("thread")
        let body = try await request.decodeJSON(ForkBody.self, context: context, example: #"{"at": 42, "threadID": "optional", "text": "optional"}"#)
        let threadID = body.threadID ?? "\(source)-fork-\(UUID().uuidString.prefix(8).lowercased())"
        let forked: Events.ThreadForked
        do { forked = try await runtime.fork(source, at: body.at, into: threadID, as: principal) } catch {
            if error.kind == .threadUnavailable { throw APIError(.notFound, "not_found", error.message) }
            throw APIError(error)
        }
        var run: ThreadRoutes.RunBody?
        if let text = body.text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            do { run = ThreadRoutes.RunBody(try await runtime.chat(ChatTurn(threadID: threadID, text: text, agent: body.agent), as: principal, token: context.token)) } catch {
                throw APIError(error)
            }
        }
        let answer = ForkedBody(threadID: forked.threadID, forkedFrom: forked.fromThreadID, atSeq: forked.atSeq, run: run)
        var response = try answer.response(from: request, context: context)
        response.status = .created
        return response
    }

    func replay(request: Request, context: AppRequestContext) async throws -> ReplayBody {
        let principal = try context.caller()
        let threadID = try context.parameters.require("thread")
        do { return ReplayBody(report: try await runtime.replay(thread: threadID, as: principal)) } catch {
            if error.kind == .threadUnavailable { throw APIError(.notFound, "not_found", error.message) }
            throw APIError(error)
        }
    }

    func diff(request: Request, context: AppRequestContext) async throws -> DiffBody {
        let principal = try context.caller()
        let (a, b) = (try context.parameters.require("thread"), try context.parameters.require("other"))
        do { return DiffBody(diff: try await runtime.diff(a, b, as: principal)) } catch {
            if error.kind == .threadUnavailable { throw APIError(.notFound, "not_found", error.message) }
            throw APIError(error)
        }
    }

    struct ReplayBody: ResponseEncodable, Encodable {
        let report: ReplayReport
        func encode(to encoder: any Encoder) throws { try report.encode(to: encoder) }
    }

    struct DiffBody: ResponseEncodable, Encodable {
        let diff: ThreadDiff
        func encode(to encoder: any Encoder) throws { try diff.encode(to: encoder) }
    }
}
