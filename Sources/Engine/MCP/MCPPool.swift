import Events
import Foundation

/// The MCP sessions of the registry's servers: started on first use, their tool lists cached for `toolListTTL`
/// (5 minutes by default), and restarted when the registry changes a server's definition or the server went away.
public actor MCPPool {
    private struct Session {
        let definition: MCPServerDefinition
        let client: MCPClient
        var tools: [MCPTool]
        var listedAt: ContinuousClock.Instant
    }

    private var sessions: [String: Session] = [:]
    private let toolListTTL: Duration
    private let startTimeout: Duration
    private let clock = ContinuousClock()
    private let secrets: SecretScope
    private let environment: [String: String]

    /// - Parameters:
    ///   - secrets: the references a server's `headers` may name.
    ///   - environment: where `env:` references are read.
    public init(toolListTTL: Duration = .seconds(300), startTimeout: Duration = .seconds(30), secrets: SecretScope = SecretScope(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        (self.toolListTTL, self.startTimeout, self.secrets, self.environment) = (toolListTTL, startTimeout, secrets, environment)
    }

    /// The tools `server` offers (cached), starting its session if needed.
    public func tools(of server: MCPServerDefinition) async throws(MCPError) -> [MCPTool] {
        var session = try await session(for: server)
        if clock.now - session.listedAt > toolListTTL {
            session.tools = try await session.client.listTools()
            session.listedAt = clock.now
            sessions[server.name] = session
        }
        return session.tools
    }

    /// Calls a tool. A server that has gone away is dropped, so the next use starts it again.
    public func call(_ server: MCPServerDefinition, tool: String, arguments: JSONValue, timeout: Duration,
                     maxResultBytes: Int) async throws(MCPError) -> MCPToolResult {
        let session = try await session(for: server)
        do {
            return try await session.client.callTool(tool, arguments: arguments, timeout: timeout, maxResultBytes: maxResultBytes)
        } catch {
            if error.kind == .disconnected || error.kind == .timeout { await drop(server.name) }
            throw error
        }
    }

    /// Checks that `server` answers (starting it if needed). A server that does not is dropped.
    public func ping(_ server: MCPServerDefinition, timeout: Duration) async throws(MCPError) {
        let session = try await session(for: server)
        do { try await session.client.ping(timeout: timeout) } catch {
            await drop(server.name)
            throw error
        }
    }

    /// Forgets a server's cached tools (a registry event touched it); its session restarts on next use.
    public func invalidate(_ name: String) async { await drop(name) }

    /// Ends every session.
    public func shutdown() async {
        for name in Array(sessions.keys) { await drop(name) }
    }

    private func session(for server: MCPServerDefinition) async throws(MCPError) -> Session {
        if let existing = sessions[server.name] {
            if existing.definition == server { return existing }
            await drop(server.name)  // the registry changed it
        }
        let connection: any MCPConnection
        switch server.transport {
        case .stdio:
            connection = try StdioConnection(name: server.name, command: server.command)
        case .http:
            guard let url = server.url else { throw MCPError(.unavailable, "MCP server '\(server.name)' has no URL") }
            var headers: [(name: String, value: Secret)] = []
            for (header, reference) in server.headers.sorted(by: { $0.key < $1.key }) {
                do {
                    try secrets.check(reference)
                    headers.append((header, try SecretReference(reference).resolve(environment: environment)))
                } catch {
                    throw MCPError(.unavailable, "MCP server '\(server.name)': header \(header): \(error)")
                }
            }
            // The caller's token goes only to internal servers; an external one gets its own credentials, if any.
            connection = try HTTPMCPConnection(name: server.name, url: url, forwardsCallerToken: server.isInternal, headers: headers)
        }
        let client = MCPClient(serverName: server.name, connection: connection)
        do {
            try await client.start(timeout: startTimeout)
            let session = Session(definition: server, client: client, tools: try await client.listTools(), listedAt: clock.now)
            sessions[server.name] = session
            return session
        } catch {
            await client.close()
            throw error
        }
    }

    private func drop(_ name: String) async {
        guard let session = sessions.removeValue(forKey: name) else { return }
        await session.client.close()
    }
}
