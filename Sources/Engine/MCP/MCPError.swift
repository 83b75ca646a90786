/// Why an MCP operation failed. Messages name the server and say what to check; they never carry tokens.
public struct MCPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server could not be started or reached.
        case unavailable
        /// The server exited or closed the connection.
        case disconnected
        /// No answer in time.
        case timeout
        /// The server broke the protocol (bad JSON, an oversize message, a reply that is not what was asked).
        case protocolViolation
        /// The server answered with a JSON-RPC error.
        case server(code: Int)
    }

    public var kind: Kind
    public var message: String
    /// The error underneath (the connection's, the process's), kept for logs and for callers that tell causes apart.
    public var cause: (any Error & Sendable)?
    /// The request never reached the server (the connection had ended before it was sent, or not one byte of it could
    /// be written): sending it again on a new connection cannot run it twice.
    public var undelivered = false

    public init(_ kind: Kind, _ message: String, cause: (any Error & Sendable)? = nil) {
        (self.kind, self.message, self.cause) = (kind, message, cause)
    }
    public var description: String { message }

    /// Equal kind and message (the cause is context, not identity).
    public static func == (a: MCPError, b: MCPError) -> Bool { a.kind == b.kind && a.message == b.message }
}
