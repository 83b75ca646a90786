import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

/// The audit trail on disk (`ProjectionRunner(…, tables:)`) answers every query as the trail in memory does: entries
/// split between the tables (through the last checkpoint) and memory (since), pages and cursors across the split,
/// after a restart from the tables, and after a rebuild.
@Suite struct AuditTablesTests {
    /// Random queries over every filter, both orders, small pages followed through their cursors.
    static func queries(count: Int, times: ClosedRange<Int64>, seed: UInt64) -> [AuditQuery] {
        var rng = SeededGenerator(seed: seed)
        func maybe<T>(_ values: [T]) -> T? {
            rng.next() % 3 == 0 ? values[Int(rng.next() % UInt64(values.count))] : nil
        }
        let span = UInt64(times.upperBound - times.lowerBound + 1)
        return (0..<count).map { _ in
            let from = rng.next() % 4 == 0 ? times.lowerBound + Int64(rng.next() % span) : nil
            let through = rng.next() % 4 == 0 ? (from ?? times.lowerBound) + Int64(rng.next() % span) : nil
            return AuditQuery(
                actor: maybe(DomainWorkload.users.map { "user:\($0)" } + ["user:nobody"]),
                workspace: maybe(DomainWorkload.workspaces),
                action: maybe(["chat", "tool.call", "llm.call", "model.register"]),
                resourcePrefix: maybe(["tool:", "tool:k8s/", "model:", "thread", "mcp:", "nothing:"]),
                decision: maybe([Decision.allow, .deny]), kind: maybe(AuditKind.cases), from: from, through: through,
                newestFirst: rng.next() % 2 == 0, limit: [1, 7, 50][Int(rng.next() % 3)])
        }
    }

    /// Every page of `q`, following the cursors (at most 40 pages).
    static func pages(_ q: AuditQuery, _ answer: (AuditQuery) throws -> AuditPage) rethrows -> [AuditPage] {
        var pages: [AuditPage] = []
        var q = q
        while pages.count < 40 {
            let page = try answer(q)
            pages.append(page)
            guard let next = page.nextCursor else { break }
            q.cursor = next
        }
        return pages
    }

    @Test func theTrailOnDiskAnswersAsTheTrailInMemory() async throws {
        var both = try await MemoryAndDisk(seed: 41)
        let (store, memory, disk) = (both.store, both.memory, both.disk)
        let all = try memory.queryAudit(AuditQuery(newestFirst: false, limit: 1000))
        let (first, last) = (all.entries.first!.timeNanoseconds, all.entries.last!.timeNanoseconds)
        #expect(try disk.auditEntryCount() == (try memory.auditEntryCount()))
        #expect(try disk.auditEntryCount() > 1_000)
        let queries = Self.queries(count: 300, times: first...last, seed: 7)
        func compare(_ runner: ProjectionRunner, _ what: String) throws {
            for q in queries {
                let expected = try Self.pages(q, memory.queryAudit)
                let actual = try Self.pages(q, runner.queryAudit)
                #expect(actual == expected, "\(what): \(q)")
                if actual != expected { return }
            }
        }
        try compare(disk, "split between disk and memory")
        // More events: some of them folded into memory only, after the last checkpoint.
        try await both.append(50)
        try compare(disk, "after catching up")
        try await disk.checkpoint()
        // A new runner starts from the tables, folding nothing the tables hold.
        let restarted = try MemoryAndDisk.diskRunner(store, both.tables.path)
        #expect(try await restarted.start() == 0, "everything was in the tables and the checkpoints")
        try compare(restarted, "restarted from the tables")
        try await restarted.rebuild()
        try compare(restarted, "rebuilt")
        // The tables hold what the log does: private, as the log's files are.
        let attributes = { (path: String) in
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        #expect(try attributes(both.tables.path + "/audit") == 0o700)
        #expect(try attributes(both.tables.path + "/audit/data.mdb") == 0o600)
        await store.close()
    }
}
