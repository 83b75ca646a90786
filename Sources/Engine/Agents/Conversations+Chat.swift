import EventStore
import Events
import Foundation
import Projections
import Synchronization

extension Conversations {
    /// Appends the user's message to the thread (starting it if new) and runs the agent until it answers, fails, or
    /// reaches `maxSteps`.
    /// - Parameter token: the caller's bearer token, forwarded to HTTP MCP servers so the systems behind them check
    ///   the caller themselves (never recorded).
    /// - Throws: `denied` (recorded) when the principal may not chat here or use the model; `sessionExpired`;
    ///   `noModel`; `llmFailed` when the model fails for good (the run is recorded as failed); `storage`; `cancelled`
    ///   when the caller's task is cancelled while the thread's turn ahead of it runs (nothing recorded).
    public func chat(
        _ turn: ChatTurn, as principal: Principal, token: String? = nil, observer: (any RunObserver)? = nil
    ) async throws(EngineError) -> RunResult {
        try await forwarding(token) { () async throws(EngineError) -> RunResult in
            try await self.run(turn, as: principal, observer: observer)
        }
    }

    private func run(
        _ turn: ChatTurn, as principal: Principal, observer: (any RunObserver)?
    ) async throws(EngineError) -> RunResult {
        try await engine.withThread(turn.threadID) { () async throws(EngineError) -> RunResult in
            try await self.run(taken: turn, as: principal, observer: observer)
        }
    }

    /// The run, once its thread is taken.
    private func run(
        taken turn: ChatTurn, as principal: Principal, observer: (any RunObserver)?
    ) async throws(EngineError) -> RunResult {
        let stream = turn.threadID.stream
        let (opened, gate, started) = try await engine.openTurn(
            stream, threadID: turn.threadID, as: principal, observer: observer)
        var recorder = opened
        defer { remember(recorder) }
        let workspace = recorder.workspace

        var opening: [DomainEvent] = []
        if started == nil {
            opening.append(
                .threadStarted(
                    ThreadStarted(
                        threadID: turn.threadID.rawValue, workspace: workspace, owner: principal.subject,
                        title: turn.title, agent: turn.agent)))
        }
        opening.append(.userMessage(UserMessage(text: turn.text)))
        // Staged, to go out with the model request in one commit; recorded at once should the turn end before it.
        recorder.stage(opening, actor: principal.subject)
        do {
            return try await start(
                turn, threadAgent: started?.agent, recorder: &recorder, gate: gate, principal: principal)
        } catch {
            if error.kind != .storage { _ = try? await recorder.flush() }
            throw error
        }
    }

    /// Resolves the agent — the one the turn names, else the thread's (from its `thread.started`; a fork's is its
    /// source's), else `default` if defined, else the built-in assistant — and its model (authorized), assembles its
    /// tools and runs it.
    private func start(
        _ turn: ChatTurn, threadAgent: String?, recorder: inout RunRecorder, gate: Gate, principal: Principal
    ) async throws(EngineError) -> RunResult {
        let workspace = recorder.workspace
        let state = try await registryState()
        let named = turn.agent ?? threadAgent
        let agentName = named ?? "default"
        let agent = state.agents[agentName]?.value
        if named != nil, agent == nil {
            if turn.agent == nil {
                throw EngineError(
                    .unprocessable,
                    "this thread's agent '\(agentName)' is no longer defined; name another with \"agent\" (GET /v1/registry lists them)"
                )
            }
            throw EngineError.unknownAgent(agentName)
        }
        let model: ResolvedModel
        if let name = turn.model {
            guard let chosen = state.models[name] else {
                throw EngineError(
                    .unprocessable, "no model named '\(name)' is registered; GET /v1/models lists those you may use")
            }
            model = ResolvedModel(definition: chosen.value, source: .chosen, provenance: [chosen.seq])
        } else {
            model = try ModelResolver(environment: configuration.environment).resolve(
                registry: state, workspace: workspace, agent: agent)
        }
        let allowed = try await gate.require(
            "model.use", on: model.definition.name, recorded: "model:\(model.definition.name)", recordingIn: &recorder)
        let provider: any LLMProvider
        do { provider = try makeProvider(model.definition, configuration) } catch {
            throw EngineError(.noModel, error.message, cause: error)
        }

        // A run id is made like an event id: time-ordered, and stored in a few bytes as the correlation id of every
        // event of the run (`EventIDNodes`).
        let runID = configuration.makeID()
        recorder.correlationID = runID
        let agentActor = "agent:\(agent?.name ?? "assistant")"
        recorder.stage(
            [.runStarted(RunStarted(runID: runID, agent: agent?.name ?? "assistant", model: model.definition.name))],
            actor: agentActor)
        var toolbox = await Toolbox.assemble(servers: state, allowed: agent?.allowedTools ?? ["*"], pool: pool)
        toolbox.add(workers: (agent?.subAgents ?? []).compactMap { state.agents[$0]?.value })
        let run = Run(
            id: runID, agentActor: agentActor, instructions: agent?.instructions ?? configuration.defaultInstructions,
            model: model.definition, provider: provider, toolbox: toolbox, gate: gate, task: nil,
            delegation: Run.Delegation(
                registry: state, workspace: workspace, resolver: ModelResolver(environment: configuration.environment),
                makeProvider: makeProvider, depth: 0),
            toolChoice: agent?.toolChoice.map(ToolChoice.init), openingDecisions: [allowed])
        return try await run.execute(recorder: &recorder, configuration: configuration, pool: pool)
    }
}
