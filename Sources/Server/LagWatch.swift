import EventStore
import Logging
import Projections

/// Says in the server's log when what the server reads from falls behind what it should show: the read models behind
/// the log (they fold it in the background), and on a shared log this server's copy behind the shared log. One warning
/// when a lag passes the limit, one notice when it is back under it; `/metrics` has the figures
/// (`logbook_read_models_behind_events`).
struct LagWatch {
    /// What can fall behind.
    enum Kind: String, Sendable, CaseIterable {
        case readModels = "the read models"
        case copy = "this server's copy of the shared log"
    }

    /// Events behind beyond which a lag is reported.
    let limit: UInt64
    let logger: Logger
    private var behind: Set<Kind> = []

    init(limit: UInt64, logger: Logger) {
        (self.limit, self.logger) = (limit, logger)
    }

    /// Takes one measure of `kind`'s lag, in events, and logs if it crossed the limit either way since the last.
    mutating func observe(_ kind: Kind, behindBy events: UInt64, position: Seq) {
        if events > limit, !behind.contains(kind) {
            behind.insert(kind)
            logger.warning(
                "\(kind.rawValue) fell behind the log",
                metadata: ["behind": "\(events)", "position": "\(position)", "limit": "\(limit)"])
        } else if events <= limit, behind.contains(kind) {
            behind.remove(kind)
            logger.notice("\(kind.rawValue) caught up", metadata: ["behind": "\(events)", "position": "\(position)"])
        }
    }

    /// Measures every `interval` until cancelled.
    static func run(
        every interval: Duration, limit: UInt64, store: EventStore, readModels: ProjectionRunner, logger: Logger
    ) async {
        var watch = LagWatch(limit: limit, logger: logger)
        while (try? await Task.sleep(for: interval)) != nil {
            watch.observe(.readModels, behindBy: readModels.eventsBehind, position: readModels.position)
            if let shared = store.shared, let sharedEnd = try? await shared.lastSeq() {
                let copied = store.lastSeq
                watch.observe(
                    .copy, behindBy: sharedEnd.rawValue - min(copied.rawValue, sharedEnd.rawValue), position: copied)
            }
        }
    }
}
