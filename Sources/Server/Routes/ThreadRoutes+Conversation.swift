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
        let search = request.uri.queryParameters.get("q").map { $0.lowercased() } ?? ""
        guard search.utf8.count <= 200 else { throw APIError(.badRequest, "bad_request", "q is at most 200 bytes") }
        guard !search.isEmpty else {
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
        return try searchThreads(
            search, workspace: principal.workspace, before: before, limit: limit,
            include: { !ownOnly || $0.owner == principal.subject })
    }

    /// The threads whose title or message text (the user's and the agent's answers) holds `search` (lower-cased),
    /// newest first. One request looks at `searchBudget` threads at most: a page can hold fewer than `limit` and
    /// still have a `next` (where to go on looking), so searching a large workspace is a series of bounded requests.
    func searchThreads(
        _ search: String, workspace: String, before: Int64, limit: Int, include: (ThreadSummary) -> Bool
    ) throws -> ThreadListBody {
        var found: [ThreadSummary] = []
        var cursor = before
        var examined = 0
        while true {
            let page: (threads: [ThreadSummary], more: Bool)
            do {
                page = try readModels.threads(workspace: workspace, before: cursor, limit: 100, include: include)
            } catch {
                throw APIError(.serviceUnavailable, "storage", "the threads could not be read")
            }
            for (i, thread) in page.threads.enumerated() {
                examined += 1
                cursor = thread.lastActivityNanoseconds
                guard try matches(thread, search) else { continue }
                found.append(thread)
                if found.count == limit {
                    let last = i == page.threads.count - 1 && !page.more
                    return ThreadListBody(threads: found.map(ThreadSummaryBody.init), next: last ? nil : cursor)
                }
            }
            if !page.more { return ThreadListBody(threads: found.map(ThreadSummaryBody.init), next: nil) }
            if examined >= Self.searchBudget {
                return ThreadListBody(threads: found.map(ThreadSummaryBody.init), next: cursor)
            }
        }
    }

    /// How many threads one search request looks at, at most.
    static let searchBudget = 500

    private func matches(_ thread: ThreadSummary, _ search: String) throws -> Bool {
        if thread.title?.lowercased().contains(search) == true { return true }
        let messages: [MessageRef]
        do { messages = try readModels.conversation(of: thread.id)?.messages[thread.id] ?? [] } catch {
            throw APIError(.serviceUnavailable, "storage", "the threads could not be read")
        }
        for message in messages where message.kind == .user || message.kind == .assistant {
            guard let event = try? store.event(at: message.seq) else { continue }
            let text: String
            switch EventCatalog.decode(event) {
            case .event(.userMessage(let m)): text = m.text
            case .event(.assistantMessage(let m)): text = m.text
            default: continue
            }
            if text.lowercased().contains(search) { return true }
        }
        return false
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
