import EventStore
import Logging
@testable import Server
import Synchronization
import Testing

/// `LagWatch`: one warning when a lag passes the limit, one notice when it is back, nothing in between.
struct LagWatchTests {
    final class Lines: Sendable {
        let value = Mutex<[(Logger.Level, String)]>([])
    }

    /// Keeps what was logged (level and message), for the test to read.
    struct Capture: LogHandler {
        let lines: Lines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.value.withLock { $0.append((event.level, "\(event.message)")) }
        }
    }

    @Test func aLagIsReportedOnceWhenItPassesTheLimitAndOnceWhenItIsBack() {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        var watch = LagWatch(limit: 100, logger: logger)
        for behind: UInt64 in [0, 50, 100, 101, 5_000, 200, 100, 0, 0] {
            watch.observe(.readModels, behindBy: behind, position: Seq(1))
        }
        watch.observe(.copy, behindBy: 1_000, position: Seq(7))
        let logged = lines.value.withLock { $0 }
        #expect(logged.map(\.0) == [.warning, .notice, .warning])
        #expect(
            logged.map(\.1) == [
                "the read models fell behind the log", "the read models caught up",
                "this server's copy of the shared log fell behind the log",
            ])
    }
}
