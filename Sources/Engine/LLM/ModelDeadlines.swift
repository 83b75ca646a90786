import Foundation

/// How long one model call may take: until the first byte of the answer, between two pieces of a streamed answer, and
/// in all. A slow CPU model may take long to start and to finish a long answer while it keeps writing; a stalled
/// stream is caught by `idle` long before `total`.
public struct ModelDeadlines: Sendable, Equatable {
    public var total: Duration
    public var firstByte: Duration
    public var idle: Duration

    public init(total: Duration = .seconds(600), firstByte: Duration = .seconds(120), idle: Duration = .seconds(60)) {
        (self.total, self.firstByte, self.idle) = (total, firstByte, idle)
    }

    /// These deadlines with a model's own (`parameters`: `timeout`, `first_byte_timeout`, `idle_timeout`, in seconds)
    /// in place of each it sets.
    public func overridden(by parameters: [String: String]) -> ModelDeadlines {
        func seconds(_ key: String) -> Duration? {
            parameters[key].flatMap(Double.init).flatMap { $0 > 0 ? .milliseconds(Int64($0 * 1000)) : nil }
        }
        return ModelDeadlines(
            total: seconds("timeout") ?? total, firstByte: seconds("first_byte_timeout") ?? firstByte,
            idle: seconds("idle_timeout") ?? idle)
    }
}

/// Watches a call for the first byte and then for each next piece; `stalled` throws once the current limit passes
/// without activity. Shared by the call (which reports activity) and a watcher task.
final class ActivityWatch: @unchecked Sendable {
    enum Phase: Sendable { case waitingForAnswer, streaming }
    struct Stalled: Error {
        let phase: Phase
        let bytes: Int
    }

    // Invariant: every var is accessed with `lock` held.
    private let lock = NSLock()
    private var last = ContinuousClock.now
    private var phase = Phase.waitingForAnswer
    private var bytes = 0
    private let deadlines: ModelDeadlines

    init(_ deadlines: ModelDeadlines) { self.deadlines = deadlines }

    /// The answer began (its head arrived).
    func answered() { lock.withLock { (last, phase) = (.now, .streaming) } }
    /// `count` more bytes of the answer arrived.
    func received(_ count: Int) { lock.withLock { (last, phase, bytes) = (.now, .streaming, bytes + count) } }
    var receivedBytes: Int { lock.withLock { bytes } }

    /// Returns only by throwing `Stalled` (or `CancellationError` when the call ends first).
    func watch() async throws -> Never {
        while true {
            let (limit, since, phase, bytes) = lock.withLock { () -> (Duration, ContinuousClock.Instant, Phase, Int) in
                (self.phase == .streaming ? deadlines.idle : deadlines.firstByte, last, self.phase, self.bytes)
            }
            let elapsed = ContinuousClock.now - since
            if elapsed >= limit { throw Stalled(phase: phase, bytes: bytes) }
            try await Task.sleep(for: min(limit - elapsed + .milliseconds(5), .seconds(1)))
        }
    }
}
