import Foundation

/// Where a model or tool may be used.
public enum DeploymentEnvironment: String, Codable, Sendable, BinaryCodableEnum {
    case lab = "LAB", nonprod = "NONPROD", prod = "PROD"
    public static let cases: [Self] = [.lab, .nonprod, .prod]
}

/// An LLM endpoint. `secretReference` names where the API key lives (`env:NAME`, `file:PATH`); keys never enter the log.
public struct ModelDefinition: Codable, Sendable, Equatable, BinaryCodable {
    public var name: String
    /// `openai`, `azure-openai`, `anthropic`, `ollama`, …
    public var provider: String
    public var endpoint: String
    public var deployment: String?
    public var apiVersion: String?
    public var secretReference: String?
    public var environment: DeploymentEnvironment
    public var parameters: [String: String]

    public init(
        name: String, provider: String, endpoint: String, deployment: String? = nil, apiVersion: String? = nil,
        secretReference: String? = nil, environment: DeploymentEnvironment = .lab, parameters: [String: String] = [:]
    ) {
        (self.name, self.provider, self.endpoint, self.deployment, self.apiVersion) = (
            name, provider, endpoint, deployment, apiVersion
        )
        (self.secretReference, self.environment, self.parameters) = (secretReference, environment, parameters)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(name); w.write(provider); w.write(endpoint); w.write(deployment); w.write(apiVersion);
        w.write(secretReference)
        w.write(environment); w.write(parameters)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            name: try r.readString(), provider: try r.readString(), endpoint: try r.readString(),
            deployment: try r.readOptionalString(),
            apiVersion: try r.readOptionalString(), secretReference: try r.readOptionalString(),
            environment: try r.read(),
            parameters: try r.readStringMap())
    }
}

public struct ModelRegistered: EventPayload {
    public static let typeName = "model.registered"
    public var model: ModelDefinition
    public init(model: ModelDefinition) { self.model = model }
    public func encode(to w: inout BinaryWriter) { w.write(model) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(model: try r.read()) }
}

public struct ModelUpdated: EventPayload {
    public static let typeName = "model.updated"
    public var model: ModelDefinition
    public init(model: ModelDefinition) { self.model = model }
    public func encode(to w: inout BinaryWriter) { w.write(model) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(model: try r.read()) }
}

public struct ModelRemoved: EventPayload {
    public static let typeName = "model.removed"
    public var name: String
    public init(name: String) { self.name = name }
    public func encode(to w: inout BinaryWriter) { w.write(name) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(name: try r.readString()) }
}

/// The org's default model, or a workspace's override of it. A nil model clears the default or the override.
public struct DefaultModelSet: EventPayload {
    public static let typeName = "model.default.set"
    /// nil: the organization's default; otherwise the workspace whose override this is.
    public var workspace: String?
    public var model: String?

    public init(workspace: String? = nil, model: String?) { (self.workspace, self.model) = (workspace, model) }
    public func encode(to w: inout BinaryWriter) { w.write(workspace); w.write(model) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(workspace: try r.readOptionalString(), model: try r.readOptionalString())
    }
}

public enum MCPTransport: String, Codable, Sendable, BinaryCodableEnum {
    case stdio, http
    public static let cases: [Self] = [.stdio, .http]
}

/// An MCP server: a spawned command (stdio) or a streamable HTTP URL.
public struct MCPServerDefinition: Codable, Sendable, Equatable, BinaryCodable {
    public var name: String
    public var transport: MCPTransport
    public var command: [String]
    public var url: String?
    /// Internal servers run inside the platform and are sent the caller's token (the systems behind them check the
    /// caller); external ones are third-party and never see it.
    public var isInternal: Bool
    /// HTTP headers sent to the server, each a secret reference (`env:NAME`, `file:PATH`): an external server's own
    /// credentials, e.g. `["Authorization": "env:LOGBOOK_SECRET_VENDOR_TOKEN"]`.
    public var headers: [String: String]

    public init(
        name: String, transport: MCPTransport, command: [String] = [], url: String? = nil, isInternal: Bool = true,
        headers: [String: String] = [:]
    ) {
        (self.name, self.transport, self.command, self.url, self.isInternal, self.headers) = (
            name, transport, command, url, isInternal, headers
        )
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(name); w.write(transport); w.write(command); w.write(url); w.write(isInternal); w.write(headers)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            name: try r.readString(), transport: try r.read(), command: try r.readStrings(),
            url: try r.readOptionalString(),
            isInternal: try r.readBool(), headers: try r.readStringMap())
    }

    /// Layout 1 (before `headers`).
    static func version1(from r: inout BinaryReader) throws(PayloadDecodingError) -> MCPServerDefinition {
        MCPServerDefinition(
            name: try r.readString(), transport: try r.read(), command: try r.readStrings(),
            url: try r.readOptionalString(),
            isInternal: try r.readBool())
    }

    private enum CodingKeys: String, CodingKey { case name, transport, command, url, isInternal, headers }

    /// `headers` only when there are some, so the JSON of a server without any is as it was before them.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(transport, forKey: .transport)
        try c.encode(command, forKey: .command)
        try c.encodeIfPresent(url, forKey: .url)
        try c.encode(isInternal, forKey: .isInternal)
        if !headers.isEmpty { try c.encode(headers, forKey: .headers) }
    }

    /// JSON without `headers` (exports made before it) has none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            transport: try c.decode(MCPTransport.self, forKey: .transport),
            command: try c.decodeIfPresent([String].self, forKey: .command) ?? [],
            url: try c.decodeIfPresent(String.self, forKey: .url),
            isInternal: try c.decodeIfPresent(Bool.self, forKey: .isInternal) ?? true,
            headers: try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:])
    }
}

public struct MCPServerRegistered: EventPayload {
    public static let typeName = "mcp.registered"
    /// 2 added the server's `headers`.
    public static let schemaVersion: UInt64 = 2
    public var server: MCPServerDefinition
    public init(server: MCPServerDefinition) { self.server = server }
    public func encode(to w: inout BinaryWriter) { w.write(server) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(server: try r.read()) }
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> MCPServerRegistered {
        guard version == 1 else {
            throw PayloadDecodingError("mcp.registered has no upcast from schema version \(version)")
        }
        return MCPServerRegistered(server: try MCPServerDefinition.version1(from: &r))
    }
}

public struct MCPServerUpdated: EventPayload {
    public static let typeName = "mcp.updated"
    /// 2 added the server's `headers`.
    public static let schemaVersion: UInt64 = 2
    public var server: MCPServerDefinition
    public init(server: MCPServerDefinition) { self.server = server }
    public func encode(to w: inout BinaryWriter) { w.write(server) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(server: try r.read()) }
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> MCPServerUpdated {
        guard version == 1 else {
            throw PayloadDecodingError("mcp.updated has no upcast from schema version \(version)")
        }
        return MCPServerUpdated(server: try MCPServerDefinition.version1(from: &r))
    }
}

public struct MCPServerRemoved: EventPayload {
    public static let typeName = "mcp.removed"
    public var name: String
    public init(name: String) { self.name = name }
    public func encode(to w: inout BinaryWriter) { w.write(name) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(name: try r.readString()) }
}

/// How an MCP server is doing: as its last check found it, or taken out of use by an administrator (`maintenance`,
/// which checks leave alone until an administrator ends it).
public enum HealthStatus: String, Codable, Sendable, BinaryCodableEnum {
    case unknown, healthy, unhealthy, maintenance
    public static let cases: [Self] = [.unknown, .healthy, .unhealthy, .maintenance]
}

public struct MCPHealthChanged: EventPayload {
    public static let typeName = "mcp.health.changed"
    public var name: String
    public var status: HealthStatus
    public var detail: String?

    public init(name: String, status: HealthStatus, detail: String? = nil) {
        (self.name, self.status, self.detail) = (name, status, detail)
    }
    public func encode(to w: inout BinaryWriter) { w.write(name); w.write(status); w.write(detail) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(name: try r.readString(), status: try r.read(), detail: try r.readOptionalString())
    }
}

/// An agent: its instructions, model, the tools it may call (`server/tool` patterns), the workers it may delegate to,
/// and whether it must call a tool (`toolChoice`: `auto`, `none`, `required` or a tool's wire name; nil: the model
/// decides).
public struct AgentDefinition: Codable, Sendable, Equatable, BinaryCodable {
    public var name: String
    public var instructions: String
    public var model: String?
    public var allowedTools: [String]
    public var subAgents: [String]
    public var toolChoice: String?

    public init(
        name: String, instructions: String, model: String? = nil, allowedTools: [String] = [], subAgents: [String] = [],
        toolChoice: String? = nil
    ) {
        (self.name, self.instructions, self.model, self.allowedTools, self.subAgents) = (
            name, instructions, model, allowedTools, subAgents
        )
        self.toolChoice = toolChoice
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(name); w.write(instructions); w.write(model); w.write(allowedTools); w.write(subAgents);
        w.write(toolChoice)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            name: try r.readString(), instructions: try r.readString(), model: try r.readOptionalString(),
            allowedTools: try r.readStrings(), subAgents: try r.readStrings(), toolChoice: try r.readOptionalString())
    }

    /// Layout 1 (before `toolChoice`).
    static func version1(from r: inout BinaryReader) throws(PayloadDecodingError) -> AgentDefinition {
        AgentDefinition(
            name: try r.readString(), instructions: try r.readString(), model: try r.readOptionalString(),
            allowedTools: try r.readStrings(), subAgents: try r.readStrings())
    }
}

public struct AgentDefined: EventPayload {
    public static let typeName = "agent.defined"
    /// 2 added the agent's `toolChoice`.
    public static let schemaVersion: UInt64 = 2
    public var agent: AgentDefinition
    public init(agent: AgentDefinition) { self.agent = agent }
    public func encode(to w: inout BinaryWriter) { w.write(agent) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(agent: try r.read()) }
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> AgentDefined {
        guard version == 1 else {
            throw PayloadDecodingError("agent.defined has no upcast from schema version \(version)")
        }
        return AgentDefined(agent: try AgentDefinition.version1(from: &r))
    }
}

public struct AgentUpdated: EventPayload {
    public static let typeName = "agent.updated"
    /// 2 added the agent's `toolChoice`.
    public static let schemaVersion: UInt64 = 2
    public var agent: AgentDefinition
    public init(agent: AgentDefinition) { self.agent = agent }
    public func encode(to w: inout BinaryWriter) { w.write(agent) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(agent: try r.read()) }
    public static func upcast(
        from version: UInt64, _ r: inout BinaryReader
    ) throws(PayloadDecodingError) -> AgentUpdated {
        guard version == 1 else {
            throw PayloadDecodingError("agent.updated has no upcast from schema version \(version)")
        }
        return AgentUpdated(agent: try AgentDefinition.version1(from: &r))
    }
}

public struct AgentRemoved: EventPayload {
    public static let typeName = "agent.removed"
    public var name: String
    public init(name: String) { self.name = name }
    public func encode(to w: inout BinaryWriter) { w.write(name) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) { self.init(name: try r.readString()) }
}
