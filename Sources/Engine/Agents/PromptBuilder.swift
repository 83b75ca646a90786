import EventStore
import Events
import Foundation

/// The conversation a model sees, rebuilt from a thread's events, and the seqs of the events it came from (an
/// `llm.request` records those seqs instead of a copy of the prompt; replaying this function over them gives the
/// prompt back exactly).
///
/// user message → user; a model answer that asked for tools → assistant with tool calls; a tool result (also a denied
/// or failed call's) → tool; the final answer of a run → assistant. A run's last model answer (no tool calls) is not
/// repeated: its `message.assistant` stands for it.
public enum PromptBuilder {
    public struct Prompt: Sendable, Equatable {
        public var messages: [ChatMessage]
        public var seqs: [Seq]
    }

    /// The prompt of a thread's own agent. Runs delegated to worker agents (`run.started` with a parent) are left
    /// out: their outcome reaches the thread as the delegating call's tool result.
    /// - Parameter instructions: the agent's instructions, sent first as the system message (not an event of the thread).
    /// - Parameter unanswered: keep tool calls no result answers yet (the OpenAI-compatible endpoint, whose client
    ///   sends the results) instead of leaving them out.
    public static func prompt(
        instructions: String, thread events: some Collection<(seq: Seq, event: DomainEvent)>,
        keepingUnanswered unanswered: Bool = false
    ) -> Prompt {
        var nested: Set<UUID> = []
        for (_, event) in events { if case .runStarted(let r) = event, r.parentRunID != nil { nested.insert(r.runID) } }
        let whole = prompt(instructions: instructions, start: [], events: events) {
            runID(of: $0).map { !nested.contains($0) } ?? true
        }
        return unanswered ? whole : answeredOnly(whole)
    }

    /// The prompt of a worker agent's run: its instructions, the task it was given (the delegating `tool.called`), and
    /// its own run's events.
    public static func prompt(
        instructions: String, task: (seq: Seq, text: String), run: UUID,
        thread events: some Collection<(seq: Seq, event: DomainEvent)>
    ) -> Prompt {
        answeredOnly(
            prompt(instructions: instructions, start: [(task.seq, .user(task.text))], events: events) {
                runID(of: $0) == run
            })
    }

    private static func runID(of event: DomainEvent) -> UUID? {
        switch event {
        case .llmResponse(let e): e.runID
        case .toolResult(let e): e.runID
        case .assistantMessage(let e): e.runID
        default: nil
        }
    }

    /// The instructions, `start`, then the message of each event `including` accepts (in one pass, copying nothing).
    private static func prompt(
        instructions: String, start: [(Seq, ChatMessage)],
        events: some Collection<(seq: Seq, event: DomainEvent)>,
        including: (DomainEvent) -> Bool
    ) -> Prompt {
        var prompt = Prompt(messages: instructions.isEmpty ? [] : [.system(instructions)], seqs: [])
        for (seq, message) in start {
            prompt.messages.append(message)
            prompt.seqs.append(seq)
        }
        for (seq, event) in events {
            if let message = message(for: event), including(event) {
                prompt.messages.append(message)
                prompt.seqs.append(seq)
            }
        }
        return prompt
    }

    /// The message an event contributes to a prompt, if any.
    public static func message(for event: DomainEvent) -> ChatMessage? {
        switch event {
        case .userMessage(let e): .user(e.text)
        case .llmResponse(let e) where !e.toolCalls.isEmpty: .assistant(e.text, toolCalls: e.toolCalls)
        case .toolResult(let e): .tool(callID: e.callID, output: e.output, isError: e.isError)
        case .assistantMessage(let e): .assistant(e.text)
        default: nil
        }
    }

    /// Leaves out tool calls that no result answers (a run cut short by a crash, a fork between a call and its
    /// result): model APIs refuse a prompt with one. An assistant message left with neither text nor calls goes too.
    static func answeredOnly(_ prompt: Prompt) -> Prompt {
        let answered = Set(prompt.messages.compactMap(\.toolCallID))
        guard prompt.messages.contains(where: { m in m.toolCalls.contains { !answered.contains($0.callID) } }) else {
            return prompt
        }
        var result = Prompt(messages: [], seqs: [])
        let offset = prompt.messages.count - prompt.seqs.count  // the system message has no seq
        for (i, var m) in prompt.messages.enumerated() {
            m.toolCalls = m.toolCalls.filter { answered.contains($0.callID) }
            if m.role == .assistant, m.toolCalls.isEmpty, (m.content ?? "").isEmpty,
                !prompt.messages[i].toolCalls.isEmpty
            {
                continue
            }
            result.messages.append(m)
            if i >= offset { result.seqs.append(prompt.seqs[i - offset]) }
        }
        return result
    }
}
