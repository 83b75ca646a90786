import EventStore
import Foundation
import LogbookTestSupport
import PostgresLog
import PostgresNIO
import Testing

/// What only a shared log does: several servers' copies of one log on PostgreSQL.
@Suite(.enabled(if: PostgresTestServer.isAvailable, "\(PostgresTestServer.skipReason)"))
struct SharedLogTests {
    /// Two servers (two connections, two copies) append concurrently: positions are dense and the same in both
    /// copies, each sees the other's events (by following), and expected revisions hold across them.
    @Test func twoCopiesAppendConcurrentlyAndHoldTheSameDenseLog() async throws {
        let location = try await PostgresTestServer.newDatabase()
        let (a, b) = (try await PostgresLog.connect(location), try await PostgresLog.connect(location))
        #expect(a.logID == b.logID)
        let (dirA, dirB) = (TemporaryDirectory(), TemporaryDirectory())
        let storeA = try EventStore.openForTest(dirA.path) { $0.shared = a }
        let storeB = try EventStore.openForTest(dirB.path) { $0.shared = b }
        a.follow(storeA)
        b.follow(storeB)
        let perTask = 20
        let ids = try await withThrowingTaskGroup(of: [UUID].self) { group in
            for t in 0..<8 {
                let store = t % 2 == 0 ? storeA : storeB
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(t))
                    var mine: [UUID] = []
                    for i in 0..<perTask {
                        let events = (0..<(1 + i % 3)).map { _ in randomEvent(&rng) }
                        try await store.append(events, to: try StreamID("thread/\(t % 3)"))
                        mine += events.map(\.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let last = try await a.lastSeq()
        #expect(last.rawValue == UInt64(ids.count))
        try await a.bringUp(storeA, through: last)
        try await b.bringUp(storeB, through: last)
        let (allA, allB) = (try storeA.readAll(), try storeB.readAll())
        #expect(allA.map(\.seq.rawValue) == Array(1...last.rawValue), "dense from 1")
        #expect(allA.map(\.id) == allB.map(\.id), "the same order in both copies")
        #expect(Set(allA.map(\.id)) == Set(ids))
        for stream in ["thread/0", "thread/1", "thread/2"] {
            let revisions = try storeB.read(stream: try StreamID(stream), maxCount: 10_000).map(\.revision.rawValue)
            #expect(revisions == Array(1...UInt64(revisions.count)))
        }
        #expect(try storeA.verify().isIntact)
        #expect(try storeB.verify().isIntact)

        // A stale expectation made on one server fails on the other's append.
        let revision = try #require(try storeA.revision(of: "thread/0"))
        try await storeB.append([ProposedEvent(type: "t", payload: Data("x".utf8))], to: "thread/0")
        let stale = await #expect(throws: EventStoreError.self) {
            try await storeA.append(
                [ProposedEvent(type: "t", payload: Data("y".utf8))], to: "thread/0", expecting: .exact(revision))
        }
        #expect(stale?.code == .wrongExpectedRevision)

        // Following: B's append reaches A's copy without A appending.
        let followed = try await storeB.append([ProposedEvent(type: "t", payload: Data("z".utf8))], to: "other")
        var waited = 0
        while storeA.lastSeq < followed.lastSeq, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(storeA.lastSeq >= followed.lastSeq, "the follower copied another server's append")
        await a.close()
        await b.close()
        await storeA.close()
        await storeB.close()
    }

    /// A row changed in the database after it was appended breaks the chain: a copy refuses it, naming its position.
    @Test func aRowChangedInTheDatabaseIsRefusedByACopy() async throws {
        let log = try await TestLog(.postgres)
        var rng = SplitMix64(seed: 21)
        for _ in 0..<5 { try await log.store.append([randomEvent(&rng)], to: "s") }
        let location = log.shared!.location
        try await PostgresTestServer.withClient(location) { client in
            try await client.query("UPDATE logbook_events SET payload = '\\x00'::bytea WHERE position = 3")
        }
        let fresh = TemporaryDirectory()
        let copy = try log.openAgain(directory: fresh.path)
        let error = await #expect(throws: EventStoreError.self) { try await log.shared!.bringUp(copy, through: 5) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("position 3") == true, "\(error?.message ?? "")")
        #expect(copy.lastSeq == 2, "what came before the changed row is copied")
        await copy.close()
        await log.close()
    }

    /// A directory is a copy of one shared log: not of another, and a log of its own never becomes one.
    @Test func aCopyFollowsOnlyTheLogItWasMadeOf() async throws {
        let first = try await TestLog(.postgres)
        try await first.store.append([ProposedEvent(type: "t", payload: Data("1".utf8))], to: "s")
        await first.store.close()
        let other = try await PostgresLog.connect(PostgresTestServer.newDatabase())
        let wrong = #expect(throws: EventStoreError.self) {
            try EventStore.openForTest(first.dir.path) { $0.shared = other }
        }
        #expect(wrong?.message.contains("is a copy of the shared log") == true, "\(wrong?.message ?? "")")
        let alone = #expect(throws: EventStoreError.self) { try EventStore.openForTest(first.dir.path) }
        #expect(alone?.message.contains("not a log of its own") == true)

        let own = TemporaryDirectory()
        let store = try EventStore.openForTest(own.path)
        try await store.append([ProposedEvent(type: "t", payload: Data("1".utf8))], to: "s")
        await store.close()
        let mixed = #expect(throws: EventStoreError.self) {
            try EventStore.openForTest(own.path) { $0.shared = other }
        }
        #expect(mixed?.message.contains("holds a log of its own") == true)
        await other.close()
        await first.shared?.close()
    }

    /// An append whose transaction fails is not half-written; its retry with the same ids is answered once.
    @Test func aRetriedAppendIsWrittenOnceAcrossCopies() async throws {
        let log = try await TestLog(.postgres)
        var rng = SplitMix64(seed: 22)
        let events = [randomEvent(&rng), randomEvent(&rng)]
        let first = try await log.store.append(events, to: "s")
        let other = TemporaryDirectory()
        let second = try await PostgresLog.connect(log.shared!.location)
        let copy = try EventStore.openForTest(other.path) { $0.shared = second }
        let retry = try await copy.append(events, to: "s", expecting: .noStream)
        #expect(retry.wasAlreadyAppended)
        #expect(retry.firstSeq == first.firstSeq && retry.lastSeq == first.lastSeq)
        #expect(try await second.lastSeq() == 2)
        await copy.close()
        await second.close()
        await log.close()
    }

    /// A hold is a fencing token: an append made under a hold that another server has taken since is refused, and
    /// nothing of it is written; under the current hold, or outside any, appends go on.
    @Test func anAppendUnderALostHoldIsRefused() async throws {
        let log = try await TestLog(.postgres)
        let shared = try #require(log.shared)
        let stream = try StreamID("thread/fenced")
        let hold = try await shared.hold(stream)
        let event = { ProposedEvent(type: "t", payload: Data("x".utf8)) }
        try await SharedHold.$current.withValue(hold) {
            _ = try await log.store.append([event()], to: stream)
        }
        // Another server takes the thread (this one was paused past its lease): the row's token changes.
        let taker = UUID()
        try await PostgresTestServer.withClient(shared.location) { client in
            try await client.query(
                "UPDATE logbook_holds SET token = \(taker) WHERE stream = \(stream.rawValue)")
        }
        let lost = await #expect(throws: EventStoreError.self) {
            try await SharedHold.$current.withValue(hold) {
                _ = try await log.store.append([event(), event()], to: stream)
            }
        }
        #expect(lost?.code == .holdLost, "\(String(describing: lost))")
        #expect(try await shared.lastSeq() == 1, "nothing of it was written")
        // The new holder appends; an append to another stream under the lost hold is not fenced by it.
        try await SharedHold.$current.withValue(SharedHold(stream: stream, token: taker)) {
            _ = try await log.store.append([event()], to: stream)
            _ = try await log.store.append([event()], to: "thread/other")
        }
        #expect(try await shared.lastSeq() == 3)
        await shared.release(hold)
        await log.close()
    }

    /// One server at a time holds a thread; giving it up lets another take it at once (the row stays, its lease
    /// ended); ended holds are deleted by `purgeHolds`, held ones are not.
    @Test func aHoldGivenUpIsTakenAtOnceAndPurgedWhenEnded() async throws {
        let log = try await TestLog(.postgres)
        let a = try #require(log.shared)
        let b = try await PostgresLog.connect(a.location)
        let (one, two) = (try StreamID("thread/one"), try StreamID("thread/two"))
        let held = try #require(try await a.tryHold(one))
        #expect(try await b.tryHold(one) == nil, "a held thread is not taken")
        await a.release(held)
        let taken = try #require(try await b.tryHold(one), "a thread given up is taken at once")
        let other = try #require(try await a.tryHold(two))
        await b.release(taken)
        func rows() async throws -> [String] {
            try await PostgresTestServer.withClient(a.location) { client in
                var streams: [String] = []
                for try await s in try await client.query("SELECT stream FROM logbook_holds ORDER BY stream").decode(
                    String.self)
                {
                    streams.append(s)
                }
                return streams
            }
        }
        #expect(try await rows() == ["thread/one", "thread/two"])
        try await a.purgeHolds(endedMoreThan: .zero)
        #expect(try await rows() == ["thread/two"], "the ended hold is deleted, the held one stays")
        #expect(try await b.tryHold(two) == nil)
        await a.release(other)
        await b.close()
        await log.close()
    }

    /// A stream of the shared log holds at most 2,147,483,647 events (its revision is an integer column): an append
    /// past that fails alone, with what to do, and writes nothing.
    @Test func anAppendPastAStreamsLastRevisionFailsAlone() async throws {
        let log = try await TestLog(.postgres)
        let shared = try #require(log.shared)
        let event = { ProposedEvent(type: "t", payload: Data("x".utf8)) }
        try await log.store.append([event()], to: "full")
        try await PostgresTestServer.withClient(shared.location) { client in
            try await client.query("UPDATE logbook_streams SET revision = 2147483646 WHERE stream = 'full'")
        }
        let past = await #expect(throws: EventStoreError.self) {
            _ = try await shared.append([event(), event()], closing: nil, to: "full", expecting: .any)
        }
        #expect(past?.code == .invalidArgument)
        #expect(past?.message.contains("holds at most 2147483647 events") == true, "\(String(describing: past))")
        let last = try await shared.append([event()], closing: nil, to: "full", expecting: .any)
        #expect(last.revision == StreamRevision(2_147_483_647))
        #expect(last.firstSeq == 2, "nothing of the failed append was written")
        await log.close()
    }
}
