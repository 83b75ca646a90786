@testable import Engine
import Events
import EventsWorkload
import Foundation
import OpenAIWire
import Testing

/// The hand-written request body against `JSONEncoder`'s: the same JSON for random requests with awkward text.
@Suite struct JSONWriterTests {
    static let alphabet: [String] = [
        "a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "日本", "🙂", "{", "]", ":",
        ",",
    ]

    static func text(_ rng: inout SeededGenerator) -> String {
        (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
    }

    static func value(_ rng: inout SeededGenerator, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0...(depth > 2 ? 3 : 5), using: &rng) {
        case 0: .null
        case 1: .bool(Bool.random(using: &rng))
        case 2: .number([0, -1, 3, 0.5, -2.25, 1e-7, 123456.789, 4e20].randomElement(using: &rng)!)
        case 3: .string(text(&rng))
        case 4: .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in value(&rng, depth: depth + 1) })
        default:
            .object(
                Dictionary(
                    (0..<Int.random(in: 0...3, using: &rng)).map { _ in (text(&rng), value(&rng, depth: depth + 1)) },
                    uniquingKeysWith: { a, _ in a }))
        }
    }

    static func request(_ rng: inout SeededGenerator) -> ChatCompletions.Request {
        let messages: [ChatMessage] = (0..<Int.random(in: 1...6, using: &rng)).map { _ in
            switch Int.random(in: 0...4, using: &rng) {
            case 0: .system(text(&rng))
            case 1: .user(text(&rng))
            case 2:
                .assistant(
                    Bool.random(using: &rng) ? text(&rng) : nil,
                    toolCalls: [
                        RequestedToolCall(callID: text(&rng), name: text(&rng), arguments: value(&rng).jsonText)
                    ])
            case 3: .tool(callID: text(&rng), output: text(&rng), isError: Bool.random(using: &rng))
            default: .assistant(text(&rng))
            }
        }
        let tools = (0..<Int.random(in: 0...2, using: &rng)).map { _ in
            ToolDefinition(name: text(&rng), description: text(&rng), parameters: value(&rng))
        }
        let request = ChatRequest(
            messages: messages, tools: tools, temperature: Bool.random(using: &rng) ? 0.25 : nil,
            maxOutputTokens: Bool.random(using: &rng) ? Int.random(in: 1...4096, using: &rng) : nil)
        return ChatCompletions.Request(request, model: text(&rng), stream: Bool.random(using: &rng))
    }

    @Test(arguments: 0..<8) func theWrittenBodyIsTheJSONTheEncoderMakes(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for _ in 0..<200 {
            let wire = Self.request(&rng)
            let written = wire.json
            let encoded = try encoder.encode(wire)
            // Both parse, to the same value; and the written bytes are valid UTF-8 JSON a strict parser accepts.
            let a = try JSONDecoder().decode(JSONValue.self, from: written)
            let b = try JSONDecoder().decode(JSONValue.self, from: encoded)
            #expect(a == b, "\(String(decoding: written, as: UTF8.self))")
            #expect((try? JSONSerialization.jsonObject(with: written)) != nil)
        }
    }

    @Test func controlCharactersAndQuotesAreEscaped() {
        var w = JSONWriter()
        w.object { w in
            w.member("k\"") { $0.string("a\u{0}b\"c\\d\ne\u{1F}") }
            w.member("n") { $0.array([1.0, 0.5, -3]) { $0.number($1) } }
            w.member("e") { $0.array([Int]()) { $0.int($1) } }
        }
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"k\"":"a\u0000b\"c\\d\ne\u001f","n":[1,0.5,-3],"e":[]}"#)
    }
}
