import EventStore
import Events
import Foundation
import Projections

/// Where a replay first differed from the recording.
public struct Divergence: Sendable, Codable, Equatable {
    /// The recorded run (its id) in which it happened.
    public var runID: String
    /// The position among the run's steps (0-based).
    public var index: Int
    /// What differed: prompt composition, tool choice or arguments, authorization, answer, run outcome…
    public var aspect: String
    /// The recorded step and the replayed one (nil where one side had no more steps).
    public var recorded: Step?
    public var replayed: Step?
    /// The first line of the compared content that differs (the recorded side first).
    public var detail: String
}

/// What a recorded re-execution found.
public struct ReplayReport: Sendable, Codable, Equatable {
    public var threadID: String
    /// The thread's runs that were re-executed (up to and including a diverging one).
    public var runsReplayed: Int
    /// Runs left out: those of the OpenAI-compatible endpoint (the client composed their prompts) and delegated runs
    /// (replayed within the run that delegated them).
    public var runsSkipped: Int
    /// Steps compared and found equal.
    public var stepsMatched: Int
    /// The first difference; nil when the replay reproduced the recording exactly.
    public var divergence: Divergence?
}

extension Debugger {
    /// Recorded re-execution: runs this engine (its code, instructions and the current policy) over each run of a
    /// recorded thread, with the recorded model responses and tool results served back in order — no network, no
    /// tools run, nothing appended — and compares the new steps with the recorded ones, stopping at the first
    /// difference. Each run starts from the recorded history before it, as the principal who asked then (subject and
    /// roles from the recorded `chat` decision), with agents and models as the registry defined them then.
    /// Reading the thread is authorized as `thread.read` and recorded — unless `recordingRead` is false, for a tool
    /// that owns the files (`logbook replay` on a log opened read-only, beside a running server): then nothing at all
    /// is appended.
    /// - Throws: `invalidArgument` (not a thread id), `notFound`, `denied`, `storage`.
    /// - Parameter rules: the policy to re-execute under (a dry run under other rules); nil: each run under the policy
    ///   the log recorded in force when it started (or the one in force now, for a log that recorded none).
    public func replay(
        thread threadID: ThreadID, as principal: Principal, recordingRead: Bool = true, under rules: Policy? = nil
    ) async throws(EngineError) -> ReplayReport {
        if recordingRead { try await engine.access.authorizeRead(thread: threadID, as: principal) }
        let stream = threadID.stream
        let history = try RunRecorder.history(of: stream, in: store).events
        guard !history.isEmpty else { throw .noThread(threadID) }
        var report = ReplayReport(
            threadID: threadID.rawValue, runsReplayed: 0, runsSkipped: 0, stepsMatched: 0, divergence: nil)
        let bySeq = Dictionary(history.map { ($0.seq, $0.event) }, uniquingKeysWith: { a, _ in a })
        for (index, entry) in history.enumerated() {
            guard case .runStarted(let started) = entry.event else { continue }
            guard started.parentRunID == nil, started.agent != "openai-compatible" else {
                if started.parentRunID == nil { report.runsSkipped += 1 }
                continue
            }
            let outcome = try await replayRun(
                started, at: index, of: history, bySeq: bySeq, rules: rules, stream: stream)
            report.runsReplayed += 1
            report.stepsMatched += outcome.matched
            if let divergence = outcome.divergence {
                report.divergence = divergence
                break
            }
        }
        return report
    }

    /// A recorded run and what re-executing it needs.
    struct RecordedRun {
        let started: RunStarted
        /// The history before the run (through the user message that started it), and the run's own events.
        let prior: [(seq: Seq, event: DomainEvent)]
        let recorded: [(seq: Seq, event: DomainEvent)]
        /// Who asked for it (from the recorded `chat` decision).
        let asker: Principal
        let registry: RegistryState
        let tape: ReplayTape
        let agent: AgentDefinition?
        let model: ModelDefinition
        /// The tools its first model request offered.
        let offered: [String]
    }

    /// The run that starts at `history[index]` with everything needed to run it again; nil when no recorded `chat`
    /// decision names who asked for it.
    func recordedRun(at index: Int, of history: [(seq: Seq, event: DomainEvent)]) throws(EngineError) -> RecordedRun? {
        guard case .runStarted(let started) = history[index].event else { return nil }
        // The run's input ends with the user message before it; its events run from there to its `run.finished`.
        let input =
            history[..<index].lastIndex { if case .userMessage = $0.event { true } else { false } } ?? (index - 1)
        // A run cut short (a crash, or a fork made mid-run) ends where the next turn or the fork begins.
        let end =
            history[index...].firstIndex {
                if case .runFinished(let f) = $0.event { f.runID == started.runID } else { false }
            }
            ?? history[(index + 1)...].firstIndex { e in
                switch e.event {
                case .threadForked, .userMessage: true
                case .authorizationDecided(let d): d.action == "chat"
                default: false
                }
            }.map { $0 - 1 } ?? (history.count - 1)
        let prior = Array(history[...input])
        let recorded = Array(history[(input + 1)...end])
        let asked = prior.last { if case .authorizationDecided(let d) = $0.event { d.action == "chat" } else { false } }
        guard case .authorizationDecided(let decision)? = asked?.event else { return nil }
        let registry = try engine.registry.state(asOf: history[index].seq)
        let firstRequest = recorded.lazy.compactMap {
            if case .llmRequest(let r) = $0.event, r.runID == started.runID { r } else { nil }
        }.first
        return RecordedRun(
            started: started, prior: prior, recorded: recorded,
            asker: Principal(
                subject: decision.subject, roles: decision.roles, workspace: decision.workspace,
                tokenID: decision.tokenID,
                expiry: decision.tokenExpiry ?? .max),
            registry: registry, tape: ReplayTape(events: recorded, registry: registry),
            agent: registry.agents[started.agent]?.value,
            model: registry.models[started.model]?.value
                ?? ModelDefinition(name: started.model, provider: "replay", endpoint: "replay:"),
            offered: ReplayTape.names(firstRequest?.parameters["tools"]))
    }

    /// The first step where two runs' steps differ, if any, and how many matched before it.
    static func compare(
        _ recorded: [(seq: Seq, event: DomainEvent)], _ replayed: [(seq: Seq, event: DomainEvent)],
        lookup: [Seq: DomainEvent], runID: UUID
    ) -> (matched: Int, divergence: Divergence?) {
        let newBySeq = Dictionary(replayed.map { ($0.seq, $0.event) }, uniquingKeysWith: { a, _ in a })
        let old = recorded.compactMap { Step.of($0.event, seq: $0.seq, lookup: { lookup[$0] }) }
        let new = replayed.compactMap { Step.of($0.event, seq: $0.seq, lookup: { newBySeq[$0] ?? lookup[$0] }) }
        for i in 0..<max(old.count, new.count) {
            let a = i < old.count ? old[i] : nil, b = i < new.count ? new[i] : nil
            if a?.kind != b?.kind || a?.key != b?.key {
                return (
                    i,
                    Divergence(
                        runID: runID.uuidString.lowercased(), index: i, aspect: (a ?? b)!.aspect, recorded: a,
                        replayed: b,
                        detail: Step.difference(a, b))
                )
            }
        }
        return (old.count, nil)
    }

    private func replayRun(
        _ started: RunStarted, at index: Int, of history: [(seq: Seq, event: DomainEvent)],
        bySeq: [Seq: DomainEvent], rules: Policy?,
        stream: StreamID
    ) async throws(EngineError) -> (matched: Int, divergence: Divergence?) {
        guard let r = try recordedRun(at: index, of: history) else {
            return (
                0,
                Divergence(
                    runID: started.runID.uuidString.lowercased(), index: 0, aspect: "authorization",
                    recorded: nil, replayed: nil, detail: "no recorded chat decision names who asked for this run")
            )
        }
        let (prior, recorded, tape, model, workspace) = (r.prior, r.recorded, r.tape, r.model, r.asker.workspace)
        var settings = configuration
        (settings.retry, settings.streaming) = (.none, false)
        let makeProvider: AgentRuntime.ProviderFactory = { (definition, _) throws(LLMError) in
            ReplayProvider(tape: tape, modelName: definition.name)
        }
        let inForce = rules == nil ? try engine.access.policy(asOf: history[index].seq) : nil
        let gate = Gate(
            policy: rules ?? inForce?.policy ?? engine.access.currentPolicy().policy, principal: r.asker,
            workspace: workspace,
            policyVersion: inForce?.version)
        let run = Run(
            id: started.runID, agentActor: "agent:\(started.agent)",
            instructions: r.agent?.instructions ?? configuration.defaultInstructions,
            model: model, provider: ReplayProvider(tape: tape, modelName: model.name),
            toolbox: tape.toolbox(offering: r.offered), gate: gate, task: nil,
            delegation: Run.Delegation(
                registry: r.registry, workspace: workspace, resolver: ModelResolver(environment: [:]),
                makeProvider: makeProvider, depth: 0),
            world: tape, toolChoice: r.agent?.toolChoice.map(ToolChoice.init))

        var recorder = RunRecorder(store: nil, stream: stream, workspace: workspace, observer: nil, history: prior)
        try await run.reexecute(agent: started.agent, recorder: &recorder, configuration: settings, pool: pool)
        let replayed = recorder.history.filter { $0.seq >= RunRecorder.virtualSeqBase }
        return Self.compare(recorded, replayed, lookup: bySeq, runID: started.runID)
    }
}

extension Run {
    /// Runs again what a recorded run did, as `AgentRuntime.run` starts one: `model.use` authorized, `run.started`,
    /// the steps. A run that stops early (a denial, an exhausted recording) keeps what it recorded so far — that is
    /// compared like the rest; only a storage failure is thrown.
    func reexecute(
        agent: String, recorder: inout RunRecorder, configuration: AgentRuntime.Configuration, pool: MCPPool
    ) async throws(EngineError) {
        do throws(EngineError) {
            try await gate.require("model.use", on: model.name, recorded: "model:\(model.name)", recordingIn: &recorder)
            recorder.correlationID = id
            recorder.stage([.runStarted(RunStarted(runID: id, agent: agent, model: model.name))], actor: agentActor)
            _ = try await execute(recorder: &recorder, configuration: configuration, pool: pool)
        } catch {
            if error.kind == .storage { throw error }
            _ = try? await recorder.flush()
        }
    }
}
