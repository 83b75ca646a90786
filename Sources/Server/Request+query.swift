import EventStore
import Hummingbird

extension Request {
    /// An integer query parameter: nil when absent; 400 naming it when present but not an integer in `range` (a
    /// `limit=abc` or an `at=abc` is an error, never silently the default — an ignored `at` would answer a
    /// time-travel query with the present).
    func integer<T: FixedWidthInteger>(_ name: String, in range: ClosedRange<T>) throws(APIError) -> T? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = T(text), range.contains(value) else {
            throw APIError(
                .badRequest, "bad_request",
                "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text.prefix(40))'")
        }
        return value
    }

    /// The query parameter `name` as a position in the log (`lowest` ... Int64.max), or nil when absent.
    /// - Throws: 400 naming the parameter when it is not such a number.
    func seq(_ name: String, lowest: UInt64 = 1) throws(APIError) -> Seq? {
        try integer(name, in: lowest...UInt64(Int64.max)).map { Seq($0) }
    }
}
