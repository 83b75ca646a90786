import Foundation
import Testing
@testable import EventStore

/// A fresh directory under the system temporary directory, removed when the test is done with it.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// SplitMix64: a small seeded generator, so every property test can be replayed from the seed it prints.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Seeds for property tests: a fixed set, plus `LOGBOOK_SEED` to replay one.
func propertySeeds(count: Int = 6) -> [UInt64] {
    if let seed = ProcessInfo.processInfo.environment["LOGBOOK_SEED"].flatMap(UInt64.init) { return [seed] }
    return (0..<UInt64(count)).map { 0xC0FFEE &+ $0 &* 7919 }
}

let words = [
    "the", "pod", "restarted", "because", "memory", "limit", "was", "exceeded", "kubectl", "get", "pods", "-n",
    "prod", "latency", "p99", "rose", "after", "deploy", "rollback", "checked", "prometheus", "query", "rate",
]

/// A realistic event of 40-1500 bytes of JSON with random metadata.
func randomEvent(_ rng: inout SplitMix64, type: String? = nil) -> ProposedEvent {
    let length = Int.random(in: 5...200, using: &rng)
    let text = (0..<length).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
    let kind =
        type ?? ["message.user", "message.assistant", "tool.called", "tool.result", "authz.decided"].randomElement(
            using: &rng)!
    let payload = Data("{\"kind\":\"\(kind)\",\"n\":\(rng.next() % 100_000),\"text\":\"\(text)\"}".utf8)
    var metadata = EventMetadata()
    if Bool.random(using: &rng) { metadata.actor = "user:\(["alice", "bob", "carol"].randomElement(using: &rng)!)" }
    if Bool.random(using: &rng) { metadata.workspace = ["ops", "net", "lab"].randomElement(using: &rng)! }
    if Bool.random(using: &rng) { metadata.correlationID = UUID() }
    if Bool.random(using: &rng) { metadata.causationID = UUID() }
    return ProposedEvent(
        id: EventID.make(unixMilliseconds: 1_760_000_000_000, using: &rng), type: kind, payload: payload,
        metadata: metadata)
}

extension EventStore {
    /// Opens a store in `directory` with small test-friendly settings.
    static func openForTest(
        _ directory: String, configure: (inout Configuration) -> Void = { _ in }
    ) throws -> EventStore {
        var configuration = Configuration(directory: directory)
        configuration.dictionaryTrainingPoints = []
        configure(&configuration)
        return try EventStore.open(configuration)
    }

    /// Every event of the log, in order.
    func readAll() throws -> [RecordedEvent] {
        var all: [RecordedEvent] = []
        while true {
            let chunk = try read(from: Seq(UInt64(all.count) + 1), maxCount: 1000)
            if chunk.isEmpty { return all }
            all += chunk
        }
    }
}

/// Checks that `recorded` is exactly `proposed`, as stored in `stream`.
func expectSame(
    _ recorded: RecordedEvent, _ proposed: ProposedEvent, stream: StreamID,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(recorded.id == proposed.id, sourceLocation: sourceLocation)
    #expect(recorded.type == proposed.type, sourceLocation: sourceLocation)
    #expect(recorded.payload == proposed.payload, sourceLocation: sourceLocation)
    #expect(recorded.metadata == proposed.metadata, sourceLocation: sourceLocation)
    #expect(recorded.stream == stream, sourceLocation: sourceLocation)
}
