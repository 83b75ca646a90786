import EventStore
import Events
import Foundation
import Projections

/// One chat completion asked for through the OpenAI-compatible endpoint: the caller's conversation (system messages
/// and all), the caller's own tools, and a registered model.
public struct CompletionCall: Sendable {
    /// The thread that records the call (the conversation's earlier calls, when the client names it again).
    public var threadID: ThreadID
    /// A registered model's name; empty or `logbook` means the workspace's effective model.
    public var model: String
    /// The conversation and the client's own tools (the model may ask for them; the client runs them, Logbook records
    /// the calls and results), with the client's sampling, `tool_choice`, `parallel_tool_calls` and
    /// `response_format`, passed to the model as they are and recorded.
    public var request: ChatRequest

    public init(threadID: ThreadID, model: String, request: ChatRequest) {
        (self.threadID, self.model, self.request) = (threadID, model, request)
    }
}

/// What a completion produced: the model's response and the run that recorded it.
public struct CompletionResult: Sendable {
    public var runID: UUID
    /// The registered name of the model that answered.
    public var model: String
    public var response: ChatResponse
}

extension Conversations {
    /// One model call on the caller's conversation, recorded like any chat — the OpenAI-compatible endpoint. Logbook
    /// does not run tools here: tool calls go back to the client, whose results arrive as `tool` messages next time.
    ///
    /// The client sends its whole conversation each time; the thread records each message once. Messages the thread
    /// already holds (the longest common prefix with its prompt) are referred to by seq; the rest are appended (user →
    /// `message.user`, tool → `tool.result` from server `client`, an assistant message the thread did not produce →
    /// `llm.response` from model `client`). System messages are the call's instructions, kept with the `llm.request`.
    /// - Throws: `denied` (recorded) for `chat` on the thread or `model.use`; `unknownModel`; `noModel`;
    ///   `sessionExpired`; `llmFailed` (recorded); `storage`; `cancelled` when the caller's task is cancelled while the
    ///   thread's turn ahead of it runs (nothing recorded).
    public func complete(
        _ call: CompletionCall, as principal: Principal, token: String? = nil, observer: (any RunObserver)? = nil
    ) async throws(EngineError) -> CompletionResult {
        try await forwarding(token) { () async throws(EngineError) -> CompletionResult in
            try await self.completion(call, as: principal, observer: observer)
        }
    }

    private func completion(
        _ call: CompletionCall, as principal: Principal, observer: (any RunObserver)?
    ) async throws(EngineError) -> CompletionResult {
        try await engine.withThread(call.threadID) { () async throws(EngineError) -> CompletionResult in
            try await self.completion(taken: call, as: principal, observer: observer)
        }
    }

    /// The call, once its thread is taken.
    private func completion(
        taken call: CompletionCall, as principal: Principal, observer: (any RunObserver)?
    ) async throws(EngineError) -> CompletionResult {
        let stream = call.threadID.stream
        let (opened, gate, started) = try await engine.openTurn(
            stream, threadID: call.threadID, as: principal, observer: observer)
        var recorder = opened
        defer { remember(recorder) }

        let state = try await registryState()
        let definition = try completionModel(named: call.model, registry: state, workspace: recorder.workspace)
        try await gate.require(
            "model.use", on: definition.name, recorded: "model:\(definition.name)", recordingIn: &recorder)
        let provider: any LLMProvider
        do { provider = try makeProvider(definition, configuration) } catch {
            throw EngineError(.noModel, error.message, cause: error)
        }

        // The conversation: what the thread holds already, then what is new.
        let known = PromptBuilder.prompt(instructions: "", thread: recorder.history, keepingUnanswered: true)
        let request = call.request
        let conversation = request.messages.filter { $0.role != .system }
        var shared = 0
        while shared < min(known.messages.count, conversation.count),
            Self.sameMessage(known.messages[shared], conversation[shared])
        { shared += 1 }
        let runID = configuration.makeID()
        recorder.correlationID = runID
        let actor = "client:\(principal.subject)"
        var opening: [DomainEvent] = []
        if started == nil {
            let title = conversation.first { $0.role == .user }?.content.map { String($0.prefix(80)) }
            opening.append(
                .threadStarted(
                    ThreadStarted(
                        threadID: call.threadID.rawValue, workspace: recorder.workspace, owner: principal.subject,
                        title: title,
                        agent: nil)))
        }
        opening.append(.runStarted(RunStarted(runID: runID, agent: "openai-compatible", model: definition.name)))
        opening += Self.events(for: conversation[shared...], runID: runID, earlier: conversation[..<shared])
        let staged = recorder.stage(opening, actor: actor)
        let promptSeqs =
            Array(known.seqs[..<shared]) + zip(opening, staged).filter { Self.isPromptEvent($0.0) }.map(\.1)

        var parameters: [String: String] = [:]
        let system = request.messages.filter { $0.role == .system }.compactMap(\.content)
        if !system.isEmpty { parameters["system"] = system.joined(separator: "\n\n") }
        if !request.tools.isEmpty { parameters["tools"] = request.tools.map(\.name).joined(separator: ",") }
        if let t = request.temperature { parameters["temperature"] = String(t) }
        if let m = request.maxOutputTokens { parameters["max_tokens"] = String(m) }
        if let c = request.toolChoice { parameters["tool_choice"] = c.description }
        if let p = request.parallelToolCalls { parameters["parallel_tool_calls"] = String(p) }
        if let f = request.responseFormat { parameters["response_format"] = f.jsonText }
        // One commit: the new messages, and the request naming them (and the earlier ones) by seq.
        let announced = LLMRequest(
            runID: runID, step: 1, model: definition.name, provider: definition.provider, promptSeqs: promptSeqs,
            parameters: parameters)
        try await recorder.flush(request: announced, actor: actor)

        var settings = configuration
        settings.streaming = observer != nil
        let run = Run(
            id: runID, agentActor: actor, instructions: "", model: definition, provider: provider, toolbox: Toolbox(),
            gate: gate, task: nil,
            delegation: Run.Delegation(
                registry: state, workspace: recorder.workspace,
                resolver: ModelResolver(environment: configuration.environment),
                makeProvider: makeProvider, depth: 0))
        let began = configuration.now()
        let response: ChatResponse
        do {
            response = try await run.call(request, step: 1, recorder: &recorder, configuration: settings)
        } catch {
            let status: RunStatus = error.kind == .cancelled ? .cancelled : .failed
            try await recorder.record(
                [.runFinished(RunFinished(runID: runID, status: status, error: error.message, steps: 1))], actor: actor)
            throw EngineError(.llmFailed, error.message, cause: error)
        }
        var closing: [DomainEvent] = [
            .llmResponse(
                LLMResponse(
                    runID: runID, step: 1, model: response.model, text: response.text, toolCalls: response.toolCalls,
                    finishReason: response.finishReason.description, inputTokens: response.usage.input,
                    outputTokens: response.usage.output,
                    latencyMilliseconds: (configuration.now() - began).milliseconds,
                    usageUnknown: !response.usage.reported))
        ]
        if response.toolCalls.isEmpty {
            closing.append(
                .assistantMessage(AssistantMessage(runID: runID, text: response.text ?? "", model: response.model)))
        }
        closing.append(.runFinished(RunFinished(runID: runID, status: .completed, steps: 1)))
        try await recorder.record(closing, actor: actor)
        return CompletionResult(runID: runID, model: definition.name, response: response)
    }

    /// A registered model by name, or the workspace's effective model for `""` / `logbook` / its own name.
    private func completionModel(
        named name: String, registry state: RegistryState, workspace: String
    ) throws(EngineError) -> ModelDefinition {
        if let model = state.models[name]?.value { return model }
        let effective = try ModelResolver(environment: configuration.environment).resolve(
            registry: state, workspace: workspace, agent: nil)
        guard name.isEmpty || name == "logbook" || name == effective.definition.name else {
            throw EngineError(
                .unknownModel,
                "there is no model '\(name)'; GET /v1/models lists them (or ask for 'logbook': the workspace's effective model)"
            )
        }
        return effective.definition
    }

    /// Events that record client messages the thread does not hold yet.
    private static func events(
        for messages: ArraySlice<ChatMessage>, runID: UUID, earlier: ArraySlice<ChatMessage>
    ) -> [DomainEvent] {
        var toolNames: [String: String] = [:]
        for m in earlier { for c in m.toolCalls { toolNames[c.callID] = c.name } }
        return messages.map { m in
            for c in m.toolCalls { toolNames[c.callID] = c.name }
            switch m.role {
            case .user, .system:
                return .userMessage(UserMessage(text: m.content ?? ""))
            case .tool:
                let id = m.toolCallID ?? ""
                return .toolResult(
                    ToolResult(
                        runID: runID, callID: id, server: "client", tool: toolNames[id] ?? "", output: m.content ?? "",
                        isError: m.isError, latencyMilliseconds: 0))
            case .assistant where m.toolCalls.isEmpty:
                return .assistantMessage(AssistantMessage(runID: runID, text: m.content ?? "", model: "client"))
            case .assistant:
                return .llmResponse(
                    LLMResponse(
                        runID: runID, step: 0, model: "client", text: m.content, toolCalls: m.toolCalls,
                        finishReason: "tool_calls",
                        inputTokens: 0, outputTokens: 0, latencyMilliseconds: 0))
            }
        }
    }

    private static func isPromptEvent(_ event: DomainEvent) -> Bool {
        switch event {
        case .userMessage, .toolResult, .assistantMessage, .llmResponse: true
        default: false
        }
    }

    /// The same message, as far as a client can echo it (no content and empty content are alike; a tool result's
    /// error flag is Logbook's own).
    static func sameMessage(_ a: ChatMessage, _ b: ChatMessage) -> Bool {
        a.role == b.role && (a.content ?? "") == (b.content ?? "") && a.toolCalls == b.toolCalls
            && a.toolCallID == b.toolCallID
    }
}
