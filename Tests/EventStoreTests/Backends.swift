import EventStore
import Foundation
import LogbookTestSupport
import PostgresLog
import Testing

/// The backends the store's behaviour tests run against: an LMDB log of its own, and a server's copy of a log on
/// PostgreSQL (a database of its own per test). PostgreSQL is left out, with the reason, when the tests have none.
enum Backend: String, Sendable, CustomTestStringConvertible {
    case lmdb, postgres

    static let all: [Backend] = PostgresTestServer.isAvailable ? [.lmdb, .postgres] : [.lmdb]
    var testDescription: String { rawValue }
}

/// A log for one test. For PostgreSQL, `store` is the copy through which the test appends and reads.
final class TestLog: Sendable {
    let backend: Backend
    let dir = TemporaryDirectory()
    let shared: PostgresLog?
    let store: EventStore
    private let configure: @Sendable (inout EventStore.Configuration) -> Void

    init(
        _ backend: Backend, configure: @escaping @Sendable (inout EventStore.Configuration) -> Void = { _ in }
    )
        async throws
    {
        self.backend = backend
        self.configure = configure
        shared = backend == .postgres ? try await PostgresLog.connect(PostgresTestServer.newDatabase()) : nil
        store = try Self.open(dir.path, shared: shared, configure: configure)
    }

    /// Another copy of the same log (PostgreSQL), or the same directory opened again after `close` (LMDB).
    func openAgain(directory: String? = nil) throws -> EventStore {
        try Self.open(directory ?? dir.path, shared: shared, configure: configure)
    }

    private static func open(
        _ path: String, shared: PostgresLog?, configure: (inout EventStore.Configuration) -> Void
    ) throws -> EventStore {
        try EventStore.openForTest(path) {
            $0.shared = shared
            configure(&$0)
        }
    }

    /// Closes the store (and the connections to PostgreSQL).
    func close() async {
        await store.close()
        await shared?.close()
    }
}

@Suite struct BackendAvailabilityTests {
    @Test func postgresIsThereWhenTheTestScriptRequiresIt() {
        if PostgresTestServer.isRequired {
            #expect(PostgresTestServer.isAvailable, "\(PostgresTestServer.skipReason)")
        } else if !PostgresTestServer.isAvailable {
            print("note: the PostgreSQL cases are skipped: \(PostgresTestServer.skipReason)")
        }
    }
}
