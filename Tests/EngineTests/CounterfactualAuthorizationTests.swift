@testable import Engine
import EventStore
import Events
import EventsWorkload
import Foundation
import LogbookTestSupport
import Projections
import Testing

/// Counterfactual and replay runs never do what the server's policy would deny: a tool server that writes down every
/// call it receives and the scripted model's request log are the witnesses, whatever the log says.
@Suite(.serialized) struct CounterfactualAuthorizationTests {
    typealias Fixture = AgentRuntimeTests.Fixture
    static let bob = Principal(
        subject: "user:bob", roles: ["viewer"], workspace: "payments", tokenID: "tok-b", expiry: 4_000_000_000)

    /// A fixture whose `time` MCP server is `misbehaving_mcp.py record`, writing every call it receives to a fresh
    /// file; `t1` recorded by alice.
    static func recordedFixture() async throws -> (Fixture, calls: URL) {
        let script = MCPStdioTests.fixture
        let calls = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logbook-tool-calls-\(UUID().uuidString).ndjson")
        FileManager.default.createFile(atPath: calls.path, contents: nil)
        let f = try await Fixture(
            mcp: MCPServerDefinition(
                name: "time", transport: .stdio, command: ["python3", script, "record", calls.path])
        ) { c in
            c.streaming = false
        }
        try await ReplayTests.record(f)
        #expect(lines(calls).count == 1, "the recording called the one tool alice may call")
        return (f, calls)
    }

    /// The tool calls the server received (its other requests left out), each as its `params` JSON.
    static func lines(_ file: URL) -> [String] {
        ((try? String(contentsOf: file, encoding: .utf8))?.split(separator: "\n") ?? []).compactMap { line in
            guard let request = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                request["method"] as? String == "tools/call",
                let params = request["params"], let data = try? JSONSerialization.data(withJSONObject: params)
            else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// An engine over the fixture's log under `policy`.
    static func engine(_ f: Fixture, policy: Policy) -> AgentRuntime {
        var configuration = AgentRuntime.Configuration()
        configuration.environment = ["LOGBOOK_SECRET_RUNTIME_TEST": AgentRuntimeTests.key]
        (configuration.retry, configuration.streaming) = (.none, false)
        return AgentRuntime(
            store: f.store, registry: ProjectionRunner(store: f.store, projections: [RegistryProjection.self]),
            policy: policy, pool: f.pool, configuration: configuration)
    }

    static func decisions(_ f: Fixture, _ thread: String) throws -> [AuthorizationDecided] {
        guard (try? f.store.revision(of: ThreadID(thread).stream)) != nil else { return [] }
        return try f.thread(thread).compactMap { if case .authorizationDecided(let d) = $0.event { d } else { nil } }
    }

    /// The review's reproduction: a viewer substitutes a policy that grants everything and asks for a live run. It is
    /// refused before anything runs; no tool is called, no model is asked, and no grant appears in the log.
    @Test func aSubstitutedPolicyCannotDecideALiveRun() async throws {
        let (f, calls) = try await Self.recordedFixture()
        defer { try? FileManager.default.removeItem(at: calls) }
        let runtime = Self.engine(f, policy: try Policy(roles: ["viewer": ["thread.read:workspace", "chat"]]))
        let (toolCalls, modelCalls) = (Self.lines(calls).count, f.server.requests.count)
        f.server.enqueue(
            .json(
                body: Wire.completion(
                    toolCall: ("call_x", "time__get_current_time", #"{"timezone": "UTC"}"#), finish: "tool_calls")),
            .json(body: Wire.completion(text: "done", finish: "stop")))
        let grantAll = Substitution(policy: try Policy(roles: ["viewer": ["*"]]), liveFrom: 1)
        await #expect(throws: EngineError.self) {
            _ = try await runtime.debugger.counterfactual(
                thread: "t1", substituting: grantAll, into: "cf-grant", as: Self.bob)
        }
        do throws(EngineError) {
            _ = try await runtime.debugger.counterfactual(
                thread: "t1", substituting: grantAll, into: "cf-grant", as: Self.bob)
        } catch {
            #expect(error.kind == .invalidArgument)
            #expect(error.message.contains("recorded re-execution only"))
        }
        #expect(Self.lines(calls).count == toolCalls, "nothing ran")
        #expect(f.server.requests.count == modelCalls, "nothing ran")
        let everything = try f.store.read(from: 1, maxCount: 100_000).compactMap { r -> AuthorizationDecided? in
            if case .event(.authorizationDecided(let d)) = EventCatalog.decode(r) { d } else { nil }
        }
        #expect(
            !everything.contains {
                $0.subject == Self.bob.subject && $0.decision == .allow && $0.rule?.hasSuffix(": *") == true
            })
        f.server.clear()
        await f.close()
    }

    /// A recorded re-execution may try another policy (nothing runs); what it decided is marked as hypothetical and
    /// names who asked, so the audit trail never reads it as a grant.
    @Test func aDryCounterfactualMarksItsDecisionsAsHypothetical() async throws {
        let (f, calls) = try await Self.recordedFixture()
        defer { try? FileManager.default.removeItem(at: calls) }
        let runtime = Self.engine(f, policy: try Policy(roles: ["viewer": ["thread.read:workspace", "chat"]]))
        let (toolCalls, modelCalls) = (Self.lines(calls).count, f.server.requests.count)
        let lenient = try Policy(roles: ["operator": ["*"]])
        let result = try await runtime.debugger.counterfactual(
            thread: "t1", substituting: Substitution(policy: lenient), into: "cf-dry", as: Self.bob)
        #expect(result.divergence?.aspect == "authorization", "the lenient policy allows the call the recording denied")
        #expect(Self.lines(calls).count == toolCalls, "nothing ran")
        #expect(f.server.requests.count == modelCalls, "nothing ran")
        let run = try Self.decisions(f, "cf-dry").filter { $0.action != "chat" }
        #expect(
            !run.isEmpty && run.allSatisfy { $0.reason.hasPrefix("counterfactual for user:bob, nothing ran: ") },
            "\(run.map(\.reason))")
        await f.close()
    }

    /// Random server policies for the caller × random substitutions (another policy, live from a step, another model,
    /// other instructions): a tool is called only when the server's policy lets the caller call it, the model only when
    /// it lets the caller chat and use it, and every recorded grant that is not marked hypothetical is one the server's
    /// policy makes.
    @Test func counterfactualsNeverDoWhatTheServersPolicyDenies() async throws {
        let (f, calls) = try await Self.recordedFixture()
        defer { try? FileManager.default.removeItem(at: calls) }
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["AUTHZ_SEED"] ?? "") ?? 0x5EC)
        let permissions = [
            "chat", "model.use:*", "tool.call:time/*", "tool.call:time/get_current_time", "thread.read:workspace",
        ]
        var (ranLive, toolCallsMade) = (0, 0)
        for i in 0..<14 {
            // Reading the source is needed for anything to happen; give it most of the time.
            var granted = permissions.filter { _ in rng.next() % 2 == 0 }
            if rng.next() % 4 != 0, !granted.contains("thread.read:workspace") {
                granted.append("thread.read:workspace")
            }
            let policy = try Policy(roles: ["viewer": granted])
            let runtime = Self.engine(f, policy: policy)
            let substituted: Policy? =
                rng.next() % 3 == 0 ? try Policy(roles: ["viewer": ["*"], "operator": ["*"]]) : nil
            let liveFrom: Int? = [nil, 1, 2][Int(rng.next() % 3)]
            let model: String? = rng.next() % 4 == 0 ? "gpt-test" : nil
            let substitution = Substitution(
                instructions: rng.next() % 2 == 0 ? "Be terse." : nil, policy: substituted, model: model,
                liveFrom: liveFrom)
            let live = liveFrom != nil || model != nil

            let (toolCalls, modelCalls) = (Self.lines(calls).count, f.server.requests.count)
            f.server.clear()
            f.server.enqueue(
                .json(
                    body: Wire.completion(
                        toolCall: ("call_\(i)", "time__get_current_time", #"{"timezone": "UTC"}"#), finish: "tool_calls"
                    )),
                .json(body: Wire.completion(text: "done", finish: "stop")))
            let case_ =
                "case \(i): viewer \(granted), substituted policy \(substituted != nil), liveFrom \(String(describing: liveFrom)), model \(model ?? "-")"
            var failure: EngineError?
            do throws(EngineError) {
                _ = try await runtime.debugger.counterfactual(
                    thread: "t1", substituting: substitution, into: try! ThreadID("cf-\(i)"), as: Self.bob)
            } catch { failure = error }

            let madeCalls = Self.lines(calls)[toolCalls...]
            let madeRequests = f.server.requests.count - modelCalls
            if substituted != nil && live { #expect(failure?.kind == .invalidArgument, "\(case_)") }
            toolCallsMade += madeCalls.count
            for call in madeCalls {
                let name =
                    (try? JSONSerialization.jsonObject(with: Data(call.utf8)) as? [String: Any])?["name"] as? String
                    ?? "?"
                #expect(
                    live,
                    "\(case_): the tool server received \(name)")
                #expect(
                    policy.decide(Self.bob, action: "tool.call", resource: "time/\(name)", workspace: "payments")
                        .decision == .allow,
                    "\(case_): the tool server received \(name)")
            }
            if madeRequests > 0 {
                ranLive += 1
                #expect(
                    live,
                    "\(case_): the model was called \(madeRequests) times")
                #expect(
                    policy.decide(Self.bob, action: "model.use", resource: "gpt-test", workspace: "payments").decision
                        == .allow,
                    "\(case_): the model was called \(madeRequests) times")
                #expect(
                    policy.decide(Self.bob, action: "chat", resource: "thread/cf-\(i)", workspace: "payments").decision
                        == .allow,
                    "\(case_): the model was called \(madeRequests) times")
            }
            for d in try Self.decisions(f, "cf-\(i)")
            where d.decision == .allow && !d.reason.hasPrefix("counterfactual for ") {
                let permission = d.rule.map { String($0.split(separator: ": ", maxSplits: 1).last ?? "") } ?? ""
                #expect(
                    d.subject == Self.bob.subject,
                    "\(case_): recorded grant \(d.rule ?? "-") for \(d.subject)")
                #expect(
                    granted.contains(permission),
                    "\(case_): recorded grant \(d.rule ?? "-") for \(d.subject)")
            }
        }
        #expect(
            ranLive > 0,
            "some case ran live and called the tool (the property was exercised): \(ranLive) live, \(toolCallsMade) tool calls"
        )
        #expect(
            toolCallsMade > 0,
            "some case ran live and called the tool (the property was exercised): \(ranLive) live, \(toolCallsMade) tool calls"
        )
        f.server.clear()
        await f.close()
    }
}
