@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Projections
import Synchronization
import Testing

/// Whole runs: a real log, the scripted OpenAI-compatible server as the model, the real `mcp-server-time` as tools.
@Suite(.serialized) struct AgentRuntimeTests {
    static let key = "sk-runtime-test-5e6f7a8b9c"
    static let policy = try! Policy(roles: [
        "operator": ["chat", "model.use:*", "tool.call:time/get_current_time", "thread.read:own"]
    ])
    static let alice = Principal(
        subject: "user:alice", roles: ["operator"], workspace: "payments", tokenID: "tok-1", expiry: 4_000_000_000)

    final class Fixture: @unchecked Sendable {
        let dir: URL
        let store: EventStore
        let server: ScriptedLLMServer
        let pool = MCPPool(startTimeout: .seconds(120))  // a loaded CI machine starts Python slowly
        let runtime: AgentRuntime

        init(
            mcp: MCPServerDefinition? = MCPServerDefinition(
                name: "time", transport: .stdio, command: MCPStdioTests.timeServer),
            retry: RetryPolicy = .none, emptyLog: Bool = false,
            configure: (inout AgentRuntime.Configuration) -> Void = { _ in }
        ) async throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-engine-\(UUID().uuidString)")
            var configuration = EventStore.Configuration(directory: dir.path)
            configuration.dictionaryTrainingPoints = []
            store = try EventStore.open(configuration)
            server = try await ScriptedLLMServer()
            let admin = EventMetadata(actor: "user:admin", workspace: "payments")
            if !emptyLog {
                try await store.append(
                    [
                        ModelRegistered(
                            model: ModelDefinition(
                                name: "gpt-test", provider: "openai-compatible", endpoint: server.baseURL,
                                secretReference: "env:LOGBOOK_SECRET_RUNTIME_TEST")
                        ).proposed(metadata: admin),
                        DefaultModelSet(model: "gpt-test").proposed(metadata: admin),
                    ], to: "registry/models")
            }
            if let mcp, !emptyLog {
                try await store.append([MCPServerRegistered(server: mcp).proposed(metadata: admin)], to: "registry/mcp")
            }
            var engine = AgentRuntime.Configuration()
            engine.environment = ["LOGBOOK_SECRET_RUNTIME_TEST": AgentRuntimeTests.key]
            engine.retry = retry
            configure(&engine)
            runtime = AgentRuntime(
                store: store, registry: ProjectionRunner(store: store, projections: [RegistryProjection.self]),
                policy: AgentRuntimeTests.policy, pool: pool, configuration: engine)
        }

        func thread(_ id: String) throws -> [(seq: Seq, event: DomainEvent)] {
            try store.read(stream: try StreamID("thread/\(id)"), maxCount: 10_000).compactMap { r in
                if case .event(let e) = EventCatalog.decode(r) { (r.seq, e) } else { nil }
            }
        }

        func close() async {
            await pool.shutdown()
            await server.shutdown()
            await store.close()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func aRunCallsAnAllowedToolRefusesADeniedOneAndRecordsEveryStepInOrder() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        f.server.enqueue(
            .sse(events: [
                Wire.chunk(toolCall: (0, "call_1", "time__get_current_time", "{\"timezone\": \"UTC\"}")),
                Wire.chunk(
                    toolCall: (
                        1, "call_2", "time__convert_time",
                        "{\"source_timezone\":\"UTC\",\"time\":\"12:00\",\"target_timezone\":\"Asia/Tokyo\"}"
                    )),
                Wire.chunk(finish: "tool_calls"), Wire.usageChunk(100, 20), "[DONE]",
            ]),
            .sse(events: [
                Wire.chunk(content: "It is "), Wire.chunk(content: "noon in UTC."), Wire.chunk(finish: "stop"),
                Wire.usageChunk(150, 8), "[DONE]",
            ]))
        let observer = Observer()
        let result = try await f.runtime.conversations.chat(
            ChatTurn(threadID: "t1", text: "What time is it?", title: "time"), as: Self.alice, observer: observer)
        #expect(result.status == .completed)
        #expect(result.answer == "It is noon in UTC.")
        #expect(result.steps == 2)
        #expect(result.usage == TokenUsage(input: 250, output: 28))
        #expect(await observer.pieces == ["It is ", "noon in UTC."])

        let events = try f.thread("t1")
        #expect(
            events.map(\.event.typeName) == [
                "authz.decided", "thread.started", "message.user", "authz.decided", "run.started",
                "llm.request", "llm.response",
                "authz.decided", "tool.called", "tool.result",  // get_current_time: allowed, made
                "authz.decided", "tool.result",  // convert_time: denied, never made
                "llm.request", "llm.response", "message.assistant", "run.finished",
            ])
        #expect(await observer.seqs == events.map(\.seq.rawValue), "the observer heard of every event, in log order")
        let decisions = events.compactMap { if case .authorizationDecided(let d) = $0.event { d } else { nil } }
        #expect(decisions.map(\.action) == ["chat", "model.use", "tool.call", "tool.call"])
        #expect(decisions.map(\.decision) == [.allow, .allow, .allow, .deny])
        #expect(
            decisions[3].resource == "tool:time/convert_time"
                && decisions.allSatisfy { $0.subject == "user:alice" && $0.tokenID == "tok-1" })
        let results = events.compactMap { if case .toolResult(let r) = $0.event { r } else { nil } }
        #expect(!results[0].isError, "\(results[0].output)")
        #expect(results[0].output.contains("UTC"), "\(results[0].output)")
        #expect(results[1].isError)
        #expect(results[1].output.hasPrefix("permission denied"))
        let called = events.compactMap { if case .toolCalled(let c) = $0.event { c.tool } else { nil } }
        #expect(called == ["get_current_time"], "a denied tool is never called")

        // The second request's prompt is the log's events, by seq; the model saw both results.
        let requests = events.compactMap { if case .llmRequest(let r) = $0.event { r } else { nil } }
        let seqOf = { (type: String) in events.filter { $0.event.typeName == type }.map(\.seq) }
        #expect(requests[0].promptSeqs == seqOf("message.user"))
        #expect(
            requests[1].promptSeqs
                == (seqOf("message.user") + [seqOf("llm.response")[0]] + seqOf("tool.result")).sorted())
        let sent = try #require(f.server.requests.last?.json["messages"] as? [[String: Any]])
        #expect(sent.map { $0["role"] as? String } == ["system", "user", "assistant", "tool", "tool"])
        #expect((sent[4]["content"] as? String)?.hasPrefix("permission denied") == true)
        #expect(f.server.requests.allSatisfy { $0.header("Authorization") == "Bearer \(Self.key)" })

        // Nothing in the log carries the API key.
        let everything = try f.store.read(from: 1, maxCount: 100_000)
        #expect(!everything.contains { String(decoding: $0.payload, as: UTF8.self).contains(Self.key) })
        await f.close()
    }

    @Test func aDeniedChatIsRecordedAndNothingElseHappens() async throws {
        let f = try await Fixture(mcp: nil)
        let stranger = Principal(
            subject: "user:mallory", roles: ["visitor"], workspace: "payments", expiry: 4_000_000_000)
        let error = try await #require(throws: EngineError.self) {
            try await f.runtime.conversations.chat(ChatTurn(threadID: "t2", text: "hi"), as: stranger)
        }
        #expect(error.kind == .denied)
        let events = try f.thread("t2")
        #expect(events.map(\.event.typeName) == ["authz.decided"])
        #expect(f.server.requests.isEmpty, "the model was never called")
        await f.close()
    }

    /// A turn is two commits (the opening with the request naming it by seq, then the answer), and a thread's
    /// history kept between turns never hides what someone else appended to the thread meanwhile.
    @Test func aTurnIsTwoCommitsAndTheNextTurnSeesEventsAppendedOutsideTheEngine() async throws {
        let f = try await Fixture(mcp: nil)
        f.server.enqueue(
            .json(body: Wire.completion(text: "first answer", finish: "stop")),
            .json(body: Wire.completion(text: "second answer", finish: "stop")))
        let before = f.store.writerStatistics.commits
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "t9", text: "first question"), as: Self.alice)
        #expect(f.store.writerStatistics.commits - before == 2)
        var events = try f.thread("t9")
        #expect(
            events.map(\.event.typeName) == [
                "authz.decided", "thread.started", "message.user", "authz.decided", "run.started", "llm.request",
                "llm.response", "message.assistant", "run.finished",
            ])
        guard case .llmRequest(let request) = events[5].event else { Issue.record("no request"); return }
        #expect(
            request.promptSeqs == [events[2].seq], "the request names the message committed with it by its real seq")

        // Appended behind the engine's back (another tool, an import): the next prompt must hold it.
        let outside = try await f.store.append(
            [
                UserMessage(text: "a note from outside").proposed(
                    metadata: EventMetadata(actor: "user:bob", workspace: "payments"))
            ],
            to: "thread/t9")
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "t9", text: "second question"), as: Self.alice)
        events = try f.thread("t9")
        let requests = events.compactMap { if case .llmRequest(let r) = $0.event { r } else { nil } }
        let last = try #require(requests.last)
        let userSeqs = events.filter { if case .userMessage = $0.event { true } else { false } }.map(\.seq)
        #expect(userSeqs.contains(outside.firstSeq))
        #expect(last.promptSeqs.filter { userSeqs.contains($0) } == userSeqs)
        let sent = try #require(f.server.requests.last?.body)
        #expect(sent.contains("a note from outside"))
        #expect(sent.contains("first answer"))
        #expect(sent.contains("second question"))
        await f.close()
    }

    @Test func aChatCancelledWhileTheTurnAheadRunsLeavesNoTrace() async throws {
        let f = try await Fixture(mcp: nil)
        // The first turn's answer takes a while: its pieces come 300 ms apart.
        f.server.enqueue(
            .sse(
                events: [
                    Wire.chunk(content: "slow "), Wire.chunk(content: "answer"), Wire.chunk(finish: "stop"), "[DONE]",
                ],
                delay: .milliseconds(300)))
        let first = Task {
            try await f.runtime.conversations.chat(ChatTurn(threadID: "t-busy", text: "first question"), as: Self.alice)
        }
        try await waitUntil { f.server.requests.count == 1 }
        let second = Task {
            try await f.runtime.conversations.chat(
                ChatTurn(threadID: "t-busy", text: "second question"), as: Self.alice)
        }
        let stream = try StreamID("thread/t-busy")
        try await waitUntil { f.runtime.locks.waiters(for: stream) == 1 }
        second.cancel()
        await #expect(throws: EngineError(.cancelled, EngineError.cancelledWaiting(for: "t-busy").message)) {
            try await second.value
        }
        #expect(try await first.value.answer == "slow answer")
        let events = try f.thread("t-busy")
        let users = events.compactMap { if case .userMessage(let m) = $0.event { m.text } else { nil } }
        #expect(users == ["first question"], "the cancelled chat recorded nothing")
        #expect(f.server.requests.count == 1, "and never reached the model")
        await f.close()
    }

    @Test func aModelThatKeepsFailingIsRecordedAttemptByAttemptAndTheRunFails() async throws {
        let f = try await Fixture(
            mcp: nil, retry: RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2))
        )
        for _ in 0..<3 { f.server.enqueue(.json(status: 503, body: #"{"error":{"message":"overloaded"}}"#)) }
        let error = try await #require(throws: EngineError.self) {
            try await f.runtime.conversations.chat(ChatTurn(threadID: "t3", text: "hi"), as: Self.alice)
        }
        #expect(error.kind == .llmFailed)
        let events = try f.thread("t3")
        let failures = events.compactMap { if case .llmFailed(let e) = $0.event { e } else { nil } }
        #expect(failures.map(\.attempt) == [1, 2, 3])
        #expect(failures.map(\.retryable) == [true, true, false])
        guard case .runFinished(let finished)? = events.last?.event else { Issue.record("the run has no end"); return }
        #expect(finished.status == .failed)
        #expect(finished.error?.contains("503") == true)
        await f.close()
    }

    @Test func withNoReachableToolServerTheAgentAnswersWithoutToolsAndTheLogSaysWhy() async throws {
        let broken = MCPServerDefinition(name: "time", transport: .stdio, command: ["logbook-no-such-mcp-server"])
        let f = try await Fixture(mcp: broken)
        f.server.enqueue(
            .json(body: Wire.completion(text: "I cannot check tools right now.", finish: "stop", usage: (10, 5))))
        let result = try await f.runtime.conversations.chat(ChatTurn(threadID: "t4", text: "time?"), as: Self.alice)
        #expect(result.status == .completed)
        let request = try #require(
            f.thread("t4").compactMap { if case .llmRequest(let r) = $0.event { r } else { nil } }.first)
        #expect(request.parameters["tools.unavailable"]?.contains("time:") == true, "\(request.parameters)")
        #expect(f.server.requests.first?.json["tools"] == nil, "no tools were offered")
        await f.close()
    }

    @Test func anIdleThreadNeedsAFreshToken() async throws {
        let skew = Mutex<Int64>(0)  // how far the engine's clock runs ahead of the log's
        let f = try await Fixture(mcp: nil) { c in
            c.sessionIdleTimeout = .seconds(60)
            c.clock = { Int64(Date().timeIntervalSince1970 * 1e9) + skew.withLock { $0 } }
        }
        for _ in 0..<4 { f.server.enqueue(.json(body: Wire.completion(text: "ok", finish: "stop", usage: (1, 1)))) }
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "s1", text: "first"), as: Self.alice)
        skew.withLock { $0 = 30_000_000_000 }
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "s1", text: "30 s later"), as: Self.alice)

        skew.withLock { $0 = 120_000_000_000 }  // two minutes idle
        for attempt in 0..<2 {
            let error = try await #require(throws: EngineError.self) {
                try await f.runtime.conversations.chat(ChatTurn(threadID: "s1", text: "stale"), as: Self.alice)
            }
            #expect(error.kind == .sessionExpired, "attempt \(attempt)")
            #expect(error.message.contains("fresh token"), "attempt \(attempt)")
        }
        let expiries = try f.thread("s1").compactMap { if case .sessionExpired(let e) = $0.event { e } else { nil } }
        #expect(expiries.count == 1, "recorded once per expiry")
        #expect(expiries[0].idleSeconds >= 119, "recorded once per expiry")

        var fresh = Self.alice
        fresh.issuedAt = Int64(Date().timeIntervalSince1970) + 120
        let result = try await f.runtime.conversations.chat(
            ChatTurn(threadID: "s1", text: "signed in again"), as: fresh)
        #expect(result.status == .completed)
        await f.close()
    }

    @Test func theCallersTokenReachesHTTPToolServersAndNeverTheLog() async throws {
        let mcp = try await MCPHTTPTests.Server(mode: "sse")
        defer { mcp.stop() }
        await (try await mcp.client()).close()  // wait until it answers
        let f = try await Fixture(mcp: MCPServerDefinition(name: "clock", transport: .http, url: mcp.url)) { c in
            c.streaming = false
        }
        let policy = try Policy(roles: ["operator": ["chat", "model.use:*", "tool.call:clock/whoami"]])
        let runtime = AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: f.pool,
            configuration: {
                var c = AgentRuntime.Configuration()
                c.environment = ["LOGBOOK_SECRET_RUNTIME_TEST": Self.key]
                c.retry = .none
                return c
            }())
        f.server.enqueue(
            .json(body: Wire.completion(toolCall: ("call_w", "clock__whoami", "{}"), finish: "tool_calls")),
            .json(body: Wire.completion(text: "done", finish: "stop")))
        let token = "eyJ.caller-token.sig"
        _ = try await runtime.conversations.chat(
            ChatTurn(threadID: "w1", text: "who am I?"), as: Self.alice, token: token)
        let result = try #require(
            f.thread("w1").compactMap { if case .toolResult(let r) = $0.event { r } else { nil } }.first)
        #expect(
            result.output == MCPHTTPTests.sha256Hex("Bearer \(token)"), "the HTTP MCP server saw the caller's token")
        let everything = try f.store.read(from: 1, maxCount: 100_000)
        #expect(
            !everything.contains { String(decoding: $0.payload, as: UTF8.self).contains(token) },
            "the token is not in the log")
        await f.close()
    }

    @Test func anOrchestratorDelegatesToAWorkerInANestedRecordedRun() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture { c in c.streaming = false }
        let admin = EventMetadata(actor: "user:admin", workspace: "payments")
        try await f.store.append(
            [
                AgentDefined(
                    agent: AgentDefinition(name: "netops", instructions: "You check clocks.", allowedTools: ["time/*"])
                ).proposed(metadata: admin),
                AgentDefined(
                    agent: AgentDefinition(
                        name: "ops", instructions: "You coordinate.", allowedTools: [], subAgents: ["netops"])
                ).proposed(metadata: admin),
            ], to: "registry/agents")
        let policy = try Policy(roles: [
            "operator": [
                "chat", "model.use:*", "tool.call:agent/netops", "tool.call:time/get_current_time", "thread.read:own",
            ]
        ])
        var engine = AgentRuntime.Configuration()
        engine.environment = ["LOGBOOK_SECRET_RUNTIME_TEST": Self.key]
        engine.retry = .none
        let runtime = AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: f.pool, configuration: engine)
        f.server.enqueue(
            .json(
                body: Wire.completion(
                    toolCall: ("call_d", "agent__netops", #"{"task":"What time is it in Tokyo?"}"#),
                    finish: "tool_calls")),
            .json(
                body: Wire.completion(
                    toolCall: ("call_t", "time__get_current_time", #"{"timezone":"Asia/Tokyo"}"#), finish: "tool_calls")
            ),
            .json(body: Wire.completion(text: "It is 21:00 in Tokyo.", finish: "stop")),
            .json(body: Wire.completion(text: "Netops says 21:00.", finish: "stop")))
        let result = try await runtime.conversations.chat(
            ChatTurn(threadID: "d1", text: "Time in Tokyo?", agent: "ops"), as: Self.alice)
        #expect(result.status == .completed)
        #expect(result.answer == "Netops says 21:00.")

        let recorded = try f.store.read(stream: "thread/d1", maxCount: 1000)
        let events = recorded.compactMap { r -> (RecordedEvent, DomainEvent)? in
            if case .event(let e) = EventCatalog.decode(r) { (r, e) } else { nil }
        }
        let runs = events.compactMap { if case .runStarted(let r) = $0.1 { ($0.0, r) } else { nil } }
        #expect(runs.map(\.1.agent) == ["ops", "netops"])
        let (childRecord, child) = runs[1]
        #expect(child.parentRunID == runs[0].1.runID)
        let delegation = try #require(
            events.first { if case .toolCalled(let c) = $0.1 { c.server == "agent" } else { false } })
        #expect(
            childRecord.metadata.causationID == delegation.0.id, "the nested run names the delegating call as its cause"
        )
        #expect(
            events.filter { $0.0.metadata.correlationID == child.runID }.count >= 5,
            "the nested run's events carry its run id")
        let finished = events.compactMap { if case .runFinished(let r) = $0.1 { r.runID } else { nil } }
        #expect(finished == [child.runID, runs[0].1.runID])
        #expect(
            events.filter { if case .assistantMessage = $0.1 { true } else { false } }.count == 1,
            "the worker answers its caller, not the user")
        let delegated = try #require(
            events.compactMap { if case .toolResult(let r) = $0.1, r.server == "agent" { r } else { nil } }.first)
        #expect(delegated.output == "It is 21:00 in Tokyo.")
        #expect(!delegated.isError)

        let sent = f.server.requests.map {
            ($0.json["messages"] as? [[String: Any]] ?? []).map { $0["role"] as? String ?? "" }
        }
        #expect(
            sent == [
                ["system", "user"], ["system", "user"], ["system", "user", "assistant", "tool"],
                ["system", "user", "assistant", "tool"],
            ])
        #expect(
            (f.server.requests[1].json["messages"] as? [[String: Any]])?[1]["content"] as? String
                == "What time is it in Tokyo?")
        let offered = (f.server.requests[0].json["tools"] as? [[String: Any]])?.compactMap {
            ($0["function"] as? [String: Any])?["name"] as? String
        }
        #expect(offered == ["agent__netops"])

        // The recorded re-execution replays the nested run inside the one that delegated it, step for step.
        let calls = f.server.requests.count
        let report = try await runtime.debugger.replay(thread: "d1", as: Self.alice)
        #expect(
            report.divergence == nil,
            "\(String(describing: report.divergence)) \(report.stepsMatched)")
        #expect(
            report.runsReplayed == 1,
            "\(String(describing: report.divergence)) \(report.stepsMatched)")
        #expect(
            report.stepsMatched > 15,
            "\(String(describing: report.divergence)) \(report.stepsMatched)")
        #expect(f.server.requests.count == calls)
        await f.close()
    }

    @Test func modelResolutionFallsBackToTheEnvironment() throws {
        let resolver = ModelResolver(environment: [
            "LOGBOOK_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "LOGBOOK_LLM_MODEL": "llama3",
            "LOGBOOK_LLM_API_KEY": "k",
        ])
        let resolved = try resolver.resolve(registry: RegistryState(), workspace: "w", agent: nil)
        #expect(resolved.source == .environment)
        #expect(resolved.definition.name == "llama3")
        #expect(resolved.definition.secretReference == "env:LOGBOOK_LLM_API_KEY")
        #expect(throws: EngineError.self) {
            try ModelResolver(environment: [:]).resolve(registry: RegistryState(), workspace: "w", agent: nil)
        }
    }
}

actor Observer: RunObserver {
    var pieces: [String] = []
    var seqs: [UInt64] = []
    func text(_ piece: String) { pieces.append(piece) }
    func appended(_ event: DomainEvent, seq: Seq) { seqs.append(seq.rawValue) }
}
