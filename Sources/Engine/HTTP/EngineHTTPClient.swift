import AsyncHTTPClient

/// The HTTP client the engine's providers and MCP transports share.
public enum EngineHTTPClient {
    /// Connects within 10 s and reports a failed connection at once instead of retrying until the request's deadline
    /// (AsyncHTTPClient's default): `RetryPolicy` decides about retries, and a refused connection is not a two-minute
    /// wait. Lives as long as the process, like `HTTPClient.shared`.
    public static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
