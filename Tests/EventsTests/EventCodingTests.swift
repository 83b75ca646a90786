import EventStore
import Events
import EventsWorkload
import Foundation
import Testing

@Suite struct EventCodingTests {
    /// Every event of a generated workload survives binary and JSON round trips unchanged.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyGeneratedEventRoundTripsThroughBinaryAndJSON(seed: UInt64) throws {
        var workload = DomainWorkload(seed: seed, activeThreads: 8, registryChangeEvery: 10)
        var kinds = Set<String>()
        for _ in 0..<3000 {
            for proposed in workload.next().events {
                let outcome = proposed.payload.withUnsafeBytes { EventCatalog.decode(type: proposed.type, payload: $0) }
                guard case .event(let event) = outcome else {
                    Issue.record("\(proposed.type) did not decode: \(outcome)")
                    continue
                }
                #expect(
                    event.proposed(id: proposed.id, metadata: proposed.metadata) == proposed,
                    "binary round trip of \(proposed.type)")
                try expectJSONRoundTrip(event)
                kinds.insert(proposed.type)
            }
        }
        // The workload exercises the whole vocabulary.
        #expect(kinds == EventCatalog.typeNames, "never generated: \(EventCatalog.typeNames.subtracting(kinds))")
    }

    /// Skipping bulk text empties exactly the bulk fields (bodies, answers, outputs, requested arguments): every other
    /// field decodes as in a full decode.
    @Test func skippingBulkTextEmptiesOnlyTheBulkFields() throws {
        var workload = DomainWorkload(seed: 7, activeThreads: 4, registryChangeEvery: 10)
        var emptied = Set<String>()
        for _ in 0..<2000 {
            for proposed in workload.next().events {
                let decoder = try #require(EventCatalog.decoder(for: proposed.type))
                guard case .event(let full) = proposed.payload.withUnsafeBytes({ decoder.decode($0) }),
                    case .event(let light) = proposed.payload.withUnsafeBytes({
                        decoder.decode($0, skippingBulkText: true)
                    })
                else {
                    Issue.record("\(proposed.type) did not decode")
                    continue
                }
                var expected = full
                switch expected {
                case .userMessage(var e): e.text = ""; expected = .userMessage(e)
                case .assistantMessage(var e): e.text = ""; expected = .assistantMessage(e)
                case .toolResult(var e): e.output = ""; expected = .toolResult(e)
                case .llmResponse(var e):
                    e.text = e.text.map { _ in "" }
                    e.toolCalls = e.toolCalls.map { RequestedToolCall(callID: $0.callID, name: $0.name, arguments: "") }
                    expected = .llmResponse(e)
                default: break
                }
                #expect(light == expected, "\(proposed.type)")
                if light != full { emptied.insert(proposed.type) }
            }
        }
        #expect(
            emptied == [UserMessage.typeName, AssistantMessage.typeName, ToolResult.typeName, LLMResponse.typeName])
    }

    @Test func anOlderSchemaIsUpcast() {
        var w = BinaryWriter()
        w.write(UInt64(1))  // message.user schema version 1: just the text
        w.write("is the ingress healthy?")
        let outcome = w.bytes.withUnsafeBytes { EventCatalog.decode(type: "message.user", payload: $0) }
        #expect(outcome == .event(.userMessage(UserMessage(text: "is the ingress healthy?", attachments: []))))

        var fork = BinaryWriter()
        fork.write(UInt64(1))  // thread.forked schema version 1: no substitution
        fork.write("t2"); fork.write("t1"); fork.write(UInt64(7)); fork.write("ops"); fork.write("user:bob")
        #expect(
            fork.bytes.withUnsafeBytes { EventCatalog.decode(type: "thread.forked", payload: $0) }
                == .event(
                    .threadForked(
                        ThreadForked(threadID: "t2", fromThreadID: "t1", atSeq: 7, workspace: "ops", owner: "user:bob"))
                ))
    }

    @Test func unknownTypesNewerSchemasAndGarbageAreReportedNotCrashed() {
        let payload = UserMessage(text: "hi").payload
        #expect(
            payload.withUnsafeBytes { EventCatalog.decode(type: "message.shouted", payload: $0) }
                == .unknownType("message.shouted"))
        var newer = BinaryWriter()
        newer.write(UInt64(9))
        newer.write("from the future")
        #expect(
            newer.bytes.withUnsafeBytes { EventCatalog.decode(type: "message.user", payload: $0) }
                == .newerVersion(type: "message.user", version: 9))

        // Every truncation of every kind of payload, and random bytes, decode to an outcome: never a crash.
        var workload = DomainWorkload(seed: 7, activeThreads: 4)
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            for proposed in workload.next().events {
                let bytes = Array(proposed.payload)
                for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 7)) {
                    let outcome = Array(bytes[..<cut]).withUnsafeBytes {
                        EventCatalog.decode(type: proposed.type, payload: $0)
                    }
                    if case .event = outcome, cut < bytes.count - 1 {
                        // A prefix may still decode only if the tail held optional trailing data; it must not equal the original.
                        #expect(
                            outcome != .event(decodeOrFail(proposed)),
                            "a truncated \(proposed.type) decoded as the original")
                    }
                }
                let noise = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                _ = noise.withUnsafeBytes { EventCatalog.decode(type: proposed.type, payload: $0) }
            }
        }
    }

    private func decodeOrFail(_ proposed: ProposedEvent) -> DomainEvent {
        guard
            case .event(let e) = proposed.payload.withUnsafeBytes({
                EventCatalog.decode(type: proposed.type, payload: $0)
            })
        else {
            preconditionFailure("the generated \(proposed.type) does not decode")
        }
        return e
    }

    private func expectJSONRoundTrip(_ event: DomainEvent) throws {
        func check<P: EventPayload>(_ p: P) throws {
            let json = try event.json()
            #expect(try JSONDecoder().decode(P.self, from: json) == p, "JSON round trip of \(P.typeName)")
            #expect(event.typeName == P.typeName)
        }
        switch event {
        case .threadStarted(let e): try check(e)
        case .userMessage(let e): try check(e)
        case .assistantMessage(let e): try check(e)
        case .runStarted(let e): try check(e)
        case .runFinished(let e): try check(e)
        case .llmRequest(let e): try check(e)
        case .llmResponse(let e): try check(e)
        case .llmFailed(let e): try check(e)
        case .toolCalled(let e): try check(e)
        case .toolResult(let e): try check(e)
        case .threadForked(let e): try check(e)
        case .sessionExpired(let e): try check(e)
        case .authorizationDecided(let e): try check(e)
        case .modelRegistered(let e): try check(e)
        case .modelUpdated(let e): try check(e)
        case .modelRemoved(let e): try check(e)
        case .defaultModelSet(let e): try check(e)
        case .mcpServerRegistered(let e): try check(e)
        case .mcpServerUpdated(let e): try check(e)
        case .mcpServerRemoved(let e): try check(e)
        case .mcpHealthChanged(let e): try check(e)
        case .agentDefined(let e): try check(e)
        case .agentUpdated(let e): try check(e)
        case .agentRemoved(let e): try check(e)
        case .policyChanged(let e): try check(e)
        case .checkpointSigned(let e): try check(e)
        }
    }
}
