/// Retries of a failed LLM call: exponential backoff with full jitter, at least what `Retry-After` asks, within a
/// bounded number of attempts and a total time budget.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// No retry starts if its wait would end past this much time since the first attempt.
    public var budget: Duration

    public init(
        maxAttempts: Int = 4, initialBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(8),
        budget: Duration = .seconds(60)
    ) {
        (self.maxAttempts, self.initialBackoff, self.maxBackoff, self.budget) = (
            max(maxAttempts, 1), initialBackoff, maxBackoff, budget
        )
    }

    /// No retries.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// One failed attempt, as reported to `onFailure`.
    public struct Failure: Sendable {
        public let error: LLMError
        /// 1 for the first attempt.
        public let attempt: Int
        /// Whether another attempt follows (after `wait`).
        public let willRetry: Bool
        public let wait: Duration
    }

    /// Calls `attempt` until it succeeds, fails for good, or the attempts or the budget run out.
    /// `onFailure` hears of every failed attempt before the wait (the engine records each as `llm.failed`).
    public func run<T: Sendable>(
        _ attempt: (Int) async throws(LLMError) -> T,
        onFailure: (Failure) async -> Void = { _ in }
    ) async throws(LLMError) -> T {
        let clock = ContinuousClock()
        let start = clock.now
        var n = 1
        while true {
            do {
                return try await attempt(n)
            } catch {
                let wait = backoff(after: n, retryAfter: error.retryAfter)
                let willRetry =
                    error.retryable && n < maxAttempts && !Task.isCancelled && (clock.now - start) + wait <= budget
                await onFailure(Failure(error: error, attempt: n, willRetry: willRetry, wait: willRetry ? wait : .zero))
                guard willRetry else { throw error }
                do { try await Task.sleep(for: wait) } catch {
                    throw LLMError(.cancelled, "the call was cancelled while waiting to retry")
                }
                n += 1
            }
        }
    }

    /// The wait before attempt `n + 1`: a random share of `initialBackoff · 2^(n-1)` (capped), never less than
    /// `Retry-After`.
    func backoff(after n: Int, retryAfter: Duration?) -> Duration {
        let exponential = initialBackoff * (1 << min(n - 1, 20))
        let cap = min(exponential, maxBackoff)
        let jittered = cap * Double.random(in: 0...1)
        return max(jittered, retryAfter ?? .zero)
    }
}
