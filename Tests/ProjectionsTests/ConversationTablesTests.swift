import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

/// The conversations on disk (`ProjectionRunner(…, tables:)`) answer as the conversations in memory: each thread's
/// summary, messages and runs, the thread lists page by page, the runs still running — with the state split between
/// the tables (through the last checkpoint) and memory (since), after a restart and after a rebuild.
@Suite struct ConversationTablesTests {
    /// Everything a server asks of the conversations, for comparison.
    struct Answers: Equatable {
        var conversations: [String: ConversationState] = [:]
        var pages: [String: [[ThreadSummary]]] = [:]
        var openRuns: [UUID] = []

        init(_ runner: ProjectionRunner, threads: [String]) throws {
            for id in threads { conversations[id] = try runner.conversation(of: id) }
            for workspace in DomainWorkload.workspaces + ["nowhere"] {
                for owner in [nil, "user:alice", "user:bob"] as [String?] {
                    for limit in [1, 5, 200] {
                        var before = Int64.max
                        var pages: [[ThreadSummary]] = []
                        while pages.count < 100 {
                            let page = try runner.threads(workspace: workspace, before: before, limit: limit) {
                                owner == nil || $0.owner == owner
                            }
                            pages.append(page.threads)
                            guard page.more, let last = page.threads.last else { break }
                            before = last.lastActivityNanoseconds
                        }
                        self.pages["\(workspace) \(owner ?? "-") \(limit)"] = pages
                    }
                }
            }
            openRuns = try runner.openRuns().map(\.id).sorted { $0.uuidString < $1.uuidString }
        }
    }

    @Test func theConversationsOnDiskAnswerAsTheConversationsInMemory() async throws {
        var both = try await MemoryAndDisk(seed: 43)
        let (store, memory, disk) = (both.store, both.memory, both.disk)
        func threads() -> [String] {
            memory.read(ConversationProjection.self) { Array($0.threads.keys) } + ["no-such-thread"]
        }
        #expect(threads().count > 20)
        #expect(try Answers(disk, threads: threads()) == Answers(memory, threads: threads()), "split")
        // More events, folded into memory only (after the last checkpoint): some threads new, some touched again.
        try await both.append(60)
        #expect(try Answers(disk, threads: threads()) == Answers(memory, threads: threads()), "after catching up")
        try await disk.checkpoint()
        let restarted = try MemoryAndDisk.diskRunner(store, both.tables.path)
        #expect(try await restarted.start() == 0)
        #expect(try Answers(restarted, threads: threads()) == Answers(memory, threads: threads()), "restarted")
        try await restarted.rebuild()
        #expect(try Answers(restarted, threads: threads()) == Answers(memory, threads: threads()), "rebuilt")
        await store.close()
    }

    /// `logbook rebuild --check`'s comparison: tables that agree with a fold of the log say so; a thread removed from
    /// them by hand is found. (One environment per process at a time: the runner lets its tables go before the check
    /// opens them, as `rebuild --check` is another process.)
    @Test func theCheckFindsTablesThatDifferFromTheLog() async throws {
        let dir = TemporaryDirectory()
        let tables = TemporaryDirectory()
        let store = try openStore(dir)
        var workload = DomainWorkload(seed: 47, activeThreads: 12)
        try await appendWorkload(store, &workload, appends: 600)
        do {
            let runner = try MemoryAndDisk.diskRunner(store, tables.path)
            try await runner.start()
            try await runner.checkpoint()
        }
        let agreeing = try ReadModelCheck.check(store: store, tables: tables.path)
        #expect(agreeing.map(\.projection) == ["audit", "conversations"])
        #expect(agreeing.allSatisfy { $0.difference == nil && $0.position == store.lastSeq }, "\(agreeing)")
        do {
            let conversations = try OrderedTables(directory: tables.path + "/conversations", tables: [.init("threads")])
            let threads = conversations.table("threads")
            var first: [UInt8]?
            try conversations.read { r in
                try r.scan(threads) { key, _ in
                    first = [UInt8](key)
                    return false
                }
            }
            let key = try #require(first)
            try conversations.write { w in try w.delete(threads, key: key) }
            conversations.close()
        }
        let differing = try ReadModelCheck.check(store: store, tables: tables.path)
        #expect(differing.first { $0.projection == "audit" }?.difference == nil)
        #expect(differing.first { $0.projection == "conversations" }?.difference != nil, "\(differing)")
        await store.close()
    }

    /// The checkpoints a build that kept the audit trail and the conversations in memory left in the log are removed
    /// at the first checkpoint of a runner that keeps them in tables; the others stay.
    @Test func checkpointsLeftFromMemoryAreRemovedOnceInTables() async throws {
        let both = try await MemoryAndDisk(seed: 53)
        try await both.memory.checkpoint()
        let names = StandardProjections.all.map { "projection/\($0.name)" }
        #expect(try names.allSatisfy { try both.store.checkpoint(named: $0) != nil })
        try await both.disk.checkpoint()
        #expect(try both.store.checkpoint(named: "projection/audit") == nil)
        #expect(try both.store.checkpoint(named: "projection/conversations") == nil)
        #expect(try both.store.checkpoint(named: "projection/usage") != nil)
        #expect(try both.store.checkpoint(named: "projection/registry") != nil)
    }
}
