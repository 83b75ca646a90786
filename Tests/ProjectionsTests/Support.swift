import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("logbook-projections-\(UUID().uuidString)")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func openStore(_ dir: TemporaryDirectory) throws -> EventStore {
    var configuration = EventStore.Configuration(directory: dir.path)
    configuration.dictionaryTrainingPoints = []
    return try EventStore.open(configuration)
}

/// Appends `appends` steps of a seeded workload.
func appendWorkload(_ store: EventStore, _ workload: inout DomainWorkload, appends: Int) async throws {
    for _ in 0..<appends {
        let step = workload.next()
        try await store.append(step.events, to: step.stream)
    }
}

/// A log of a seeded workload with two runners caught up on it: one in memory, one with its read models in tables
/// (a checkpoint every 97 events: most of the state on disk, the rest in memory).
struct MemoryAndDisk {
    let dir = TemporaryDirectory()
    let tables = TemporaryDirectory()
    let store: EventStore
    var workload: DomainWorkload
    let memory: ProjectionRunner
    let disk: ProjectionRunner

    init(seed: UInt64) async throws {
        store = try openStore(dir)
        workload = DomainWorkload(seed: seed, activeThreads: 12)
        try await appendWorkload(store, &workload, appends: 1_200)
        memory = ProjectionRunner(store: store, projections: StandardProjections.all)
        try await memory.start()
        disk = try Self.diskRunner(store, tables.path)
        try await disk.start()
    }

    static func diskRunner(_ store: EventStore, _ tables: String) throws -> ProjectionRunner {
        try ProjectionRunner(
            store: store, projections: StandardProjections.all, tables: tables, checkpointEveryEvents: 97)
    }

    /// More events, folded by both runners (into memory only, on the disk runner, until its next checkpoint).
    mutating func append(_ appends: Int) async throws {
        try await appendWorkload(store, &workload, appends: appends)
        try await memory.catchUp()
        try await disk.catchUp()
    }
}

/// All four standard projections' states of a runner, for comparison.
struct AllStates: Equatable {
    var registry: RegistryState
    var conversations: ConversationState
    var audit: AuditState
    var usage: UsageState

    init(_ runner: ProjectionRunner) {
        registry = runner.read(RegistryProjection.self) { $0 }
        conversations = runner.read(ConversationProjection.self) { $0 }
        audit = runner.read(AuditProjection.self) { $0 }
        usage = runner.read(UsageProjection.self) { $0 }
    }

    /// The states folded from the first `n` events of the log, straight from `Projection.fold`.
    init(foldingFirst n: UInt64, of store: EventStore) throws {
        let events = try store.read(from: 1, maxCount: Int(n))
        (registry, conversations, audit, usage) = (
            RegistryProjection.initial, ConversationProjection.initial, AuditProjection.initial, UsageProjection.initial
        )
        RegistryProjection.fold(events, into: &registry)
        ConversationProjection.fold(events, into: &conversations)
        AuditProjection.fold(events, into: &audit)
        UsageProjection.fold(events, into: &usage)
    }
}

/// A context for hand-written scenarios.
func context(
    _ seq: UInt64, stream: StreamID = "thread/t1", actor: String? = "user:alice", workspace: String? = "ops",
    seconds: Int64 = 0
) -> EventContext {
    EventContext(
        seq: Seq(seq), stream: stream, revision: StreamRevision(seq), id: UUID(),
        timeNanoseconds: 1_767_225_600_000_000_000 + seconds * 1_000_000_000,
        actor: actor, workspace: workspace, correlationID: nil, causationID: nil)
}
