import Foundation
@testable import Server
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"), (-1, "1969-12-31T23:59:59.999Z"),
        (1_795_347_565_418_319_104, "2026-11-22T11:39:25.418Z"),
        (1_000_000_000_123_456_789, "2001-09-09T01:46:40.123Z"),
        (-6_213_559_680_000_000_000, "1773-02-05T19:12:00.000Z"),
    ])
    func formatsNanosecondsAsRFC3339Milliseconds(nanoseconds: Int64, expected: String) {
        #expect(Timestamp.rfc3339(nanoseconds) == expected)
    }

    /// For random times, Foundation's own RFC 3339 parser reads back the same millisecond.
    @Test func foundationReadsBackWhatItWrites() {
        var generator = SystemRandomNumberGenerator()
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for _ in 0..<2_000 {
            let nanoseconds = Int64.random(
                in: -2_000_000_000_000_000_000...4_000_000_000_000_000_000, using: &generator)
            let text = Timestamp.rfc3339(nanoseconds)
            let date = try? #require(parser.date(from: text), "\(text)")
            let millis = (date?.timeIntervalSince1970 ?? 0) * 1000
            let expected = Double(nanoseconds >= 0 ? nanoseconds / 1_000_000 : (nanoseconds - 999_999) / 1_000_000)
            #expect(abs(millis - expected) < 1.5, "\(nanoseconds) → \(text)")
        }
    }
}
