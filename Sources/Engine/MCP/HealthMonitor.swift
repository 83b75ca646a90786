import EventStore
import Events
import Foundation
import Projections

/// Checks the registry's MCP servers now and then and records each change of status as `mcp.health.changed` in
/// `registry/mcp` (only changes: a steady server adds nothing to the log). Runs skip servers recorded unhealthy, and
/// use them again once a check finds them healthy; a server an administrator put in maintenance is not checked.
public struct HealthMonitor: Sendable {
    private let store: EventStore
    private let registry: ProjectionRunner
    private let pool: MCPPool
    private let timeout: Duration

    /// - Parameter registry: a runner that includes `RegistryProjection`.
    public init(store: EventStore, registry: ProjectionRunner, pool: MCPPool, timeout: Duration = .seconds(10)) {
        (self.store, self.registry, self.pool, self.timeout) = (store, registry, pool, timeout)
    }

    /// Checks every server once; returns the changes it recorded.
    @discardableResult
    public func checkOnce() async throws -> [MCPHealthChanged] {
        try await registry.catchUp()
        let servers = registry.read(RegistryProjection.self) { $0.mcpServers }
        var changes: [MCPHealthChanged] = []
        for (name, entry) in servers.sorted(by: { $0.key < $1.key }) where entry.health?.status != .maintenance {
            let (status, detail): (HealthStatus, String?)
            do {
                try await pool.ping(entry.definition.value, timeout: timeout)
                (status, detail) = (.healthy, nil)
            } catch {
                (status, detail) = (.unhealthy, error.message)
            }
            guard entry.health?.status != status else { continue }  // only changes of status: no flapping details
            changes.append(MCPHealthChanged(name: name, status: status, detail: detail))
        }
        if !changes.isEmpty {
            try await store.append(
                changes.map { $0.proposed(metadata: EventMetadata(actor: "system:health")) }, to: "registry/mcp")
        }
        return changes
    }

    /// Checks every `interval` until the task is cancelled. A failing check (the log closed, say) ends the loop.
    public func run(every interval: Duration = .seconds(30)) async {
        while !Task.isCancelled {
            do { try await checkOnce() } catch { return }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}
