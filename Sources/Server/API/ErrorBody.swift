/// Every error the API answers: `{"error": {"code": "...", "message": "..."}}` (`APIError` makes it).
public struct ErrorBody: Codable, Sendable {
    public struct Detail: Codable, Sendable {
        public let code: String
        public let message: String
    }
    public let error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}
