import Hummingbird

// The bodies a route returns as its whole answer, and those it reads.
extension AuditPageBody: ResponseEncodable {}
extension ThreadListBody: ResponseEncodable {}
extension RunResultBody: ResponseEncodable {}
extension RegistryBody: ResponseEncodable {}
extension LogPageBody: ResponseEncodable {}
extension ThreadCreatedBody: ResponseEncodable {}
extension ThreadDetailBody: ResponseEncodable {}
extension ThreadEventsPageBody: ResponseEncodable {}

extension PostMessageBody: KnownFields {
    static let fields: Set<String> = ["text", "agent", "title", "stream", "model"]
}

extension ModelBody: KnownFields {
    static let fields: Set<String> = [
        "provider", "endpoint", "deployment", "apiVersion", "secretReference", "environment", "parameters",
    ]
}

extension DefaultModelBody: KnownFields {
    static let fields: Set<String> = ["model"]
    static let nullable: Set<String> = ["model"]
}

extension MCPServerBody: KnownFields {
    static let fields: Set<String> = ["transport", "command", "url", "isInternal", "headers"]
}

extension MaintenanceBody: KnownFields {
    static let fields: Set<String> = ["maintenance", "reason"]
}

extension AgentBody: KnownFields {
    static let fields: Set<String> = ["instructions", "model", "allowedTools", "subAgents", "toolChoice"]
}
