import EventStore
import Foundation
import PostgresNIO

/// Holds: one run per thread across servers. A hold is a row of `logbook_holds` with a lease: taken when the stream
/// has no row or its lease ran out, renewed every third of the lease while held, and given up by ending its lease.
/// A server that stops renewing (it crashed, or lost the database) loses its holds when their leases end. The row
/// stays (each change is then an update in place, which PostgreSQL prunes as it goes: inserting and deleting a row
/// per run left 188 KB of dead rows after the shared workload's 6,338 runs, 16 bytes per message); rows whose lease
/// ended an hour ago are deleted by `purgeHolds`.
extension PostgresLog {
    public func hold(_ stream: StreamID) async throws(EventStoreError) -> SharedHold {
        var wait = Duration.milliseconds(5)
        while true {
            if let hold = try await tryHold(stream) { return hold }
            do { try await Task.sleep(for: wait) } catch {
                throw EventStoreError(.closed, "cancelled while waiting for '\(stream)', which another server holds")
            }
            wait = min(wait * 2, .milliseconds(100))
        }
    }

    public func tryHold(_ stream: StreamID) async throws(EventStoreError) -> SharedHold? {
        let hold = SharedHold(stream: stream, token: UUID())
        let lease = Self.interval(holdLease)
        let taken = try await withDeadline("taking '\(stream)'") { [client] in
            let rows = try await client.query(
                """
                INSERT INTO logbook_holds (stream, token, expires_at)
                VALUES (\(stream.rawValue), \(hold.token), now() + \(lease)::interval)
                ON CONFLICT (stream) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
                WHERE logbook_holds.expires_at < now()
                RETURNING token
                """)
            for try await _ in rows { return true }
            return false
        }
        guard taken else { return nil }
        let renewal = Task { [self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: holdLease / 3) } catch { return }
                do {
                    let renewed = try await withDeadline("renewing '\(stream)'") { [client] in
                        let rows = try await client.query(
                            """
                            UPDATE logbook_holds SET expires_at = now() + \(lease)::interval
                            WHERE stream = \(stream.rawValue) AND token = \(hold.token) RETURNING token
                            """)
                        for try await _ in rows { return true }
                        return false
                    }
                    if !renewed {
                        logger.warning(
                            "lost the hold of a thread (its lease ran out)", metadata: ["stream": "\(stream)"])
                        return
                    }
                } catch {
                    logger.warning("renewing a hold failed", metadata: ["stream": "\(stream)", "error": "\(error)"])
                }
            }
        }
        renewals.withLock { $0[hold.token] = renewal }
        return hold
    }

    public func release(_ hold: SharedHold) async {
        let renewal = renewals.withLock { $0.removeValue(forKey: hold.token) }
        renewal?.cancel()
        do {
            try await withDeadline("releasing '\(hold.stream)'") { [client] in
                try await client.query(
                    """
                    UPDATE logbook_holds SET expires_at = '-infinity'
                    WHERE stream = \(hold.stream.rawValue) AND token = \(hold.token)
                    """)
                return true
            }
        } catch {
            logger.warning(
                "releasing a hold failed; it lapses with its lease", metadata: ["stream": "\(hold.stream)"])
        }
    }

    /// Deletes the rows of holds whose lease ended more than `age` ago (so that the table keeps a row per thread run
    /// recently, not per thread ever run); `follow` does it every ten minutes.
    public func purgeHolds(endedMoreThan age: Duration = .seconds(3_600)) async throws(EventStoreError) {
        let interval = Self.interval(age)
        try await withDeadline("deleting ended holds") { [client] in
            try await client.query(
                "DELETE FROM logbook_holds WHERE expires_at < now() - \(interval)::interval")
            return true
        }
    }

    /// A duration as PostgreSQL reads an interval: whole milliseconds.
    private static func interval(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) milliseconds"
    }
}
