import Events
import Projections

/// Where a run's tool calls are answered and where a delegated run's tools come from. A live run calls the world
/// (`LiveWorld`: the MCP servers, the registry's worker agents); a replay answers from its recording (`ReplayTape`).
/// The run loop asks, and does not know which it has.
protocol ToolWorld: Sendable {
    /// The answer to call `callID` of `entry` without calling anything, or nil to make the call for real.
    func answer(callID: String, entry: Toolbox.Entry) -> (output: String, isError: Bool)?
    /// The tools offered to the next delegated run of `worker`.
    func toolbox(forWorker worker: AgentDefinition, registry: RegistryState, pool: MCPPool) async -> Toolbox
}

/// The world itself: every call is made, a worker gets the tools the registry gives it now.
struct LiveWorld: ToolWorld {
    func answer(callID: String, entry: Toolbox.Entry) -> (output: String, isError: Bool)? { nil }

    func toolbox(forWorker worker: AgentDefinition, registry: RegistryState, pool: MCPPool) async -> Toolbox {
        var tools = await Toolbox.assemble(servers: registry, allowed: worker.allowedTools, pool: pool)
        tools.add(workers: worker.subAgents.compactMap { registry.agents[$0]?.value })
        return tools
    }
}
