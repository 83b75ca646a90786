import EventStore
import Events
import Foundation
import Projections
import Testing

@Suite struct AuditProjectionTests {
    static let run = UUID()
    static let gpt = ModelDefinition(name: "gpt-4o", provider: "openai", endpoint: "https://a/v1", environment: .prod)

    /// (event, stream, actor, workspace) in log order; seq = index + 1, time = index seconds.
    static let steps: [(DomainEvent, StreamID, String, String?)] = [
        (
            .authorizationDecided(
                AuthorizationDecided(
                    subject: "user:alice", roles: ["operator"], workspace: "ops", action: "chat", resource: "thread/t1",
                    decision: .allow, reason: "operators may chat", rule: "ops-chat")), "thread/t1", "user:alice", "ops"
        ),  // 1
        (
            .authorizationDecided(
                AuthorizationDecided(
                    subject: "user:alice", roles: ["operator"], workspace: "ops", action: "tool.call",
                    resource: "tool:k8s/delete_pod",
                    decision: .deny, reason: "k8s/delete_pod is not allowed")), "thread/t1", "agent:ops", "ops"
        ),  // 2
        (
            .toolCalled(
                ToolCalled(runID: run, callID: "c1", server: "k8s", tool: "logs", arguments: "{\"pod\":\"api-7\"}")),
            "thread/t1", "agent:ops", "ops"
        ),  // 3
        (
            .toolResult(
                ToolResult(
                    runID: run, callID: "c1", server: "k8s", tool: "logs", output: "x", isError: true,
                    latencyMilliseconds: 12)), "thread/t1", "agent:ops", "ops"
        ),  // 4
        (
            .llmResponse(
                LLMResponse(
                    runID: run, step: 1, model: "gpt-4o", text: "ok", finishReason: "stop", inputTokens: 5,
                    outputTokens: 6, latencyMilliseconds: 7)),
            "thread/t1", "agent:ops", "ops"
        ),  // 5
        (.modelRegistered(ModelRegistered(model: gpt)), "registry/models", "user:admin", nil),  // 6
        // 7: no entry
        (.mcpHealthChanged(MCPHealthChanged(name: "k8s", status: .unhealthy)), "registry/mcp", "system", nil),
        (.modelRemoved(ModelRemoved(name: "gpt-4o")), "registry/models", "user:admin", nil),  // 8
        (
            .authorizationDecided(
                AuthorizationDecided(
                    subject: "user:bob", roles: ["viewer"], workspace: "net", action: "chat", resource: "thread/t9",
                    decision: .deny, reason: "viewers may not chat")), "thread/t9", "user:bob", "net"
        ),  // 9
    ]

    static func state() -> AuditState {
        var s = AuditProjection.initial
        for (i, (event, stream, actor, workspace)) in steps.enumerated() {
            AuditProjection.apply(
                event,
                context: context(UInt64(i + 1), stream: stream, actor: actor, workspace: workspace, seconds: Int64(i)),
                to: &s)
        }
        return s
    }

    static func time(_ i: Int) -> Int64 { 1_767_225_600_000_000_000 + Int64(i) * 1_000_000_000 }

    @Test func entriesAreRecordedWithEveryField() {
        let all = Self.state().query(AuditQuery(newestFirst: false)).entries
        let gptJSON =
            #"{"endpoint":"https://a/v1","environment":"PROD","name":"gpt-4o","parameters":{},"provider":"openai"}"#
        #expect(
            all == [
                AuditEntry(
                    seq: 1, timeNanoseconds: Self.time(0), kind: .authorization, actor: "user:alice", workspace: "ops",
                    action: "chat",
                    resource: "thread/t1", decision: .allow, reason: "operators may chat"),
                AuditEntry(
                    seq: 2, timeNanoseconds: Self.time(1), kind: .authorization, actor: "user:alice", workspace: "ops",
                    action: "tool.call",
                    resource: "tool:k8s/delete_pod", decision: .deny, reason: "k8s/delete_pod is not allowed"),
                AuditEntry(
                    seq: 3, timeNanoseconds: Self.time(2), kind: .toolCall, actor: "agent:ops", workspace: "ops",
                    action: "tool.call",
                    resource: "tool:k8s/logs", decision: nil, reason: #"called with {"pod":"api-7"}"#),
                AuditEntry(
                    seq: 4, timeNanoseconds: Self.time(3), kind: .toolCall, actor: "agent:ops", workspace: "ops",
                    action: "tool.result",
                    resource: "tool:k8s/logs", decision: nil, reason: "error after 12 ms"),
                AuditEntry(
                    seq: 5, timeNanoseconds: Self.time(4), kind: .llmCall, actor: "agent:ops", workspace: "ops",
                    action: "llm.call",
                    resource: "model:gpt-4o", decision: nil, reason: "stop, 5 in / 6 out tokens"),
                AuditEntry(
                    seq: 6, timeNanoseconds: Self.time(5), kind: .configuration, actor: "user:admin", workspace: "",
                    action: "model.register",
                    resource: "model:gpt-4o", decision: nil, reason: "model.register", before: nil, after: gptJSON),
                AuditEntry(
                    seq: 8, timeNanoseconds: Self.time(7), kind: .configuration, actor: "user:admin", workspace: "",
                    action: "model.remove",
                    resource: "model:gpt-4o", decision: nil, reason: "model.remove", before: gptJSON, after: nil),
                AuditEntry(
                    seq: 9, timeNanoseconds: Self.time(8), kind: .authorization, actor: "user:bob", workspace: "net",
                    action: "chat",
                    resource: "thread/t9", decision: .deny, reason: "viewers may not chat"),
            ])
    }

    @Test func queriesFilterByEveryFieldAndCombinations() {
        let s = Self.state()
        func seqs(_ q: AuditQuery) -> [Seq] { s.query(q).entries.map(\.seq) }
        #expect(seqs(AuditQuery()) == [9, 8, 6, 5, 4, 3, 2, 1])
        #expect(seqs(AuditQuery(actor: "user:alice")) == [2, 1])
        #expect(seqs(AuditQuery(actor: "agent:ops", newestFirst: false)) == [3, 4, 5])
        #expect(seqs(AuditQuery(workspace: "net")) == [9])
        #expect(seqs(AuditQuery(action: "chat")) == [9, 1])
        #expect(seqs(AuditQuery(resourcePrefix: "tool:k8s/")) == [4, 3, 2])
        #expect(seqs(AuditQuery(resourcePrefix: "model:")) == [8, 6, 5])
        #expect(seqs(AuditQuery(decision: .deny)) == [9, 2])
        #expect(seqs(AuditQuery(decision: .allow)) == [1])
        #expect(seqs(AuditQuery(kind: .configuration)) == [8, 6])
        #expect(seqs(AuditQuery(from: Self.time(2), through: Self.time(5))) == [6, 5, 4, 3])
        #expect(seqs(AuditQuery(workspace: "ops", resourcePrefix: "tool:", decision: .deny)) == [2])
        #expect(seqs(AuditQuery(actor: "agent:ops", action: "tool.result")) == [4])
        #expect(seqs(AuditQuery(actor: "nobody")).isEmpty)
        #expect(seqs(AuditQuery(actor: "user:alice", from: Self.time(5))).isEmpty)
    }

    @Test func pagesWithACursorInBothDirections() {
        let s = Self.state()
        var seen: [Seq] = []
        var query = AuditQuery(limit: 3)
        var pages = 0
        while true {
            let page = s.query(query)
            seen += page.entries.map(\.seq)
            pages += 1
            guard let next = page.nextCursor else { break }
            query.cursor = next
        }
        #expect(seen == [9, 8, 6, 5, 4, 3, 2, 1])
        #expect(pages == 3)

        var oldest = AuditQuery(actor: "agent:ops", newestFirst: false, limit: 2)
        let first = s.query(oldest)
        #expect(first.entries.map(\.seq) == [3, 4])
        #expect(first.nextCursor == 4)
        oldest.cursor = first.nextCursor
        let second = s.query(oldest)
        #expect(second.entries.map(\.seq) == [5])
        #expect(second.nextCursor == nil)
    }

    @Test func aCheckpointRoundTripKeepsEntriesAndRebuildsIndexes() throws {
        let s = Self.state()
        let restored = try AuditState(binary: s.binaryEncoded)
        #expect(restored == s)
        #expect(
            restored.query(AuditQuery(resourcePrefix: "tool:k8s/")) == s.query(AuditQuery(resourcePrefix: "tool:k8s/")))
        #expect(restored.query(AuditQuery(actor: "user:alice")).entries.count == 2)
    }
}

@Suite struct UsageProjectionTests {
    @Test func tokensPerModelWorkspaceSubjectDayAndToolLatency() {
        let run = UUID()
        var s = UsageProjection.initial
        let day = Int(Int64(1_767_225_600) / 86_400)
        let events: [(DomainEvent, StreamID, Int64)] = [
            (.threadStarted(ThreadStarted(threadID: "t1", workspace: "ops", owner: "user:alice")), "thread/t1", 0),
            (
                .llmResponse(
                    LLMResponse(
                        runID: run, step: 1, model: "gpt-4o", text: nil, finishReason: "tool_calls", inputTokens: 100,
                        outputTokens: 10, latencyMilliseconds: 1)), "thread/t1", 1
            ),
            (
                .llmFailed(LLMFailed(runID: run, step: 2, model: "gpt-4o", error: "500", retryable: true, attempt: 1)),
                "thread/t1", 2
            ),
            (
                .llmResponse(
                    LLMResponse(
                        runID: run, step: 2, model: "gpt-4o", text: "x", finishReason: "stop", inputTokens: 200,
                        outputTokens: 20, latencyMilliseconds: 1)), "thread/t1", 3
            ),
            (
                .llmResponse(
                    LLMResponse(
                        runID: run, step: 3, model: "gpt-4o", text: "y", finishReason: "stop", inputTokens: 1,
                        outputTokens: 1, latencyMilliseconds: 1)), "thread/t1", 86_400
            ),
            (
                .toolResult(
                    ToolResult(
                        runID: run, callID: "a", server: "k8s", tool: "logs", output: "", isError: false,
                        latencyMilliseconds: 10)), "thread/t1", 4
            ),
            (
                .toolResult(
                    ToolResult(
                        runID: run, callID: "b", server: "k8s", tool: "logs", output: "", isError: true,
                        latencyMilliseconds: 30)), "thread/t1", 5
            ),
        ]
        for (i, (e, stream, seconds)) in events.enumerated() {
            UsageProjection.apply(
                e,
                context: context(UInt64(i + 1), stream: stream, actor: "agent:ops", workspace: "ops", seconds: seconds),
                to: &s)
        }
        var first = LLMUsage()
        (first.calls, first.failures, first.inputTokens, first.outputTokens) = (2, 1, 300, 30)
        var second = LLMUsage()
        (second.calls, second.inputTokens, second.outputTokens) = (1, 1, 1)
        #expect(
            s.llm == [
                LLMUsageKey(model: "gpt-4o", workspace: "ops", subject: "user:alice", day: day): first,
                LLMUsageKey(model: "gpt-4o", workspace: "ops", subject: "user:alice", day: day + 1): second,
            ])
        var tool = ToolUsage()
        (tool.calls, tool.errors, tool.totalLatencyMilliseconds, tool.maxLatencyMilliseconds) = (2, 1, 40, 30)
        #expect(s.tools == [ToolKey(server: "k8s", tool: "logs"): tool])
        #expect(tool.meanLatencyMilliseconds == 20)
    }
}
