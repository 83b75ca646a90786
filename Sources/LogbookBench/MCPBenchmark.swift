import ArgumentParser
import CommandSupport
import Engine
import Events
import Foundation

struct MCPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Measure a tool call to a local stdio MCP server: Logbook's client against a bare pipe client.",
        discussion: """
            Starts the server twice. A bare client (Python: write a line, read a line, nothing else) times the calls to \
            get the server's own time plus the pipes; then Logbook's MCP client (StdioConnection + MCPClient) times the \
            same calls. The difference is what Logbook adds per call (target: at most 1 ms).
            """)

    @Option(help: "The server's command line.") var command = "python3 -m mcp_server_time --local-timezone UTC"
    @Option(help: "The tool to call.") var tool = "get_current_time"
    @Option(help: "Its arguments, as JSON.") var arguments = #"{"timezone": "UTC"}"#
    @Option(help: "Timed calls per client (after 50 untimed).") var calls = 2_000

    func run() async throws {
        guard let args = JSONValue(parsing: arguments), case .object = args else {
            throw Failure("--arguments must be a JSON object")
        }
        let argv = command.split(separator: " ").map(String.init)
        let bare = try bareClient(argv)
        let client = MCPClient(serverName: "bench", connection: try StdioConnection(name: "bench", command: argv))
        try await client.start()
        for _ in 0..<50 { _ = try await client.callTool(tool, arguments: args) }
        var times: [Double] = []
        times.reserveCapacity(calls)
        for _ in 0..<calls {
            let started = ContinuousClock.now
            let result = try await client.callTool(tool, arguments: args)
            times.append((ContinuousClock.now - started).seconds * 1000)
            if result.isError { throw Failure("the tool answered with an error: \(result.text.prefix(200))") }
        }
        await client.close()
        times.sort()
        let ours = (p50: times[times.count / 2], p99: times[min(times.count - 1, times.count * 99 / 100)])
        print("## logbook bench mcp")
        print("")
        print("server: \(command); tool \(tool); \(calls) calls each, one at a time")
        print("")
        print("| client | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        print("| bare pipe client (the server's own time + pipes) | \(f(bare.p50, 3)) | \(f(bare.p99, 3)) |")
        print("| Logbook (StdioConnection + MCPClient) | \(f(ours.p50, 3)) | \(f(ours.p99, 3)) |")
        print("| **Logbook's cost per call** | **\(f(ours.p50 - bare.p50, 3))** | \(f(ours.p99 - bare.p99, 3)) |")
        print("")
        print("target: at most 1 ms per call beyond the server's own time (p50)")
    }

    /// Times the calls with a bare Python client (line in, line out) and returns its p50 and p99 in milliseconds.
    private func bareClient(_ argv: [String]) throws -> (p50: Double, p99: Double) {
        let script = #"""
            import json, subprocess, sys, time
            argv, tool, arguments, n = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            def rpc(i, method, params):
                p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n").encode())
                while True:
                    reply = json.loads(p.stdout.readline())
                    if reply.get("id") == i:
                        return reply
            rpc(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bare", "version": "0"}})
            p.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
            for i in range(50):
                rpc(i + 1, "tools/call", {"name": tool, "arguments": arguments})
            times = []
            for i in range(n):
                t = time.perf_counter()
                rpc(1000 + i, "tools/call", {"name": tool, "arguments": arguments})
                times.append((time.perf_counter() - t) * 1000)
            p.terminate()
            times.sort()
            print(json.dumps({"p50": times[len(times) // 2], "p99": times[min(len(times) - 1, len(times) * 99 // 100)]}))
            """#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let argvJSON = String(decoding: try JSONSerialization.data(withJSONObject: argv), as: UTF8.self)
        process.arguments = ["python3", "-c", script, argvJSON, tool, arguments, String(calls)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let figures = try JSONSerialization.jsonObject(with: data) as? [String: Double],
            let p50 = figures["p50"], let p99 = figures["p99"]
        else {
            throw Failure("the bare client failed (is python3 there and does '\(command)' start?)")
        }
        return (p50, p99)
    }
}

extension Duration {
    /// As fractional seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
