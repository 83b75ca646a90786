import EventStore
import Events
import Foundation
import Projections

/// One change to a recorded run, for a counterfactual re-execution.
public struct Substitution: Sendable, Equatable {
    /// Other instructions for the run's agent.
    public var instructions: String?
    /// Other results for recorded tool calls, by call id.
    public var toolResults: [String: String]
    /// Another policy for the run's gates — for a recorded re-execution only (no `liveFrom`, no `model`): a live step
    /// is always decided by the server's policy, as the caller.
    public var policy: Policy?
    /// Another registered model, called live from `liveFrom` (default: step 1).
    public var model: String?
    /// The first model step answered live (the model and tools called for real, as the caller, through the gate);
    /// nil: the recording answers every step.
    public var liveFrom: Int?

    public init(
        instructions: String? = nil, toolResults: [String: String] = [:], policy: Policy? = nil, model: String? = nil,
        liveFrom: Int? = nil
    ) {
        (self.instructions, self.toolResults, self.policy, self.model, self.liveFrom) = (
            instructions, toolResults, policy, model, liveFrom
        )
    }

    /// What it changes, in words (recorded with the fork).
    public var summary: String {
        var parts: [String] = []
        if let instructions { parts.append("instructions: \(instructions.prefix(200))") }
        for (id, output) in toolResults.sorted(by: { $0.key < $1.key }) {
            parts.append("tool result \(id): \(output.prefix(200))")
        }
        if policy != nil { parts.append("another policy") }
        if let model { parts.append("model: \(model)") }
        if let liveFrom { parts.append("live from step \(liveFrom)") }
        return parts.isEmpty ? "nothing (a recorded re-execution into a new thread)" : parts.joined(separator: "; ")
    }
}

/// What a counterfactual run did: the new thread and where it parted from the recording.
public struct CounterfactualResult: Sendable, Codable, Equatable {
    public var threadID: String
    public var forkedAtSeq: Seq
    public var substitution: String
    public var stepsMatched: Int
    public var divergence: Divergence?
}

extension Debugger {
    /// Runs one recorded run of `thread` again with `substitution`, into a new thread `threadID` that forks the
    /// original just before the run (the fork records what was substituted) and holds the new run's events. The
    /// recording answers the model and the tools up to `liveFrom`. Without `liveFrom` (or a substituted model) nothing
    /// runs: the gates decide as the recorded asker, under the substituted policy if one is given, and each decision
    /// recorded says it was hypothetical and who asked. With one, the run is live: every gate is the server's policy
    /// deciding for the caller, and the model (the substituted one or the run's own) and the tools are called for real
    /// only when it allows. The result compares the new run with the recorded one.
    /// - Parameter run: the recorded run (nil: the thread's first).
    /// - Throws: `invalidArgument` (not a thread id), `notFound`, `unprocessable` (no such run, an unknown tool call id or model), `denied`,
    ///   `conflict`, `storage`. A substituted policy with a live run is `invalidArgument`.
    public func counterfactual(
        thread source: ThreadID, run runID: UUID? = nil, substituting substitution: Substitution,
        into threadID: ThreadID,
        as principal: Principal, token: String? = nil
    ) async throws(EngineError) -> CounterfactualResult {
        try await forwarding(token) { () async throws(EngineError) -> CounterfactualResult in
            try await self.runCounterfactual(source, runID, substitution, threadID, principal)
        }
    }

    private func runCounterfactual(
        _ source: ThreadID, _ runID: UUID?, _ substitution: Substitution, _ threadID: ThreadID,
        _ principal: Principal
    ) async throws(EngineError) -> CounterfactualResult {
        try await engine.access.authorizeRead(thread: source, as: principal)
        let history = try RunRecorder.history(of: source.stream, in: store).events
        guard
            let index = history.firstIndex(where: {
                if case .runStarted(let r) = $0.event {
                    r.parentRunID == nil && r.agent != "openai-compatible" && (runID == nil || r.runID == runID)
                } else {
                    false
                }
            })
        else {
            throw EngineError(
                .unprocessable,
                runID.map { "thread '\(source)' has no run \($0.uuidString.lowercased()) to re-run" }
                    ?? "thread '\(source)' has no run to re-run")
        }
        guard let r = try recordedRun(at: index, of: history) else {
            throw EngineError(.unprocessable, "no recorded chat decision names who asked for that run")
        }
        for (id, output) in substitution.toolResults where !r.tape.substitute(output: output, for: id) {
            throw EngineError(.unprocessable, "the run made no tool call '\(id)'")
        }
        let live = substitution.liveFrom.map { max($0, 1) } ?? (substitution.model != nil ? 1 : nil)
        if substitution.policy != nil, live != nil {
            throw EngineError(
                .invalidArgument,
                "a substituted policy shapes a recorded re-execution only; a live run (liveFrom, model) is always decided by the server's policy"
            )
        }
        var model = r.model
        let current = try await registryState()
        if let name = substitution.model {
            guard let m = current.models[name]?.value else {
                throw EngineError(.unprocessable, "there is no model '\(name)'")
            }
            model = m
        } else if live != nil, let m = current.models[r.model.name]?.value {
            model = m
        }

        let forked = try await fork(
            source, at: r.prior.last!.seq, into: threadID, as: principal, substitution: substitution.summary)
        let stream = threadID.stream
        var recorder = RunRecorder(
            store: store, stream: stream, workspace: forked.workspace, observer: nil,
            history: try RunRecorder.history(of: stream, in: store).events)
        let before = recorder.history.count
        // Nothing runs in a recorded re-execution: decide as the recorded asker, marked as hypothetical. A live run is
        // the caller's, under the server's policy, whatever was substituted.
        let gate =
            live == nil
            ? Gate(
                policy: substitution.policy ?? engine.access.currentPolicy().policy, principal: r.asker,
                workspace: forked.workspace,
                hypotheticalFor: principal.subject)
            : gate(for: principal, in: forked.workspace)
        let tape = r.tape
        let factory = makeProvider, settings = configuration
        let provider: any LLMProvider
        let makeWorkerProvider: AgentRuntime.ProviderFactory
        var toolbox: Toolbox
        if let live {
            do { provider = SwitchingProvider(tape: tape, live: try factory(model, settings), liveFrom: live) } catch {
                throw EngineError(.noModel, error.message, cause: error)
            }
            makeWorkerProvider = { (definition, c) throws(LLMError) in
                SwitchingProvider(tape: tape, live: try factory(definition, c), liveFrom: live)
            }
            toolbox = await Toolbox.assemble(servers: current, allowed: r.agent?.allowedTools ?? ["*"], pool: pool)
            toolbox.add(workers: (r.agent?.subAgents ?? []).compactMap { current.agents[$0]?.value })
        } else {
            provider = ReplayProvider(tape: tape, modelName: model.name)
            makeWorkerProvider = { (definition, _) throws(LLMError) in
                ReplayProvider(tape: tape, modelName: definition.name)
            }
            toolbox = tape.toolbox(offering: r.offered)
        }
        let newRunID = configuration.makeID()
        let actor = "agent:\(r.started.agent)"
        let run = Run(
            id: newRunID, agentActor: actor,
            instructions: substitution.instructions ?? r.agent?.instructions ?? configuration.defaultInstructions,
            model: model, provider: provider, toolbox: toolbox, gate: gate, task: nil,
            delegation: Run.Delegation(
                registry: live == nil ? r.registry : current, workspace: forked.workspace,
                resolver: ModelResolver(environment: configuration.environment), makeProvider: makeWorkerProvider,
                depth: 0),
            world: tape, toolChoice: r.agent?.toolChoice.map(ToolChoice.init))
        var runSettings = configuration
        runSettings.streaming = false
        if live == nil { runSettings.retry = .none }
        try await run.reexecute(agent: r.started.agent, recorder: &recorder, configuration: runSettings, pool: pool)
        let lookup = Dictionary(history.map { ($0.seq, $0.event) }, uniquingKeysWith: { a, _ in a })
        let outcome = Self.compare(
            r.recorded, Array(recorder.history[before...]), lookup: lookup, runID: r.started.runID)
        return CounterfactualResult(
            threadID: threadID.rawValue, forkedAtSeq: forked.atSeq, substitution: substitution.summary,
            stepsMatched: outcome.matched, divergence: outcome.divergence)
    }
}
