import Foundation

/// Where a secret lives: `env:NAME` (an environment variable) or `file:PATH` (a file's contents, trimmed).
/// The registry and the log hold only the reference; the value is read when a call needs it.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    case file(String)

    /// Parses `env:NAME` or `file:PATH`.
    /// - Throws: `SecretError.malformedReference` for anything else (a pasted key, say), without echoing it.
    public init(_ text: String) throws(SecretError) {
        if text.hasPrefix("env:"), text.count > 4 {
            self = .environment(String(text.dropFirst(4)))
        } else if text.hasPrefix("file:"), text.count > 5 {
            self = .file(String(text.dropFirst(5)))
        } else {
            throw SecretError.malformedReference
        }
    }

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        }
    }

    /// Reads the secret now.
    public func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SecretError) -> Secret {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else { throw SecretError.missing(self) }
            return Secret(value)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw SecretError.missing(self) }
            let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw SecretError.missing(self) }
            return Secret(value)
        }
    }
}

/// A resolved secret. Prints as `<redacted>` so it cannot leak through logs or string interpolation.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The value, for the one place that puts it on the wire.
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// `text` with every occurrence of the secret replaced, for messages that quote a peer's words.
    public func redact(_ text: String) -> String {
        value.count >= 4 ? text.replacingOccurrences(of: value, with: "<redacted>") : text
    }
}

public enum SecretError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedReference
    case missing(SecretReference)
    /// The reference names a secret the operator did not allow (or one of the server's own).
    case notAllowed(SecretReference, allowed: [String])

    public var description: String {
        switch self {
        case .malformedReference:
            "a secret reference must be 'env:NAME' or 'file:PATH' (never the secret itself)"
        case .missing(.environment(let name)):
            "the secret reference env:\(name) names an environment variable that is not set or empty; export it for the server"
        case .missing(.file(let path)):
            "the secret reference file:\(path) names a file that is missing, unreadable or empty"
        case .notAllowed(let reference, let allowed):
            "the secret reference \(reference) is not one this server allows; it allows \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")) (set by the operator with --allow-secret), never its own keys or data directory"
        }
    }
}
