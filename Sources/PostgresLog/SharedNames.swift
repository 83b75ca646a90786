import EventStore
import Logging
import PostgresNIO
import Synchronization

/// The names rows carry (streams, event types, actors, workspaces), stored as numbers into `logbook_names` (id,
/// name): a row holds 4 bytes for each where the text took 10–40 (the shared workload stored 57 bytes of names a row).
/// A name gets its id from the transaction that first writes a row with it, under the head's lock, so ids are dense,
/// never given twice and never changed; the view `logbook_events_named` shows rows with their names. Each server keeps
/// the names it has written or read in a bounded cache, and reads the others when a row names one it does not know.
final class SharedNames: Sendable {
    /// The ids of a transaction's names: `new` are the ones it gives (inserted with its rows, cached once it commits).
    struct Assignment: Sendable {
        var ids: [String: Int32] = [:]
        var new: [(id: Int32, name: String)] = []
    }

    private struct Cache {
        var ids: [String: Int32] = [:]
        var names: [Int32: String] = [:]

        /// Adds a name, forgetting every name first once the cache is full (a few hot names come back at once).
        mutating func add(_ id: Int32, _ name: String) {
            if ids.count >= SharedNames.capacity {
                ids = [:]
                names = [:]
            }
            ids[name] = id
            names[id] = name
        }
    }

    /// At most this many names are cached (a stream per thread: the cache does not grow with the log).
    static let capacity = 65_536
    private let cache = Mutex(Cache())

    /// The id of each of `names`, for rows written in this transaction, which holds the head's lock: cached, else
    /// read from `logbook_names`, else the next free one.
    func assign(
        _ names: Set<String>, on connection: PostgresConnection, logger: Logger
    ) async throws -> Assignment {
        var assignment = Assignment()
        let unknown = cache.withLock { c in
            names.filter { name in
                guard let id = c.ids[name] else { return true }
                assignment.ids[name] = id
                return false
            }
        }
        guard !unknown.isEmpty else { return assignment }
        let rows = try await connection.query(
            """
            SELECT id, name FROM logbook_names WHERE name = ANY(\(Array(unknown)))
            UNION ALL SELECT coalesce(max(id), 0), NULL FROM logbook_names
            """, logger: logger)
        var last: Int32 = 0
        var found: [(Int32, String)] = []
        for try await (id, name) in rows.decode((Int32, String?).self) {
            if let name { found.append((id, name)) } else { last = id }
        }
        cache.withLock { c in for (id, name) in found { c.add(id, name) } }
        for (id, name) in found { assignment.ids[name] = id }
        for name in unknown.sorted() where assignment.ids[name] == nil {
            guard last < Int32.max else {
                throw EventStoreError(.storage, "the shared log has given all \(Int32.max) name ids (logbook_names)")
            }
            last += 1
            assignment.ids[name] = last
            assignment.new.append((last, name))
        }
        return assignment
    }

    /// Caches the names a transaction gave, once it has committed (not before: a rolled-back id is given again).
    func remember(_ assignment: Assignment) {
        guard !assignment.new.isEmpty else { return }
        cache.withLock { c in for (id, name) in assignment.new { c.add(id, name) } }
    }

    /// The names of `ids`; the ones not cached are read through `query`. An id the table does not hold is absent
    /// from the answer (a row changed by hand: its reader reports it).
    func names(
        of ids: Set<Int32>, query: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [Int32: String] {
        var answer: [Int32: String] = [:]
        let unknown = cache.withLock { c in
            ids.filter { id in
                guard let name = c.names[id] else { return true }
                answer[id] = name
                return false
            }
        }
        guard !unknown.isEmpty else { return answer }
        let rows = try await query("SELECT id, name FROM logbook_names WHERE id = ANY(\(Array(unknown)))")
        var found: [(Int32, String)] = []
        for try await (id, name) in rows.decode((Int32, String).self) { found.append((id, name)) }
        cache.withLock { c in for (id, name) in found { c.add(id, name) } }
        for (id, name) in found { answer[id] = name }
        return answer
    }
}
