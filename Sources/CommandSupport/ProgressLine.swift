import Foundation

/// A one-line progress display on standard error, shown only when standard error is a terminal.
public final class ProgressLine: @unchecked Sendable {
    // Invariant: used from one task at a time (the command's own).
    private let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDraw = ContinuousClock.now - .seconds(1)

    public init(_ label: String) { self.label = label }

    /// Redraws at most ten times a second.
    public func update(_ done: UInt64, of total: UInt64) {
        guard enabled, ContinuousClock.now - lastDraw >= .milliseconds(100) || done == total else { return }
        lastDraw = .now
        let percent = total == 0 ? 100 : Double(done) * 100 / Double(total)
        FileHandle.standardError.write(
            Data("\r\(label): \(done)/\(total) (\(String(format: "%.0f", percent))%)\u{1B}[K".utf8))
    }

    /// Clears the line.
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
