import EventStore
import Foundation

/// Decodes stored events into `DomainEvent`s by type name and schema version.
public enum EventCatalog {
    /// What decoding one stored event gave.
    public enum Outcome: Sendable, Equatable {
        case event(DomainEvent)
        /// A type this build does not know (written by a newer build, or not a domain event): skip it.
        case unknownType(String)
        /// A known type written with a newer schema than this build reads: skip it.
        case newerVersion(type: String, version: UInt64)
        /// Bytes that do not decode as their type says.
        case malformed(type: String, PayloadDecodingError)
    }

    fileprivate typealias DecodeFunction = @Sendable (inout BinaryReader) throws(PayloadDecodingError) -> DomainEvent

    /// A class: a `Decoder` is handed on per event, and copying it should cost one reference count, not one per closure.
    fileprivate final class Entry: Sendable {
        let version: UInt64
        let decode: DecodeFunction
        let upcast: @Sendable (UInt64, inout BinaryReader) throws(PayloadDecodingError) -> DomainEvent
        let fromJSON: @Sendable (Data) throws -> DomainEvent

        init(
            version: UInt64, decode: @escaping DecodeFunction,
            upcast: @escaping @Sendable (UInt64, inout BinaryReader) throws(PayloadDecodingError) -> DomainEvent,
            fromJSON: @escaping @Sendable (Data) throws -> DomainEvent
        ) {
            (self.version, self.decode, self.upcast, self.fromJSON) = (version, decode, upcast, fromJSON)
        }
    }

    private static func entry<P: EventPayload>(
        _: P.Type, _ wrap: @escaping @Sendable (P) -> DomainEvent
    ) -> (String, Entry) {
        (
            P.typeName,
            Entry(
                version: P.schemaVersion,
                decode: { (r: inout BinaryReader) throws(PayloadDecodingError) in wrap(try P(from: &r)) },
                upcast: { (v: UInt64, r: inout BinaryReader) throws(PayloadDecodingError) in
                    wrap(try P.upcast(from: v, &r))
                },
                fromJSON: { wrap(try JSONDecoder().decode(P.self, from: $0)) })
        )
    }

    private static let entries: [String: Entry] = Dictionary(uniqueKeysWithValues: [
        entry(ThreadStarted.self, DomainEvent.threadStarted), entry(UserMessage.self, DomainEvent.userMessage),
        entry(AssistantMessage.self, DomainEvent.assistantMessage), entry(RunStarted.self, DomainEvent.runStarted),
        entry(RunFinished.self, DomainEvent.runFinished), entry(LLMRequest.self, DomainEvent.llmRequest),
        entry(LLMResponse.self, DomainEvent.llmResponse), entry(LLMFailed.self, DomainEvent.llmFailed),
        entry(ToolCalled.self, DomainEvent.toolCalled), entry(ToolResult.self, DomainEvent.toolResult),
        entry(ThreadForked.self, DomainEvent.threadForked), entry(SessionExpired.self, DomainEvent.sessionExpired),
        entry(AuthorizationDecided.self, DomainEvent.authorizationDecided),
        entry(ModelRegistered.self, DomainEvent.modelRegistered), entry(ModelUpdated.self, DomainEvent.modelUpdated),
        entry(ModelRemoved.self, DomainEvent.modelRemoved), entry(DefaultModelSet.self, DomainEvent.defaultModelSet),
        entry(MCPServerRegistered.self, DomainEvent.mcpServerRegistered),
        entry(MCPServerUpdated.self, DomainEvent.mcpServerUpdated),
        entry(MCPServerRemoved.self, DomainEvent.mcpServerRemoved),
        entry(MCPHealthChanged.self, DomainEvent.mcpHealthChanged),
        entry(AgentDefined.self, DomainEvent.agentDefined), entry(AgentUpdated.self, DomainEvent.agentUpdated),
        entry(AgentRemoved.self, DomainEvent.agentRemoved), entry(PolicyChanged.self, DomainEvent.policyChanged),
        entry(CheckpointSigned.self, DomainEvent.checkpointSigned),
    ])

    /// Every type name this build knows.
    public static var typeNames: Set<String> { Set(entries.keys) }

    /// The decoder of one event type: looked up by name once, then used for every event of that type (no hashing of
    /// the name per event).
    public struct Decoder: Sendable {
        public let type: String
        fileprivate let entry: Entry

        /// Decodes a stored payload of this decoder's type; with `skippingBulkText`, message bodies, answers and tool
        /// outputs come out as "" (for folds that never read them: no copy, no allocation).
        public func decode(_ payload: UnsafeRawBufferPointer, skippingBulkText: Bool = false) -> Outcome {
            var reader = BinaryReader(payload, skipsBulkText: skippingBulkText)
            do {
                let version = try reader.readUInt64()
                if version == entry.version { return .event(try entry.decode(&reader)) }
                if version > entry.version { return .newerVersion(type: type, version: version) }
                return .event(try entry.upcast(version, &reader))
            } catch {
                return .malformed(type: type, error)
            }
        }
    }

    /// The decoder of event type `type`; nil for a type this build does not know.
    public static func decoder(for type: String) -> Decoder? {
        entries[type].map { Decoder(type: type, entry: $0) }
    }

    /// Decodes a stored payload of event type `type`.
    public static func decode(type: String, payload: UnsafeRawBufferPointer) -> Outcome {
        decoder(for: type)?.decode(payload) ?? .unknownType(type)
    }

    /// Decodes an event from its JSON form (`DomainEvent.json()`); nil for a type this build does not know.
    /// - Throws: `DecodingError` naming what does not fit the type.
    public static func decode(type: String, json: Data) throws -> DomainEvent? {
        guard let entry = entries[type] else { return nil }
        return try entry.fromJSON(json)
    }

    /// Decodes a recorded event.
    public static func decode(_ event: RecordedEvent) -> Outcome {
        event.payload.withUnsafeBytes { decode(type: event.type, payload: $0) }
    }
}
