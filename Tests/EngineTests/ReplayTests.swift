@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Projections
import Testing

/// Recorded re-execution, fork and diff over threads recorded by real runs (scripted model, real `mcp-server-time`).
@Suite(.serialized) struct ReplayTests {
    typealias Fixture = AgentRuntimeTests.Fixture
    static let alice = AgentRuntimeTests.alice

    /// Two turns on `t1`: a tool call allowed and made, one denied, an answer; then a plain answer.
    static func record(_ f: Fixture) async throws {
        f.server.enqueue(
            .json(
                body: Wire.text([
                    "id": "c1", "object": "chat.completion", "model": "gpt-test",
                    "choices": [
                        [
                            "index": 0, "finish_reason": "tool_calls",
                            "message": [
                                "role": "assistant", "content": NSNull(),
                                "tool_calls": [
                                    [
                                        "id": "call_1", "type": "function",
                                        "function": [
                                            "name": "time__get_current_time", "arguments": #"{"timezone": "UTC"}"#,
                                        ],
                                    ],
                                    [
                                        "id": "call_2", "type": "function",
                                        "function": [
                                            "name": "time__convert_time",
                                            "arguments":
                                                #"{"source_timezone":"UTC","time":"12:00","target_timezone":"Asia/Tokyo"}"#,
                                        ],
                                    ],
                                ],
                            ],
                        ]
                    ], "usage": ["prompt_tokens": 100, "completion_tokens": 20],
                ])),
            .json(body: Wire.completion(text: "It is noon in UTC.", finish: "stop", usage: (150, 8))),
            .json(body: Wire.completion(text: "Tokyo is nine hours ahead.", finish: "stop", usage: (200, 9))))
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "t1", text: "What time is it?"), as: alice)
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "t1", text: "And in Tokyo?"), as: alice)
    }

    /// Another engine over the same log: other instructions or another policy.
    static func engine(
        _ f: Fixture, policy: Policy = AgentRuntimeTests.policy, instructions: String? = nil
    ) -> AgentRuntime {
        var configuration = AgentRuntime.Configuration()
        if let instructions { configuration.defaultInstructions = instructions }
        return AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: f.pool, configuration: configuration)
    }

    @Test func replayingARecordedThreadReproducesItExactlyWithoutCallingAnything() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let calls = f.server.requests.count
        let head = f.store.lastSeq

        let report = try await f.runtime.debugger.replay(thread: "t1", as: Self.alice)
        #expect(report.divergence == nil, "\(String(describing: report.divergence))")
        #expect(report.runsReplayed == 2)
        #expect(report.runsSkipped == 0)
        // model.use, run.started, request, response, 2×(authz + tool), tool.called, request, response, answer, finished; then 6 more.
        #expect(report.stepsMatched == 13 + 6, "\(report.stepsMatched)")
        #expect(f.server.requests.count == calls, "a replay never calls the model")
        #expect(f.store.lastSeq.rawValue == head.rawValue + 1, "a replay appends only its read authorization")
        await f.close()
    }

    @Test func aChangedPromptTemplateDivergesAtTheFirstModelRequest() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let report = try await Self.engine(f, instructions: "You are a pirate. Answer in rhymes.").debugger.replay(
            thread: "t1", as: Self.alice)
        let d = try #require(report.divergence)
        #expect(d.aspect == "prompt composition", "\(d)")
        #expect(d.index == 2, "\(d)")
        #expect(d.recorded?.kind == "llm.request", "\(d)")
        #expect(d.detail.hasPrefix("line 2: instructions.fnv1a="), "\(d.detail)")
        #expect(report.runsReplayed == 1)
        #expect(report.stepsMatched == 2)
        await f.close()
    }

    @Test func aStricterPolicyDivergesAtTheToolCallItNowDenies() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let strict = try Policy(roles: ["operator": ["chat", "model.use:*", "thread.read:own"]])
        let report = try await Self.engine(f, policy: strict).debugger.replay(thread: "t1", as: Self.alice)
        let d = try #require(report.divergence)
        #expect(d.aspect == "authorization", "\(d)")
        #expect(d.index == 4, "\(d)")
        #expect(d.recorded?.summary.hasPrefix("allow tool.call on tool:time/get_current_time") == true)
        #expect(d.replayed?.summary.hasPrefix("deny tool.call") == true)
        await f.close()
    }

    @Test func aForkSharesHistoryUpToItsSeqContinuesLiveAndTheDiffNamesWhereTheyPart() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let original = try f.thread("t1")
        // The fork point: the end of the first turn.
        let firstAnswer = try #require(original.first { if case .runFinished = $0.event { true } else { false } }?.seq)

        let forked = try await f.runtime.debugger.fork("t1", at: firstAnswer, into: "f1", as: Self.alice)
        #expect(forked.atSeq == firstAnswer)
        #expect(forked.workspace == "payments")
        #expect(forked.owner == "user:alice")
        await #expect(throws: EngineError.self) {
            try await f.runtime.debugger.fork("t1", at: firstAnswer, into: "f1", as: Self.alice)
        }
        await #expect(throws: EngineError.self) {
            try await f.runtime.debugger.fork("t1", at: 1, into: "f2", as: Self.alice)
        }

        // The fork's history is the original's up to the fork point, then its own.
        let inherited = try RunRecorder.history(of: "thread/f1", in: f.store).events.filter { $0.seq <= firstAnswer }
        #expect(inherited.map(\.seq) == original.filter { $0.seq <= firstAnswer }.map(\.seq))

        f.server.enqueue(
            .json(body: Wire.completion(text: "Berlin is one hour ahead.", finish: "stop", usage: (210, 7))))
        let result = try await f.runtime.conversations.chat(
            ChatTurn(threadID: "f1", text: "And in Berlin?"), as: Self.alice)
        #expect(result.answer == "Berlin is one hour ahead.")
        let sent = try #require(f.server.requests.last?.json["messages"] as? [[String: Any]])
        #expect(
            sent.compactMap { $0["content"] as? String }.contains("It is noon in UTC."),
            "the fork's model saw the shared history")
        #expect(
            !sent.compactMap { $0["content"] as? String }.contains("And in Tokyo?"), "…and nothing after the fork point"
        )

        let diff = try await f.runtime.debugger.diff("t1", "f1", as: Self.alice)
        let sharedSteps = original.filter { $0.seq <= firstAnswer }.compactMap {
            Step.of($0.event, seq: $0.seq, lookup: { _ in nil })
        }.count
        #expect(
            diff.shared == sharedSteps,
            "\(diff.shared) \(String(describing: diff.firstDivergence))")
        #expect(
            diff.firstDivergence == sharedSteps,
            "\(diff.shared) \(String(describing: diff.firstDivergence))")
        #expect(diff.a.toolCalls == 1)
        #expect(diff.b.toolCalls == 1)
        #expect(diff.a.denials == 1)
        #expect(diff.a.outputTokens == 20 + 8 + 9)
        #expect(diff.b.outputTokens == 20 + 8 + 7)
        #expect(diff.b.steps.last?.summary.hasPrefix("completed") == true)

        // A fork of a fork replays like any thread.
        let report = try await f.runtime.debugger.replay(thread: "f1", as: Self.alice)
        #expect(report.divergence == nil, "\(String(describing: report.divergence))")
        #expect(report.runsReplayed == 2, "\(String(describing: report.divergence))")

        // A fork made mid-run cut the run short: the replay finishes it, and says the recording stopped there.
        let answer = try #require(original.first { if case .assistantMessage = $0.event { true } else { false } }?.seq)
        try await f.runtime.debugger.fork("t1", at: answer, into: "mid", as: Self.alice)
        let cut = try await f.runtime.debugger.replay(thread: "mid", as: Self.alice)
        #expect(cut.divergence?.aspect == "run outcome")
        #expect(cut.divergence?.recorded == nil)
        #expect(cut.divergence?.detail == "the recording has no step here")
        await f.close()
    }

    @Test func aForkBetweenAToolCallAndItsResultSendsNoUnansweredCall() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let original = try f.thread("t1")
        let asked = try #require(
            original.first { if case .llmResponse(let r) = $0.event { !r.toolCalls.isEmpty } else { false } }?.seq)
        try await f.runtime.debugger.fork("t1", at: asked, into: "cut", as: Self.alice)
        f.server.enqueue(.json(body: Wire.completion(text: "Let me try again.", finish: "stop")))
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "cut", text: "Try again"), as: Self.alice)
        let sent = try #require(f.server.requests.last?.json["messages"] as? [[String: Any]])
        #expect(
            sent.map { $0["role"] as? String } == ["system", "user", "user"],
            "the unanswered calls are left out: \(sent)")
        await f.close()
    }

    @Test func aCounterfactualWithAnotherToolResultIsANewThreadThatSaysWhatChanged() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let calls = f.server.requests.count
        let result = try await f.runtime.debugger.counterfactual(
            thread: "t1", substituting: Substitution(toolResults: ["call_1": "03:00 UTC"]),
            into: "cf1", as: Self.alice)
        #expect(result.threadID == "cf1")
        #expect(result.substitution == "tool result call_1: 03:00 UTC")
        #expect(
            result.divergence?.aspect == "tool result",
            "\(String(describing: result.divergence))")
        #expect(
            result.divergence?.replayed?.summary.hasSuffix("03:00 UTC") == true,
            "\(String(describing: result.divergence))")
        #expect(f.server.requests.count == calls, "recorded throughout: the model is not called")
        let events = try f.thread("cf1")
        guard case .threadForked(let forked)? = events.dropFirst().first?.event else {
            Issue.record("no thread.forked"); return
        }
        #expect(forked.substitution == result.substitution)
        #expect(forked.atSeq == result.forkedAtSeq)
        #expect(forked.fromThreadID == "t1")
        #expect(events.contains { if case .toolResult(let r) = $0.event { r.output == "03:00 UTC" } else { false } })
        #expect(
            events.last.map { if case .runFinished(let r) = $0.event { r.status == .completed } else { false } } == true
        )
        // The next prompt carried the substituted result; the thread reads like any other.
        let diff = try await f.runtime.debugger.diff("t1", "cf1", as: Self.alice)
        #expect(diff.aspect == "tool result")
        #expect(diff.shared > 0)
        await #expect(throws: EngineError.self) {
            try await f.runtime.debugger.counterfactual(
                thread: "t1", substituting: Substitution(toolResults: ["nope": "x"]), into: "cf2", as: Self.alice)
        }
        await f.close()
    }

    @Test func aCounterfactualGoesLiveAtAStepWithOtherInstructions() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let calls = f.server.requests.count
        f.server.enqueue(.json(body: Wire.completion(text: "Arr, 'tis noon.", finish: "stop", usage: (90, 6))))
        let result = try await f.runtime.debugger.counterfactual(
            thread: "t1", substituting: Substitution(instructions: "You are a pirate.", liveFrom: 2),
            into: "pirate", as: Self.alice)
        #expect(
            result.divergence?.aspect == "prompt composition",
            "\(String(describing: result.divergence))")
        #expect(
            result.divergence?.index == 2,
            "\(String(describing: result.divergence))")
        #expect(f.server.requests.count == calls + 1, "step 1 from the recording, step 2 live")
        let sent = try #require(f.server.requests.last?.json["messages"] as? [[String: Any]])
        #expect(
            sent.first?["content"] as? String == "You are a pirate."
                && sent.map { $0["role"] as? String } == ["system", "user", "assistant", "tool", "tool"])
        let answers = try f.thread("pirate").compactMap {
            if case .assistantMessage(let a) = $0.event { a.text } else { nil }
        }
        #expect(answers == ["Arr, 'tis noon."])
        await f.close()
    }

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/golden")

    /// Every golden log under `Tests/Fixtures/golden` is imported into a fresh log and each of its threads replayed by
    /// this engine: zero divergence, or a change to prompts, policy or engine altered what the agent does.
    /// (`LOGBOOK_WRITE_GOLDEN=1 swift test --filter recordsTheGoldenLog` records them again, on purpose.)
    @Test func goldenThreadsReplayWithZeroDivergence() async throws {
        let files = try FileManager.default.contentsOfDirectory(
            at: Self.goldenDirectory, includingPropertiesForKeys: nil
        ).filter { $0.pathExtension == "ndjson" }
        try #require(!files.isEmpty, "no golden logs in \(Self.goldenDirectory.path)")
        for file in files {
            let f = try await Fixture(mcp: nil, emptyLog: true)
            let text = try String(contentsOf: file, encoding: .utf8)
            let lines = text.split(separator: "\n")
            let imported = try await LogTransfer.import(lines, into: f.store)
            #expect(imported == lines.count)
            #expect(f.store.lastSeq.rawValue == UInt64(lines.count))
            let threads = Set(
                lines.compactMap { line -> ThreadID? in
                    let stream = (try? JSONDecoder().decode(LogTransfer.Line.self, from: Data(line.utf8)))?.stream ?? ""
                    return (try? StreamID(stream)).flatMap(ThreadID.init(stream:))
                }
            ).sorted()
            #expect(threads.count >= 2, "\(file.lastPathComponent): \(threads)")
            for thread in threads {
                let report = try await f.runtime.debugger.replay(thread: thread, as: Self.alice)
                #expect(
                    report.divergence == nil,
                    "\(file.lastPathComponent) \(thread): \(String(describing: report.divergence))")
                #expect(
                    report.runsReplayed >= 1,
                    "\(file.lastPathComponent) \(thread): \(String(describing: report.divergence))")
            }
            // The export of the imported log is the golden file, line for line (ids, seqs, times, metadata, data).
            var exported = ""
            try LogTransfer.export(from: f.store, write: { exported += $0 })
            let replayReads = exported.split(separator: "\n").count - lines.count
            #expect(Array(exported.split(separator: "\n").prefix(lines.count)) == lines)
            #expect(replayReads == threads.count, "each replay appended only its read authorization")
            await f.close()
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["LOGBOOK_WRITE_GOLDEN"] != nil))
    func recordsTheGoldenLog() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await Fixture()
        try await Self.record(f)
        let end = try #require(
            try f.thread("t1").first { if case .runFinished = $0.event { true } else { false } }?.seq)
        try await f.runtime.debugger.fork("t1", at: end, into: "f1", as: Self.alice)
        f.server.enqueue(
            .json(body: Wire.completion(text: "Berlin is one hour ahead.", finish: "stop", usage: (210, 7))))
        _ = try await f.runtime.conversations.chat(ChatTurn(threadID: "f1", text: "And in Berlin?"), as: Self.alice)
        var text = ""
        try LogTransfer.export(from: f.store, write: { text += $0 })
        try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
        try text.write(
            to: Self.goldenDirectory.appendingPathComponent("time-tools-and-fork.ndjson"), atomically: true,
            encoding: .utf8)
        await f.close()
    }
}
