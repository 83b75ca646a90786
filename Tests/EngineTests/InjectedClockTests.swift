@testable import Engine
import EventStore
import Events
import Foundation
import LogbookTestSupport
import Synchronization
import Testing

/// Runs take their monotonic clock and their ids from the configuration, so a test decides them: the ids recorded are
/// the ones given, and a run's time budget ends it at the step the clock says, without waiting.
@Suite(.serialized) struct InjectedClockTests {
    @Test func runsUseTheConfiguredClockAndIds() async throws {
        let ids = Mutex(0)
        let elapsed = Mutex(Duration.zero)
        let base = ContinuousClock.now
        let f = try await AgentRuntimeTests.Fixture(mcp: nil) { c in
            c.makeID = {
                ids.withLock {
                    $0 += 1; return UUID(uuidString: String(format: "00000000-0000-7000-8000-%012d", $0))!
                }
            }
            // Every reading is 400 s after the one before: the run starts at 0 and its second step would begin at ≥ 1,200.
            c.now = {
                base
                    + elapsed.withLock { (value: inout Duration) -> Duration in
                        defer { value += .seconds(400) }
                        return value
                    }
            }
            c.runBudget = .seconds(600)
            c.streaming = false
        }
        // The model asks for a tool nobody offers, so the run would go on to a second step — past its budget by its clock.
        f.server.enqueue(
            .json(body: Wire.completion(toolCall: ("call_1", "nowhere__nothing", "{}"), finish: "tool_calls")))
        f.server.enqueue(.json(body: Wire.completion(text: "never asked", finish: "stop")))
        let result = try await f.runtime.conversations.chat(
            ChatTurn(threadID: "c1", text: "hi"), as: AgentRuntimeTests.alice)
        #expect(result.status == .limitReached, "\(result)")
        #expect(f.server.requests.count == 1, "no second step began after the budget")
        let started = try f.thread("c1").compactMap { if case .runStarted(let r) = $0.event { r.runID } else { nil } }
        #expect(
            started == [UUID(uuidString: "00000000-0000-7000-8000-000000000001")!],
            "the run id is the first one given: \(started)")
        await f.close()
    }
}
