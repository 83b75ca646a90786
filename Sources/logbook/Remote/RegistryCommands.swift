import ArgumentParser
import Events
import Foundation
import Server

/// `logbook models|mcp|agents`: the registry, through a running server (each change authorized and recorded as the
/// token's subject).
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List, register and remove LLM models; set the org default or a workspace's.",
        subcommands: [List.self, Set.self, Remove.self, Default.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The registered models and the defaults.")
        @OptionGroup var remote: ServerOptions
        @Flag(help: "Print the server's JSON.") var json = false

        func run() async throws {
            guard let registry = try await Registry.fetch(remote, json: json) else { return }
            Table.print(
                ["NAME", "PROVIDER", "ENDPOINT", "ENV", "SECRET"],
                registry.models.map { m in
                    [m.name, m.provider, m.endpoint, m.environment.rawValue, m.secretReference ?? "-"]
                })
            print("org default: \(registry.organizationDefault ?? "(none)")")
            for (workspace, model) in registry.workspaceDefaults.sorted(by: { $0.key < $1.key }) {
                print("workspace \(workspace): \(model)")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register or update a model.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The model's name.") var name: String
        @Option(help: "openai, azure-openai, anthropic, ollama, vllm, llama.cpp or openai-compatible.") var provider:
            String
        @Option(help: "The base URL, e.g. https://api.openai.com/v1.") var endpoint: String
        @Option(help: "Azure: the deployment.") var deployment: String?
        @Option(help: "Azure or Anthropic: the API version.") var apiVersion: String?
        @Option(help: "Where the key is: env:NAME or file:PATH (never the key itself).") var secret: String?
        @Option(help: "LAB, NONPROD or PROD.") var environment: String?

        func run() async throws {
            let body = ModelBody(
                provider: provider, endpoint: endpoint, deployment: deployment, apiVersion: apiVersion,
                secretReference: secret,
                environment: try environment.map { (name) throws in
                    guard let known = DeploymentEnvironment(rawValue: name) else {
                        throw ValidationError("--environment is LAB, NONPROD or PROD, not '\(name)'")
                    }
                    return known
                })
            let answer = try await remote.client().send(
                .PUT, "/v1/registry/models/\(APIClient.escape(name))", body: body)
            print("model \(name) \(answer.status == 201 ? "registered" : "updated")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a model.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The model's name.") var name: String

        func run() async throws { try await Registry.remove("models", "model", name, remote) }
    }

    struct Default: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the org default model (or a workspace's); --clear removes it.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The model (registered).") var model: String?
        @Option(help: "Set this workspace's override instead of the org default.") var workspace: String?
        @Flag(help: "Clear the default instead.") var clear = false

        func validate() throws {
            guard (model == nil) == clear else { throw ValidationError("name a model, or pass --clear") }
        }

        func run() async throws {
            let path =
                workspace.map { "/v1/workspaces/\(APIClient.escape($0))/default-model" } ?? "/v1/registry/default-model"
            try await remote.client().send(.PUT, path, body: DefaultModelBody(model: model))
            print("\(workspace.map { "workspace \($0)" } ?? "org") default: \(model ?? "(cleared)")")
        }
    }
}

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp", abstract: "List, register and remove MCP servers.",
        subcommands: [List.self, Set.self, Remove.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The registered MCP servers and their health.")
        @OptionGroup var remote: ServerOptions
        @Flag(help: "Print the server's JSON.") var json = false

        func run() async throws {
            guard let registry = try await Registry.fetch(remote, json: json) else { return }
            Table.print(
                ["NAME", "TRANSPORT", "COMMAND / URL", "INTERNAL", "HEALTH"],
                registry.mcpServers.map { s in
                    let d = s.definition
                    return [
                        d.name, d.transport.rawValue, d.url ?? d.command.joined(separator: " "),
                        d.isInternal ? "yes" : "no",
                        ([s.health] + [s.healthDetail].compactMap { $0 }).joined(separator: ": "),
                    ]
                })
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register or update an MCP server: a command (stdio) or a URL (streamable HTTP).")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The server's name.") var name: String
        @Option(help: "Streamable HTTP: the server's URL.") var url: String?
        @Flag(help: "An external server (tools reach outside the organization).") var external = false
        @Argument(parsing: .postTerminator, help: "stdio: the command and its arguments, after --.") var command:
            [String] = []

        func validate() throws {
            guard (url == nil) != command.isEmpty else {
                throw ValidationError(
                    "give a --url, or a command after --, e.g. logbook mcp set time -- mcp-server-time")
            }
        }

        func run() async throws {
            let body = MCPServerBody(
                transport: url == nil ? .stdio : .http, command: url == nil ? command : nil, url: url,
                isInternal: !external)
            let answer = try await remote.client().send(.PUT, "/v1/registry/mcp/\(APIClient.escape(name))", body: body)
            print("mcp server \(name) \(answer.status == 201 ? "registered" : "updated")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an MCP server.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The server's name.") var name: String

        func run() async throws { try await Registry.remove("mcp", "mcp server", name, remote) }
    }
}

struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List, define and remove agents.",
        subcommands: [List.self, Set.self, Remove.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The defined agents.")
        @OptionGroup var remote: ServerOptions
        @Flag(help: "Print the server's JSON.") var json = false

        func run() async throws {
            guard let registry = try await Registry.fetch(remote, json: json) else { return }
            Table.print(
                ["NAME", "MODEL", "TOOLS", "SUB-AGENTS", "INSTRUCTIONS"],
                registry.agents.map { a in
                    [
                        a.name, a.model ?? "(default)", a.allowedTools.joined(separator: ","),
                        a.subAgents.joined(separator: ","), String(a.instructions.prefix(60)),
                    ]
                })
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Define or update an agent.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The agent's name.") var name: String
        @Option(help: "Its instructions (system prompt).") var instructions: String
        @Option(help: "Its model (default: the workspace's).") var model: String?
        @Option(name: .customLong("tool"), help: "A tool pattern it may call, server/tool (repeat).") var tools:
            [String] = []
        @Option(name: .customLong("sub-agent"), help: "An agent it may delegate to (repeat).") var subAgents: [String] =
            []

        func run() async throws {
            let body = AgentBody(instructions: instructions, model: model, allowedTools: tools, subAgents: subAgents)
            let answer = try await remote.client().send(
                .PUT, "/v1/registry/agents/\(APIClient.escape(name))", body: body)
            print("agent \(name) \(answer.status == 201 ? "defined" : "updated")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an agent.")
        @OptionGroup var remote: ServerOptions
        @Argument(help: "The agent's name.") var name: String

        func run() async throws { try await Registry.remove("agents", "agent", name, remote) }
    }
}

/// The registry as the server shows it; with `json`, printed as is (and nil returned).
enum Registry {
    /// Removes an entry (`collection`: models, mcp or agents).
    static func remove(_ collection: String, _ label: String, _ name: String, _ remote: ServerOptions) async throws {
        try await remote.client().send(.DELETE, "/v1/registry/\(collection)/\(APIClient.escape(name))")
        print("\(label) \(name) removed")
    }

    static func fetch(_ remote: ServerOptions, json: Bool) async throws -> RegistryBody? {
        let answer = try await remote.client().send(.GET, "/v1/registry")
        if json { print(String(decoding: answer.body, as: UTF8.self)); return nil }
        return try answer.decode(RegistryBody.self)
    }
}

/// Left-aligned columns, two spaces apart; every cell made safe for a terminal (`terminalSafeLine`).
enum Table {
    static func print(_ header: [String], _ rows: [[String]]) { Swift.print(render(header, rows), terminator: "") }

    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let all = ([header] + rows).map { $0.map(\.terminalSafeLine) }
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { i in
                i == row.count - 1 ? row[i] : row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ") + "\n"
        }.joined()
    }
}
