import Engine
import Foundation
import Hummingbird
import Synchronization

/// How many requests one subject may make: a token bucket per subject, refilled at `perSecond`, holding `burst`.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Double

    public init(perSecond: Double, burst: Double) { (self.perSecond, self.burst) = (perSecond, max(burst, 1)) }
}

/// Refuses a subject's requests past its rate with 429 and `Retry-After` (whole seconds until one is allowed). Runs
/// after authentication, so the bucket is the verified subject's, never a client-chosen name. Buckets that have
/// refilled are forgotten when the table grows past `maxSubjects`, so memory stays bounded.
final class RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: RateLimit
    let maxSubjects = 10_000
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    init(limit: RateLimit) { self.limit = limit }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let subject = context.principal?.subject else { return try await next(request, context) }
        let wait = take(subject, now: .now)
        if let wait {
            var error = APIError(
                .tooManyRequests, "rate_limited",
                "too many requests from \(subject): at most \(limit.perSecond)/s (bursts of \(Int(limit.burst))); retry in \(wait) s"
            )
            error.headers[.retryAfter] = String(wait)
            throw error
        }
        return try await next(request, context)
    }

    /// Takes a token from the subject's bucket; nil when there was one, else the seconds until there is.
    func take(_ subject: String, now: ContinuousClock.Instant) -> Int? {
        buckets.withLock { table in
            if table.count >= maxSubjects {
                table = table.filter { refilled($0.value, now: now) < limit.burst }
            }
            var tokens = table[subject].map { refilled($0, now: now) } ?? limit.burst
            guard tokens >= 1 else {
                table[subject] = (tokens, now)
                return max(1, Int(((1 - tokens) / limit.perSecond).rounded(.up)))
            }
            tokens -= 1
            table[subject] = (tokens, now)
            return nil
        }
    }

    private func refilled(
        _ bucket: (tokens: Double, at: ContinuousClock.Instant), now: ContinuousClock.Instant
    ) -> Double {
        let elapsed = now - bucket.at
        let seconds = elapsed / .seconds(1)
        return min(limit.burst, bucket.tokens + seconds * limit.perSecond)
    }
}
