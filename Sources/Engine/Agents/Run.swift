import EventStore
import Events
import Foundation
import Logging
import Projections
import Tracing

/// One run of an agent on a thread: model calls and tool calls, step by step, each recorded before the next begins.
struct Run: Sendable {
    let id: UUID
    let agentActor: String
    let instructions: String
    let model: ModelDefinition
    let provider: any LLMProvider
    let toolbox: Toolbox
    let gate: Gate
    /// For a worker agent's run: the task it was given and the seq of the call that delegated it.
    var task: (seq: Seq, text: String)?
    let delegation: Delegation
    /// Where tool calls are answered and workers' toolboxes come from: the world, or a replay's recording.
    var world: any ToolWorld = LiveWorld()
    /// The agent's `toolChoice` (sent only with tools to choose from).
    var toolChoice: ToolChoice? = nil
    /// Where the run's `invoke_agent` span goes (nil: the task's current trace, e.g. the HTTP request's).
    var traceContext: ServiceContext? = nil
    /// The run that delegated this one.
    var parentRunID: UUID? = nil
    /// Decisions made for the run before it started (its model's `model.use`), for its span.
    var openingDecisions: [AuthorizationDecided] = []

    /// What starting a worker agent's run needs.
    struct Delegation: Sendable {
        let registry: RegistryState
        let workspace: String
        let resolver: ModelResolver
        let makeProvider: AgentRuntime.ProviderFactory
        let depth: Int
        static let maxDepth = 3
    }

    /// Runs the agent under its `invoke_agent` span (`GenAISpans`).
    func execute(
        recorder: inout RunRecorder, configuration c: AgentRuntime.Configuration, pool: MCPPool
    ) async throws(EngineError) -> RunResult {
        let thread = recorder.threadID
        let span = GenAISpans.agent(
            agentName, model: model.name, thread: thread, run: id,
            parentRun: parentRunID, context: traceContext ?? ServiceContext.current ?? .topLevel)
        defer { span.end() }
        for decision in openingDecisions { GenAISpans.decided(span, decision) }
        do {
            let result = try await steps(span: span, thread: thread, recorder: &recorder, configuration: c, pool: pool)
            span.attributes["logbook.run.status"] = result.status.rawValue
            if let seq = startedSeq(in: recorder) { GenAISpans.opened(span, at: seq) }
            c.logger?.info(
                "run finished",
                metadata: [
                    "thread": .string(thread), "run": .string(id.uuidString.lowercased()),
                    "agent": .string(agentName), "model": .string(model.name),
                    "status": .string(result.status.rawValue), "steps": .stringConvertible(result.steps),
                    "input_tokens": .stringConvertible(result.usage.input),
                    "output_tokens": .stringConvertible(result.usage.output),
                ])
            return result
        } catch {
            if let seq = startedSeq(in: recorder) { GenAISpans.opened(span, at: seq) }
            GenAISpans.failed(span, type: "\(error.kind)", message: error.message)
            c.logger?.warning(
                "run failed",
                metadata: [
                    "thread": .string(thread), "run": .string(id.uuidString.lowercased()), "model": .string(model.name),
                    "error": .string(error.message),
                ])
            throw error
        }
    }

    /// The agent's name (`agent:NAME` → `NAME`).
    private var agentName: String { String(agentActor.dropFirst("agent:".count)) }

    /// The seq of this run's `run.started`, once recorded.
    private func startedSeq(in recorder: RunRecorder) -> Seq? {
        recorder.history.last { entry in
            if case .runStarted(let r) = entry.event { r.runID == id } else { false }
        }?.seq
    }

    private func steps(
        span: any Span, thread: String, recorder: inout RunRecorder, configuration c: AgentRuntime.Configuration,
        pool: MCPPool
    ) async throws(EngineError) -> RunResult {
        var usage = TokenUsage()
        // What a replay checks the prompt against: the instructions (by hash) and the tools offered (by name).
        var parameters: [String: String] = ["instructions.fnv1a": FNV1a.hex(instructions)]
        if !toolbox.definitions.isEmpty { parameters["tools"] = toolbox.definitions.map(\.name).joined(separator: ",") }
        let choice = toolbox.definitions.isEmpty ? nil : toolChoice
        if let choice { parameters["tool_choice"] = choice.description }
        if !toolbox.unavailable.isEmpty {
            parameters["tools.unavailable"] = toolbox.unavailable.sorted { $0.key < $1.key }.map {
                "\($0.key): \($0.value)"
            }.joined(separator: "; ")
        }
        let deadline = c.now() + c.runBudget
        var toolCalls = 0
        for step in 1...max(c.maxSteps, 1) {
            if c.now() > deadline {
                return try await stop(
                    step: step - 1, reason: "stopped after \(c.runBudget): the run's time budget", usage: usage,
                    recorder: &recorder)
            }
            // The prompt names its events by seq: those still staged (this turn's message, the last step's results)
            // go out in one commit with the request, which gets their seqs from the log.
            let history = recorder.historyWithStaged
            let prompt =
                task.map { PromptBuilder.prompt(instructions: instructions, task: $0, run: id, thread: history) }
                ?? PromptBuilder.prompt(instructions: instructions, thread: history)
            let request = ChatRequest(messages: prompt.messages, tools: toolbox.definitions, toolChoice: choice)
            let announced = LLMRequest(
                runID: id, step: step, model: model.name, provider: model.provider, promptSeqs: prompt.seqs,
                parameters: parameters)
            let requestSeq = try await recorder.flush(request: announced, actor: agentActor).last
            let chatSpan = GenAISpans.chat(
                model: model.name, provider: model.provider, thread: thread, step: step, context: span.context)
            defer { chatSpan.end() }
            if let requestSeq { GenAISpans.opened(chatSpan, at: requestSeq) }
            let started = c.now()
            let response: ChatResponse
            do {
                response = try await call(request, step: step, recorder: &recorder, configuration: c, span: chatSpan)
            } catch {
                GenAISpans.failed(chatSpan, type: "\(error.kind)", message: error.message)
                let status: RunStatus = error.kind == .cancelled ? .cancelled : .failed
                try await recorder.record(
                    [.runFinished(RunFinished(runID: id, status: status, error: error.message, steps: step))],
                    actor: agentActor)
                throw EngineError(.llmFailed, error.message, cause: error)
            }
            GenAISpans.answered(
                chatSpan, model: response.model, finishReason: response.finishReason.description,
                inputTokens: response.usage.input, outputTokens: response.usage.output)
            usage.input += response.usage.input
            usage.output += response.usage.output
            usage.reported = usage.reported && response.usage.reported
            let elapsed = c.now() - started
            recorder.stage(
                [
                    .llmResponse(
                        LLMResponse(
                            runID: id, step: step, model: response.model, text: response.text,
                            toolCalls: response.toolCalls,
                            finishReason: response.finishReason.description, inputTokens: response.usage.input,
                            outputTokens: response.usage.output,
                            latencyMilliseconds: elapsed.milliseconds, usageUnknown: !response.usage.reported))
                ], actor: agentActor)
            guard !response.toolCalls.isEmpty else {
                let text = response.text ?? ""
                // A worker's answer goes back to the agent that delegated, as its call's result: not to the user.
                let answer: [DomainEvent] =
                    task == nil
                    ? [.assistantMessage(AssistantMessage(runID: id, text: text, model: response.model))] : []
                try await recorder.record(
                    answer + [.runFinished(RunFinished(runID: id, status: .completed, steps: step))], actor: agentActor)
                return RunResult(runID: id, status: .completed, answer: text, steps: step, usage: usage)
            }
            for call in response.toolCalls {
                toolCalls += 1
                guard toolCalls <= c.maxToolCalls else {
                    recorder.stage(
                        [
                            .toolResult(
                                ToolResult(
                                    runID: id, callID: call.callID, server: "", tool: call.name,
                                    output: "not run: the run reached its limit of \(c.maxToolCalls) tool calls",
                                    isError: true,
                                    latencyMilliseconds: 0))
                        ], actor: agentActor)
                    continue
                }
                try await callTool(call, span: span, recorder: &recorder, configuration: c, pool: pool)
            }
            if toolCalls > c.maxToolCalls {
                return try await stop(
                    step: step, reason: "stopped after \(c.maxToolCalls) tool calls", usage: usage, recorder: &recorder)
            }
        }
        return try await stop(
            step: c.maxSteps, reason: "stopped after \(c.maxSteps) steps", usage: usage, recorder: &recorder)
    }

    /// Ends the run at a limit.
    private func stop(
        step: Int, reason: String, usage: TokenUsage, recorder: inout RunRecorder
    ) async throws(EngineError) -> RunResult {
        try await recorder.record(
            [.runFinished(RunFinished(runID: id, status: .limitReached, error: reason, steps: step))], actor: agentActor
        )
        return RunResult(runID: id, status: .limitReached, answer: nil, steps: step, usage: usage)
    }

    /// One model call with retries; each failed attempt is recorded as `llm.failed` (and is an event of `span`).
    func call(
        _ request: ChatRequest, step: Int, recorder: inout RunRecorder, configuration c: AgentRuntime.Configuration,
        span: (any Span)? = nil
    ) async throws(LLMError) -> ChatResponse {
        var failures: [RetryPolicy.Failure] = []
        let provider = provider
        let observer = recorder.observer
        let onText: (@Sendable (String) async -> Void)?
        if c.streaming, let observer { onText = { piece in await observer.text(piece) } } else { onText = nil }
        do {
            // Under the chat span: AsyncHTTPClient's span of each attempt nests there and carries it to the model
            // (`traceparent`).
            let context = span?.context ?? ServiceContext.current ?? .topLevel
            let response = try await c.retry.run(
                { _ throws(LLMError) in
                    try await GenAISpans.within(context) { () async throws(LLMError) in
                        try await provider.complete(request, onText: onText)
                    }
                },
                onFailure: { failure in
                    failures.append(failure)
                    c.logger?.warning(
                        "model call failed",
                        metadata: [
                            "model": .string(model.name), "attempt": .stringConvertible(failure.attempt),
                            "retrying": .stringConvertible(failure.willRetry), "error": .string(failure.error.message),
                        ])
                    if let span {
                        GenAISpans.attemptFailed(span, attempt: failure.attempt, retrying: failure.willRetry)
                    }
                })
            try? await recordFailures(failures, step: step, recorder: &recorder)
            return response
        } catch {
            try? await recordFailures(failures, step: step, recorder: &recorder)
            throw error
        }
    }

    private func recordFailures(
        _ failures: [RetryPolicy.Failure], step: Int, recorder: inout RunRecorder
    ) async throws(EngineError) {
        guard !failures.isEmpty else { return }
        try await recorder.record(
            failures.map {
                .llmFailed(
                    LLMFailed(
                        runID: id, step: step, model: model.name, error: $0.error.message, retryable: $0.willRetry,
                        attempt: $0.attempt))
            }, actor: agentActor)
    }

    /// Authorizes, makes (or refuses) and records one tool call: an MCP tool, or a delegation to a worker agent. A
    /// failure becomes an error result; the run goes on.
    private func callTool(
        _ call: RequestedToolCall, span parent: any Span, recorder: inout RunRecorder,
        configuration c: AgentRuntime.Configuration, pool: MCPPool
    ) async throws(EngineError) {
        guard let entry = toolbox.byWireName[call.name] else {
            recorder.stage(
                [
                    .toolResult(
                        ToolResult(
                            runID: id, callID: call.callID, server: "", tool: call.name,
                            output: "no tool named \(call.name) is available", isError: true, latencyMilliseconds: 0))
                ],
                actor: agentActor)
            return
        }
        let server = entry.server, tool = entry.tool
        let span = GenAISpans.tool(
            tool, server: server, callID: call.callID, thread: recorder.threadID, context: parent.context)
        defer { span.end() }
        let verdict = try await gate.decide(
            "tool.call", on: "\(server)/\(tool)", recorded: "tool:\(server)/\(tool)", recordingIn: &recorder,
            span: span)
        guard verdict.decision == .allow else {
            GenAISpans.failed(span, type: "denied", message: verdict.reason)
            recorder.stage(
                [
                    .toolResult(
                        ToolResult(
                            runID: id, callID: call.callID, server: server, tool: tool,
                            output: "permission denied: \(verdict.reason)", isError: true, latencyMilliseconds: 0))
                ],
                actor: agentActor)
            return
        }
        // The allow, the call's announcement and everything before them are durable before the tool runs.
        let calledID = c.makeID()
        recorder.stage(
            .toolCalled(
                ToolCalled(runID: id, callID: call.callID, server: server, tool: tool, arguments: call.arguments)),
            id: calledID, actor: agentActor)
        let calledSeq = try await recorder.flush().last ?? 0
        GenAISpans.opened(span, at: calledSeq)
        let started = c.now()
        let output: String, isError: Bool
        if let answered = world.answer(callID: call.callID, entry: entry) {
            (output, isError) = answered
        } else {
            switch entry {
            case .mcp(let definition, _):
                do {
                    // Under the tool's span: the MCP request carries it (`params._meta`, and over HTTP its headers).
                    let result = try await GenAISpans.within(span.context) { () async throws(MCPError) in
                        try await pool.call(
                            definition, tool: tool, arguments: JSONValue(parsing: call.arguments) ?? .object([:]),
                            timeout: c.toolTimeout, maxResultBytes: c.maxToolResultBytes)
                    }
                    (output, isError) = (result.text, result.isError)
                } catch {
                    (output, isError) = ("tool failed: \(error.message)", true)
                }
            case .recorded(let server, let tool):
                (output, isError) = ("\(server)/\(tool) is a recorded tool and nothing recorded answers it", true)
            case .agent(let worker):
                (output, isError) = try await delegate(
                    to: worker, arguments: call.arguments, calledID: calledID, calledSeq: calledSeq, span: span,
                    recorder: &recorder, configuration: c, pool: pool)
            }
        }
        if isError { GenAISpans.failed(span, type: "tool_error", message: String(output.prefix(200))) }
        let elapsed = c.now() - started
        recorder.stage(
            [
                .toolResult(
                    ToolResult(
                        runID: id, callID: call.callID, server: server, tool: tool, output: output, isError: isError,
                        latencyMilliseconds: elapsed.milliseconds))
            ],
            actor: agentActor)
    }

    /// Runs a worker agent on `task` as a nested run in the same thread: its own model (authorized), tools and sub-agents;
    /// `run.started` names this run as its parent and the delegating call as its cause. Returns its answer as a tool result.
    private func delegate(
        to worker: AgentDefinition, arguments: String, calledID: UUID, calledSeq: Seq, span: any Span,
        recorder: inout RunRecorder, configuration c: AgentRuntime.Configuration, pool: MCPPool
    ) async throws(EngineError) -> (String, Bool) {
        guard let task = JSONValue(parsing: arguments)?["task"]?.stringValue, !task.isEmpty else {
            return ("not run: give the \(worker.name) agent a task (a string)", true)
        }
        guard delegation.depth < Delegation.maxDepth else {
            return ("not run: delegation nests deeper than \(Delegation.maxDepth) agents", true)
        }
        let model: ResolvedModel
        let provider: any LLMProvider
        do {
            model = try delegation.resolver.resolve(
                registry: delegation.registry, workspace: delegation.workspace, agent: worker)
        } catch {
            return ("delegation failed: \(error.message)", true)
        }
        let verdict = try await gate.decide(
            "model.use", on: model.definition.name, recorded: "model:\(model.definition.name)", recordingIn: &recorder,
            span: span)
        guard verdict.decision == .allow else {
            return ("delegation failed: permission denied: \(verdict.reason)", true)
        }
        do { provider = try delegation.makeProvider(model.definition, c) } catch {
            return ("delegation failed: \(error.message)", true)
        }
        let tools = await world.toolbox(forWorker: worker, registry: delegation.registry, pool: pool)

        let childID = c.makeID()
        let parentCorrelation = recorder.correlationID
        recorder.correlationID = childID
        defer { recorder.correlationID = parentCorrelation }
        let actor = "agent:\(worker.name)"
        recorder.stage(
            [
                .runStarted(
                    RunStarted(runID: childID, agent: worker.name, model: model.definition.name, parentRunID: id))
            ], actor: actor, causedBy: calledID)
        let child = Run(
            id: childID, agentActor: actor, instructions: worker.instructions, model: model.definition,
            provider: provider, toolbox: tools,
            gate: gate, task: (calledSeq, task),
            delegation: Delegation(
                registry: delegation.registry, workspace: delegation.workspace, resolver: delegation.resolver,
                makeProvider: delegation.makeProvider, depth: delegation.depth + 1),
            world: world, toolChoice: worker.toolChoice.map(ToolChoice.init), traceContext: span.context,
            parentRunID: id)
        do {
            let result = try await child.execute(recorder: &recorder, configuration: c, pool: pool)
            return (
                result.answer ?? "the \(worker.name) agent stopped without an answer (\(result.status))",
                result.status != .completed
            )
        } catch {
            if error.kind == .storage { throw error }
            return ("delegation failed: \(error.message)", true)
        }
    }
}

/// FNV-1a (64-bit): a stable fingerprint of a text, to notice that it changed (not a security hash).
enum FNV1a {
    static func hex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
