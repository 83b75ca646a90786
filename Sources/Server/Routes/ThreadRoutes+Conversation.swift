import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Projections

extension ThreadRoutes {
    struct CreateBody: KnownFields {
        static let fields: Set<String> = ["threadID", "title", "agent"]
        let threadID: String?
        let title: String?
        let agent: String?
    }

    /// An empty thread in the caller's workspace (a fresh id unless one is given); 201, or 409 if the id is taken.
    func create(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let body = try await request.decodeJSONIfPresent(
            CreateBody.self, context: context, example: #"{"title": "optional", "agent": "optional"}"#)
        let threadID =
            try body?.threadID.map { (t) throws(APIError) in try ThreadID.parse(t, from: "threadID") }
            ?? ThreadID.fresh()
        let started: ThreadStarted
        do {
            started = try await runtime.conversations.startThread(
                threadID, title: body?.title, agent: body?.agent, as: principal)
        } catch { throw APIError(error) }
        var response = try ThreadCreatedBody(
            threadID: started.threadID, workspace: started.workspace, owner: started.owner, title: started.title,
            agent: started.agent
        ).response(from: request, context: context)
        response.status = .created
        return response
    }

    /// Everyone's threads in the workspace with `thread.read:workspace`, else the caller's own (`thread.read:own`):
    /// one decision recorded, on the widest scope the policy grants.
    func list(request: Request, context: AppRequestContext) async throws -> ThreadListBody {
        let principal = try context.caller()
        let limit = try request.integer("limit", in: 1...200) ?? 50
        let before = try request.integer("before", in: Int64.min...Int64.max) ?? .max
        let ownOnly = !runtime.access.wouldAllow(
            "thread.read", on: "workspace", workspace: principal.workspace, as: principal)
        try await APIError.engine { () async throws(EngineError) in
            try await runtime.access.authorize(
                "thread.read", on: ownOnly ? "own" : "workspace", recorded: "threads:\(principal.workspace)",
                workspace: principal.workspace, in: "access/threads", as: principal)
        }
        do { try await readModels.catchUp() } catch {
            throw APIError(.serviceUnavailable, "storage", "the threads could not be brought up to date")
        }
        let page: (threads: [ThreadSummary], more: Bool)
        do {
            page = try readModels.threads(workspace: principal.workspace, before: before, limit: limit) {
                !ownOnly || $0.owner == principal.subject
            }
        } catch {
            throw APIError(.serviceUnavailable, "storage", "the threads could not be read")
        }
        return ThreadListBody(
            threads: page.threads.map(ThreadSummaryBody.init),
            next: page.more ? page.threads.last?.lastActivityNanoseconds : nil)
    }

    func show(request: Request, context: AppRequestContext) async throws -> ThreadDetailBody {
        let principal = try context.caller()
        let thread = try context.threadID()
        let threadID = thread.rawValue
        try await APIError.engine { () async throws(EngineError) in
            try await runtime.access.authorizeRead(thread: thread, as: principal)
        }
        let at = try request.seq("at")
        let state: ConversationState
        do {
            if let at {
                state = try ProjectionRunner.state(
                    of: ConversationProjection.self, asOf: at, in: store, streams: [thread.stream])
            } else {
                try await readModels.catchUp()
                state = try readModels.conversation(of: threadID) ?? ConversationState()
            }
        } catch {
            throw APIError(.serviceUnavailable, "storage", "the thread could not be read")
        }
        guard let summary = state.threads[threadID] else {
            throw APIError(
                .notFound, "not_found",
                at.map { "thread '\(threadID)' did not exist yet at seq \($0)" } ?? "there is no thread '\(threadID)'")
        }
        let runs = state.runs.values.filter { $0.threadID == threadID }.sorted { $0.startedSeq < $1.startedSeq }
        return ThreadDetailBody(
            thread: ThreadSummaryBody(summary),
            messages: (state.messages[threadID] ?? []).map {
                ThreadDetailBody.Message(seq: $0.seq, kind: $0.kind.rawValue, label: $0.label)
            },
            runs: runs.map { r in
                ThreadDetailBody.Run(
                    id: r.id.uuidString.lowercased(), agent: r.agent, model: r.model,
                    parentRunID: r.parentRunID?.uuidString.lowercased(),
                    status: r.status.rawValue, steps: r.steps, toolCalls: r.toolCalls, failures: r.failures,
                    inputTokens: r.inputTokens, outputTokens: r.outputTokens)
            },
            at: at)
    }
}
