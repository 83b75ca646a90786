import LoopbackModel

/// The benchmarks' model: the scripted loopback server answering every chat completion at once (by default with
/// the same short answer), so what is measured is the client and the engine, not a model.
enum BenchModel {
    /// The text of the default answer.
    static let answerText = "All pods in payments are healthy."
    static let answer =
        #"{"id":"chatcmpl-bench","object":"chat.completion","model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":""#
        + answerText
        + #""},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":8,"total_tokens":50}}"#

    /// A server answering each request with `reply`'s JSON; it keeps no requests.
    static func start(
        reply: @escaping @Sendable (ScriptedLLMServer.Request) -> String = { _ in BenchModel.answer }
    ) async throws -> ScriptedLLMServer {
        try await ScriptedLLMServer(recordsRequests: false) { .json(body: reply($0)) }
    }
}
