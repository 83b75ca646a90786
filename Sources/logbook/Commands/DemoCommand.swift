import ArgumentParser
import CommandSupport
import Engine
import EventStore
import Events
import Foundation
import LoopbackModel
import NIOCore
import OpenAIWire
import Projections

/// `logbook demo`: the whole pipeline in one command, without an API key — a scripted model on loopback, the real
/// `mcp-server-time` when it is installed, two users under a policy, then the log, the audit trail, a replay and a
/// verify of what happened.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run two conversations through a scripted model and show what Logbook recorded.",
        discussion: """
            Registers a scripted OpenAI-compatible model (on 127.0.0.1), the MCP server `mcp-server-time` (stdio; \
            `pip install mcp-server-time` to see tool calls) and an agent; alice (allowed the clock) and bob (not) each \
            ask the time. Then prints the thread's timeline, the audit trail, a recorded replay (zero divergence) and a \
            verify of the log. The log stays in --data for `logbook events`, `tail`, `serve`…
            """)

    @Option(help: ArgumentHelp("Where the demo's log goes (must not hold one).", valueName: "DIR")) var data =
        "./demo-data"

    func run() async throws {
        if FileManager.default.fileExists(atPath: data + "/data.mdb") {
            throw Failure("\(data) already holds a log; give 'logbook demo' a new directory (--data)")
        }
        let llm = try await ScriptedLLMServer(recordsRequests: false) { .json(body: Self.reply($0)) }
        let store = try EventStore.open(EventStore.Configuration(directory: data))
        let registry = ProjectionRunner(store: store, projections: [RegistryProjection.self])
        try await registry.start()
        let pool = MCPPool()
        let roles = [
            "admin": ["*"], "sre": ["chat", "model.use:*", "tool.call:time/*", "thread.read:own"],
            "intern": ["chat", "model.use:*", "thread.read:own"],
        ]
        let policy = try Policy(roles: roles)
        // Beside the log, so the commands printed below (replay, serve) decide as the demo did.
        let policyFile = URL(fileURLWithPath: data).appendingPathComponent("demo-policy.json").path
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(["roles": roles]).write(to: URL(fileURLWithPath: policyFile))
        let runtime = AgentRuntime(store: store, registry: registry, policy: policy, pool: pool)
        // The policy is in the log, like the rest of the configuration: replay needs no file.
        _ = try await runtime.access.adoptConfiguredPolicy(roles, actor: "user:admin", reason: "the demo's policy")
        let admin = Principal(subject: "user:admin", roles: ["admin"], workspace: "ops", expiry: .max)
        let alice = Principal(subject: "user:alice", roles: ["sre"], workspace: "ops", expiry: .max)
        let bob = Principal(subject: "user:bob", roles: ["intern"], workspace: "ops", expiry: .max)
        do {
            section("1. The registry (each change authorized and recorded as user:admin)")
            let hasClock = Self.onPath("mcp-server-time")
            try await runtime.registry.changeRegistry(
                .modelRegistered(
                    ModelRegistered(
                        model: ModelDefinition(name: "scripted", provider: "openai-compatible", endpoint: llm.baseURL))),
                in: "registry/models", resource: "model:scripted", as: admin)
            try await runtime.registry.changeRegistry(
                .defaultModelSet(DefaultModelSet(model: "scripted")), in: "registry/models",
                resource: "org/default-model", as: admin)
            if hasClock {
                try await runtime.registry.changeRegistry(
                    .mcpServerRegistered(
                        MCPServerRegistered(
                            server: MCPServerDefinition(
                                name: "time", transport: .stdio,
                                command: ["mcp-server-time", "--local-timezone", "UTC"]))),
                    in: "registry/mcp", resource: "mcp:time", as: admin)
            }
            try await runtime.registry.changeRegistry(
                .agentDefined(
                    AgentDefined(
                        agent: AgentDefinition(
                            name: "ops", instructions: "You answer operators tersely.", allowedTools: ["time/*"]))),
                in: "registry/agents", resource: "agent:ops", as: admin)
            say(
                "model 'scripted' (org default) at \(llm.baseURL); agent 'ops'; MCP server 'time': \(hasClock ? "mcp-server-time over stdio" : "not installed (pip install mcp-server-time), so no tool calls")"
            )

            let printer = ChatPrinter(notes: .standardOutput)
            let turns: [(Int, String, Principal, ThreadID)] = [
                (2, "alice (role sre: may call time/*)", alice, "demo-alice"),
                (3, "bob (role intern: may not)", bob, "demo-bob"),
            ]
            for (n, who, principal, thread) in turns {
                section("\(n). \(who) asks: What time is it in Tokyo?")
                let result = try await runtime.conversations.chat(
                    ChatTurn(threadID: thread, text: "What time is it in Tokyo?", agent: "ops"), as: principal,
                    observer: EmbeddedChat.Observer(printer: printer))
                printer.done(
                    status: result.status.rawValue, answer: result.answer, steps: result.steps,
                    input: result.usage.input, output: result.usage.output)
            }

            section("4. bob's thread, as the log holds it (logbook events --data \(data) --stream thread/demo-bob)")
            for event in try store.read(stream: try ThreadID("demo-bob").stream, maxCount: 100) {
                say(EventsCommand.text(event))
            }

            section("5. The audit trail (logbook audit, or GET /v1/audit, once served)")
            let trail = ProjectionRunner(store: store, projections: [AuditProjection.self])
            try await trail.start()
            var query = AuditQuery(workspace: "ops", limit: 100)
            query.newestFirst = false
            let entries = try trail.queryAudit(query).entries
            let rows: [[String]] = entries.map { (e: AuditEntry) -> [String] in
                let decision: String = e.decision?.rawValue ?? "-"
                return [e.seq.description, e.actor, e.action, e.resource, decision]
            }
            FileHandle.standardOutput.write(
                Data(Table.render(["SEQ", "ACTOR", "ACTION", "RESOURCE", "DECISION"], rows).utf8))

            section(
                "6. Replay: this engine re-runs each thread against its recording, under the policy the log recorded (logbook replay demo-alice --data \(data))"
            )
            for thread: ThreadID in ["demo-alice", "demo-bob"] {
                let report = try await runtime.debugger.replay(thread: thread, as: admin)
                say(
                    "\(thread): \(report.runsReplayed) run(s), \(report.stepsMatched) steps matched, \(report.divergence.map { "diverged: \($0.aspect)" } ?? "no divergence")"
                )
            }

            section("7. Verify: checksums, hash chain, indexes")
            let verification = try store.verify()
            say(
                verification.isIntact
                    ? "intact: \(verification.checkedEvents) events"
                    : "FAILED: \(String(describing: verification.firstFailure))")
            say(
                "\nThe log is in \(data): logbook serve --data \(data) --policy \(policyFile) serves it; logbook tail --data \(data) shows its end."
            )
        } catch {
            await pool.shutdown(); await store.close(); await llm.shutdown()
            throw error
        }
        await pool.shutdown()
        await store.close()
        await llm.shutdown()
    }

    private func section(_ title: String) { say("\n## \(title)\n") }

    /// Everything on standard output, unbuffered, so the chat's streamed pieces and the rest stay in order in a pipe.
    private func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

    static func onPath(_ program: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(program)")
        }
    }

    /// The scripted model: asked the time with the clock tool on offer, it calls it for Tokyo; given the tool's
    /// answer, it reads the time out of it; refused the tool (or without it), it says so.
    @Sendable static func reply(_ sent: ScriptedLLMServer.Request) -> String {
        let request = sent.chatCompletion
        let tools = (request?.tools ?? []).map(\.function.name)
        let answer = { (text: String) in
            ScriptedLLMServer.completion(.init(role: "assistant", content: text), finish: "stop", model: "scripted")
        }
        if let last = request?.messages.last, last.role == "tool" {
            let content = last.text ?? ""
            guard let datetime = JSONValue(parsing: content)?["datetime"]?.stringValue else {
                return answer("I could not read the clock: \(content.prefix(120))")
            }
            return answer(
                "In Tokyo it is \(datetime.prefix(16).replacingOccurrences(of: "T", with: " ")) (from the time server)."
            )
        }
        if let clock = tools.first(where: { $0.hasSuffix("get_current_time") }) {
            let call = ChatCompletions.ToolCall(
                id: "call_\(UUID().uuidString.prefix(8))",
                function: .init(name: clock, arguments: #"{"timezone":"Asia/Tokyo"}"#))
            return ScriptedLLMServer.completion(
                .init(role: "assistant", tool_calls: [call]), finish: "tool_calls", model: "scripted")
        }
        return answer("I have no clock tool here, so I cannot tell the time.")
    }
}
