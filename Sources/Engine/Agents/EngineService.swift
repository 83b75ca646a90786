import EventStore
import Events
import Projections
import Synchronization

/// A service of the engine: one job over the core the services share (`AgentRuntime`). What the core holds and the
/// machinery every service uses are reached through here, so a service's code reads as if it owned them.
protocol EngineService: Sendable {
    var engine: AgentRuntime { get }
}

extension EngineService {
    var store: EventStore { engine.store }
    var configuration: AgentRuntime.Configuration { engine.configuration }
    var pool: MCPPool { engine.pool }
    var makeProvider: AgentRuntime.ProviderFactory { engine.makeProvider }
    var locks: ThreadLocks { engine.locks }
    var histories: HistoryCache { engine.histories }

    func forwarding<T: Sendable>(
        _ token: String?, _ body: () async throws(EngineError) -> T
    ) async throws(EngineError) -> T {
        try await engine.forwarding(token, body)
    }

    func registryState() async throws(EngineError) -> RegistryState { try await engine.registryState() }
    func remember(_ recorder: RunRecorder) { engine.remember(recorder) }
    /// The gate that decides for `principal` in `workspace` under the policy in force.
    func gate(for principal: Principal, in workspace: String) -> Gate {
        engine.access.gate(for: principal, in: workspace)
    }
}

/// Chat, the OpenAI-compatible completion, threads, and closing runs a crash cut short.
public struct Conversations: EngineService {
    let engine: AgentRuntime
}

/// Replay, fork, diff and counterfactual runs of recorded threads.
public struct Debugger: EngineService {
    let engine: AgentRuntime
}

/// The registry of models, MCP servers and agents: reads as of any seq, and changes (authorized and recorded).
public struct RegistryService: EngineService {
    let engine: AgentRuntime
}

/// The policy in force, its history and its changes, and the authorization of reads.
public struct AccessControl: EngineService {
    let engine: AgentRuntime
}
