import EventStore
import Foundation
import Logging
import PostgresNIO

/// The shared log's tables. `logbook_log` is the head: one row, locked by every append transaction, with the last
/// position, its chain hash and time. `logbook_events` holds the events by position: names as numbers into
/// `logbook_names` (`SharedNames`; the view `logbook_events_named` shows them as text), fixed-width columns widest
/// first and the variable ones last, so that a row carries no alignment padding, and both indexes packed full (their
/// keys grow: positions, and UUIDv7 event ids). `logbook_streams` holds each stream's revision (for expected-revision
/// checks); `logbook_holds` the streams (threads) a server runs on now (unlogged: a hold is a lease, taking and giving
/// one up waits for no flush of the write-ahead log, and a crash of the database ends every lease);
/// `logbook_dictionaries` the payloads' compression dictionaries (`SharedCompression`).
enum Schema {
    static let events = """
        CREATE TABLE IF NOT EXISTS logbook_events (
            position bigint NOT NULL,
            time_ns bigint NOT NULL,
            revision integer NOT NULL,
            payload_length integer NOT NULL,
            stream_id integer NOT NULL,
            type_id integer NOT NULL,
            actor_id integer,
            workspace_id integer,
            codec smallint NOT NULL,
            event_id uuid NOT NULL,
            correlation_id uuid,
            causation_id uuid,
            chain bytea NOT NULL,
            payload bytea NOT NULL,
            CONSTRAINT logbook_events_pkey PRIMARY KEY (position) WITH (fillfactor = 100),
            CONSTRAINT logbook_events_event_id_key UNIQUE (event_id) WITH (fillfactor = 100)
        )
        """

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
        CREATE TABLE IF NOT EXISTS logbook_names (
            id integer PRIMARY KEY,
            name text NOT NULL UNIQUE
        )
        """,
        events,
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

    /// The events with their names as text, for people and tools reading the log with SQL.
    static let view = """
        CREATE OR REPLACE VIEW logbook_events_named AS
        SELECT e.position, e.event_id, s.name AS stream, e.revision, t.name AS type, e.time_ns, a.name AS actor,
               w.name AS workspace, e.correlation_id, e.causation_id, e.payload, e.chain, e.codec, e.payload_length
        FROM logbook_events e
        JOIN logbook_names s ON s.id = e.stream_id
        JOIN logbook_names t ON t.id = e.type_id
        LEFT JOIN logbook_names a ON a.id = e.actor_id
        LEFT JOIN logbook_names w ON w.id = e.workspace_id
        """

    /// What upgrades tables of version 1 to version 2 (payloads compressed; the old rows stay raw). Run only then:
    /// `ALTER TABLE` locks the table against every append, even when it changes nothing.
    static let fromVersion1 = [
        "ALTER TABLE logbook_events ADD COLUMN IF NOT EXISTS codec integer NOT NULL DEFAULT 0",
        "ALTER TABLE logbook_events ADD COLUMN IF NOT EXISTS payload_length integer",
    ]

    /// What upgrades tables of version 2 to version 3 (names as numbers): the events are written again into the new
    /// table, in one transaction that holds the head (appends wait for it; a log of a million events takes some
    /// seconds).
    static let fromVersion2 = [
        "SELECT 1 FROM logbook_log WHERE id = 1 FOR UPDATE",
        "ALTER TABLE logbook_events RENAME TO logbook_events_v2",
        "ALTER INDEX logbook_events_pkey RENAME TO logbook_events_v2_pkey",
        "ALTER INDEX logbook_events_event_id_key RENAME TO logbook_events_v2_event_id_key",
        """
        INSERT INTO logbook_names (id, name)
        SELECT row_number() OVER (ORDER BY name), name FROM (
            SELECT stream AS name FROM logbook_events_v2 UNION SELECT type FROM logbook_events_v2
            UNION SELECT actor FROM logbook_events_v2 WHERE actor IS NOT NULL
            UNION SELECT workspace FROM logbook_events_v2 WHERE workspace IS NOT NULL) n
        """,
        events,
        """
        INSERT INTO logbook_events (position, time_ns, revision, payload_length, stream_id, type_id, actor_id,
            workspace_id, codec, event_id, correlation_id, causation_id, chain, payload)
        SELECT e.position, e.time_ns, e.revision, coalesce(e.payload_length, length(e.payload)), s.id, t.id, a.id,
               w.id, e.codec, e.event_id, e.correlation_id, e.causation_id, e.chain, e.payload
        FROM logbook_events_v2 e
        JOIN logbook_names s ON s.name = e.stream
        JOIN logbook_names t ON t.name = e.type
        LEFT JOIN logbook_names a ON a.name = e.actor
        LEFT JOIN logbook_names w ON w.name = e.workspace
        ORDER BY e.position
        """,
        "DROP TABLE logbook_events_v2",
    ]

    /// Serializes schema creation among servers starting at once (`CREATE TABLE IF NOT EXISTS` alone races).
    static let creationLock: Int64 = 0x6c6f_6762_6f6f_6b01

    /// The schema version of the tables in the database (nil: there are none yet).
    static func version(_ client: PostgresClient, logger: Logger) async throws -> Int32? {
        let exists = try await client.query("SELECT to_regclass('logbook_log') IS NOT NULL", logger: logger)
        for try await exists in exists.decode(Bool.self) where !exists { return nil }
        let rows = try await client.query("SELECT schema_version FROM logbook_log WHERE id = 1", logger: logger)
        for try await version in rows.decode(Int32.self) { return version }
        return nil
    }

    /// How long an upgrade may take: it writes every event again (a million events took 6 s here).
    static let upgradeDeadline = Duration.seconds(3_600)

    /// Creates what is missing, upgrades tables of an earlier version, and returns the log's id.
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
            if version < 2 {
                for statement in fromVersion1 { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            if version < 3 {
                for statement in fromVersion2 { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            try await c.query(PostgresQuery(unsafeSQL: view), logger: logger)
            if version < PostgresLog.schemaVersion {
                try await c.query(
                    "UPDATE logbook_log SET schema_version = \(Int32(PostgresLog.schemaVersion)) WHERE id = 1",
                    logger: logger)
            }
            return id
        }
    }
}
