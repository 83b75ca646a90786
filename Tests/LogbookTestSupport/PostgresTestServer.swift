import EventStore
import Foundation
import Logging
import PostgresLog
import PostgresNIO

/// The PostgreSQL server the tests use: `LOGBOOK_TEST_POSTGRES`, which `./scripts/test.sh` sets after starting a
/// private cluster (`scripts/postgres.sh`). Each test gets a database of its own.
public enum PostgresTestServer {
    public static let url = ProcessInfo.processInfo.environment["LOGBOOK_TEST_POSTGRES"]
    public static var isAvailable: Bool { url != nil }
    /// Set by `./scripts/test.sh`: a missing server is then a failure, not a reason to skip.
    public static let isRequired = ProcessInfo.processInfo.environment["LOGBOOK_REQUIRE_POSTGRES"] != nil
    public static let skipReason =
        "no PostgreSQL for the tests: LOGBOOK_TEST_POSTGRES is not set (./scripts/test.sh starts a private cluster and sets it)"

    /// A new, empty database; its location.
    public static func newDatabase() async throws -> PostgresLocation {
        guard let url else { throw EventStoreError(.unavailable, skipReason) }
        let admin = try PostgresLocation(url)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var location = admin
        location.database = name
        return location
    }

    /// Runs `body` with a client of `location`, closed after.
    public static func withClient<T: Sendable>(
        _ location: PostgresLocation, _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(
            configuration: location.testClientConfiguration, backgroundLogger: Logger(label: "test.postgres"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

extension PostgresLocation {
    /// What the tests' own SQL connects with (TCP, no TLS: the private cluster is on loopback).
    fileprivate var testClientConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }
}
