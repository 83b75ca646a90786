import EventStore
import Foundation
import Logging
import PostgresNIO

/// The shared log's tables. `logbook_log` is the head: one row, locked by every append transaction, with the last
/// position, its chain hash and time. `logbook_events` holds the events by position; `logbook_streams` each
/// stream's revision (for expected-revision checks); `logbook_holds` the streams (threads) a server runs on now.
enum Schema {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS logbook_log (
            id smallint PRIMARY KEY CHECK (id = 1),
            log_id uuid NOT NULL,
            schema_version integer NOT NULL,
            position bigint NOT NULL,
            chain bytea NOT NULL,
            time_ns bigint NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS logbook_streams (
            stream text PRIMARY KEY,
            revision bigint NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS logbook_events (
            position bigint PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            stream text NOT NULL,
            revision bigint NOT NULL,
            type text NOT NULL,
            time_ns bigint NOT NULL,
            actor text,
            workspace text,
            correlation_id uuid,
            causation_id uuid,
            payload bytea NOT NULL,
            chain bytea NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS logbook_holds (
            stream text PRIMARY KEY,
            token uuid NOT NULL,
            expires_at timestamptz NOT NULL
        )
        """,
    ]

    /// Serializes schema creation among servers starting at once (`CREATE TABLE IF NOT EXISTS` alone races).
    static let creationLock: Int64 = 0x6c6f_6762_6f6f_6b01

    /// Creates what is missing and returns the log's id.
    static func create(_ client: PostgresClient, logger: Logger) async throws -> UUID {
        try await client.withTransaction(logger: logger) { c in
            try await c.query("SELECT pg_advisory_xact_lock(\(creationLock))", logger: logger)
            for statement in statements { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            let genesis = Data(count: 32)
            try await c.query(
                """
                INSERT INTO logbook_log (id, log_id, schema_version, position, chain, time_ns)
                VALUES (1, \(UUID()), \(Int32(PostgresLog.schemaVersion)), 0, \(genesis), 0)
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
            let rows = try await c.query("SELECT log_id, schema_version FROM logbook_log WHERE id = 1", logger: logger)
            for try await (id, version) in rows.decode((UUID, Int32).self) {
                guard version <= PostgresLog.schemaVersion else {
                    throw EventStoreError(
                        .unsupportedFormat,
                        "the shared log's tables have schema version \(version); this build reads up to \(PostgresLog.schemaVersion): upgrade Logbook"
                    )
                }
                return id
            }
            throw EventStoreError(.corrupt, "the shared log's head row is missing after it was created")
        }
    }
}
