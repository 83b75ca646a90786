import Foundation

/// A bidirectional channel of JSON-RPC messages to one MCP server (stdio or streamable HTTP).
public protocol MCPConnection: Sendable {
    /// Sends one message (a complete JSON object).
    func send(_ message: Data) async throws(MCPError)
    /// The server's messages, in order; ends by throwing `MCPError` (`disconnected`) when the server goes away.
    var incoming: AsyncThrowingStream<Data, any Error> { get }
    /// Stops the server or closes the connection. Idempotent.
    func close() async
    /// Whether the server is known gone already, before `incoming` says so (a stdio server's process has exited).
    var hasEnded: Bool { get }
}

extension MCPConnection {
    public var hasEnded: Bool { false }
}
