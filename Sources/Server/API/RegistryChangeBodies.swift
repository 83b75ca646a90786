import Events

/// `PUT /v1/registry/models/{name}`.
public struct ModelBody: Codable, Sendable {
    public let provider: String
    public let endpoint: String
    public let deployment: String?
    public let apiVersion: String?
    public let secretReference: String?
    public let environment: DeploymentEnvironment?
    /// Strings, numbers or booleans (`{"max_tokens": 512, "temperature": 0.2}`), kept as text.
    public let parameters: [String: JSONValue]?

    public init(
        provider: String, endpoint: String, deployment: String? = nil, apiVersion: String? = nil,
        secretReference: String? = nil, environment: DeploymentEnvironment? = nil,
        parameters: [String: JSONValue]? = nil
    ) {
        (self.provider, self.endpoint, self.deployment, self.apiVersion) = (provider, endpoint, deployment, apiVersion)
        (self.secretReference, self.environment, self.parameters) = (secretReference, environment, parameters)
    }
}

/// `PUT /v1/registry/default-model` and a workspace's: `model` nil (null or left out) clears it.
public struct DefaultModelBody: Codable, Sendable {
    public let model: String?
    public init(model: String?) { self.model = model }
}

/// `PUT /v1/registry/mcp/{name}`.
public struct MCPServerBody: Codable, Sendable {
    public let transport: MCPTransport
    public let command: [String]?
    public let url: String?
    public let isInternal: Bool?
    /// Header name → secret reference: an external server's own credentials.
    public let headers: [String: String]?

    public init(
        transport: MCPTransport, command: [String]? = nil, url: String? = nil, isInternal: Bool? = nil,
        headers: [String: String]? = nil
    ) {
        (self.transport, self.command, self.url, self.isInternal, self.headers) = (
            transport, command, url, isInternal, headers
        )
    }
}

/// `PUT /v1/registry/mcp/{name}/maintenance`.
public struct MaintenanceBody: Codable, Sendable {
    public let maintenance: Bool
    public let reason: String?
    public init(maintenance: Bool, reason: String? = nil) { (self.maintenance, self.reason) = (maintenance, reason) }
}

/// `PUT /v1/registry/agents/{name}`.
public struct AgentBody: Codable, Sendable {
    public let instructions: String
    public let model: String?
    public let allowedTools: [String]?
    public let subAgents: [String]?
    /// `auto`, `none`, `required`, or a tool's wire name (`server__tool`): whether the agent must call a tool.
    public let toolChoice: String?

    public init(
        instructions: String, model: String? = nil, allowedTools: [String]? = nil, subAgents: [String]? = nil,
        toolChoice: String? = nil
    ) {
        (self.instructions, self.model, self.allowedTools, self.subAgents, self.toolChoice) = (
            instructions, model, allowedTools, subAgents, toolChoice
        )
    }
}
