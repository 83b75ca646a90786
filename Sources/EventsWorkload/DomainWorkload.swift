import EventStore
import Events
import Foundation

/// A seeded stream of realistic Logbook activity: a registry set up and changed now and then, and many concurrent
/// conversations in several workspaces, each turn authorized, answered by a model that calls tools (some denied,
/// some failing), with the occasional LLM failure, fork and expired session.
///
/// Each `next()` is one append: a stream and the events to append to it together.
public struct DomainWorkload: Sendable {
    public struct Append: Sendable {
        public let stream: StreamID
        public let events: [ProposedEvent]
    }

    public static let workspaces = ["ops", "net", "lab", "sre", "db"]
    public static let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    public static let models = ["gpt-4o", "claude-sonnet", "llama3-70b", "mistral-large"]
    public static let tools = [
        ("k8s", "get_pods"), ("k8s", "describe_pod"), ("k8s", "logs"), ("prometheus", "query"),
        ("prometheus", "alerts"), ("netbox", "device"), ("time", "get_current_time"),
    ]
    static let words = [
        "the", "pod", "restarted", "because", "its", "memory", "limit", "was", "exceeded", "after", "deploy", "of",
        "version", "latency", "p99", "rose", "on", "node", "ingress", "errors", "rate", "increased", "rollback",
        "checked", "alerts", "firing", "for", "namespace", "prod", "cpu", "throttling", "disk", "pressure", "dns",
        "timeout", "upstream", "service", "replica", "pending", "scheduled", "evicted", "crashloop", "backoff",
    ]

    private var rng: SeededGenerator
    private var clockMilliseconds: UInt64 = 1_767_225_600_000
    private var pending: [Append] = []
    private var threads: [ThreadState] = []
    private var threadCounter = 0
    private var setUp = false
    private let activeThreads: Int
    private let registryChangeEvery: UInt64

    struct ThreadState: Sendable {
        let id: String
        let workspace: String
        let owner: String
        var turnsLeft: Int
        var started = false
        var lastSeqGuess: UInt64 = 0
    }

    /// - Parameters:
    ///   - activeThreads: conversations going on at once.
    ///   - registryChangeEvery: about one append in this many changes the registry.
    public init(seed: UInt64, activeThreads: Int = 64, registryChangeEvery: UInt64 = 200) {
        rng = SeededGenerator(seed: seed)
        self.activeThreads = activeThreads
        self.registryChangeEvery = max(registryChangeEvery, 1)
    }

    /// The next append.
    public mutating func next() -> Append {
        if pending.isEmpty { produce() }
        return pending.removeFirst()
    }

    private mutating func produce() {
        if !setUp {
            setUp = true
            registrySetUp()
            return
        }
        if rng.next() % registryChangeEvery == 0 {
            registryChange()
            return
        }
        while threads.count < activeThreads { startThread() }
        let index = Int(rng.next() % UInt64(threads.count))
        turn(in: index)
        if threads[index].turnsLeft <= 0 { threads.remove(at: index) }
    }

    // MARK: Registry

    private mutating func registrySetUp() {
        let admin = meta(actor: "user:admin", workspace: nil)
        for (i, model) in Self.models.enumerated() {
            let def = ModelDefinition(
                name: model, provider: ["openai", "anthropic", "ollama", "azure-openai"][i],
                endpoint: "https://llm-\(i).internal/v1", deployment: i == 3 ? "prod-large" : nil,
                apiVersion: i == 3 ? "2024-10-21" : nil, secretReference: "env:LLM_KEY_\(i)",
                environment: [.lab, .nonprod, .prod][i % 3], parameters: ["temperature": "0.\(i)"])
            emit("registry/models", [ModelRegistered(model: def).proposed(metadata: admin)])
        }
        emit("registry/models", [DefaultModelSet(model: Self.models[0]).proposed(metadata: admin)])
        for server in Set(Self.tools.map(\.0)).sorted() {
            let def = MCPServerDefinition(
                name: server, transport: server == "time" ? .stdio : .http,
                command: server == "time" ? ["mcp-server-time"] : [],
                url: server == "time" ? nil : "http://\(server).tools.internal/mcp", isInternal: server != "netbox")
            emit("registry/mcp", [MCPServerRegistered(server: def).proposed(metadata: admin)])
        }
        emit(
            "registry/agents",
            [
                AgentDefined(
                    agent: AgentDefinition(
                        name: "ops", instructions: "You are an operations assistant.",
                        allowedTools: ["k8s/*", "prometheus/*", "time/*"], subAgents: ["netops"])
                ).proposed(metadata: admin)
            ])
        emit(
            "registry/agents",
            [
                AgentDefined(
                    agent: AgentDefinition(
                        name: "netops", instructions: "You answer network questions.",
                        model: Self.models[1], allowedTools: ["netbox/*"])
                ).proposed(metadata: admin)
            ])
    }

    private mutating func registryChange() {
        let admin = meta(actor: "user:admin", workspace: nil)
        switch rng.next() % 9 {
        case 5:
            let server = pick(Self.tools).0
            emit(
                "registry/mcp",
                [
                    MCPServerUpdated(
                        server: MCPServerDefinition(
                            name: server, transport: .http,
                            url: "http://\(server)-\(rng.next() % 4).tools.internal/mcp")
                    ).proposed(metadata: admin)
                ])
        case 6:
            // A short-lived experimental model, registered and later removed.
            emit(
                "registry/models",
                [
                    ModelRegistered(
                        model: ModelDefinition(
                            name: "experimental", provider: "ollama",
                            endpoint: "http://gpu-1.lab:11434/v1", environment: .lab)
                    ).proposed(metadata: admin)
                ])
            emit("registry/models", [ModelRemoved(name: "experimental").proposed(metadata: admin)])
        case 7:
            emit(
                "registry/agents",
                [
                    AgentDefined(agent: AgentDefinition(name: "scratch", instructions: sentence(6))).proposed(
                        metadata: admin)
                ])
            emit("registry/agents", [AgentRemoved(name: "scratch").proposed(metadata: admin)])
            // The policy is configuration too: a role's permissions changed now and then.
            emit(
                "policy",
                [
                    PolicyChanged(
                        change: .roleSet, role: "sre",
                        roles: ["admin": ["*"], "sre": ["chat", "model.use:*", "tool.call:k8s/*"]],
                        reason: "on-call rotation"
                    ).proposed(metadata: admin)
                ])
            // And the server signs the log's head now and then.
            emit(
                "log/checkpoints",
                [
                    CheckpointSigned(
                        size: 1000,
                        note:
                            "logbook.example/log\n1000\nq1Xm8yNBrwfWmkKK0tgzWqWxXHq3G4S5xOWEpmRhHXI=\n\n\u{2014} logbook.example/log AAAAAA==\n"
                    ).proposed(metadata: meta(actor: "system:checkpoints", workspace: nil))
                ])
        case 8:
            emit(
                "registry/mcp",
                [
                    MCPServerRegistered(
                        server: MCPServerDefinition(
                            name: "trial", transport: .stdio, command: ["trial-mcp"],
                            isInternal: false)
                    ).proposed(metadata: admin)
                ])
            emit("registry/mcp", [MCPServerRemoved(name: "trial").proposed(metadata: admin)])
        case 0:
            let workspace = pick(Self.workspaces)
            let model: String? = rng.next() % 3 == 0 ? nil : pick(Self.models)
            emit(
                "registry/models",
                [
                    DefaultModelSet(workspace: workspace, model: model).proposed(
                        metadata: meta(actor: "user:admin", workspace: workspace))
                ])
        case 1:
            let server = pick(Self.tools).0
            let status: HealthStatus = rng.next() % 2 == 0 ? .healthy : .unhealthy
            emit(
                "registry/mcp",
                [
                    MCPHealthChanged(
                        name: server, status: status, detail: status == .unhealthy ? "connect timeout" : nil
                    ).proposed(metadata: admin)
                ])
        case 2:
            let i = Int(rng.next() % UInt64(Self.models.count))
            let def = ModelDefinition(
                name: Self.models[i], provider: "openai", endpoint: "https://llm-\(i).internal/v\(rng.next() % 3 + 1)",
                secretReference: "env:LLM_KEY_\(i)", environment: .prod,
                parameters: ["temperature": "0.\(rng.next() % 10)"])
            emit("registry/models", [ModelUpdated(model: def).proposed(metadata: admin)])
        case 3:
            emit(
                "registry/agents",
                [
                    AgentUpdated(
                        agent: AgentDefinition(
                            name: "ops", instructions: "You are an operations assistant. \(sentence(8))",
                            allowedTools: ["k8s/*", "prometheus/*", "time/*"], subAgents: ["netops"])
                    ).proposed(metadata: admin)
                ])
        default:
            emit("registry/models", [DefaultModelSet(model: pick(Self.models)).proposed(metadata: admin)])
        }
    }

    // MARK: Threads

    private mutating func startThread() {
        threadCounter += 1
        let id = String(format: "%08x-%04x", UInt32(truncatingIfNeeded: rng.next()), threadCounter % 65536)
        threads.append(
            ThreadState(
                id: id, workspace: pick(Self.workspaces), owner: "user:\(pick(Self.users))",
                turnsLeft: 1 + Int(rng.next() % 12)))
    }

    private mutating func turn(in index: Int) {
        var t = threads[index]
        let stream = ThreadID.streamPrefix + t.id
        let m = meta(actor: t.owner, workspace: t.workspace)
        var events: [ProposedEvent] = []
        if !t.started {
            t.started = true
            events.append(
                ThreadStarted(threadID: t.id, workspace: t.workspace, owner: t.owner, title: sentence(4), agent: "ops")
                    .proposed(metadata: m))
        }
        let allowed = rng.next() % 40 != 0
        events.append(
            AuthorizationDecided(
                subject: t.owner, roles: ["operator"], workspace: t.workspace, action: "chat",
                resource: stream, decision: allowed ? .allow : .deny,
                reason: allowed ? "role operator may chat" : "token lacks scope chat",
                rule: allowed ? "operators-chat" : nil,
                tokenID: "tok-\(rng.next() % 10_000)", tokenExpiry: Int64(clockMilliseconds / 1000) + 3600
            ).proposed(metadata: m))
        guard allowed else {
            emit(stream, events)
            threads[index] = t
            return
        }
        if rng.next() % 50 == 0 {
            events.append(
                SessionExpired(threadID: t.id, idleSeconds: 1800 + Int(rng.next() % 3600)).proposed(metadata: m))
        }
        events.append(UserMessage(text: sentence(8 + Int(rng.next() % 40))).proposed(metadata: m))
        emit(stream, events)

        let run = UUID(uuid: uuidBytes())
        let model = pick(Self.models)
        let runMeta = meta(actor: "agent:ops", workspace: t.workspace, correlation: run)
        var steps = 0
        var runEvents: [ProposedEvent] = [
            RunStarted(runID: run, agent: "ops", model: model).proposed(metadata: runMeta)
        ]
        let toolRounds = Int(rng.next() % 3)
        for round in 0...toolRounds {
            steps += 1
            runEvents.append(
                LLMRequest(
                    runID: run, step: steps, model: model, provider: "openai",
                    promptSeqs: [Seq(t.lastSeqGuess)], parameters: ["temperature": "0.2"]
                ).proposed(metadata: runMeta))
            if rng.next() % 30 == 0 {
                runEvents.append(
                    LLMFailed(
                        runID: run, step: steps, model: model, error: "HTTP 429: rate limited", retryable: true,
                        attempt: 1
                    ).proposed(metadata: runMeta))
            }
            let last = round == toolRounds
            let calls: [RequestedToolCall] =
                last
                ? []
                : (0..<(1 + Int(rng.next() % 2))).map { i in
                    let (server, tool) = pick(Self.tools)
                    return RequestedToolCall(
                        callID: "call_\(rng.next() % 1_000_000)_\(i)", name: "\(server)/\(tool)",
                        arguments:
                            "{\"namespace\":\"\(pick(Self.workspaces))\",\"selector\":\"app=\(pick(Self.words))\"}")
                }
            runEvents.append(
                LLMResponse(
                    runID: run, step: steps, model: model, text: last ? sentence(20 + Int(rng.next() % 120)) : nil,
                    toolCalls: calls, finishReason: last ? "stop" : "tool_calls",
                    inputTokens: 500 + Int(rng.next() % 6000), outputTokens: 20 + Int(rng.next() % 600),
                    latencyMilliseconds: 200 + Int(rng.next() % 4000)
                ).proposed(metadata: runMeta))
            for call in calls {
                let parts = call.name.split(separator: "/").map(String.init)
                let permitted = rng.next() % 12 != 0
                runEvents.append(
                    AuthorizationDecided(
                        subject: t.owner, roles: ["operator"], workspace: t.workspace, action: "tool.call",
                        resource: "tool:\(call.name)", decision: permitted ? .allow : .deny,
                        reason: permitted
                            ? "operators may call \(parts[0]) tools" : "\(parts[0]) is not allowed in \(t.workspace)",
                        rule: permitted ? "ops-tools" : nil, tokenID: "tok-1"
                    ).proposed(metadata: runMeta))
                guard permitted else { continue }
                runEvents.append(
                    ToolCalled(
                        runID: run, callID: call.callID, server: parts[0], tool: parts[1], arguments: call.arguments
                    ).proposed(metadata: runMeta))
                let failed = rng.next() % 15 == 0
                runEvents.append(
                    ToolResult(
                        runID: run, callID: call.callID, server: parts[0], tool: parts[1],
                        output: failed ? "error: deadline exceeded" : toolOutput(), isError: failed,
                        latencyMilliseconds: 5 + Int(rng.next() % 900)
                    ).proposed(metadata: runMeta))
            }
            if last {
                runEvents.append(
                    AssistantMessage(runID: run, text: sentence(30 + Int(rng.next() % 150)), model: model).proposed(
                        metadata: runMeta))
            }
        }
        runEvents.append(RunFinished(runID: run, status: .completed, steps: steps).proposed(metadata: runMeta))
        emit(stream, runEvents)
        t.turnsLeft -= 1
        if t.turnsLeft == 0, rng.next() % 10 == 0 {
            // Fork the finished thread for a what-if.
            threadCounter += 1
            let forkID = "\(t.id)-fork\(threadCounter)"
            emit(
                ThreadID.streamPrefix + forkID,
                [
                    ThreadForked(
                        threadID: forkID, fromThreadID: t.id, atSeq: 0, workspace: t.workspace,
                        owner: t.owner
                    ).proposed(metadata: m)
                ])
        }
        threads[index] = t
    }

    // MARK: Helpers

    private mutating func emit(_ stream: String, _ events: [ProposedEvent]) {
        clockMilliseconds += 1 + rng.next() % 500
        pending.append(Append(stream: StreamID(generated: stream), events: events))
    }

    private mutating func meta(actor: String, workspace: String?, correlation: UUID? = nil) -> EventMetadata {
        EventMetadata(actor: actor, workspace: workspace, correlationID: correlation)
    }

    private mutating func pick<T>(_ values: [T]) -> T { values[Int(rng.next() % UInt64(values.count))] }

    private mutating func sentence(_ words: Int) -> String {
        (0..<words).map { _ in
            Self.words[
                Int(
                    (rng.next() % UInt64(Self.words.count * Self.words.count)).squareRootFloor
                        % UInt64(Self.words.count))]
        }
        .joined(separator: " ")
    }

    private mutating func toolOutput() -> String {
        (0..<(2 + Int(rng.next() % 12))).map { _ in
            "\(pick(Self.words))-\(rng.next() % 1000)  \(pick(["Running", "Pending", "CrashLoopBackOff", "Completed"]))  \(rng.next() % 20)  \(rng.next() % 90)m"
        }.joined(separator: "\n")
    }

    private mutating func uuidBytes() -> uuid_t {
        let a = rng.next(), b = rng.next()
        return withUnsafeBytes(of: (a, b)) { raw in
            var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &u) { $0.copyMemory(from: raw) }
            return u
        }
    }
}

extension UInt64 {
    /// ⌊√self⌋: skews picks towards common words.
    var squareRootFloor: UInt64 { UInt64(Double(self).squareRoot()) }
}

extension StreamID {
    /// For generated names known to be valid (benchmarks and tests): traps on an invalid one.
    public init(generated name: String) {
        do { try self.init(name) } catch { preconditionFailure("generated stream id '\(name)' is invalid: \(error)") }
    }
}
