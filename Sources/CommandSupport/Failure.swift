import EventStore
import Foundation

/// Ends the command with `message` on standard error and a non-zero exit status.
public struct Failure: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

extension EventStoreError: LocalizedError {
    public var errorDescription: String? { message }
}
