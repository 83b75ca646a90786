import EventStore
import Hummingbird

/// `/healthz` (the process answers) and `/readyz` (the log is open and readable). No authentication.
struct HealthRoutes {
    let store: EventStore

    func add(to router: Router<AppRequestContext>) {
        router.get("healthz") { _, _ in ["status": "ok"] }
        router.get("readyz") { _, _ -> [String: String] in
            do {
                let seq = try store.statistics().events
                return ["status": "ready", "events": String(seq)]
            } catch {
                throw APIError(.serviceUnavailable, "not_ready", "the log is not readable: \((error as? EventStoreError)?.message ?? "\(error)")")
            }
        }
    }
}
