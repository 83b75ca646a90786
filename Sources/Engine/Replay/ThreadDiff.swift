import EventStore
import Events
import Foundation

/// Two threads side by side (an original and its fork, say): their steps, what they cost, and where they part.
public struct ThreadDiff: Sendable, Codable, Equatable {
    public struct Side: Sendable, Codable, Equatable {
        public var threadID: String
        public var steps: [Step]
        public var inputTokens = 0
        public var outputTokens = 0
        public var toolCalls = 0
        public var denials = 0
    }

    public var a: Side
    public var b: Side
    /// Leading steps both threads share by reference (the same events: what a fork inherited).
    public var shared: Int
    /// The position of the first step that differs in content (nil: the threads did the same things).
    public var firstDivergence: Int?
    /// What differs there (prompt composition, tool choice or arguments, authorization, answer, …).
    public var aspect: String?
    /// The first line of the compared content that differs there (thread a's first).
    public var detail: String?
}

extension Debugger {
    /// Compares two threads step by step (a fork's inherited history included). Reading each is authorized as
    /// `thread.read` and recorded.
    /// - Throws: `invalidArgument` (not a thread id), `notFound`, `denied`, `storage`.
    public func diff(_ a: ThreadID, _ b: ThreadID, as principal: Principal) async throws(EngineError) -> ThreadDiff {
        try await engine.access.authorizeRead(thread: a, as: principal)
        try await engine.access.authorizeRead(thread: b, as: principal)
        let left = try ThreadDiff.Side.of(a, in: store), right = try ThreadDiff.Side.of(b, in: store)
        let shared = zip(left.steps, right.steps).prefix { $0.seq == $1.seq }.count
        let first = (0..<max(left.steps.count, right.steps.count)).first { i in
            i >= left.steps.count || i >= right.steps.count || left.steps[i].kind != right.steps[i].kind
                || left.steps[i].key != right.steps[i].key
        }
        let aspect = first.map { i in (i < left.steps.count ? left.steps[i] : right.steps[i]).aspect }
        let detail = first.map { i in
            Step.difference(i < left.steps.count ? left.steps[i] : nil, i < right.steps.count ? right.steps[i] : nil)
        }
        return ThreadDiff(a: left, b: right, shared: shared, firstDivergence: first, aspect: aspect, detail: detail)
    }

}

extension ThreadDiff.Side {
    /// A thread's steps and totals, read straight from the log (no authorization: for tools that own the log).
    public static func of(_ threadID: ThreadID, in store: EventStore) throws(EngineError) -> ThreadDiff.Side {
        let stream = threadID.stream
        let history = try RunRecorder.history(of: stream, in: store).events
        let bySeq = Dictionary(history.map { ($0.seq, $0.event) }, uniquingKeysWith: { a, _ in a })
        // The decision that allowed a fork opens its stream, just before `thread.forked`: structure, not a step.
        let opening = Set(
            history.indices.filter { i in
                guard i + 1 < history.count, case .threadForked = history[i + 1].event,
                    case .authorizationDecided = history[i].event
                else { return false }
                return true
            })
        let steps = history.indices.filter { !opening.contains($0) }.compactMap {
            Step.of(history[$0].event, seq: history[$0].seq, lookup: { bySeq[$0] })
        }
        var side = ThreadDiff.Side(threadID: threadID.rawValue, steps: steps)
        for (_, event) in history {
            switch event {
            case .llmResponse(let r):
                (side.inputTokens, side.outputTokens) = (
                    side.inputTokens + r.inputTokens, side.outputTokens + r.outputTokens
                )
            case .toolCalled: side.toolCalls += 1
            case .authorizationDecided(let d) where d.decision == .deny: side.denials += 1
            default: break
            }
        }
        return side
    }
}
