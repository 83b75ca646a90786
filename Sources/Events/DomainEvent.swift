import EventStore
import Foundation

/// A kind of domain event: its stable type name in the log and the schema version this build writes.
public protocol EventPayload: BinaryCodable, Codable, Sendable, Equatable {
    /// The name in the log, e.g. `message.user`. Never changes once events of it exist.
    static var typeName: String { get }
    /// The layout this build writes. Raise it for an incompatible change and teach `upcast` the old layout.
    static var schemaVersion: UInt64 { get }
    /// Reads a payload written with an older `version` into the current type. The default knows none.
    static func upcast(from version: UInt64, _ reader: inout BinaryReader) throws(PayloadDecodingError) -> Self
}

extension EventPayload {
    public static var schemaVersion: UInt64 { 1 }

    public static func upcast(from version: UInt64, _ reader: inout BinaryReader) throws(PayloadDecodingError) -> Self {
        throw PayloadDecodingError("\(typeName) has no upcast from schema version \(version)")
    }

    /// The stored form: the schema version, then the binary fields.
    public var payload: Data {
        var w = BinaryWriter(capacity: 128)
        w.write(Self.schemaVersion)
        encode(to: &w)
        return Data(w.bytes)
    }

    /// This event as a `ProposedEvent` to append.
    public func proposed(id: UUID = EventID.make(), metadata: EventMetadata = EventMetadata()) -> ProposedEvent {
        ProposedEvent(id: id, type: Self.typeName, payload: payload, metadata: metadata)
    }
}

/// Every domain event Logbook records. Projections switch over it.
public enum DomainEvent: Sendable, Equatable {
    case threadStarted(ThreadStarted)
    case userMessage(UserMessage)
    case assistantMessage(AssistantMessage)
    case runStarted(RunStarted)
    case runFinished(RunFinished)
    case llmRequest(LLMRequest)
    case llmResponse(LLMResponse)
    case llmFailed(LLMFailed)
    case toolCalled(ToolCalled)
    case toolResult(ToolResult)
    case threadForked(ThreadForked)
    case sessionExpired(SessionExpired)
    case authorizationDecided(AuthorizationDecided)
    case modelRegistered(ModelRegistered)
    case modelUpdated(ModelUpdated)
    case modelRemoved(ModelRemoved)
    case defaultModelSet(DefaultModelSet)
    case mcpServerRegistered(MCPServerRegistered)
    case mcpServerUpdated(MCPServerUpdated)
    case mcpServerRemoved(MCPServerRemoved)
    case mcpHealthChanged(MCPHealthChanged)
    case agentDefined(AgentDefined)
    case agentUpdated(AgentUpdated)
    case agentRemoved(AgentRemoved)
    case policyChanged(PolicyChanged)
    case checkpointSigned(CheckpointSigned)

    /// The event as a `ProposedEvent` to append.
    public func proposed(id: UUID = EventID.make(), metadata: EventMetadata = EventMetadata()) -> ProposedEvent {
        switch self {
        case .threadStarted(let e): e.proposed(id: id, metadata: metadata)
        case .userMessage(let e): e.proposed(id: id, metadata: metadata)
        case .assistantMessage(let e): e.proposed(id: id, metadata: metadata)
        case .runStarted(let e): e.proposed(id: id, metadata: metadata)
        case .runFinished(let e): e.proposed(id: id, metadata: metadata)
        case .llmRequest(let e): e.proposed(id: id, metadata: metadata)
        case .llmResponse(let e): e.proposed(id: id, metadata: metadata)
        case .llmFailed(let e): e.proposed(id: id, metadata: metadata)
        case .toolCalled(let e): e.proposed(id: id, metadata: metadata)
        case .toolResult(let e): e.proposed(id: id, metadata: metadata)
        case .threadForked(let e): e.proposed(id: id, metadata: metadata)
        case .sessionExpired(let e): e.proposed(id: id, metadata: metadata)
        case .authorizationDecided(let e): e.proposed(id: id, metadata: metadata)
        case .modelRegistered(let e): e.proposed(id: id, metadata: metadata)
        case .modelUpdated(let e): e.proposed(id: id, metadata: metadata)
        case .modelRemoved(let e): e.proposed(id: id, metadata: metadata)
        case .defaultModelSet(let e): e.proposed(id: id, metadata: metadata)
        case .mcpServerRegistered(let e): e.proposed(id: id, metadata: metadata)
        case .mcpServerUpdated(let e): e.proposed(id: id, metadata: metadata)
        case .mcpServerRemoved(let e): e.proposed(id: id, metadata: metadata)
        case .mcpHealthChanged(let e): e.proposed(id: id, metadata: metadata)
        case .agentDefined(let e): e.proposed(id: id, metadata: metadata)
        case .agentUpdated(let e): e.proposed(id: id, metadata: metadata)
        case .agentRemoved(let e): e.proposed(id: id, metadata: metadata)
        case .policyChanged(let e): e.proposed(id: id, metadata: metadata)
        case .checkpointSigned(let e): e.proposed(id: id, metadata: metadata)
        }
    }
}
