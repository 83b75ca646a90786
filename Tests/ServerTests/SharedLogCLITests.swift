import EventStore
import Foundation
import LogbookTestSupport
import PostgresLog
import PostgresNIO
import Testing

/// `logbook copy`, `verify`, `stats`, `events`, `export` and `tail` against the shared log on PostgreSQL, run as a user
/// runs them (the built binary).
@Suite(.serialized, .enabled(if: PostgresTestServer.isAvailable, "\(PostgresTestServer.skipReason)"))
struct SharedLogCLITests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-copy-\(UUID())").path

    /// A log of its own with `count` events on a few streams, with metadata, as a server would leave it.
    func makeLog(_ directory: String, events count: Int, from start: Int = 0) async throws {
        let store = try EventStore.open(EventStore.Configuration(directory: directory))
        for i in start..<(start + count) {
            let stream = try StreamID("thread/t\(i % 7)")
            let event = ProposedEvent(
                type: "note", payload: Data(#"{"n":\#(i),"text":"event \#(i) of the copy test"}"#.utf8),
                metadata: EventMetadata(actor: "user:u\(i % 3)", workspace: i % 2 == 0 ? "ops" : nil))
            _ = try await store.append([event], to: stream)
        }
        await store.close()
    }

    func logbook(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        try await LiveProcess.run(
            [CLITests.binary] + arguments, environment: ["XDG_CACHE_HOME": scratch + "/cache"])
    }

    func succeeding(_ arguments: [String]) async throws -> String {
        let r = try await logbook(arguments)
        #expect(r.status == 0, "logbook \(arguments.joined(separator: " ")): \(r.errors)")
        return r.output
    }

    @Test func aLogCopiedToPostgresAndBackIsTheSameLogAndTheReadCommandsWorkOnIt() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let url = "\(try await PostgresTestServer.newDatabase())"
        let (source, back) = (scratch + "/source", scratch + "/back")
        try await makeLog(source, events: 2_500)

        #expect(try await succeeding(["copy", "--from", source, "--to", url]).contains("2500 events"))
        #expect(try await succeeding(["verify", "--store", url]).contains("OK, 2500 events intact"))
        let stats = try await succeeding(["stats", "--store", url])
        #expect(stats.contains("events:             2500") && stats.contains("streams:            7"), "\(stats)")

        // An interrupted copy goes on: events appended to the source since are copied after those already there.
        try await makeLog(source, events: 300, from: 2_500)
        #expect(try await succeeding(["copy", "--from", source, "--to", url]).contains("after the 2500 already there"))
        #expect(try await succeeding(["copy", "--from", source, "--to", url]).contains("already holds all 2800"))

        #expect(try await succeeding(["copy", "--from", url, "--to", back]).contains("2800 events"))
        #expect(try await succeeding(["verify", "--data", back]).contains("OK, 2800 events intact"))
        let exported = try await succeeding(["export", "--data", source])
        #expect(exported.split(separator: "\n").count == 2_800)
        #expect(try await succeeding(["export", "--data", back]) == exported, "same ids, seqs, times and metadata")
        #expect(try await succeeding(["export", "--store", url]) == exported, "read through a local copy")
        let events = try await succeeding(["events", "--store", url, "--from", "2800", "--json"])
        #expect(events.contains("\"seq\":2800"), "\(events)")
        let tail = try await succeeding(["tail", "--store", url, "-n", "2"])
        #expect(tail.split(separator: "\n").count == 2 && tail.contains("thread/t"), "\(tail)")

        // A database holding another log is not written into.
        let other = scratch + "/other"
        try await makeLog(other, events: 10)
        let refused = try await logbook(["copy", "--from", other, "--to", url])
        #expect(refused.status != 0 && refused.errors.contains("not the start of"), "\(refused.errors)")
        #expect(try await succeeding(["verify", "--store", url]).contains("OK, 2800 events intact"))
    }

    @Test func aRowChangedInTheDatabaseFailsVerifyAndTheCopyOutLeavesNothing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let location = try await PostgresTestServer.newDatabase()
        let url = "\(location)"
        let source = scratch + "/source"
        try await makeLog(source, events: 50)
        _ = try await succeeding(["copy", "--from", source, "--to", url])

        try await PostgresTestServer.withClient(location) { client in
            try await client.query(
                "UPDATE logbook_events SET payload = convert_to('{\"n\":1}', 'UTF8') WHERE position = 17")
        }
        let verify = try await logbook(["verify", "--store", url])
        #expect(verify.status == 1 && verify.errors.contains("FAILED at event 17"), "\(verify.errors)")
        let back = scratch + "/back"
        let copy = try await logbook(["copy", "--from", url, "--to", back])
        #expect(copy.status != 0 && copy.errors.contains("event 17"), "\(copy.errors)")
        #expect(
            !FileManager.default.fileExists(atPath: back) && !FileManager.default.fileExists(atPath: back + ".copying"))

        // A row removed: positions are no longer dense.
        try await PostgresTestServer.withClient(location) { client in
            try await client.query("DELETE FROM logbook_events WHERE position = 30")
        }
        let gap = try await logbook(["verify", "--store", url, "--from", "20"])
        #expect(gap.status == 1 && gap.errors.contains("event 30: missing"), "\(gap.errors)")
    }
}
