import Events
import Foundation
import Tracing

/// A tool an MCP server offers.
public struct MCPTool: Sendable, Equatable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments.
    public var inputSchema: JSONValue
}

/// What a tool call returned: its text content (other content summarized) and whether the tool reports an error.
public struct MCPToolResult: Sendable, Equatable {
    public var text: String
    public var isError: Bool
}

/// The client side of one MCP session: the `initialize` handshake, `tools/list` and `tools/call`, over any
/// `MCPConnection`. Requests are matched to replies by id, so calls may overlap; each has a time limit, and a server
/// that goes away fails every call in flight with the reason.
public actor MCPClient {
    public nonisolated let serverName: String
    private let connection: any MCPConnection
    private var nextID = 1
    private var pending: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
    private var reader: Task<Void, Never>?
    private var ended: MCPError?
    /// The protocol version the server agreed to.
    public private(set) var protocolVersion: String?
    /// The server said its tool list changed (`notifications/tools/list_changed`) since `takeToolsChanged` last looked.
    private var toolsChanged = false

    /// Whether the session is over: the server exited, closed the connection, or `close` was called.
    public var isEnded: Bool { ended != nil || connection.hasEnded }

    /// Whether the server announced a new tool list since the last call, clearing the flag.
    public func takeToolsChanged() -> Bool {
        defer { toolsChanged = false }
        return toolsChanged
    }

    public static let clientProtocolVersion = "2025-06-18"

    public init(serverName: String, connection: any MCPConnection) {
        self.serverName = serverName
        self.connection = connection
    }

    /// Runs the handshake. Call once, before anything else.
    public func start(timeout: Duration = .seconds(30)) async throws(MCPError) {
        let stream = connection.incoming
        reader = Task { [weak self] in
            do {
                for try await message in stream { await self?.receive(message) }
                await self?.end(MCPError(.disconnected, "MCP server closed the connection"))
            } catch let error as MCPError {
                await self?.end(error)
            } catch {
                await self?.end(MCPError(.disconnected, "MCP connection failed: \(error)", cause: error))
            }
        }
        let result = try await request(
            "initialize",
            [
                "protocolVersion": .string(Self.clientProtocolVersion),
                "capabilities": .object([:]),
                "clientInfo": .object(["name": .string("logbook"), "version": .string("0.1")]),
            ], timeout: timeout)
        protocolVersion = result["protocolVersion"]?.stringValue
        try await connection.send(
            JSONRPC.encode(JSONRPC.Notification(method: "notifications/initialized", params: nil)))
    }

    /// Every tool the server offers (following `nextCursor` pages).
    public func listTools(timeout: Duration = .seconds(30)) async throws(MCPError) -> [MCPTool] {
        var tools: [MCPTool] = []
        var cursor: String?
        repeat {
            let result = try await request(
                "tools/list", cursor.map { ["cursor": .string($0)] } ?? [:], timeout: timeout)
            guard case .array(let list)? = result["tools"] else {
                throw MCPError(
                    .protocolViolation, "MCP server '\(serverName)' answered tools/list without a tools array")
            }
            for item in list {
                guard let name = item["name"]?.stringValue else { continue }
                tools.append(
                    MCPTool(
                        name: name, description: item["description"]?.stringValue ?? "",
                        inputSchema: item["inputSchema"] ?? .object(["type": .string("object")])))
            }
            cursor = result["nextCursor"]?.stringValue
        } while cursor != nil && tools.count < 10_000
        return tools
    }

    /// Calls a tool. A result longer than `maxResultBytes` is cut there, and says so.
    public func callTool(
        _ name: String, arguments: JSONValue, timeout: Duration = .seconds(60),
        maxResultBytes: Int = 256 << 10
    ) async throws(MCPError) -> MCPToolResult {
        var params: [String: JSONValue] = ["name": .string(name), "arguments": arguments]
        // The trace the call is part of (W3C `traceparent`, none without a tracer), for the server to continue; over
        // HTTP, AsyncHTTPClient's span of the request carries it in the headers too.
        var trace: [String: String] = [:]
        InstrumentationSystem.instrument.inject(
            ServiceContext.current ?? .topLevel, into: &trace, using: DictionaryInjector())
        if !trace.isEmpty { params["_meta"] = .object(trace.mapValues { .string($0) }) }
        let result = try await request("tools/call", params, timeout: timeout)
        var parts: [String] = []
        if case .array(let content)? = result["content"] {
            for item in content {
                switch item["type"]?.stringValue {
                case "text": parts.append(item["text"]?.stringValue ?? "")
                case let other:
                    parts.append(
                        "[\(other ?? "unknown") content\(item["mimeType"]?.stringValue.map { ", \($0)" } ?? "")]")
                }
            }
        } else if let structured = result["structuredContent"] {
            parts.append(structured.jsonText)
        }
        var text = parts.joined(separator: "\n")
        if text.utf8.count > maxResultBytes {
            let total = text.utf8.count
            text =
                String(decoding: text.utf8.prefix(maxResultBytes), as: UTF8.self)
                + "\n[truncated: \(total) bytes, limit \(maxResultBytes)]"
        }
        if case .bool(true)? = result["isError"] { return MCPToolResult(text: text, isError: true) }
        return MCPToolResult(text: text, isError: false)
    }

    /// Asks the server whether it is alive (MCP `ping`).
    public func ping(timeout: Duration = .seconds(5)) async throws(MCPError) {
        _ = try await request("ping", [:], timeout: timeout)
    }

    /// Ends the session and the server (stdio) or connection (HTTP). Calls in flight fail with `disconnected`.
    public func close() async {
        end(MCPError(.disconnected, "MCP server '\(serverName)' was closed"))
        reader?.cancel()
        await connection.close()
    }

    // MARK: - Requests and replies

    private func request(
        _ method: String, _ params: [String: JSONValue], timeout: Duration
    ) async throws(MCPError) -> JSONValue {
        if var ended {
            ended.undelivered = true  // ended before this request was sent
            throw ended
        }
        let id = nextID
        nextID += 1
        let message = JSONRPC.encode(JSONRPC.Request(id: id, method: method, params: .object(params)))
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.expire(
                id,
                MCPError(.timeout, "MCP server '\(self?.serverName ?? "")' did not answer \(method) within \(timeout)"))
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
                    pending[id] = c
                    Task { [weak self] in
                        do { try await self?.connection.send(message) } catch {
                            await self?.expire(
                                id, error as? MCPError ?? MCPError(.disconnected, "\(error)", cause: error))
                        }
                    }
                }
            } onCancel: {
                Task { [weak self] in await self?.expire(id, MCPError(.timeout, "the \(method) call was cancelled")) }
            }
        } catch let error as MCPError {
            throw error
        } catch {
            throw MCPError(.disconnected, "MCP server '\(serverName)': \(error)", cause: error)
        }
    }

    private func expire(_ id: Int, _ error: MCPError) {
        pending.removeValue(forKey: id)?.resume(throwing: error)
    }

    private func end(_ error: MCPError) {
        if ended == nil { ended = error }
        let waiting = pending
        pending = [:]
        for c in waiting.values { c.resume(throwing: ended ?? error) }
    }

    private func receive(_ data: Data) async {
        // not JSON-RPC: ignore
        guard let message = try? JSONDecoder().decode(JSONRPC.Incoming.self, from: data) else { return }
        if let method = message.method {
            // A request from the server (ping, sampling, roots…): answer ping, refuse the rest. Notifications: note a
            // changed tool list, ignore the rest.
            guard let id = message.id else {
                if method == "notifications/tools/list_changed" { toolsChanged = true }
                return
            }
            let reply =
                method == "ping"
                ? JSONRPC.encode(PingReply(id: id))
                : JSONRPC.encode(
                    JSONRPC.ErrorReply(id: id, error: .init(code: -32601, message: "Logbook does not offer \(method)")))
            try? await connection.send(reply)
            return
        }
        guard case .number(let n)? = message.id, let c = pending.removeValue(forKey: Int(n)) else { return }
        if let error = message.error {
            c.resume(throwing: MCPError(.server(code: error.code), "MCP server '\(serverName)': \(error.message)"))
        } else {
            c.resume(returning: message.result ?? .null)
        }
    }

    private struct PingReply: Encodable {
        let jsonrpc = "2.0"
        let id: JSONValue
        let result = JSONValue.object([:])
    }
}

/// Writes trace context into a dictionary.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
