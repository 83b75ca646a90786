import EventStore
import Hummingbird
import Projections
import Synchronization

/// `/healthz` (the process answers) and `/readyz` (the log is open, readable and writable — a fatal write error makes
/// it refuse writes until the server restarts — a shared log's database answers, and the read models follow it). No authentication.
struct HealthRoutes {
    let store: EventStore
    let readModels: ProjectionRunner
    let following: FollowingFlag
    /// More events than this not yet in the read models (threads, audit trail) is not ready.
    static let maxLag: UInt64 = 10_000

    func add(to router: Router<AppRequestContext>) {
        router.get("healthz") { _, _ in ["status": "ok"] }
        router.get("readyz") { _, _ -> ReadyBody in
            let events: UInt64
            do { events = try store.statistics().events } catch {
                throw APIError(
                    .serviceUnavailable, "not_ready",
                    "the log is not readable: \((error as? EventStoreError)?.message ?? "\(error)")")
            }
            if let shared = store.shared {
                do { _ = try await shared.lastSeq() } catch {
                    throw APIError(
                        .serviceUnavailable, "not_ready",
                        "the shared log cannot be reached: \((error as? EventStoreError)?.message ?? "\(error)")")
                }
            }
            if let refusal = store.writeRefusal {
                throw APIError(.serviceUnavailable, "not_ready", "the log refuses writes: \(refusal.message)")
            }
            guard following.isSet else {
                throw APIError(
                    .serviceUnavailable, "not_ready",
                    "the read models stopped following the log; see the server's output and restart it")
            }
            let behind = readModels.eventsBehind
            guard behind <= Self.maxLag else {
                throw APIError(
                    .serviceUnavailable, "not_ready",
                    "the read models are \(behind) events behind the log; they are catching up")
            }
            return ReadyBody(status: "ready", events: events, behind: behind)
        }
    }

    /// `/readyz`'s answer: the log's event count and how many of them the read models have yet to fold.
    struct ReadyBody: ResponseEncodable, Codable {
        let status: String
        let events: UInt64
        let behind: UInt64
    }
}

/// Whether the read models' follower is still running (cleared when it stops, by error or shutdown).
final class FollowingFlag: Sendable {
    private let value = Mutex(true)
    var isSet: Bool { value.withLock { $0 } }
    func clear() { value.withLock { $0 = false } }
}
