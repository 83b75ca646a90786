@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Testing

/// Replay decides each recorded run by the policy the log held when it started; a policy handed to it is a dry run
/// under other rules.
@Suite(.serialized) struct PolicyReplayTests {
    @Test func replayTakesTheRulesThatWereInForce() async throws {
        try MCPStdioTests.requireTimeServer()
        let f = try await AgentRuntimeTests.Fixture()
        let root = Principal(subject: "user:root", roles: ["admin"], workspace: "payments", expiry: 4_000_000_000)
        var lenient = AgentRuntimeTests.policy.rawRoles
        lenient["admin"] = ["*"]
        _ = try await f.runtime.access.adoptConfiguredPolicy(lenient, actor: "operator:test", reason: "start")
        try await ReplayTests.record(f)
        var strict = lenient
        strict["operator"] = ["chat", "model.use:*", "thread.read:own"]  // the clock taken away
        try await f.runtime.access.changePolicy(
            PolicyChanged(change: .replaced, roles: strict, reason: "no more clocks"), as: root)
        let recorded = try await f.runtime.debugger.replay(thread: "t1", as: AgentRuntimeTests.alice)
        #expect(
            recorded.divergence == nil,
            "the rules in force then: \(String(describing: recorded.divergence))")
        #expect(
            recorded.runsReplayed == 2,
            "the rules in force then: \(String(describing: recorded.divergence))")
        let now = try await f.runtime.debugger.replay(
            thread: "t1", as: AgentRuntimeTests.alice, under: try Policy(roles: strict))
        #expect(now.divergence?.aspect == "authorization", "\(String(describing: now.divergence))")
        await f.close()
    }
}
