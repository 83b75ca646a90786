import Foundation
import Synchronization

/// An MCP server spawned as a child process, speaking newline-delimited JSON-RPC on its stdin and stdout.
///
/// Unlike the MCP swift-sdk's stdio transport, nothing polls: a dedicated thread blocks in `read(2)` on the server's
/// stdout and hands each line on as it arrives, so a call costs the server's own time plus microseconds. The server's
/// stderr is drained (a full pipe would stall it) and its tail kept for error messages. Lines longer than
/// `maxMessageBytes` end the connection with `protocolViolation`.
public final class StdioConnection: MCPConnection {
    public let incoming: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private let process: Process
    private let stdinPipe: Pipe
    private let name: String
    private let stderrTail = Mutex<[UInt8]>([])
    private let writeQueue = DispatchQueue(label: "logbook.mcp.stdio.write")
    private let closed = Atomic<Bool>(false)

    /// Starts `command` (resolved on `PATH`) with `environment` added to this process's.
    /// - Throws: `unavailable` when it cannot be started.
    public init(
        name: String, command: [String], environment: [String: String] = [:], maxMessageBytes: Int = 8 << 20
    ) throws(MCPError) {
        guard let program = command.first, !program.isEmpty else {
            throw MCPError(.unavailable, "MCP server '\(name)' has no command to start")
        }
        StdioConnection.ignoreSIGPIPE
        self.name = name
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (stdin, stdout, stderr)
        (incoming, continuation) = AsyncThrowingStream.makeStream(of: Data.self, throwing: (any Error).self)
        do { try process.run() } catch {
            throw MCPError(
                .unavailable, "MCP server '\(name)': cannot start '\(program)': \(error.localizedDescription)")
        }
        self.process = process
        stdinPipe = stdin
        // Close our copies of the child's ends of the pipes.
        try? stdin.fileHandleForReading.close()
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()
        let outFD = stdout.fileHandleForReading.fileDescriptor
        let errFD = stderr.fileHandleForReading.fileDescriptor
        let keep = (stdout, stderr)  // their read ends stay open while the reading threads run
        Thread.detachNewThread { [self] in
            _ = keep
            readLines(from: outFD, maxMessageBytes: maxMessageBytes)
        }
        Thread.detachNewThread { [self] in
            drainStderr(errFD)
            _ = keep
        }
    }

    deinit {
        if !closed.load(ordering: .acquiring), process.isRunning { process.terminate() }
    }

    public func send(_ message: Data) async throws(MCPError) {
        guard !closed.load(ordering: .acquiring) else {
            throw MCPError(.disconnected, "MCP server '\(name)' is closed")
        }
        let fd = stdinPipe.fileHandleForWriting.fileDescriptor
        let name = name
        let result: Result<Void, MCPError> = await withCheckedContinuation { c in
            writeQueue.async { [self] in
                // On the write queue, where `close` closes stdin: the descriptor is still ours.
                guard !closed.load(ordering: .acquiring) else {
                    return c.resume(returning: .failure(MCPError(.disconnected, "MCP server '\(name)' is closed")))
                }
                var bytes = message
                bytes.append(0x0A)
                // How much was written: all of it, or where the write failed.
                let written = bytes.withUnsafeBytes { raw -> Int in
                    var offset = 0
                    while offset < raw.count {
                        let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 {
                            if errno == EINTR { continue }
                            return offset
                        }
                        offset += n
                    }
                    return offset
                }
                guard written < bytes.count else { return c.resume(returning: .success(())) }
                var failure = writeFailure()
                failure.undelivered = written == 0  // not one byte reached the server
                c.resume(returning: .failure(failure))
            }
        }
        try result.get()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writeQueue.sync { try? stdinPipe.fileHandleForWriting.close() }
        if process.isRunning { process.terminate() }
        for _ in 0..<40 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The process has exited (and was reaped): known as soon as that happens, a moment before the end of its output
    /// reaches the client — so the pool starts a new one rather than send a call into the pipe of a dead one.
    public var hasEnded: Bool { !process.isRunning }

    /// The server's process id (for tests).
    var processIdentifier: Int32 { process.processIdentifier }

    /// The last lines the server wrote to stderr (for error messages).
    public var stderrText: String {
        String(decoding: stderrTail.withLock { $0 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func readLines(from fd: Int32, maxMessageBytes: Int) {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            for i in 0..<n where buffer[i] == 0x0A {
                line.append(contentsOf: buffer[start..<i])
                start = i + 1
                if !line.isEmpty, !(line.count == 1 && line[0] == 0x0D) { continuation.yield(Data(line)) }
                line.removeAll(keepingCapacity: true)
            }
            line.append(contentsOf: buffer[start..<n])
            if line.count > maxMessageBytes {
                continuation.finish(
                    throwing: MCPError(
                        .protocolViolation, "MCP server '\(name)' sent a message larger than \(maxMessageBytes) bytes"))
                Task { await close() }
                return
            }
        }
        process.waitUntilExit()
        continuation.finish(
            throwing: closed.load(ordering: .acquiring)
                ? MCPError(.disconnected, "MCP server '\(name)' was closed") : exited())
    }

    /// How the server ended: its exit status and the tail of its stderr. Only once it has exited.
    private func exited() -> MCPError {
        let detail = stderrText.isEmpty ? "" : ": \(stderrText.suffix(500))"
        return MCPError(.disconnected, "MCP server '\(name)' exited with status \(process.terminationStatus)\(detail)")
    }

    /// A write failed (EPIPE): the server closed its input, nearly always by exiting, which may not have been noticed
    /// yet. Waits a little for that, so the error says how it ended (a command that does not exist: status 127).
    private func writeFailure() -> MCPError {
        let deadline = ContinuousClock.now + .seconds(2)
        while process.isRunning, ContinuousClock.now < deadline { usleep(5_000) }
        return process.isRunning ? MCPError(.disconnected, "MCP server '\(name)' stopped reading its input") : exited()
    }

    private func drainStderr(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }
            stderrTail.withLock { tail in
                tail.append(contentsOf: buffer[0..<n])
                if tail.count > 4096 { tail.removeFirst(tail.count - 4096) }
            }
        }
    }

    /// A server that dies makes writes fail with EPIPE; without this, SIGPIPE would kill Logbook.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()
}
