import Events
import Foundation

/// Why an LLM call failed, with a message fit for the log and the user: never a key, a token or a header.
public struct LLMError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The provider answered with this HTTP status.
        case status(Int)
        /// No answer: connection refused, reset or closed early.
        case connection
        /// No complete answer within the call's time limit.
        case timeout
        /// An answer that is not what the protocol promises: bad JSON, a cut-off stream, tool arguments that are not JSON.
        case malformedResponse
        /// The model is not usable as configured (unknown provider, missing secret, bad endpoint).
        case configuration
        /// The caller went away.
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// Whether trying again may succeed (429, 5xx, connection errors, timeouts — and only before any output was
    /// passed on).
    public var retryable: Bool
    /// How long the provider asked us to wait (`Retry-After`).
    public var retryAfter: Duration?
    /// The error underneath (the HTTP client's, the secret's), kept for logs and for callers that tell causes apart.
    public var cause: (any Error & Sendable)?

    public init(
        _ kind: Kind, _ message: String, retryable: Bool = false, retryAfter: Duration? = nil,
        cause: (any Error & Sendable)? = nil
    ) {
        (self.kind, self.message, self.retryable, self.retryAfter, self.cause) = (
            kind, message, retryable, retryAfter, cause
        )
    }

    /// Equal in everything but the cause (context, not identity).
    public static func == (a: LLMError, b: LLMError) -> Bool {
        a.kind == b.kind && a.message == b.message && a.retryable == b.retryable && a.retryAfter == b.retryAfter
    }

    public var description: String { message }

    /// The error for an HTTP status with the provider's own words (trimmed) in the message.
    static func status(_ code: Int, body: String, model: String, retryAfter: Duration?) -> LLMError {
        let retryable = code == 408 || code == 409 || code == 429 || code >= 500
        let detail = Self.providerMessage(body)
        let hint =
            switch code {
            case 401, 403: "; check the model's secret reference"
            case 404: "; check the model's endpoint, deployment and name"
            case 429: "; the provider is rate limiting"
            default: ""
            }
        return LLMError(
            .status(code), "model '\(model)': HTTP \(code)\(detail.map { ": \($0)" } ?? "")\(hint)",
            retryable: retryable, retryAfter: retryAfter)
    }

    /// The `error.message` of an OpenAI- or Anthropic-style error body, or the body's start.
    private static func providerMessage(_ body: String) -> String? {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        if let json = JSONValue(parsing: trimmed),
            let message = json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue
                ?? json["message"]?.stringValue
        {
            return String(message.prefix(300))
        }
        return String(trimmed.prefix(300))
    }
}
