import EventStore
import Events
import EventsWorkload
import Foundation
import Projections
import Testing

@Suite struct ConversationProjectionTests {
    @Test func aThreadStepByStepWithARunToolsAndAFork() {
        let run = UUID()
        let steps: [(DomainEvent, StreamID)] = [
            (.userMessage(UserMessage(text: "before start")), "thread/t1"),  // 1: ignored
            (
                .threadStarted(
                    ThreadStarted(threadID: "t1", workspace: "ops", owner: "user:alice", title: "pods", agent: "ops")),
                "thread/t1"
            ),  // 2
            (.userMessage(UserMessage(text: "why is api-7 restarting?")), "thread/t1"),  // 3
            (.runStarted(RunStarted(runID: run, agent: "ops", model: "gpt-4o")), "thread/t1"),  // 4
            (
                .llmResponse(
                    LLMResponse(
                        runID: run, step: 1, model: "gpt-4o", text: nil,
                        toolCalls: [RequestedToolCall(callID: "c1", name: "k8s/logs", arguments: "{}")],
                        finishReason: "tool_calls", inputTokens: 100, outputTokens: 10, latencyMilliseconds: 50)),
                "thread/t1"
            ),  // 5
            (
                .toolCalled(ToolCalled(runID: run, callID: "c1", server: "k8s", tool: "logs", arguments: "{}")),
                "thread/t1"
            ),  // 6
            (
                .toolResult(
                    ToolResult(
                        runID: run, callID: "c1", server: "k8s", tool: "logs", output: "OOMKilled", isError: false,
                        latencyMilliseconds: 30)), "thread/t1"
            ),  // 7
            (
                .llmFailed(LLMFailed(runID: run, step: 2, model: "gpt-4o", error: "429", retryable: true, attempt: 1)),
                "thread/t1"
            ),  // 8
            (
                .llmResponse(
                    LLMResponse(
                        runID: run, step: 2, model: "gpt-4o", text: "memory limit", finishReason: "stop",
                        inputTokens: 200, outputTokens: 20, latencyMilliseconds: 80)), "thread/t1"
            ),  // 9
            (
                .assistantMessage(
                    AssistantMessage(runID: run, text: "It is OOMKilled: raise its memory limit.", model: "gpt-4o")),
                "thread/t1"
            ),  // 10
            (.runFinished(RunFinished(runID: run, status: .completed, steps: 2)), "thread/t1"),  // 11
            (.sessionExpired(SessionExpired(threadID: "t1", idleSeconds: 1800)), "thread/t1"),  // 12
            (
                .threadForked(
                    ThreadForked(threadID: "t2", fromThreadID: "t1", atSeq: 3, workspace: "ops", owner: "user:bob")),
                "thread/t2"
            ),  // 13
        ]
        var state = ConversationProjection.initial
        var states: [ConversationState] = []
        for (i, (event, stream)) in steps.enumerated() {
            ConversationProjection.apply(
                event, context: context(UInt64(i + 1), stream: stream, seconds: Int64(i)), to: &state)
            states.append(state)
        }
        let t0 = Int64(1_767_225_600_000_000_000)
        func at(_ i: Int) -> Int64 { t0 + Int64(i) * 1_000_000_000 }

        #expect(states[0] == ConversationState())
        var thread = ThreadSummary(
            id: "t1", workspace: "ops", owner: "user:alice", title: "pods", createdNanoseconds: at(1),
            lastActivityNanoseconds: at(1))
        var expected = ConversationState()
        expected.threads["t1"] = thread
        #expect(states[1] == expected)

        thread.lastActivityNanoseconds = at(2); thread.messageCount = 1
        expected.threads["t1"] = thread
        expected.messages["t1"] = [MessageRef(seq: 3, kind: .user, label: nil)]
        #expect(states[2] == expected)

        thread.lastActivityNanoseconds = at(3); thread.runCount = 1
        expected.threads["t1"] = thread
        var summary = RunSummary(
            id: run, threadID: "t1", agent: "ops", model: "gpt-4o", parentRunID: nil, startedSeq: 4)
        expected.runs[run] = summary
        #expect(states[3] == expected)

        thread.lastActivityNanoseconds = at(4); thread.inputTokens = 100; thread.outputTokens = 10
        expected.threads["t1"] = thread
        summary.llmCalls = 1; summary.inputTokens = 100; summary.outputTokens = 10
        expected.runs[run] = summary
        #expect(states[4] == expected)

        thread.lastActivityNanoseconds = at(5); thread.messageCount = 2
        expected.threads["t1"] = thread
        expected.messages["t1"]!.append(MessageRef(seq: 6, kind: .toolCall, label: "k8s/logs"))
        summary.toolCalls = 1
        expected.runs[run] = summary
        #expect(states[5] == expected)

        thread.lastActivityNanoseconds = at(6); thread.messageCount = 3
        expected.threads["t1"] = thread
        expected.messages["t1"]!.append(MessageRef(seq: 7, kind: .toolResult, label: "k8s/logs"))
        #expect(states[6] == expected)

        thread.lastActivityNanoseconds = at(7); thread.messageCount = 4
        expected.threads["t1"] = thread
        expected.messages["t1"]!.append(MessageRef(seq: 8, kind: .error, label: "gpt-4o"))
        summary.failures = 1
        expected.runs[run] = summary
        #expect(states[7] == expected)

        thread.lastActivityNanoseconds = at(8); thread.inputTokens = 300; thread.outputTokens = 30
        expected.threads["t1"] = thread
        summary.llmCalls = 2; summary.inputTokens = 300; summary.outputTokens = 30
        expected.runs[run] = summary
        #expect(states[8] == expected)

        thread.lastActivityNanoseconds = at(9); thread.messageCount = 5
        expected.threads["t1"] = thread
        expected.messages["t1"]!.append(MessageRef(seq: 10, kind: .assistant, label: "gpt-4o"))
        #expect(states[9] == expected)

        thread.lastActivityNanoseconds = at(10)
        expected.threads["t1"] = thread
        summary.status = .completed; summary.steps = 2; summary.finishedSeq = 11
        expected.runs[run] = summary
        #expect(states[10] == expected)

        thread.lastActivityNanoseconds = at(11); thread.status = .expired
        expected.threads["t1"] = thread
        #expect(states[11] == expected)

        var fork = ThreadSummary(
            id: "t2", workspace: "ops", owner: "user:bob", title: "pods", createdNanoseconds: at(12),
            lastActivityNanoseconds: at(12))
        fork.forkedFrom = "t1"; fork.forkedAtSeq = 3
        expected.threads["t2"] = fork
        #expect(states[12] == expected)
        #expect(states[12].threads(workspace: "ops").map(\.id) == ["t2", "t1"])
    }

    /// A checkpoint of many runs (parents or none, every status, finished or not, long and non-ASCII names) decodes to
    /// the same state.
    @Test func aCheckpointRoundTripKeepsEveryRunField() throws {
        var rng = SeededGenerator(seed: 11)
        var state = ConversationState()
        let names = ["t1", "ops", "gpt-4o", "a-thread-name-longer-than-fifteen-bytes", "agent-é-ü-🚀", ""]
        var ids: [UUID] = []
        for i in 0..<500 {
            let id = UUID()
            var run = RunSummary(
                id: id, threadID: names[Int(rng.next() % 6)], agent: names[Int(rng.next() % 6)],
                model: names[Int(rng.next() % 6)],
                parentRunID: ids.isEmpty || rng.next() % 3 == 0 ? nil : ids[Int(rng.next() % UInt64(ids.count))],
                startedSeq: Seq(rng.next() % (1 << 40)))
            run.status = [RunState.running, .completed, .failed, .cancelled, .limitReached][i % 5]
            (run.steps, run.llmCalls, run.toolCalls) = (
                Int(rng.next() % 100), Int(rng.next() % 1000), Int(truncatingIfNeeded: rng.next())
            )
            (run.failures, run.inputTokens, run.outputTokens) = (i, Int(truncatingIfNeeded: rng.next()), Int.max - i)
            run.finishedSeq = rng.next() % 2 == 0 ? nil : run.startedSeq + rng.next() % 1000
            state.runs[id] = run
            ids.append(id)
        }
        state.threads["t1"] = ThreadSummary(
            id: "t1", workspace: "ops", owner: "user:alice", title: nil, createdNanoseconds: 1,
            lastActivityNanoseconds: 2)
        state.messages["t1"] = [
            MessageRef(seq: 3, kind: .user, label: nil), MessageRef(seq: 4, kind: .toolCall, label: "k8s/logs"),
        ]
        let restored = try ConversationState(binary: state.binaryEncoded)
        #expect(restored == state)
    }

    /// A run block naming a thread past the checkpoint's table of names is an error, not a crash or a wrong state.
    @Test func aRunNamingPastItsTableFailsToDecode() {
        var state = ConversationState()
        let id = UUID()
        state.runs[id] = RunSummary(
            id: id, threadID: "t1", agent: "ops", model: "gpt-4o", parentRunID: nil, startedSeq: 1)
        var bytes = state.binaryEncoded
        #expect(throws: Never.self) { try ConversationState(binary: bytes) }
        // Runs are the checkpoint's last section, one 110-byte block each; the thread's number is at offset 32.
        bytes[bytes.count - 110 + 32] = 0x7F
        #expect(throws: PayloadDecodingError.self) { try ConversationState(binary: bytes) }
        #expect(throws: PayloadDecodingError.self) {
            try ConversationState(binary: Array(state.binaryEncoded.dropLast(1)))
        }
    }
}
