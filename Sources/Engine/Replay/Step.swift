import EventStore
import Events
import Foundation

/// One step of a conversation as replay and diff compare it: what happened, without ids, seqs, times or latencies.
public struct Step: Sendable, Equatable, Codable {
    /// The event's seq (a replayed step's is virtual: ≥ 2^62).
    public var seq: Seq
    /// The event's type (`llm.request`, `tool.called`, …).
    public var kind: String
    /// The step for people: `allow tool.call on tool:time/now`, `time/now {"zone":"UTC"}`, the answer's text…
    public var summary: String
    /// What is compared: two steps are the same when their kinds and keys are. (Not part of the JSON: for a model
    /// request it is the whole rendered prompt; `difference(from:)` points at the line that differs. A step read back
    /// from JSON has none.)
    public var key: String = ""

    enum CodingKeys: String, CodingKey { case seq, kind, summary }

    /// The first line where the keys of two steps differ, both ways round, for a report.
    public static func difference(_ a: Step?, _ b: Step?) -> String {
        guard let a, let b else { return a == nil ? "the recording has no step here" : "the replay has no step here" }
        guard a.kind == b.kind else { return "\(a.kind) where the replay has \(b.kind)" }
        let (x, y) = (
            a.key.split(separator: "\n", omittingEmptySubsequences: false),
            b.key.split(separator: "\n", omittingEmptySubsequences: false)
        )
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? String(x[i]) : "", r = i < y.count ? String(y[i]) : ""
            if l != r { return "line \(i + 1): \(l.prefix(300)) ≠ \(r.prefix(300))" }
        }
        return "same"
    }

    /// What a difference at a step of this kind means.
    public var aspect: String {
        switch kind {
        case LLMRequest.typeName: "prompt composition"
        case LLMResponse.typeName: "model response"
        case ToolCalled.typeName: "tool choice or arguments"
        case ToolResult.typeName: "tool result"
        case AuthorizationDecided.typeName: "authorization"
        case AssistantMessage.typeName: "answer"
        case UserMessage.typeName: "user input"
        case RunFinished.typeName: "run outcome"
        case RunStarted.typeName: "agent or model"
        default: "events"
        }
    }

    /// The step an event is (nil for events that only give structure — thread start, fork — and for the recorded
    /// authorizations of reads, which observe the conversation rather than take part in it).
    /// - Parameter lookup: events by seq, to render an `llm.request`'s prompt from the seqs it names.
    public static func of(_ event: DomainEvent, seq: Seq, lookup: (Seq) -> DomainEvent?) -> Step? {
        func step(_ summary: String, _ key: String? = nil) -> Step {
            Step(seq: seq, kind: event.typeName, summary: summary, key: key ?? summary)
        }
        switch event {
        case .threadStarted, .threadForked:
            return nil
        case .authorizationDecided(let e) where e.action.hasSuffix(".read"):
            return nil  // someone looked at the thread: not a step of the conversation
        case .userMessage(let e):
            return step(e.text)
        case .assistantMessage(let e):
            return step(e.text)
        case .authorizationDecided(let e):
            return step(
                "\(e.decision.rawValue) \(e.action) on \(e.resource) for \(e.subject)",
                "\(e.decision.rawValue) \(e.action) \(e.resource) \(e.rule ?? "-")")
        case .runStarted(let e):
            return step("run of \(e.agent) on \(e.model)\(e.parentRunID == nil ? "" : " (delegated)")")
        case .runFinished(let e):
            return step("\(e.status.rawValue) after \(e.steps) steps\(e.error.map { ": \($0)" } ?? "")")
        case .llmRequest(let e):
            let prompt = e.promptSeqs.compactMap { lookup($0).flatMap(PromptBuilder.message(for:)) }
            let rendered = prompt.map { m in
                "\(m.role.rawValue): \(m.content ?? "")" + m.toolCalls.map { " [\($0.name) \($0.arguments)]" }.joined()
            }.joined(separator: "\n")
            let parameters = e.parameters.filter { $0.key != "tools.unavailable" }.sorted { $0.key < $1.key }.map {
                "\($0.key)=\($0.value)"
            }
            return step(
                "step \(e.step): \(e.model), \(prompt.count) messages",
                "\(e.step) \(e.model)\n\(parameters.joined(separator: " "))\n\(rendered)")
        case .llmResponse(let e):
            let calls = e.toolCalls.map { "\($0.name) \($0.arguments)" }.joined(separator: "; ")
            return step(calls.isEmpty ? (e.text ?? "") : "calls \(calls)", "\(e.text ?? "")|\(calls)|\(e.finishReason)")
        case .llmFailed(let e):
            return step("attempt \(e.attempt) failed: \(e.error)")
        case .toolCalled(let e):
            return step("\(e.server)/\(e.tool) \(e.arguments)")
        case .toolResult(let e):
            return step("\(e.server)/\(e.tool) → \(e.isError ? "error: " : "")\(e.output)")
        case .sessionExpired(let e):
            return step("session expired after \(e.idleSeconds) s idle")
        default:
            return step(event.typeName)
        }
    }
}
