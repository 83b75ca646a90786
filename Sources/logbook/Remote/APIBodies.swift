import EventStore
import Events
import Foundation

/// The server's answers and requests, as the CLI reads and sends them (the fields it uses).
enum APIBody {
    struct Error: Decodable {
        struct Detail: Decodable { let code: String; let message: String }
        let error: Detail
    }

    struct AuditPage: Decodable {
        struct Entry: Decodable {
            let seq: Seq
            let time: String
            let actor: String
            let action: String
            let resource: String
            let decision: String?
            let reason: String
        }
        let entries: [Entry]
        let next: UInt64?
    }

    struct ThreadList: Decodable {
        struct Thread: Decodable {
            let id: String
            let owner: String
            let lastActivity: String
            let messageCount: Int
            let runCount: Int
            let status: String
            let title: String?
        }
        let threads: [Thread]
    }

    struct Registry: Decodable {
        struct Server: Decodable {
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

    /// A finished run (the `done` frame of a streamed chat).
    struct Run: Decodable {
        let status: String
        let answer: String?
        let steps: Int
        let inputTokens: Int
        let outputTokens: Int
    }

    /// A piece of the answer (a `text` frame).
    struct Text: Decodable { let text: String }

    struct Message: Encodable {
        let text: String
        let agent: String?
        var stream = true
    }

    struct Model: Encodable {
        let provider: String
        let endpoint: String
        let deployment: String?
        let apiVersion: String?
        let secretReference: String?
        let environment: String?
    }

    struct MCPServer: Encodable {
        let transport: String
        let command: [String]?
        let url: String?
        let isInternal: Bool
    }

    struct Agent: Encodable {
        let instructions: String
        let model: String?
        let allowedTools: [String]
        let subAgents: [String]
    }

    /// `model` nil (left out) clears the default.
    struct DefaultModel: Encodable { let model: String? }
}
