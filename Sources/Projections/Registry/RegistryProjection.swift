import EventStore
import Events
import Foundation

/// The configuration as the log says it is: LLM models, the org default and workspace overrides, MCP servers with
/// their health, and agents. Every entry remembers the seq that set it.
public enum RegistryProjection: Projection {
    public static let name = "registry"
    /// 2: MCP servers carry their `headers` and agents their `toolChoice` (the checkpoint's layout changed).
    public static let version: UInt64 = 2
    /// The streams registry events live in; folding only these gives any past registry quickly.
    public static let streams: [StreamID] = ["registry/models", "registry/mcp", "registry/agents"]
    public static let eventTypes: Set<String> = [
        ModelRegistered.typeName, ModelUpdated.typeName, ModelRemoved.typeName, DefaultModelSet.typeName,
        MCPServerRegistered.typeName, MCPServerUpdated.typeName, MCPServerRemoved.typeName, MCPHealthChanged.typeName,
        AgentDefined.typeName, AgentUpdated.typeName, AgentRemoved.typeName,
    ]
    public static let initial = RegistryState()
    /// Message bodies, answers and tool outputs stay in the log.
    public static let readsBulkText = false

    public static func apply(_ event: DomainEvent, context c: EventContext, to s: inout RegistryState) {
        switch event {
        case .modelRegistered(let e): s.models[e.model.name] = Versioned(e.model, seq: c.seq)
        case .modelUpdated(let e): s.models[e.model.name] = Versioned(e.model, seq: c.seq)
        case .modelRemoved(let e): s.models[e.name] = nil
        case .defaultModelSet(let e):
            let value = e.model.map { Versioned($0, seq: c.seq) }
            if let workspace = e.workspace {
                s.workspaceDefaults[workspace] = value
            } else {
                s.organizationDefault = value
            }
        case .mcpServerRegistered(let e):
            s.mcpServers[e.server.name] = MCPServerEntry(
                definition: Versioned(e.server, seq: c.seq), health: s.mcpServers[e.server.name]?.health)
        case .mcpServerUpdated(let e):
            s.mcpServers[e.server.name] = MCPServerEntry(
                definition: Versioned(e.server, seq: c.seq), health: s.mcpServers[e.server.name]?.health)
        case .mcpServerRemoved(let e): s.mcpServers[e.name] = nil
        case .mcpHealthChanged(let e):
            s.mcpServers[e.name]?.health = HealthRecord(
                status: e.status, detail: e.detail, checkedAtNanoseconds: c.timeNanoseconds, seq: c.seq)
        case .agentDefined(let e): s.agents[e.agent.name] = Versioned(e.agent, seq: c.seq)
        case .agentUpdated(let e): s.agents[e.agent.name] = Versioned(e.agent, seq: c.seq)
        case .agentRemoved(let e): s.agents[e.name] = nil
        default: break
        }
    }
}

public struct HealthRecord: Sendable, Equatable, BinaryCodable {
    public var status: HealthStatus
    public var detail: String?
    public var checkedAtNanoseconds: Int64
    public var seq: Seq

    public func encode(to w: inout BinaryWriter) {
        w.write(status); w.write(detail); w.write(checkedAtNanoseconds); w.write(seq)
    }
    public init(status: HealthStatus, detail: String?, checkedAtNanoseconds: Int64, seq: Seq) {
        (self.status, self.detail, self.checkedAtNanoseconds, self.seq) = (status, detail, checkedAtNanoseconds, seq)
    }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            status: try r.read(), detail: try r.readOptionalString(), checkedAtNanoseconds: try r.readInt64(),
            seq: try r.readSeq())
    }
}

public struct MCPServerEntry: Sendable, Equatable, BinaryCodable {
    public var definition: Versioned<MCPServerDefinition>
    /// nil until the first health check.
    public var health: HealthRecord?

    public init(definition: Versioned<MCPServerDefinition>, health: HealthRecord?) {
        (self.definition, self.health) = (definition, health)
    }
    public func encode(to w: inout BinaryWriter) { w.write(definition); w.write(health) { $0.write($1) } }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            definition: try r.read(), health: try r.readOptional { (r) throws(PayloadDecodingError) in try r.read() })
    }
}

public struct RegistryState: Sendable, Equatable, BinaryCodable {
    public var models: [String: Versioned<ModelDefinition>] = [:]
    public var organizationDefault: Versioned<String>?
    public var workspaceDefaults: [String: Versioned<String>] = [:]
    public var mcpServers: [String: MCPServerEntry] = [:]
    public var agents: [String: Versioned<AgentDefinition>] = [:]

    public init() {}

    public func encode(to w: inout BinaryWriter) {
        w.write(models, key: { $0.write($1) }, value: { $0.write($1) })
        w.write(organizationDefault) { $0.write($1) }
        w.write(workspaceDefaults, key: { $0.write($1) }, value: { $0.write($1) })
        w.write(mcpServers, key: { $0.write($1) }, value: { $0.write($1) })
        w.write(agents, key: { $0.write($1) }, value: { $0.write($1) })
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        let string = { (r: inout BinaryReader) throws(PayloadDecodingError) -> String in try r.readString() }
        models = try r.readMap(key: string, value: { (r) throws(PayloadDecodingError) in try r.read() })
        organizationDefault = try r.readOptional { (r) throws(PayloadDecodingError) in try r.read() }
        workspaceDefaults = try r.readMap(key: string, value: { (r) throws(PayloadDecodingError) in try r.read() })
        mcpServers = try r.readMap(key: string, value: { (r) throws(PayloadDecodingError) in try r.read() })
        agents = try r.readMap(key: string, value: { (r) throws(PayloadDecodingError) in try r.read() })
    }

    /// The model a workspace uses and why: its override, else the organization's default.
    /// `provenance` lists the seqs of the events that made it so (the default or override, the model's definition).
    public func effectiveModel(workspace: String) -> EffectiveModel {
        let (choice, source): (Versioned<String>?, EffectiveModel.Source) =
            if let o = workspaceDefaults[workspace] { (o, .workspaceOverride) } else if let d = organizationDefault {
                (d, .organizationDefault)
            } else { (nil, .unset) }
        guard let choice else {
            return EffectiveModel(name: nil, model: nil, source: .unset, provenance: [], problem: nil)
        }
        guard let model = models[choice.value] else {
            return EffectiveModel(
                name: choice.value, model: nil, source: source, provenance: [choice.seq],
                problem:
                    "the \(source == .workspaceOverride ? "workspace override" : "organization default") names model '\(choice.value)', which is not registered"
            )
        }
        return EffectiveModel(
            name: choice.value, model: model.value, source: source, provenance: [choice.seq, model.seq].sorted(),
            problem: nil)
    }
}

/// A workspace's model with its provenance.
public struct EffectiveModel: Sendable, Equatable {
    public enum Source: String, Sendable, Codable { case workspaceOverride, organizationDefault, unset }
    public let name: String?
    public let model: ModelDefinition?
    public let source: Source
    /// Seqs of the events that decided it, oldest first.
    public let provenance: [Seq]
    /// Set when the choice points at a model that is not registered.
    public let problem: String?

    public init(name: String?, model: ModelDefinition?, source: Source, provenance: [Seq], problem: String?) {
        (self.name, self.model, self.source, self.provenance, self.problem) = (name, model, source, provenance, problem)
    }
}
