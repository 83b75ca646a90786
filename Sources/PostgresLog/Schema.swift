import EventStore
import Foundation
import Logging
import PostgresNIO

/// The shared log's tables. `logbook_log` is the head: one row, locked by every append transaction, with the last
/// position, its chain hash and time. `logbook_events` holds the events by position, its fixed-width columns widest
/// first and the variable ones last, so that a row carries no alignment padding (it did: 10 bytes of a ~290-byte row
/// on the shared workload); `logbook_streams` each stream's revision (for expected-revision checks); `logbook_holds`
/// the streams (threads) a server runs on now (unlogged: a hold is a lease, taking and giving one up waits for no
/// flush of the write-ahead log, and a crash of the database ends every lease); `logbook_dictionaries` the payloads'
/// compression dictionaries (`SharedCompression`).
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
            revision bigint NOT NULL,
            time_ns bigint NOT NULL,
            codec integer NOT NULL DEFAULT 0,
            payload_length integer,
            event_id uuid NOT NULL UNIQUE,
            correlation_id uuid,
            causation_id uuid,
            stream text NOT NULL,
            type text NOT NULL,
            actor text,
            workspace text,
            chain bytea NOT NULL,
            payload bytea NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS logbook_dictionaries (
            id integer PRIMARY KEY,
            bytes bytea NOT NULL,
            position bigint NOT NULL,
            time_ns bigint NOT NULL
        )
        """,
        """
        CREATE UNLOGGED TABLE IF NOT EXISTS logbook_holds (
            stream text PRIMARY KEY,
            token uuid NOT NULL,
            expires_at timestamptz NOT NULL
        )
        """,
        // A function one build of schema 2 made (87ddb55) and the next dropped (docs/notebook, 2026-12-07).
        "DROP FUNCTION IF EXISTS logbook_take_head(text[], uuid[], text[])",
    ]

    /// What upgrades tables of version 1 (payloads stored raw, without these columns; their rows stay raw). Run
    /// only then: `ALTER TABLE` locks the table against every append, even when it changes nothing.
    static let fromVersion1 = [
        "ALTER TABLE logbook_events ADD COLUMN IF NOT EXISTS codec integer NOT NULL DEFAULT 0",
        "ALTER TABLE logbook_events ADD COLUMN IF NOT EXISTS payload_length integer",
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
            var head: (UUID, Int32)?
            let rows = try await c.query("SELECT log_id, schema_version FROM logbook_log WHERE id = 1", logger: logger)
            for try await row in rows.decode((UUID, Int32).self) { head = row }
            guard let (id, version) = head else {
                throw EventStoreError(.corrupt, "the shared log's head row is missing after it was created")
            }
            guard version <= PostgresLog.schemaVersion else {
                throw EventStoreError(
                    .unsupportedFormat,
                    "the shared log's tables have schema version \(version); this build reads up to \(PostgresLog.schemaVersion): upgrade Logbook"
                )
            }
            // Holds were logged tables before: made unlogged (the table holds a row per thread running now).
            try await c.query(
                """
                DO $$ BEGIN
                    IF (SELECT relpersistence FROM pg_class WHERE oid = 'logbook_holds'::regclass) = 'p' THEN
                        ALTER TABLE logbook_holds SET UNLOGGED;
                    END IF;
                END $$
                """, logger: logger)
            if version < PostgresLog.schemaVersion {
                for statement in fromVersion1 { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await c.query(
                    "UPDATE logbook_log SET schema_version = \(Int32(PostgresLog.schemaVersion)) WHERE id = 1",
                    logger: logger)
            }
            return id
        }
    }
}
