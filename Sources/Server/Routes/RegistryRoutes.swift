import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Projections

/// The registry: read it, and change models, defaults, MCP servers and agents. Reading is authorized as
/// `registry.read` in the caller's workspace (recorded in `access/registry`) and shows only the workspace overrides
/// the caller may read; every change is authorized as `registry.admin` (a workspace's override in that workspace) and
/// recorded with the acting subject; secrets must be references (`env:NAME`, `file:PATH`) that the operator allowed.
struct RegistryRoutes {
    let runtime: AgentRuntime

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("registry", use: show)
        group.put("registry/models/:name", use: putModel)
        group.delete("registry/models/:name") { request, context in
            try await remove(
                context, stream: "registry/models", kind: "model", exists: { $0.models[$1] != nil },
                inUse: Self.uses(of:in:)
            ) {
                .modelRemoved(ModelRemoved(name: $0))
            }
        }
        group.put("registry/default-model", use: putDefault)
        group.put("workspaces/:workspace/default-model", use: putDefault)
        group.get("workspaces/:workspace/effective-model", use: effectiveModel)
        group.put("registry/mcp/:name", use: putMCP)
        group.delete("registry/mcp/:name") { request, context in
            try await remove(context, stream: "registry/mcp", kind: "mcp", exists: { $0.mcpServers[$1] != nil }) {
                .mcpServerRemoved(MCPServerRemoved(name: $0))
            }
        }
        group.put("registry/mcp/:name/maintenance", use: putMaintenance)
        group.post("registry/mcp/:name/refresh", use: refresh)
        group.put("registry/agents/:name", use: putAgent)
        group.delete("registry/agents/:name") { request, context in
            try await remove(context, stream: "registry/agents", kind: "agent", exists: { $0.agents[$1] != nil }) {
                .agentRemoved(AgentRemoved(name: $0))
            }
        }
    }

    func show(request: Request, context: AppRequestContext) async throws -> RegistryBody {
        let principal = try context.caller()
        try await authorizeRead(in: principal.workspace, as: principal)
        let s = try await state(at: try request.seq("at"))
        let visible = s.workspaceDefaults.filter {
            runtime.access.wouldAllow("registry.read", on: "registry", workspace: $0.key, as: principal)
        }
        return RegistryBody(
            models: s.models.values.map(\.value).sorted { $0.name < $1.name },
            organizationDefault: s.organizationDefault?.value,
            workspaceDefaults: visible.mapValues(\.value),
            mcpServers: s.mcpServers.values.map {
                .init(
                    definition: $0.definition.value, health: $0.health?.status.rawValue ?? "unknown",
                    healthDetail: $0.health?.detail,
                    healthChecked: $0.health.map { Timestamp.rfc3339($0.checkedAtNanoseconds) })
            }
            .sorted { $0.definition.name < $1.definition.name },
            agents: s.agents.values.map(\.value).sorted { $0.name < $1.name })
    }

    func putModel(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let body = try await decode(
            ModelBody.self, request, context,
            example:
                #"{"provider": "openai", "endpoint": "https://api.openai.com/v1", "secretReference": "env:OPENAI_API_KEY"}"#
        )
        var parameters: [String: String] = [:]
        for (key, value) in body.parameters ?? [:] {
            switch value {
            case .string(let s): parameters[key] = s
            case .bool(let b): parameters[key] = String(b)
            case .number: parameters[key] = value.jsonText
            default:
                throw APIError(
                    .unprocessableContent, "invalid_model",
                    "parameters.\(key.prefix(64)) must be a string, a number or true/false")
            }
        }
        for key in ["max_tokens", "timeout", "first_byte_timeout", "idle_timeout"] {
            if let text = parameters[key], (Double(text) ?? 0) <= 0 {
                throw APIError(
                    .unprocessableContent, "invalid_model",
                    "parameters.\(key) must be a number above 0, not '\(text.prefix(40))'")
            }
        }
        let model = ModelDefinition(
            name: name, provider: body.provider, endpoint: body.endpoint, deployment: body.deployment,
            apiVersion: body.apiVersion,
            secretReference: body.secretReference, environment: body.environment ?? .lab, parameters: parameters)
        do { _ = try ModelEndpoint(model) } catch {
            throw APIError(.unprocessableContent, "invalid_model", error.message)
        }
        let exists = try await state().models[name] != nil
        try await change(
            exists ? .modelUpdated(ModelUpdated(model: model)) : .modelRegistered(ModelRegistered(model: model)),
            in: "registry/models", resource: "model:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    /// The org default (`/registry/default-model`) or a workspace's override; `{"model": null}` clears it.
    func putDefault(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let workspace = try context.parameters.get("workspace").map { _ in try context.entryName("workspace") }
        let body = try await decode(DefaultModelBody.self, request, context, example: #"{"model": "gpt-4o"}"#)
        if let model = body.model, try await state().models[model] == nil {
            throw APIError(.unprocessableContent, "unknown_model", "no model named '\(model)' is registered")
        }
        try await change(
            .defaultModelSet(DefaultModelSet(workspace: workspace, model: body.model)), in: "registry/models",
            resource: workspace.map { "workspace:\($0)/default-model" } ?? "org/default-model", workspace: workspace,
            as: principal)
        return Response(status: .ok)
    }

    struct EffectiveBody: ResponseEncodable, Codable {
        let model: String?
        let source: String
        let provenance: [Seq]
        let problem: String?
    }

    func effectiveModel(request: Request, context: AppRequestContext) async throws -> EffectiveBody {
        let principal = try context.caller()
        let workspace = try context.entryName("workspace")
        try await authorizeRead(in: workspace, as: principal)
        let e = try await state(at: try request.seq("at")).effectiveModel(
            workspace: workspace)
        return EffectiveBody(model: e.name, source: e.source.rawValue, provenance: e.provenance, problem: e.problem)
    }

    func putMCP(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let body = try await decode(
            MCPServerBody.self, request, context, example: #"{"transport": "stdio", "command": ["mcp-server-time"]}"#)
        switch body.transport {
        case .stdio where (body.command ?? []).isEmpty:
            throw APIError(
                .unprocessableContent, "invalid_mcp", "a stdio server needs a command, e.g. [\"mcp-server-time\"]")
        case .http where body.url.flatMap(URL.init(string:)).map { $0.scheme == "http" || $0.scheme == "https" } != true:
            throw APIError(.unprocessableContent, "invalid_mcp", "an http server needs an http(s) url")
        default: break
        }
        for header in (body.headers ?? [:]).keys
        where header.isEmpty || !header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) {
            throw APIError(
                .unprocessableContent, "invalid_mcp", "header names are printable ASCII without spaces or ':'")
        }
        let server = MCPServerDefinition(
            name: name, transport: body.transport, command: body.command ?? [], url: body.url,
            isInternal: body.isInternal ?? true,
            headers: body.headers ?? [:])
        let exists = try await state().mcpServers[name] != nil
        try await change(
            exists
                ? .mcpServerUpdated(MCPServerUpdated(server: server))
                : .mcpServerRegistered(MCPServerRegistered(server: server)),
            in: "registry/mcp", resource: "mcp:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    /// Takes a server out of use (`{"maintenance": true, "reason": "…"}`: runs leave it out, health checks leave it
    /// alone) or back in (`false`: its health is unknown until the next check). Recorded as `mcp.health.changed`.
    func putMaintenance(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let body = try await decode(
            MaintenanceBody.self, request, context,
            example: #"{"maintenance": true, "reason": "upgrading the cluster"}"#)
        guard try await state().mcpServers[name] != nil else {
            throw APIError(.notFound, "not_found", "no MCP server named '\(name)' is registered")
        }
        let change = MCPHealthChanged(
            name: name, status: body.maintenance ? .maintenance : .unknown,
            detail: body.reason.map { String($0.prefix(500)) }
                ?? (body.maintenance ? "maintenance" : "back from maintenance"))
        try await self.change(.mcpHealthChanged(change), in: "registry/mcp", resource: "mcp:\(name)", as: principal)
        return Response(status: .ok)
    }

    struct ToolsBody: ResponseEncodable, Codable {
        struct Tool: Codable {
            let name: String
            let description: String
        }
        let tools: [Tool]
    }

    /// Starts the server's session again and lists its tools afresh (`registry.admin`, recorded).
    func refresh(request: Request, context: AppRequestContext) async throws -> ToolsBody {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let tools = try await APIError.engine { () async throws(EngineError) in
            try await runtime.registry.refreshTools(of: name, as: principal)
        }
        return ToolsBody(tools: tools.map { .init(name: $0.name, description: $0.description) })
    }

    func putAgent(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let body = try await decode(
            AgentBody.self, request, context,
            example: #"{"instructions": "You help with Kubernetes.", "allowedTools": ["k8s/*"]}"#)
        if let choice = body.toolChoice, choice.isEmpty || choice.utf8.count > 128 {
            throw APIError(
                .unprocessableContent, "invalid_agent",
                "toolChoice is auto, none, required, or a tool's wire name (server__tool)")
        }
        let agent = AgentDefinition(
            name: name, instructions: body.instructions, model: body.model, allowedTools: body.allowedTools ?? [],
            subAgents: body.subAgents ?? [],
            toolChoice: body.toolChoice)
        let exists = try await state().agents[name] != nil
        try await change(
            exists ? .agentUpdated(AgentUpdated(agent: agent)) : .agentDefined(AgentDefined(agent: agent)),
            in: "registry/agents", resource: "agent:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    // MARK: - Shared

    /// What would break if the model `name` went: the defaults and agents that name it.
    static func uses(of name: String, in s: RegistryState) -> [String] {
        (s.organizationDefault?.value == name ? ["the organization's default"] : [])
            + s.workspaceDefaults.filter { $0.value.value == name }.keys.sorted().map { "workspace \($0)'s default" }
            + s.agents.values.filter { $0.value.model == name }.map(\.value.name).sorted().map { "agent \($0)" }
    }

    /// Removes an entry; one that something still uses (`inUse` names what) is refused with 409, so no later chat
    /// fails for want of it: change those first.
    private func remove(
        _ context: AppRequestContext, stream: StreamID, kind: String, exists: (RegistryState, String) -> Bool,
        inUse: (String, RegistryState) -> [String] = { _, _ in [] }, _ event: (String) -> DomainEvent
    ) async throws -> Response {
        let principal = try context.caller()
        let name = try context.entryName("name")
        let current = try await state()
        guard exists(current, name) else {
            throw APIError(.notFound, "not_found", "no \(kind) named '\(name)' is registered")
        }
        // Only someone who may change the registry learns what uses the entry; anyone else is refused by the gate below.
        let users = inUse(name, current)
        guard
            users.isEmpty
                || !runtime.access.wouldAllow(
                    "registry.admin", on: "\(kind):\(name)", workspace: principal.workspace, as: principal)
        else {
            throw APIError(
                .conflict, "in_use",
                "\(kind) '\(name)' is in use by \(users.joined(separator: ", ")); point those at another \(kind) (or clear them) first"
            )
        }
        try await change(event(name), in: stream, resource: "\(kind):\(name)", as: principal)
        return Response(status: .noContent)
    }

    /// The registry now, or as of a seq.
    private func state(at seq: Seq? = nil) async throws(APIError) -> RegistryState {
        do throws(EngineError) {
            if let seq { return try runtime.registry.state(asOf: seq) }
            return try await runtime.registry.state()
        } catch { throw APIError(error) }
    }

    /// Records a change as `principal`, decided in `workspace` (nil: the caller's own; organization-wide entries).
    private func change(
        _ event: DomainEvent, in stream: StreamID, resource: String, workspace: String? = nil, as principal: Principal
    ) async throws(APIError) {
        do {
            try await runtime.registry.changeRegistry(
                event, in: stream, resource: resource, workspace: workspace, as: principal)
        } catch { throw APIError(error) }
    }

    /// `registry.read` in `workspace`, recorded in `access/registry`.
    private func authorizeRead(in workspace: String, as principal: Principal) async throws(APIError) {
        do {
            try await runtime.access.authorize(
                "registry.read", on: "registry", workspace: workspace, in: "access/registry", as: principal)
        } catch {
            throw APIError(error)
        }
    }

    private func decode<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: AppRequestContext, example: String
    ) async throws -> T {
        try await request.decodeJSON(type, context: context, example: example)
    }
}
