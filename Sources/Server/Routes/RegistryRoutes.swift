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
            try await remove(context, stream: "registry/models", kind: "model", exists: { $0.models[$1] != nil }) { .modelRemoved(ModelRemoved(name: $0)) }
        }
        group.put("registry/default-model", use: putDefault)
        group.put("workspaces/:workspace/default-model", use: putDefault)
        group.get("workspaces/:workspace/effective-model", use: effectiveModel)
        group.put("registry/mcp/:name", use: putMCP)
        group.delete("registry/mcp/:name") { request, context in
            try await remove(context, stream: "registry/mcp", kind: "mcp", exists: { $0.mcpServers[$1] != nil }) { .mcpServerRemoved(MCPServerRemoved(name: $0)) }
        }
        group.put("registry/agents/:name", use: putAgent)
        group.delete("registry/agents/:name") { request, context in
            try await remove(context, stream: "registry/agents", kind: "agent", exists: { $0.agents[$1] != nil }) { .agentRemoved(AgentRemoved(name: $0)) }
        }
    }

    struct RegistryBody: ResponseEncodable, Encodable {
        struct Server: Encodable {
            let definition: MCPServerDefinition
            let health: String
            let healthDetail: String?
        }
        let models: [ModelDefinition]
        let organizationDefault: String?
        let workspaceDefaults: [String: String]
        let mcpServers: [Server]
        let agents: [AgentDefinition]
    }

    func show(request: Request, context: AppRequestContext) async throws -> RegistryBody {
        let principal = try context.caller()
        try await authorizeRead(in: principal.workspace, as: principal)
        let s = try await state(at: request.uri.queryParameters.get("at", as: UInt64.self))
        let visible = s.workspaceDefaults.filter { runtime.wouldAllow("registry.read", on: "registry", workspace: $0.key, as: principal) }
        return RegistryBody(
            models: s.models.values.map(\.value).sorted { $0.name < $1.name }, organizationDefault: s.organizationDefault?.value,
            workspaceDefaults: visible.mapValues(\.value),
            mcpServers: s.mcpServers.values.map { .init(definition: $0.definition.value, health: $0.health?.status.rawValue ?? "unknown", healthDetail: $0.health?.detail) }
                .sorted { $0.definition.name < $1.definition.name },
            agents: s.agents.values.map(\.value).sorted { $0.name < $1.name })
    }

    struct ModelBody: KnownFields {
        static let fields: Set<String> = ["provider", "endpoint", "deployment", "apiVersion", "secretReference", "environment", "parameters"]
        let provider: String
        let endpoint: String
        let deployment: String?
        let apiVersion: String?
        let secretReference: String?
        let environment: DeploymentEnvironment?
        let parameters: [String: String]?
    }

    func putModel(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.parameters.require("name")
        let body = try await decode(ModelBody.self, request, context, example: #"{"provider": "openai", "endpoint": "https://api.openai.com/v1", "secretReference": "env:OPENAI_API_KEY"}"#)
        let model = ModelDefinition(name: name, provider: body.provider, endpoint: body.endpoint, deployment: body.deployment, apiVersion: body.apiVersion,
                                    secretReference: body.secretReference, environment: body.environment ?? .lab, parameters: body.parameters ?? [:])
        do { _ = try ModelEndpoint(model) } catch { throw APIError(.unprocessableContent, "invalid_model", error.message) }
        let exists = try await state().models[name] != nil
        try await change(exists ? .modelUpdated(ModelUpdated(model: model)) : .modelRegistered(ModelRegistered(model: model)),
                         in: "registry/models", resource: "model:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    struct DefaultBody: KnownFields {
        static let fields: Set<String> = ["model"]
        let model: String?
    }

    /// The org default (`/registry/default-model`) or a workspace's override; `{"model": null}` clears it.
    func putDefault(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let workspace = context.parameters.get("workspace")
        let body = try await decode(DefaultBody.self, request, context, example: #"{"model": "gpt-4o"}"#)
        if let model = body.model, try await state().models[model] == nil {
            throw APIError(.unprocessableContent, "unknown_model", "no model named '\(model)' is registered")
        }
        try await change(.defaultModelSet(DefaultModelSet(workspace: workspace, model: body.model)), in: "registry/models",
                         resource: workspace.map { "workspace:\($0)/default-model" } ?? "org/default-model", workspace: workspace, as: principal)
        return Response(status: .ok)
    }

    struct EffectiveBody: ResponseEncodable, Encodable {
        let model: String?
        let source: String
        let provenance: [UInt64]
        let problem: String?
    }

    func effectiveModel(request: Request, context: AppRequestContext) async throws -> EffectiveBody {
        let principal = try context.caller()
        let workspace = try context.parameters.require("workspace")
        try await authorizeRead(in: workspace, as: principal)
        let e = try await state(at: request.uri.queryParameters.get("at", as: UInt64.self)).effectiveModel(workspace: workspace)
        return EffectiveBody(model: e.name, source: e.source.rawValue, provenance: e.provenance, problem: e.problem)
    }

    struct MCPBody: KnownFields {
        static let fields: Set<String> = ["transport", "command", "url", "isInternal", "headers"]
        let transport: MCPTransport
        let command: [String]?
        let url: String?
        let isInternal: Bool?
        /// Header name → secret reference: an external server's own credentials.
        let headers: [String: String]?
    }

    func putMCP(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.parameters.require("name")
        let body = try await decode(MCPBody.self, request, context, example: #"{"transport": "stdio", "command": ["mcp-server-time"]}"#)
        switch body.transport {
        case .stdio where (body.command ?? []).isEmpty:
            throw APIError(.unprocessableContent, "invalid_mcp", "a stdio server needs a command, e.g. [\"mcp-server-time\"]")
        case .http where body.url.flatMap(URL.init(string:)).map { $0.scheme == "http" || $0.scheme == "https" } != true:
            throw APIError(.unprocessableContent, "invalid_mcp", "an http server needs an http(s) url")
        default: break
        }
        for header in (body.headers ?? [:]).keys where header.isEmpty || !header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) {
            throw APIError(.unprocessableContent, "invalid_mcp", "header names are printable ASCII without spaces or ':'")
        }
        let server = MCPServerDefinition(name: name, transport: body.transport, command: body.command ?? [], url: body.url, isInternal: body.isInternal ?? true,
                                         headers: body.headers ?? [:])
        let exists = try await state().mcpServers[name] != nil
        try await change(exists ? .mcpServerUpdated(MCPServerUpdated(server: server)) : .mcpServerRegistered(MCPServerRegistered(server: server)),
                         in: "registry/mcp", resource: "mcp:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    struct AgentBody: KnownFields {
        static let fields: Set<String> = ["instructions", "model", "allowedTools", "subAgents"]
        let instructions: String
        let model: String?
        let allowedTools: [String]?
        let subAgents: [String]?
    }

    func putAgent(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        let name = try context.parameters.require("name")
        let body = try await decode(AgentBody.self, request, context, example: #"{"instructions": "You help with Kubernetes.", "allowedTools": ["k8s/*"]}"#)
        let agent = AgentDefinition(name: name, instructions: body.instructions, model: body.model, allowedTools: body.allowedTools ?? [], subAgents: body.subAgents ?? [])
        let exists = try await state().agents[name] != nil
        try await change(exists ? .agentUpdated(AgentUpdated(agent: agent)) : .agentDefined(AgentDefined(agent: agent)),
                         in: "registry/agents", resource: "agent:\(name)", as: principal)
        return Response(status: exists ? .ok : .created)
    }

    // MARK: - Shared

    private func remove(_ context: AppRequestContext, stream: StreamID, kind: String, exists: (RegistryState, String) -> Bool,
                        _ event: (String) -> DomainEvent) async throws -> Response {
        let principal = try context.caller()
        let name = try context.parameters.require("name")
        guard exists(try await state(), name) else { throw APIError(.notFound, "not_found", "no \(kind) named '\(name)' is registered") }
        try await change(event(name), in: stream, resource: "\(kind):\(name)", as: principal)
        return Response(status: .noContent)
    }

    /// The registry now, or as of a seq.
    private func state(at seq: UInt64? = nil) async throws(APIError) -> RegistryState {
        do throws(EngineError) {
            if let seq { return try runtime.registry(asOf: seq) }
            return try await runtime.registry()
        } catch { throw APIError(error) }
    }

    /// Records a change as `principal`, decided in `workspace` (nil: the caller's own; organization-wide entries).
    private func change(_ event: DomainEvent, in stream: StreamID, resource: String, workspace: String? = nil, as principal: Principal) async throws(APIError) {
        do { try await runtime.changeRegistry(event, in: stream, resource: resource, workspace: workspace, as: principal) } catch { throw APIError(error) }
    }

    /// `registry.read` in `workspace`, recorded in `access/registry`.
    private func authorizeRead(in workspace: String, as principal: Principal) async throws(APIError) {
        do { try await runtime.authorize("registry.read", on: "registry", workspace: workspace, in: "access/registry", as: principal) } catch {
            throw APIError(error)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AppRequestContext, example: String) async throws -> T {
        try await request.decodeJSON(type, context: context, example: example)
    }
}
