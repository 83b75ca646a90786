@testable import Engine
import EventStore
import Events
import EventsWorkload
import Foundation
import LogbookTestSupport
import Projections
import Testing

/// Many seeded runs against a model server that misbehaves at random (rate limits, failures, malformed and cut-off
/// answers, tool calls to denied, unknown and broken tools), then invariants over the whole log.
@Suite(.serialized) struct SimulationTests {
    static let seeds: [UInt64] =
        ProcessInfo.processInfo.environment["LOGBOOK_SEED"].flatMap(UInt64.init).map { [$0] } ?? [71, 72]

    @Test(arguments: seeds)
    func invariantsHoldAfterManyRunsWithFaults(seed: UInt64) async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await AgentRuntimeTests.Fixture(
            retry: RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2))
        ) { c in
            c.maxSteps = 4
            c.maxToolCalls = 3
        }
        var rng = SeededGenerator(seed: seed)
        let tokens = (0..<4).map { "bearer-\(seed)-\($0)-\(UInt32.random(in: 0...UInt32.max, using: &rng))" }
        let principals = [
            AgentRuntimeTests.alice,
            Principal(
                subject: "user:bob", roles: ["operator"], workspace: "payments", tokenID: "tok-2", expiry: 4_000_000_000
            ),
            Principal(
                subject: "user:eve", roles: ["visitor"], workspace: "payments", tokenID: "tok-3", expiry: 4_000_000_000),
        ]
        var outcomes: [String: Int] = [:]
        for run in 0..<24 {
            f.server.clear()
            f.server.enqueue(Self.script(&rng))
            let turn = ChatTurn(threadID: try ThreadID("sim-\(run % 6)"), text: "question \(run)")
            let principal = principals[Int(rng.next() % UInt64(principals.count))]
            do {
                let result = try await f.runtime.conversations.chat(
                    turn, as: principal, token: tokens[run % tokens.count])
                outcomes["\(result.status)", default: 0] += 1
            } catch {
                outcomes["\(error.kind)", default: 0] += 1
            }
        }
        #expect(outcomes.count >= 3, "the faults led to varied endings: \(outcomes)")

        // Invariants over every event of the log, decompressed.
        let all = try f.store.read(from: 1, maxCount: 1_000_000)
        for token in tokens + [AgentRuntimeTests.key] {
            #expect(
                !all.contains { String(decoding: $0.payload, as: UTF8.self).contains(token) },
                "a secret reached the log")
        }
        var byThread: [String: [DomainEvent]] = [:]
        for e in all where e.stream.rawValue.hasPrefix("thread/") {
            if case .event(let d) = EventCatalog.decode(e) { byThread[e.stream.rawValue, default: []].append(d) }
        }
        var toolCalls = 0
        for (thread, events) in byThread {
            for (i, event) in events.enumerated() {
                if case .toolCalled(let call) = event {
                    toolCalls += 1
                    guard i > 0, case .authorizationDecided(let d) = events[i - 1] else {
                        Issue.record(
                            "\(thread): tool.called \(call.callID) without an authorization decision just before it")
                        continue
                    }
                    #expect(d.decision == .allow, "\(thread): \(call.callID)")
                    #expect(d.action == "tool.call", "\(thread): \(call.callID)")
                    #expect(d.resource == "tool:\(call.server)/\(call.tool)", "\(thread): \(call.callID)")
                    #expect(call.tool != "convert_time", "a tool the policy denies was called")
                }
                if case .runStarted(let started) = event {
                    let finished = events[(i + 1)...].contains {
                        if case .runFinished(let f) = $0 { f.runID == started.runID } else { false }
                    }
                    #expect(finished, "\(thread): run \(started.runID) has no run.finished")
                }
            }
        }
        #expect(toolCalls > 0, "some tools ran")
        await f.close()
    }

    /// The model's side of one run: a few steps, each a reply or a fault; tool-call steps lead to another step.
    static func script(_ rng: inout SeededGenerator) -> [ScriptedLLMServer.Reply] {
        var replies: [ScriptedLLMServer.Reply] = []
        for step in 0..<Int(1 + rng.next() % 4) {
            switch rng.next() % 10 {
            case 0:
                replies.append(
                    // retried
                    .json(status: 429, body: #"{"error":{"message":"slow down"}}"#, headers: ["Retry-After": "0"]))
            // fails for good
            case 1: return replies + [.json(status: 500, body: "boom"), .json(status: 500, body: "boom")]
            // malformed, twice
            case 2: return replies + [.json(body: "{\"choices\": ["), .json(body: "{\"choices\": [")]
            // cut off after text
            case 3: return replies + [.sse(events: [Wire.chunk(content: "half an ans")], thenClose: true)]
            default: break
            }
            if step == 3 || rng.next() % 3 == 0 {
                return replies + [
                    .sse(events: [
                        Wire.chunk(content: "Here is "), Wire.chunk(content: "the answer."), Wire.chunk(finish: "stop"),
                        "[DONE]",
                    ])
                ]
            }
            let tools = ["time__get_current_time", "time__convert_time", "nope__missing", "time__get_current_time"]
            let calls = (0..<Int(1 + rng.next() % 2)).map { i -> (Int, String?, String?, String) in
                let name = tools[Int(rng.next() % UInt64(tools.count))]
                let arguments =
                    name.hasSuffix("convert_time")
                    ? #"{"source_timezone":"UTC","time":"12:00","target_timezone":"Asia/Tokyo"}"#
                    : #"{"timezone":"UTC"}"#
                return (i, "call_\(step)_\(i)", name, arguments)
            }
            replies.append(
                .sse(events: calls.map { Wire.chunk(toolCall: $0) } + [Wire.chunk(finish: "tool_calls"), "[DONE]"]))
        }
        return replies + [.json(body: Wire.completion(text: "done", finish: "stop", usage: (1, 1)))]
    }
}
