import Events

/// `GET /v1/registry`: what the caller may see of the registry.
public struct RegistryBody: Codable, Sendable {
    /// An MCP server's definition and how its health was last found.
    public struct Server: Codable, Sendable {
        public let definition: MCPServerDefinition
        public let health: String
        public let healthDetail: String?
        /// When the health was last found (nil: never checked).
        public let healthChecked: String?
    }
    public let models: [ModelDefinition]
    public let organizationDefault: String?
    public let workspaceDefaults: [String: String]
    public let mcpServers: [Server]
    public let agents: [AgentDefinition]
}
