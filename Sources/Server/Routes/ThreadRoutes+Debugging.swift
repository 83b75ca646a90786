import Engine
import EventStore
import Events
import Foundation
import Hummingbird

extension ThreadRoutes {
    struct ForkBody: KnownFields {
        static let fields: Set<String> = ["at", "threadID", "text", "agent"]
        /// The last shared event's seq (default: the whole thread).
        let at: Seq?
        /// The new thread's id (default: a fresh one).
        let threadID: String?
        /// A message to continue the fork with at once (an edited or injected input).
        let text: String?
        let agent: String?
    }

    struct ForkedBody: ResponseEncodable, Codable {
        let threadID: String
        let forkedFrom: String
        let atSeq: Seq
        /// The run the message started (when one was given).
        let run: RunResultBody?
    }

    func fork(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let source = try context.threadID()
        let body = try await request.decodeJSON(
            ForkBody.self, context: context, example: #"{"at": 42, "threadID": "optional", "text": "optional"}"#)
        let threadID =
            try body.threadID.map { (t) throws(APIError) in try ThreadID.parse(t, from: "threadID") }
            ?? source.derived("fork")
        let forked: Events.ThreadForked
        forked = try await APIError.engine { () async throws(EngineError) in
            try await runtime.debugger.fork(source, at: body.at, into: threadID, as: principal)
        }
        var run: RunResultBody?
        if let text = body.text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            do {
                run = RunResultBody(
                    try await runtime.conversations.chat(
                        ChatTurn(threadID: threadID, text: text, agent: body.agent), as: principal, token: context.token
                    ))
            } catch {
                throw APIError(error)
            }
        }
        let answer = ForkedBody(
            threadID: forked.threadID, forkedFrom: forked.fromThreadID, atSeq: forked.atSeq, run: run)
        var response = try answer.response(from: request, context: context)
        response.status = .created
        return response
    }

    struct ReplayRequest: KnownFields {
        static let fields: Set<String> = ["mode", "run", "threadID", "substitution"]
        static let nestedFields: [String: Set<String>] = [
            "substitution": ["instructions", "toolResults", "policy", "model", "liveFrom"]
        ]
        static let nullable: Set<String> = ["substitution.policy"]
        /// `recorded` (default) or `counterfactual`.
        let mode: String?
        /// The recorded run to re-run (counterfactual; default: the thread's first).
        let run: UUID?
        /// The new thread's id (counterfactual; default: a fresh one).
        let threadID: String?
        let substitution: SubstitutionBody?
    }

    struct SubstitutionBody: Decodable {
        let instructions: String?
        let toolResults: [String: String]?
        /// A policy document (`{"roles": {...}}`).
        let policy: JSONValue?
        let model: String?
        let liveFrom: Int?
    }

    /// Recorded re-execution (no body, or `{"mode": "recorded"}`): the divergence report. Counterfactual
    /// (`{"mode": "counterfactual", "substitution": {…, "liveFrom"?: k}}`): a new thread, 201.
    func replay(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let thread = try context.threadID()
        let threadID = thread
        let ask = try await request.decodeJSONIfPresent(
            ReplayRequest.self, context: context,
            example: #"{"mode": "counterfactual", "substitution": {"instructions": "…", "liveFrom": 2}}"#)
        // Checked whatever the mode, as the document says (a recorded replay makes no thread of its own).
        if let live = ask?.substitution?.liveFrom, live < 0 {
            throw APIError(.badRequest, "bad_request", "substitution.liveFrom is a step number, 0 or more")
        }
        let newThread = try ask?.threadID.map { (t) throws(APIError) in try ThreadID.parse(t, from: "threadID")
        }
        var policy: Policy?
        if let document = ask?.substitution?.policy {
            do { policy = try Policy(json: Data(document.jsonText.utf8)) } catch {
                throw APIError(.badRequest, "bad_request", "substitution.policy: \(error.message)")
            }
        }
        switch ask?.mode ?? "recorded" {
        case "recorded":
            let report = try await APIError.engine { () async throws(EngineError) in
                try await runtime.debugger.replay(thread: threadID, as: principal)
            }
            return try Encoded(report).response(from: request, context: context)
        case "counterfactual":
            let s = ask?.substitution
            let substitution = Substitution(
                instructions: s?.instructions, toolResults: s?.toolResults ?? [:], policy: policy,
                model: s?.model, liveFrom: s?.liveFrom)
            let newID = newThread ?? thread.derived("cf")
            let result = try await APIError.engine { () async throws(EngineError) in
                try await runtime.debugger.counterfactual(
                    thread: threadID, run: ask?.run, substituting: substitution, into: newID, as: principal,
                    token: context.token)
            }
            var response = try Encoded(result).response(from: request, context: context)
            response.status = .created
            return response
        case let other:
            throw APIError(.badRequest, "bad_request", "mode is 'recorded' or 'counterfactual', not '\(other)'")
        }
    }

    func diff(request: Request, context: AppRequestContext) async throws -> Encoded<ThreadDiff> {
        let principal = try context.caller()
        let (a, b) = (try context.threadID(), try context.threadID("other"))
        return Encoded(
            try await APIError.engine { () async throws(EngineError) in
                try await runtime.debugger.diff(a, b, as: principal)
            })
    }

    /// An engine value as the JSON answer.
    struct Encoded<T: Encodable & Sendable>: ResponseEncodable, Encodable {
        let value: T
        init(_ value: T) { self.value = value }
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }
}
