import Events
import Foundation
import Projections

/// The tools one run may offer its model: those of the registry's healthy MCP servers that the agent allows, named
/// `server__tool` on the wire (model APIs allow no `/` in names), and the servers that could not be reached.
struct Toolbox: Sendable {
    /// What a wire name calls: a tool on an MCP server, or a worker agent (a nested run).
    enum Entry: Sendable {
        case mcp(MCPServerDefinition, MCPTool)
        case agent(AgentDefinition)
        /// A tool whose results a replay serves from the recording.
        case recorded(server: String, tool: String)

        /// The names the audit trail and the policy use: `server/tool`, or `agent/<name>`.
        var server: String {
            switch self {
            case .mcp(let server, _): server.name
            case .agent: "agent"
            case .recorded(let server, _): server
            }
        }
        var tool: String {
            switch self {
            case .mcp(_, let tool): tool.name
            case .agent(let agent): agent.name
            case .recorded(_, let tool): tool
            }
        }
    }

    var byWireName: [String: Entry] = [:]
    var definitions: [ToolDefinition] = []
    /// Servers left out, with why (recorded with the model request, so the log says the agent ran without them).
    var unavailable: [String: String] = [:]

    static func wireName(server: String, tool: String) -> String { "\(server)__\(tool)" }

    static func assemble(servers state: RegistryState, allowed: [String], pool: MCPPool) async -> Toolbox {
        var box = Toolbox()
        for (name, entry) in state.mcpServers.sorted(by: { $0.key < $1.key }) {
            // A pattern concerns this server when its part before the first `/` matches the name.
            guard
                allowed.contains(where: { Policy.glob($0.split(separator: "/", maxSplits: 1).first ?? "", name[...]) })
            else { continue }
            switch entry.health?.status {
            case .unhealthy?:
                box.unavailable[name] = "unhealthy: \(entry.health?.detail ?? "failed its last check")"
                continue
            case .maintenance?:
                box.unavailable[name] =
                    "in maintenance: \(entry.health?.detail ?? "taken out of use by an administrator")"
                continue
            default: break
            }
            do {
                for tool in try await pool.tools(of: entry.definition.value, healthSeq: entry.health?.seq)
                where allowed.contains(where: { Policy.glob($0[...], "\(name)/\(tool.name)"[...]) }) {
                    let wire = wireName(server: name, tool: tool.name)
                    box.byWireName[wire] = .mcp(entry.definition.value, tool)
                    box.definitions.append(
                        ToolDefinition(name: wire, description: tool.description, parameters: tool.inputSchema))
                }
            } catch {
                box.unavailable[name] = error.message
            }
        }
        return box
    }

    /// Offers each worker agent as a tool taking a `task`.
    mutating func add(workers: [AgentDefinition]) {
        for worker in workers {
            let wire = Self.wireName(server: "agent", tool: worker.name)
            byWireName[wire] = .agent(worker)
            let summary = worker.instructions.split(separator: "\n").first.map(String.init) ?? worker.name
            definitions.append(
                ToolDefinition(
                    name: wire, description: "Delegate a task to the \(worker.name) agent: \(summary.prefix(300))",
                    parameters: .object([
                        "type": .string("object"), "required": .array([.string("task")]),
                        "properties": .object([
                            "task": .object([
                                "type": .string("string"),
                                "description": .string("What the agent should do, self-contained"),
                            ])
                        ]),
                    ])))
        }
    }
}
