import Foundation

extension DomainEvent {
    /// The event's type name.
    public var typeName: String {
        switch self {
        case .threadStarted: ThreadStarted.typeName
        case .userMessage: UserMessage.typeName
        case .assistantMessage: AssistantMessage.typeName
        case .runStarted: RunStarted.typeName
        case .runFinished: RunFinished.typeName
        case .llmRequest: LLMRequest.typeName
        case .llmResponse: LLMResponse.typeName
        case .llmFailed: LLMFailed.typeName
        case .toolCalled: ToolCalled.typeName
        case .toolResult: ToolResult.typeName
        case .threadForked: ThreadForked.typeName
        case .sessionExpired: SessionExpired.typeName
        case .authorizationDecided: AuthorizationDecided.typeName
        case .modelRegistered: ModelRegistered.typeName
        case .modelUpdated: ModelUpdated.typeName
        case .modelRemoved: ModelRemoved.typeName
        case .defaultModelSet: DefaultModelSet.typeName
        case .mcpServerRegistered: MCPServerRegistered.typeName
        case .mcpServerUpdated: MCPServerUpdated.typeName
        case .mcpServerRemoved: MCPServerRemoved.typeName
        case .mcpHealthChanged: MCPHealthChanged.typeName
        case .agentDefined: AgentDefined.typeName
        case .agentUpdated: AgentUpdated.typeName
        case .agentRemoved: AgentRemoved.typeName
        case .policyChanged: PolicyChanged.typeName
        case .checkpointSigned: CheckpointSigned.typeName
        }
    }

    /// The payload as JSON (keys sorted): the form at the edges (API, CLI, export).
    public func json(_ encoder: JSONEncoder = DomainEvent.jsonEncoder) throws -> Data {
        switch self {
        case .threadStarted(let e): try encoder.encode(e)
        case .userMessage(let e): try encoder.encode(e)
        case .assistantMessage(let e): try encoder.encode(e)
        case .runStarted(let e): try encoder.encode(e)
        case .runFinished(let e): try encoder.encode(e)
        case .llmRequest(let e): try encoder.encode(e)
        case .llmResponse(let e): try encoder.encode(e)
        case .llmFailed(let e): try encoder.encode(e)
        case .toolCalled(let e): try encoder.encode(e)
        case .toolResult(let e): try encoder.encode(e)
        case .threadForked(let e): try encoder.encode(e)
        case .sessionExpired(let e): try encoder.encode(e)
        case .authorizationDecided(let e): try encoder.encode(e)
        case .modelRegistered(let e): try encoder.encode(e)
        case .modelUpdated(let e): try encoder.encode(e)
        case .modelRemoved(let e): try encoder.encode(e)
        case .defaultModelSet(let e): try encoder.encode(e)
        case .mcpServerRegistered(let e): try encoder.encode(e)
        case .mcpServerUpdated(let e): try encoder.encode(e)
        case .mcpServerRemoved(let e): try encoder.encode(e)
        case .mcpHealthChanged(let e): try encoder.encode(e)
        case .agentDefined(let e): try encoder.encode(e)
        case .agentUpdated(let e): try encoder.encode(e)
        case .agentRemoved(let e): try encoder.encode(e)
        case .policyChanged(let e): try encoder.encode(e)
        case .checkpointSigned(let e): try encoder.encode(e)
        }
    }

    /// Sorted keys, unescaped slashes: stable, readable JSON.
    public static var jsonEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
