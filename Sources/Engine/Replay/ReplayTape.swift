import EventStore
import Events
import Foundation
import Projections
import Synchronization

/// What a recorded run received from the world, served back in order: the model's responses, the tools' results,
/// and the tools each (nested) run was offered. No network, no side effects.
final class ReplayTape: Sendable {
    private struct State {
        var responses: [LLMResponse]
        var nextResponse = 0
        var results: [String: ToolResult]
        /// The tools offered to each delegated run, by agent, in the order the runs started.
        var nestedTools: [String: [[String]]]
        /// Set once a counterfactual run went live: from then on the model and the tools are the real ones.
        var live = false
    }

    private let state: Mutex<State>
    let registry: RegistryState

    /// - Parameters:
    ///   - events: the recorded run's events (its nested runs' included), in order.
    ///   - registry: the registry as of the run (worker agents' definitions).
    init(events: [(seq: Seq, event: DomainEvent)], registry: RegistryState) {
        var responses: [LLMResponse] = [], results: [String: ToolResult] = [:], nested: [String: [[String]]] = [:]
        var agentOfRun: [UUID: String] = [:], offered: Set<UUID> = []
        for (_, event) in events {
            switch event {
            case .llmResponse(let r): responses.append(r)
            case .toolResult(let r): results[r.callID] = r
            case .runStarted(let r) where r.parentRunID != nil: agentOfRun[r.runID] = r.agent
            case .llmRequest(let r):
                if let agent = agentOfRun[r.runID], offered.insert(r.runID).inserted {
                    nested[agent, default: []].append(Self.names(r.parameters["tools"]))
                }
            default: break
            }
        }
        state = Mutex(State(responses: responses, results: results, nestedTools: nested))
        self.registry = registry
    }

    static func names(_ list: String?) -> [String] { (list ?? "").split(separator: ",").map(String.init) }

    /// The next recorded model response, as the provider gave it.
    func nextResponse() -> LLMResponse? {
        state.withLock { s in
            guard s.nextResponse < s.responses.count else { return nil }
            defer { s.nextResponse += 1 }
            return s.responses[s.nextResponse]
        }
    }

    /// The recorded result of a tool call.
    func result(for callID: String) -> ToolResult? { state.withLock { $0.results[callID] } }

    /// Replaces a recorded tool result (a counterfactual's substitution).
    func substitute(output: String, for callID: String) -> Bool {
        state.withLock { s in
            guard var r = s.results[callID] else { return false }
            (r.output, r.isError) = (output, false)
            s.results[callID] = r
            return true
        }
    }

    /// Recorded responses served so far.
    var served: Int { state.withLock { $0.nextResponse } }

    /// Whether the run went live (model and tools called for real).
    var isLive: Bool { state.withLock { $0.live } }

    func goLive() { state.withLock { $0.live = true } }

    /// The toolbox of a run that was offered these tools (by wire name): recorded MCP tools, and worker agents as the
    /// registry defined them then.
    func toolbox(offering names: [String]) -> Toolbox {
        var box = Toolbox()
        for name in names {
            if name.hasPrefix("agent__"), let worker = registry.agents[String(name.dropFirst("agent__".count))]?.value {
                box.add(workers: [worker])
                continue
            }
            let parts = name.components(separatedBy: "__")
            let (server, tool) = parts.count >= 2 ? (parts[0], parts.dropFirst().joined(separator: "__")) : ("", name)
            box.byWireName[name] = .recorded(server: server, tool: tool)
            box.definitions.append(ToolDefinition(name: name, description: "recorded"))
        }
        return box
    }

    /// The toolbox of the next delegated run of `agent`.
    func toolbox(forWorker agent: String) -> Toolbox {
        let names = state.withLock { s -> [String] in
            guard var queue = s.nestedTools[agent], !queue.isEmpty else { return [] }
            let first = queue.removeFirst()
            s.nestedTools[agent] = queue
            return first
        }
        return toolbox(offering: names)
    }
}

extension ReplayTape: ToolWorld {
    /// Recorded tools are answered from the recording; an MCP tool too until a counterfactual goes live; worker agents
    /// run (their runs are replayed in turn).
    func answer(callID: String, entry: Toolbox.Entry) -> (output: String, isError: Bool)? {
        switch entry {
        case .recorded: break
        case .mcp: if isLive { return nil }
        case .agent: return nil
        }
        let recorded = result(for: callID)
        return (
            recorded?.output ?? "not in the recording: the original run made no call \(callID)",
            recorded?.isError ?? true
        )
    }

    /// The tools the recording shows the worker's next run was offered; once live, what the registry gives it now.
    func toolbox(forWorker worker: AgentDefinition, registry: RegistryState, pool: MCPPool) async -> Toolbox {
        if isLive { return await LiveWorld().toolbox(forWorker: worker, registry: registry, pool: pool) }
        return toolbox(forWorker: worker.name)
    }
}

/// A provider that answers with the tape's recorded responses, in order.
struct ReplayProvider: LLMProvider {
    let tape: ReplayTape
    let modelName: String
    var providerName: String { "replay" }

    func complete(
        _ request: ChatRequest, onText: (@Sendable (String) async -> Void)?
    ) async throws(LLMError) -> ChatResponse {
        guard let r = tape.nextResponse() else {
            throw LLMError(
                .malformedResponse,
                "the recording has no more model responses: the replay asked the model more often than the original run"
            )
        }
        return ChatResponse(
            text: r.text, toolCalls: r.toolCalls, finishReason: FinishReason(wire: r.finishReason),
            usage: TokenUsage(input: r.inputTokens, output: r.outputTokens), model: r.model)
    }
}

/// Serves the recording's responses for the first `liveFrom - 1` model calls, then calls a real model.
struct SwitchingProvider: LLMProvider {
    let tape: ReplayTape
    let live: any LLMProvider
    /// The first model step answered live (1-based).
    let liveFrom: Int
    var modelName: String { live.modelName }
    var providerName: String { live.providerName }

    func complete(
        _ request: ChatRequest, onText: (@Sendable (String) async -> Void)?
    ) async throws(LLMError) -> ChatResponse {
        if !tape.isLive, tape.served < liveFrom - 1 {
            return try await ReplayProvider(tape: tape, modelName: live.modelName).complete(request, onText: onText)
        }
        tape.goLive()
        return try await live.complete(request, onText: onText)
    }
}
