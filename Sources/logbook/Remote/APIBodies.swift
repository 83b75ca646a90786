import EventStore
import Events
import Foundation

/// The registry changes the CLI sends (the server's answers and its other bodies are `Server`'s API types).
enum APIBody {
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
