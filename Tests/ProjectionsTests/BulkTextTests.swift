import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

/// The user messages' texts as a projection sees them.
struct UserTexts: Sendable, Equatable, BinaryCodable {
    var texts: [String] = []
    init() {}
    func encode(to w: inout BinaryWriter) { w.write(texts) }
    init(from r: inout BinaryReader) throws(PayloadDecodingError) { texts = try r.readStrings() }
}

/// Reads bulk text (the default).
enum ReadingProjection: Projection {
    static let name = "user texts"
    static let eventTypes: Set<String> = [UserMessage.typeName]
    static let initial = UserTexts()
    static func apply(_ event: DomainEvent, context: EventContext, to state: inout UserTexts) {
        if case .userMessage(let e) = event { state.texts.append(e.text) }
    }
}

/// Declares that it does not read bulk text (and, for the test, looks anyway).
enum BlindProjection: Projection {
    static let name = "blind user texts"
    static let eventTypes: Set<String> = [UserMessage.typeName]
    static let initial = UserTexts()
    static let readsBulkText = false
    static func apply(_ event: DomainEvent, context: EventContext, to state: inout UserTexts) {
        if case .userMessage(let e) = event { state.texts.append(e.text) }
    }
}

@Suite struct BulkTextTests {
    /// An event type wanted by a projection that reads bulk text is decoded whole, even when another projection that
    /// wants it does not read bulk text; with only the latter, the texts are skipped.
    @Test(arguments: [4, 1 << 20])
    func bulkTextIsSkippedOnlyWhenNoProjectionThatWantsTheEventReadsIt(sliceEvents: Int) async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: 31, activeThreads: 3)
        try await appendWorkload(store, &workload, appends: 60)
        let written = try store.read(from: 1, maxCount: 100_000).filter { $0.type == UserMessage.typeName }.map {
            e -> String in
            guard case .event(.userMessage(let m)) = EventCatalog.decode(e) else { return "?" }
            return m.text
        }
        #expect(written.count > 10)
        #expect(written.allSatisfy { !$0.isEmpty })

        let both = ProjectionRunner(
            store: store, projections: [BlindProjection.self, ConversationProjection.self, ReadingProjection.self],
            sliceEvents: sliceEvents)
        try await both.rebuild()
        #expect(both.read(ReadingProjection.self) { $0.texts } == written)
        #expect(both.read(BlindProjection.self) { $0.texts } == written)

        let blind = ProjectionRunner(
            store: store, projections: [BlindProjection.self, ConversationProjection.self], sliceEvents: sliceEvents)
        try await blind.rebuild()
        #expect(blind.read(BlindProjection.self) { $0.texts } == Array(repeating: "", count: written.count))
        #expect(blind.read(ConversationProjection.self) { $0 } == both.read(ConversationProjection.self) { $0 })

        // Time travel decodes as each projection declares.
        #expect(try ProjectionRunner.state(of: ReadingProjection.self, asOf: store.lastSeq, in: store).texts == written)
        #expect(
            try ProjectionRunner.state(of: BlindProjection.self, asOf: store.lastSeq, in: store).texts
                == Array(repeating: "", count: written.count))
        await store.close()
    }
}
