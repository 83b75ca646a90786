import EventStore
import Foundation
import LogbookTestSupport
import PostgresLog
import PostgresNIO
import Testing

/// Payloads on PostgreSQL are stored compressed, with dictionaries trained on the log and shared by every server.
@Suite(.enabled(if: PostgresTestServer.isAvailable, "\(PostgresTestServer.skipReason)"))
struct SharedCompressionTests {
    /// Once the log reaches the training point, one server trains a dictionary; the other learns of it from the rows
    /// it copies and compresses with it too. Every payload reads back as appended, in both copies and in `verify`.
    @Test func aDictionaryTrainedByOneServerIsUsedByAll() async throws {
        let location = try await PostgresTestServer.newDatabase()
        let (a, b) = (try await PostgresLog.connect(location), try await PostgresLog.connect(location))
        let (dirA, dirB) = (TemporaryDirectory(), TemporaryDirectory())
        let storeA = try EventStore.openForTest(dirA.path) { $0.shared = a }
        let storeB = try EventStore.openForTest(dirB.path) { $0.shared = b }
        var rng = SplitMix64(seed: 31)
        var appended: [UUID: Data] = [:]
        func append(_ count: Int, through store: EventStore) async throws {
            for start in stride(from: 0, to: count, by: 100) {
                let events = (start..<min(start + 100, count)).map { _ in randomEvent(&rng) }
                try await store.append(events, to: try StreamID("thread/\(start % 7)"))
                for e in events { appended[e.id] = e.payload }
            }
        }
        try await append(4_200, through: storeA)
        let dictionaries = try await waitForDictionary(location)
        #expect(dictionaries == 1)

        // A's appends use the dictionary once A has loaded what it stored; B learns of it from the rows it copies.
        var lastCodec: Int32 = 0
        for _ in 0..<100 where lastCodec != 1 {
            try await append(20, through: storeA)
            lastCodec = try await PostgresTestServer.withClient(location) { client in
                var codec: Int32 = 0
                let rows = try await client.query("SELECT codec FROM logbook_events ORDER BY position DESC LIMIT 1")
                for try await c in rows.decode(Int32.self) { codec = c }
                return codec
            }
        }
        #expect(lastCodec == 1, "A compresses with the dictionary it trained")
        try await b.bringUp(storeB, through: try await b.lastSeq())
        let before = try await b.lastSeq().rawValue
        try await append(20, through: storeB)
        let codecs = try await PostgresTestServer.withClient(location) { client in
            var codecs: [Int32] = []
            let rows = try await client.query(
                "SELECT codec FROM logbook_events WHERE position > \(Int64(before)) ORDER BY position")
            for try await codec in rows.decode(Int32.self) { codecs.append(codec) }
            return codecs
        }
        #expect(codecs.count == 20)
        #expect(codecs.allSatisfy { $0 == 1 }, "B compresses with the dictionary A trained: \(codecs)")

        let stats = try await a.statistics()
        #expect(stats.dictionaries == 1)
        #expect(
            stats.payloadBytes * 2 < stats.rawPayloadBytes, "stored \(stats.payloadBytes) of \(stats.rawPayloadBytes)")

        // Both copies, and a reader that starts now, read every payload back as appended.
        let last = try await a.lastSeq()
        try await a.bringUp(storeA, through: last)
        try await b.bringUp(storeB, through: last)
        for store in [storeA, storeB] {
            let all = try store.readAll()
            #expect(all.count == appended.count)
            #expect(all.allSatisfy { appended[$0.id] == $0.payload })
        }
        let reader = try await PostgresLog.connect(location)
        var read = 0
        let report = try await reader.forEachVerified { events in
            read += events.filter { appended[$0.event.id] == $0.event.payload }.count
        }
        #expect(report.isIntact && read == appended.count)
        await reader.close()
        for log in [a, b] { await log.close() }
        for store in [storeA, storeB] { await store.close() }
    }

    /// The chain covers the payload as appended: a dictionary changed in the database (its content zeroed) breaks it
    /// at the first row compressed with it.
    @Test func aChangedDictionaryBreaksTheChainWhereItIsFirstUsed() async throws {
        let log = try await TestLog(.postgres)
        var rng = SplitMix64(seed: 32)
        for i in 0..<43 {
            try await log.store.append((0..<100).map { _ in randomEvent(&rng) }, to: try StreamID("s/\(i % 5)"))
        }
        let location = log.shared!.location
        _ = try await waitForDictionary(location)
        for _ in 0..<5 { try await log.store.append([randomEvent(&rng)], to: "s/0") }
        let first = try await PostgresTestServer.withClient(location) { client in
            try await client.query(
                "UPDATE logbook_dictionaries SET bytes = substring(bytes FROM 1 FOR 8) || decode(repeat('00', octet_length(bytes) - 8), 'hex')"
            )
            var first: Int64 = 0
            let rows = try await client.query("SELECT min(position) FROM logbook_events WHERE codec = 1")
            for try await position in rows.decode(Int64.self) { first = position }
            return first
        }
        #expect(first > 4_096)
        let reader = try await PostgresLog.connect(location)
        let report = try await reader.forEachVerified { _ in }
        #expect(report.firstFailure?.seq?.rawValue == UInt64(first), "\(String(describing: report.firstFailure))")
        #expect(report.checkedEvents == UInt64(first) - 1)
        await reader.close()
        await log.close()
    }

    /// Tables of schema version 1 (payloads raw, no codec columns, holds logged) and 2 (names as text) are upgraded
    /// when a server connects: the old rows verify and read as before, new rows are compressed and name their names by
    /// number, the view shows them as text, and holds become an unlogged table.
    @Test(arguments: [1, 2]) func aLogOfAnEarlierVersionIsUpgradedInPlace(version: Int) async throws {
        let log = try await TestLog(.postgres)
        var rng = SplitMix64(seed: 33)
        let events = (0..<3).map { _ in
            ProposedEvent(
                type: "t", payload: Data("x\(rng.next() % 10)".utf8), metadata: EventMetadata(actor: "user:alice"))
        }
        try await log.store.append(events, to: "s")
        let location = log.shared!.location
        await log.close()
        try await PostgresTestServer.withClient(location) { client in
            // The tables as version 2 had them: names as text, in the order that version wrote its columns.
            try await client.query(
                """
                CREATE TABLE old AS SELECT position, revision, time_ns, codec::integer AS codec, payload_length,
                    event_id, correlation_id, causation_id, stream, type, actor, workspace, chain, payload
                FROM logbook_events_named
                """)
            try await client.query("DROP VIEW logbook_events_named")
            try await client.query("DROP TABLE logbook_events, logbook_names")
            try await client.query("ALTER TABLE old RENAME TO logbook_events")
            try await client.query("ALTER TABLE logbook_events ADD PRIMARY KEY (position), ADD UNIQUE (event_id)")
            try await client.query("UPDATE logbook_log SET schema_version = 2")
            if version == 1 {
                try await client.query("ALTER TABLE logbook_events DROP COLUMN codec, DROP COLUMN payload_length")
                try await client.query("DROP TABLE logbook_dictionaries")
                try await client.query("UPDATE logbook_log SET schema_version = 1")
                try await client.query("ALTER TABLE logbook_holds SET LOGGED")
            }
        }
        let upgraded = try await PostgresLog.connect(location)
        let copy = TemporaryDirectory()
        let store = try EventStore.openForTest(copy.path) { $0.shared = upgraded }
        let long = ProposedEvent(type: "long", payload: Data(String(repeating: "a longer payload ", count: 40).utf8))
        try await store.append([long], to: "s", expecting: .exact(3))
        var read: [CopiedEvent] = []
        let report = try await upgraded.forEachVerified { read += $0 }
        #expect(report.isIntact)
        #expect(read.map(\.event.payload) == events.map(\.payload) + [long.payload])
        #expect(read.map(\.event.metadata.actor) == ["user:alice", "user:alice", "user:alice", nil])
        #expect(read.allSatisfy { $0.stream == "s" })
        let (schema, codec, holds, names) = try await PostgresTestServer.withClient(location) { client in
            var result: (Int32, Int16, String, String) = (0, 0, "", "")
            let rows = try await client.query(
                """
                SELECT schema_version, (SELECT codec FROM logbook_events WHERE position = 4),
                       (SELECT relpersistence::text FROM pg_class WHERE oid = 'logbook_holds'::regclass),
                       (SELECT string_agg(stream || ' ' || type || ' ' || coalesce(actor, '-'), ',' ORDER BY position)
                        FROM logbook_events_named)
                FROM logbook_log
                """)
            for try await row in rows.decode((Int32, Int16, String, String).self) { result = row }
            return result
        }
        #expect(schema == 3)
        #expect(holds == "u", "holds are leases: an unlogged table")
        #expect(codec == -1, "the new row is compressed (zstd, no dictionary yet)")
        #expect(names == "s t user:alice,s t user:alice,s t user:alice,s long -")
        await store.close()
        await upgraded.close()
    }

    /// A name changed in `logbook_names` breaks the chain at the first row that names it; a row naming an id the
    /// table does not hold cannot be read, and verify says which.
    @Test func aNameChangedOrMissingIsFoundByVerify() async throws {
        let log = try await TestLog(.postgres)
        try await log.store.append([ProposedEvent(type: "a", payload: Data("1".utf8))], to: "s1")
        try await log.store.append([ProposedEvent(type: "b", payload: Data("2".utf8))], to: "s2")
        try await log.store.append([ProposedEvent(type: "a", payload: Data("3".utf8))], to: "s2")
        let location = log.shared!.location
        await log.close()
        try await PostgresTestServer.withClient(location) { client in
            try await client.query("UPDATE logbook_names SET name = 'c' WHERE name = 'b'")
        }
        let reader = try await PostgresLog.connect(location)
        let changed = try await reader.forEachVerified { _ in }
        #expect(changed.firstFailure?.seq == 2, "\(String(describing: changed.firstFailure))")
        await reader.close()
        try await PostgresTestServer.withClient(location) { client in
            try await client.query("UPDATE logbook_names SET name = 'b' WHERE name = 'c'")
            try await client.query("UPDATE logbook_events SET type_id = 999 WHERE position = 3")
        }
        let second = try await PostgresLog.connect(location)
        let missing = try await second.forEachVerified { _ in }
        #expect(missing.firstFailure?.seq == 3)
        #expect(missing.firstFailure?.reason.contains("999, which logbook_names does not hold") == true)
        #expect(missing.checkedEvents == 2)
        await second.close()
    }

    /// Waits (up to 20 s) for the log to hold a dictionary; returns how many it holds.
    private func waitForDictionary(_ location: PostgresLocation) async throws -> Int64 {
        for _ in 0..<200 {
            let count = try await PostgresTestServer.withClient(location) { client in
                var count: Int64 = 0
                for try await n in try await client.query("SELECT count(*) FROM logbook_dictionaries").decode(
                    Int64.self)
                {
                    count = n
                }
                return count
            }
            if count > 0 { return count }
            try await Task.sleep(for: .milliseconds(100))
        }
        return 0
    }
}
