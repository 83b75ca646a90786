import Foundation
import OpenAIWire

extension ScriptedLLMServer {
    /// A completion's JSON: `message` as the model's one choice.
    public static func completion(
        _ message: ChatCompletions.Message, finish: String, model: String, usage: (Int, Int) = (100, 50)
    ) -> String {
        let body = ChatCompletions.Completion(
            id: "chatcmpl-scripted", created: 0, model: model,
            choices: [.init(message: message, finish_reason: finish)],
            usage: .init(prompt: usage.0, completion: usage.1))
        return String(decoding: (try? JSONEncoder().encode(body)) ?? Data(), as: UTF8.self)
    }
}

extension ScriptedLLMServer.Request {
    /// The body as a chat completion request (nil when it is not one).
    public var chatCompletion: ChatCompletions.Request? {
        let data = Data(body.utf8)
        return ChatCompletions.Request(fastDecoding: data)
            ?? (try? JSONDecoder().decode(ChatCompletions.Request.self, from: data))
    }
}
