import EventStore
import Events
import Foundation
import Projections

extension RegistryService {
    /// The registry as it stands.
    public func state() async throws(EngineError) -> RegistryState { try await registryState() }

    /// The registry as it stood after the event at `seq` (a fold of the registry streams up to there).
    public func state(asOf seq: Seq) throws(EngineError) -> RegistryState {
        do {
            return try ProjectionRunner.state(
                of: RegistryProjection.self, asOf: seq, in: store, streams: RegistryProjection.streams)
        } catch {
            throw EngineError(.storage, "reading the registry as of seq \(seq) failed: \(error)")
        }
    }

    /// Records a registry change made by `principal`: authorized as `registry.admin` on `resource` in `workspace`
    /// (nil: the caller's own, for organization-wide entries; a workspace's override is decided in that workspace) —
    /// the decision and the change go into `stream` together, the change only when allowed. A model's secret
    /// reference must be one the operator allowed (`SecretScope`).
    /// - Throws: `denied` (recorded), `unprocessable` (a secret reference outside the scope), `storage`.
    public func changeRegistry(
        _ change: DomainEvent, in stream: StreamID, resource: String, workspace: String? = nil,
        as principal: Principal
    ) async throws(EngineError) {
        let model: ModelDefinition? =
            switch change {
            case .modelRegistered(let m): m.model
            case .modelUpdated(let m): m.model
            default: nil
            }
        let server: MCPServerDefinition? =
            switch change {
            case .mcpServerRegistered(let m): m.server
            case .mcpServerUpdated(let m): m.server
            default: nil
            }
        for reference in [model?.secretReference].compactMap({ $0 }) + (server?.headers.values.sorted() ?? []) {
            do { try configuration.secrets.check(reference) } catch {
                throw EngineError(.unprocessable, error.description)
            }
        }
        let workspace = workspace ?? principal.workspace
        var recorder = RunRecorder(store: store, stream: stream, workspace: workspace, observer: nil, history: [])
        let gate = gate(for: principal, in: workspace)
        try await gate.require("registry.admin", on: resource, recordingIn: &recorder)
        try await recorder.record([change], actor: principal.subject)
        // A server removed or changed: its session ends now (a stdio server's process stops), not at its next use.
        switch change {
        case .mcpServerRemoved(let e): await pool.invalidate(e.name)
        case .mcpServerUpdated(let e): await pool.invalidate(e.server.name)
        default: break
        }
    }

    /// Lists an MCP server's tools afresh (an administrator's refresh): authorized as `registry.admin` on
    /// `mcp:<name>` and recorded in `registry/mcp`; the server's session is started again.
    /// - Throws: `denied` (recorded), `notFound` (no such server), `unavailable` (it cannot be started or listed),
    ///   `storage`.
    public func refreshTools(of name: String, as principal: Principal) async throws(EngineError) -> [MCPTool] {
        try await engine.access.authorize(
            "registry.admin", on: "mcp:\(name)", workspace: principal.workspace, in: "registry/mcp", as: principal)
        guard let server = try await registryState().mcpServers[name]?.definition.value else {
            throw EngineError(.notFound, "no MCP server named '\(name)' is registered")
        }
        await pool.invalidate(name)
        do { return try await pool.tools(of: server) } catch {
            throw EngineError(.unavailable, error.message, cause: error)
        }
    }
}

extension RegistryService {
    /// The registered models `principal` may use (`model.use`), by name; a listing, so the checks are not recorded
    /// (using one is).
    public func usableModels(as principal: Principal) async throws(EngineError) -> [UsableModel] {
        try await registryState().models.values
            .filter { [policy = engine.access.currentPolicy().policy] in
                policy.decide(principal, action: "model.use", resource: $0.value.name, workspace: principal.workspace)
                    .decision == .allow
            }
            .sorted { $0.value.name < $1.value.name }
            .map { entry in
                let registered = ((try? store.event(at: entry.seq)) ?? nil)?.timeNanoseconds
                return UsableModel(definition: entry.value, seq: entry.seq, registeredNanoseconds: registered ?? 0)
            }
    }
}

/// A model a caller may use, and when its definition was recorded.
public struct UsableModel: Sendable, Equatable {
    public var definition: ModelDefinition
    /// The seq of the event that defined it as it is.
    public var seq: Seq
    /// When that event was recorded (ns since the epoch).
    public var registeredNanoseconds: Int64
}
