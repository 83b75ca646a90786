import Engine
import Events
import EventStore
import Foundation
import Logging
import Projections

/// Closes the runs a stopped server left open (`Conversations.closeInterruptedRuns`): at start, and on a shared log
/// also while serving, because a server that crashes leaves its runs open while the others run on.
///
/// On a shared log a run is closed only on a thread this server can take (`SharedLog.tryHold`): a thread another
/// server holds is running there; a crashed server's holds lapse with their lease (15 s). Under the hold, the copy is
/// brought up to the log's end first, so a run that finished on another server meanwhile is left alone, and the
/// closing events are fenced by the hold.
struct AbandonedRuns: Sendable {
    let runtime: AgentRuntime
    let readModels: ProjectionRunner
    let store: EventStore
    let logger: Logger

    /// How often a server on a shared log looks for runs another server left open.
    static let sweepInterval: Duration = .seconds(10)

    /// Closes what it can; logs what it closed.
    @discardableResult
    func close() async throws -> RecoveredRuns {
        let open = try readModels.openRuns().map {
            OpenRun(threadID: $0.threadID, runID: $0.id, parentRunID: $0.parentRunID)
        }
        guard !open.isEmpty else { return RecoveredRuns() }
        var recovered = RecoveredRuns()
        if let shared = store.shared {
            for (thread, runs) in Dictionary(grouping: open, by: \.threadID) {
                guard let stream = try? ThreadID(thread).stream, let hold = try await shared.tryHold(stream) else {
                    continue
                }
                do {
                    try await shared.bringUp(store, through: nil)
                    let closed = try await SharedHold.$current.withValue(hold) {
                        try await runtime.conversations.closeInterruptedRuns(runs)
                    }
                    recovered.runs += closed.runs
                    recovered.toolCalls += closed.toolCalls
                    await shared.release(hold)
                } catch {
                    await shared.release(hold)
                    throw error
                }
            }
        } else {
            recovered = try await runtime.conversations.closeInterruptedRuns(open)
        }
        if recovered.runs > 0 {
            try await readModels.catchUp()
            logger.notice(
                "closed runs a stop cut short",
                metadata: ["runs": "\(recovered.runs)", "toolCallsOfUnknownOutcome": "\(recovered.toolCalls)"])
        }
        return recovered
    }

    /// Looks every `sweepInterval` until cancelled (a shared log only); a failure is logged and tried again.
    func sweep() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.sweepInterval) } catch { return }
            do { try await close() } catch {
                logger.warning("closing runs another server left open failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
