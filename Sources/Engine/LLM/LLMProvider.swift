import Events
import Foundation

/// Something that answers chat requests: an OpenAI-compatible server, Azure OpenAI, Anthropic.
public protocol LLMProvider: Sendable {
    /// The model this provider calls, as registered.
    var modelName: String { get }
    /// The provider's kind (`openai`, `azure-openai`, …), for the log.
    var providerName: String { get }

    /// One chat completion. With `onText`, the answer is streamed (SSE) and each text fragment is passed on as it
    /// arrives; the complete response comes back either way. One attempt, no retries (see `RetryPolicy`).
    /// - Throws: `LLMError`; a failure after text was passed on is never `retryable`.
    func complete(
        _ request: ChatRequest, onText: (@Sendable (String) async -> Void)?
    ) async throws(LLMError) -> ChatResponse
}

/// How to reach one registered model: where, as whom, with which wire protocol.
public struct ModelEndpoint: Sendable, Equatable {
    public enum Wire: Sendable, Equatable {
        /// OpenAI Chat Completions at `<base>/chat/completions`, `Authorization: Bearer`.
        case openAI
        /// Azure OpenAI: `<resource>/openai/deployments/<deployment>/chat/completions?api-version=…`, `api-key` header.
        case azureOpenAI(deployment: String, apiVersion: String)
        /// Anthropic Messages at `<base>/v1/messages`, `x-api-key` and `anthropic-version` headers.
        case anthropic(version: String)
    }

    public var model: String
    public var provider: String
    public var wire: Wire
    public var url: URL
    public var secret: SecretReference?
    public var parameters: [String: String]

    /// The endpoint of a registry entry.
    /// - Throws: `LLMError(.configuration)` naming what is wrong (unknown provider, bad URL, Azure without deployment).
    public init(_ model: ModelDefinition) throws(LLMError) {
        self.model = model.name
        provider = model.provider
        parameters = model.parameters
        do { secret = try model.secretReference.map { (s) throws(SecretError) in try SecretReference(s) } } catch {
            throw LLMError(.configuration, "model '\(model.name)': \(error)", cause: error)
        }
        let base = model.endpoint.hasSuffix("/") ? String(model.endpoint.dropLast()) : model.endpoint
        switch model.provider {
        case "openai", "ollama", "vllm", "llama.cpp", "openai-compatible":
            wire = .openAI
            guard let url = URL(string: base + "/chat/completions"), url.scheme == "http" || url.scheme == "https"
            else {
                throw LLMError(
                    .configuration,
                    "model '\(model.name)': endpoint '\(model.endpoint)' is not an http(s) URL (e.g. http://127.0.0.1:11434/v1)"
                )
            }
            self.url = url
        case "azure-openai":
            guard let deployment = model.deployment, !deployment.isEmpty, let apiVersion = model.apiVersion,
                !apiVersion.isEmpty
            else {
                throw LLMError(
                    .configuration, "model '\(model.name)': Azure OpenAI needs a deployment and an API version")
            }
            wire = .azureOpenAI(deployment: deployment, apiVersion: apiVersion)
            let path =
                "/openai/deployments/\(deployment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? deployment)/chat/completions"
            guard var components = URLComponents(string: base + path),
                components.scheme == "https" || components.scheme == "http"
            else {
                throw LLMError(
                    .configuration,
                    "model '\(model.name)': endpoint '\(model.endpoint)' is not an http(s) URL (e.g. https://NAME.openai.azure.com)"
                )
            }
            components.queryItems = [URLQueryItem(name: "api-version", value: apiVersion)]
            guard let url = components.url else {
                throw LLMError(.configuration, "model '\(model.name)': cannot form the Azure URL")
            }
            self.url = url
        case "anthropic":
            wire = .anthropic(version: model.apiVersion ?? "2023-06-01")
            guard let url = URL(string: base + "/v1/messages"), url.scheme == "http" || url.scheme == "https" else {
                throw LLMError(
                    .configuration,
                    "model '\(model.name)': endpoint '\(model.endpoint)' is not an http(s) URL (e.g. https://api.anthropic.com)"
                )
            }
            self.url = url
        default:
            throw LLMError(
                .configuration,
                "model '\(model.name)': provider '\(model.provider)' is not supported (openai, azure-openai, anthropic, ollama, vllm, llama.cpp, openai-compatible)"
            )
        }
    }
}
