import EventStore
import Events
import Foundation

/// The MCP sessions of the registry's servers: started on first use, their tool lists cached for `toolListTTL`
/// (5 minutes by default) and listed again sooner when the server announces a change or its recorded health changes.
///
/// A server that goes away comes back: a session that ended (a stdio server that exited, an HTTP server that closed) is
/// started again on next use; an HTTP server that forgot the session (404) is re-initialized once, transparently.
/// Restarts are bounded: after a failed start or a session that died, the next attempt waits (0, then 1, 2, 4 … up to
/// 60 s), and until then the server is unavailable with a message saying why and when it is tried again — which runs
/// record as `tools.unavailable`. With a `recorder`, the first failure of a run of them and each restart that brings a
/// server back are recorded too, as health changes (bounded by the backoff).
public actor MCPPool {
    private struct Session {
        let definition: MCPServerDefinition
        let client: MCPClient
        var tools: [MCPTool]
        var listedAt: ContinuousClock.Instant
        /// The seq of the health record the tools were listed under (nil: none yet).
        var healthSeq: Seq?
    }

    /// A server's recent failures, for the backoff before it is started again.
    private struct Failures {
        var count: Int
        var notBefore: ContinuousClock.Instant
        var reason: String
    }

    private var sessions: [String: Session] = [:]
    private var failures: [String: Failures] = [:]
    private let toolListTTL: Duration
    private let startTimeout: Duration
    private let clock = ContinuousClock()
    private let secrets: SecretScope
    private let environment: [String: String]
    /// Sessions started again after one ended or was forgotten, since the pool began.
    public private(set) var restarts = 0
    /// Where the pool reports a server that failed or came back (`setRecorder`).
    private var recorder: (@Sendable (MCPHealthChanged) async -> Void)?
    /// Servers whose latest failure has not yet been followed by a successful start.
    private var down: Set<String> = []

    /// Reports each server that starts failing (`unhealthy`, with the reason) and each that a restart brings back
    /// (`healthy`, "restarted after …"): the server appends them to the log.
    public func setRecorder(_ recorder: @escaping @Sendable (MCPHealthChanged) async -> Void) {
        self.recorder = recorder
    }

    /// The longest wait before a failing server is tried again.
    public static let maxBackoff = Duration.seconds(60)

    /// - Parameters:
    ///   - secrets: the references a server's `headers` may name.
    ///   - environment: where `env:` references are read.
    public init(
        toolListTTL: Duration = .seconds(300), startTimeout: Duration = .seconds(30),
        secrets: SecretScope = SecretScope(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        (self.toolListTTL, self.startTimeout, self.secrets, self.environment) = (
            toolListTTL, startTimeout, secrets, environment
        )
    }

    /// The tools `server` offers, starting its session if needed: cached, and listed again once `toolListTTL` has
    /// passed, the server announced a change, or `healthSeq` (the seq of its latest recorded health) moved.
    public func tools(of server: MCPServerDefinition, healthSeq: Seq? = nil) async throws(MCPError) -> [MCPTool] {
        try await withSession(server, retryingLost: true) { (pool, session) throws(MCPError) in
            var session = session
            let announced = await session.client.takeToolsChanged()
            guard announced || pool.clock.now - session.listedAt > pool.toolListTTL || session.healthSeq != healthSeq
            else { return session.tools }
            session.tools = try await session.client.listTools()
            (session.listedAt, session.healthSeq) = (pool.clock.now, healthSeq)
            pool.sessions[server.name] = session
            return session.tools
        }
    }

    /// Calls a tool. A session the HTTP server forgot is re-initialized and the call sent once more (the server did
    /// not run it), and so is a call to a server found gone before the call reached it (`MCPError.undelivered`: it
    /// died since its last use and that was not noticed yet); a server that went away mid-call is not called again
    /// for it (it may have run), and is started again on next use.
    public func call(
        _ server: MCPServerDefinition, tool: String, arguments: JSONValue, timeout: Duration,
        maxResultBytes: Int
    ) async throws(MCPError) -> MCPToolResult {
        try await withSession(server, retryingLost: false) { (_, session) throws(MCPError) in
            try await session.client.callTool(
                tool, arguments: arguments, timeout: timeout, maxResultBytes: maxResultBytes)
        }
    }

    /// Checks that `server` answers (starting it if needed).
    public func ping(_ server: MCPServerDefinition, timeout: Duration) async throws(MCPError) {
        try await withSession(server, retryingLost: true) { (_, session) throws(MCPError) in
            try await session.client.ping(timeout: timeout)
        }
    }

    /// Ends a server's session (a registry event touched it, or an administrator asked for fresh tools): its process
    /// stops, and its next use starts it again at once.
    public func invalidate(_ name: String) async {
        failures[name] = nil
        down.remove(name)
        await drop(name)
    }

    /// Ends every session.
    public func shutdown() async {
        for name in Array(sessions.keys) { await drop(name) }
    }

    /// Runs `body` on the server's session. When the session turns out lost — the server forgot it (HTTP 404), or
    /// (with `retryingLost`, for requests that are safe to repeat) it ended — it is dropped and `body` runs once more
    /// on a fresh one. Any other failure of a session that ended drops it too, so the next use starts it again.
    private func withSession<T: Sendable>(
        _ server: MCPServerDefinition, retryingLost: Bool,
        _ body: (isolated MCPPool, Session) async throws(MCPError) -> T
    ) async throws(MCPError) -> T {
        let session = try await session(for: server)
        do {
            let result = try await body(self, session)
            failures[server.name] = nil
            return result
        } catch {
            let forgotten = error.kind == .server(code: 404)
            let ended = await session.client.isEnded || error.kind == .disconnected
            guard forgotten || ended || error.kind == .timeout else { throw error }
            await drop(server.name)
            if ended { await noteFailure(server.name, reason: error.message) }
            // A call that never reached the server is safe to send again, even one that is not safe to repeat.
            guard forgotten || (ended && (retryingLost || error.undelivered)) else { throw error }
            restarts += 1
            let fresh = try await self.session(for: server)
            let result = try await body(self, fresh)
            failures[server.name] = nil
            return result
        }
    }

    private func session(for server: MCPServerDefinition) async throws(MCPError) -> Session {
        if let existing = sessions[server.name] {
            if existing.definition == server, await !existing.client.isEnded { return existing }
            let died = existing.definition == server
            await drop(server.name)  // the registry changed it, or the server went away
            if died {
                await noteFailure(server.name, reason: "MCP server '\(server.name)' had gone away")
                restarts += 1
            }
        }
        if let backoff = failures[server.name], clock.now < backoff.notBefore {
            let wait = backoff.notBefore - clock.now
            throw MCPError(
                .unavailable,
                "MCP server '\(server.name)' failed \(backoff.count) time(s) in a row (\(backoff.reason)); it is tried again in \(Self.seconds(wait)) s"
            )
        }
        let connection: any MCPConnection
        do {
            connection = try makeConnection(server)
        } catch {
            await noteFailure(server.name, reason: error.message)
            throw error
        }
        let client = MCPClient(serverName: server.name, connection: connection)
        do {
            try await client.start(timeout: startTimeout)
            let session = Session(
                definition: server, client: client, tools: try await client.listTools(), listedAt: clock.now,
                healthSeq: nil)
            sessions[server.name] = session
            if down.remove(server.name) != nil {
                await recorder?(
                    MCPHealthChanged(
                        name: server.name, status: .healthy,
                        detail: "restarted after: \(failures[server.name]?.reason ?? "a failure")"))
            }
            return session
        } catch {
            await client.close()
            await noteFailure(server.name, reason: error.message)
            throw error
        }
    }

    private func makeConnection(_ server: MCPServerDefinition) throws(MCPError) -> any MCPConnection {
        switch server.transport {
        case .stdio:
            return try StdioConnection(name: server.name, command: server.command)
        case .http:
            guard let url = server.url else { throw MCPError(.unavailable, "MCP server '\(server.name)' has no URL") }
            var headers: [(name: String, value: Secret)] = []
            for (header, reference) in server.headers.sorted(by: { $0.key < $1.key }) {
                do {
                    try secrets.check(reference)
                    headers.append((header, try SecretReference(reference).resolve(environment: environment)))
                } catch {
                    throw MCPError(
                        .unavailable, "MCP server '\(server.name)': header \(header): \(error)", cause: error)
                }
            }
            // The caller's token goes only to internal servers; an external one gets its own credentials, if any.
            return try HTTPMCPConnection(
                name: server.name, url: url, forwardsCallerToken: server.isInternal, headers: headers)
        }
    }

    /// One more failure in a row: the first allows a restart at once, then 1, 2, 4 … `maxBackoff` seconds. The first
    /// of a run is reported to the recorder.
    private func noteFailure(_ name: String, reason: String) async {
        if down.insert(name).inserted, let recorder {
            await recorder(MCPHealthChanged(name: name, status: .unhealthy, detail: String(reason.prefix(200))))
        }
        let count = (failures[name]?.count ?? 0) + 1
        let wait = count == 1 ? Duration.zero : min(Duration.seconds(1 << min(count - 2, 6)), Self.maxBackoff)
        failures[name] = Failures(count: count, notBefore: clock.now + wait, reason: String(reason.prefix(200)))
    }

    private func drop(_ name: String) async {
        guard let session = sessions.removeValue(forKey: name) else { return }
        await session.client.close()
    }

    private static func seconds(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}
