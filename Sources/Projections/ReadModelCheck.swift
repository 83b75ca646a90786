import EventStore
import Events
import Foundation

/// Checks the read models a server keeps on disk (`ProjectionRunner(…, tables:)`) against a fold of the log from
/// its first event to the position they were written through: `logbook rebuild --check`. Reads only (the tables
/// open read-only, beside a server that writes them).
public enum ReadModelCheck {
    public struct Outcome: Sendable, Equatable {
        public var projection: String
        /// The position the tables were written through (nil: no tables, or of another version).
        public var position: Seq?
        /// What differs, in a sentence (nil: they agree).
        public var difference: String?
    }

    /// Compares the audit trail and the conversations in `tables` with folds of `store`.
    public static func check(store: EventStore, tables: String) throws -> [Outcome] {
        [try checkAudit(store, tables + "/audit"), try checkConversations(store, tables + "/conversations")]
    }

    private static func checkAudit(_ store: EventStore, _ directory: String) throws -> Outcome {
        var outcome = Outcome(projection: AuditProjection.name)
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else { return outcome }
        let tables = try AuditTables(directory: directory, readOnly: true)
        guard let (position, _, definitions) = try tables.load() else { return outcome }
        outcome.position = position
        let folded = try ProjectionRunner.state(of: AuditProjection.self, asOf: position, in: store)
        var q = AuditQuery(newestFirst: false, limit: 1000)
        var compared = 0
        while true {
            let (stored, expected) = (try tables.query(q), folded.query(q))
            if stored != expected {
                let seq = zip(stored.entries, expected.entries).first { $0 != $1 }?.0.seq ?? stored.entries.last?.seq
                outcome.difference =
                    "the entries differ after \(compared) that agree (near seq \(seq.map { "\($0)" } ?? "?"))"
                return outcome
            }
            compared += stored.entries.count
            guard let next = stored.nextCursor else { break }
            q.cursor = next
        }
        if compared != folded.count {
            outcome.difference = "the tables hold \(compared) entries, the fold \(folded.count)"
        } else if definitions != folded.definitionsByResource {
            outcome.difference = "the stored definitions (for the next change's before) differ from the fold's"
        }
        return outcome
    }

    private static func checkConversations(_ store: EventStore, _ directory: String) throws -> Outcome {
        var outcome = Outcome(projection: ConversationProjection.name)
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else { return outcome }
        let tables = try ConversationTables(directory: directory, readOnly: true)
        guard let (position, _) = try tables.load() else { return outcome }
        outcome.position = position
        let folded = try ProjectionRunner.state(of: ConversationProjection.self, asOf: position, in: store)
        for threadID in folded.threads.keys.sorted()
        where try tables.conversation(threadID) != folded.conversation(threadID) {
            outcome.difference = "thread '\(threadID)' differs"
            return outcome
        }
        let stored = try tables.threadCount()
        if stored != folded.threads.count {
            outcome.difference = "the tables hold \(stored) threads, the fold \(folded.threads.count)"
        } else if try Set(tables.openRuns().map(\.id))
            != Set(folded.runs.values.filter { $0.status == .running }.map(\.id))
        {
            outcome.difference = "the runs still running differ"
        }
        return outcome
    }
}
