import Engine
import Foundation
import Synchronization

/// Tokens this server verified in the last minute, so that a client's every request does not pay again for the base64,
/// the two JSON decodes and the signature check of `TokenVerifier.verify` (3.5 % of the CPU of the shared workload
/// through `/v1/chat/completions`, measured with perf). An entry serves only while its token has not expired (with
/// the verifier's leeway, as `verify` allows) and for at most `lifetime` after it was verified, so a token signed by a
/// key since removed stops working within that; at most `capacity` entries are kept.
final class VerifiedTokens: Sendable {
    private struct Entry {
        let principal: Principal
        let verifiedAt: Int64
    }
    private let entries = Mutex<[String: Entry]>([:])
    let verifier: TokenVerifier
    let lifetime: Int64
    let capacity: Int

    init(verifier: TokenVerifier, lifetime: Duration = .seconds(60), capacity: Int = 10_000) {
        (self.verifier, self.lifetime, self.capacity) = (verifier, lifetime.components.seconds, capacity)
    }

    /// The principal of a valid token, from the cache or verified now.
    func principal(of token: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(AuthError) -> Principal {
        let skew = verifier.leeway.components.seconds
        let cached = entries.withLock { entries -> Principal? in
            guard let entry = entries[token] else { return nil }
            guard now < entry.principal.expiry + skew, now - entry.verifiedAt < lifetime else {
                entries[token] = nil
                return nil
            }
            return entry.principal
        }
        if let cached { return cached }
        let principal = try verifier.verify(token, now: now)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(principal: principal, verifiedAt: now)
        }
        return principal
    }
}
