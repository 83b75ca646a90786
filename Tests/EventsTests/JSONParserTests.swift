import Events
import EventsWorkload
import Foundation
import Testing

/// `ParsedJSON` against `JSONDecoder`: random documents read back equal, and whatever the fast parser accepts
/// `JSONDecoder` accepts with the same value (the callers fall back to `JSONDecoder` on everything else).
struct JSONParserTests {
    typealias Generator = SeededGenerator

    static let pieces = ["a", "é", "\"", "\\", "/", "\n", "\t", "\u{01}", "😀", "日本", " ", "\u{7F}", "\u{2028}", "x"]

    static func value(_ g: inout Generator, depth: Int) -> JSONValue {
        switch g.next() % (depth > 4 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(g.next() % 2 == 0)
        case 2:
            switch g.next() % 3 {
            case 0: return .number(Double(Int64(bitPattern: g.next()) >> 20))
            case 1: return .number(Double(g.next() % 10_000) / 100)
            default: return .number(Double(bitPattern: g.next() & 0x7FEF_FFFF_FFFF_FFFF))
            }
        case 3:
            return .string((0..<Int(g.next() % 12)).map { _ in pieces[Int(g.next() % UInt64(pieces.count))] }.joined())
        case 4: return .array((0..<Int(g.next() % 5)).map { _ in value(&g, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for i in 0..<Int(g.next() % 5) {
                o["k\(i)\(pieces[Int(g.next() % UInt64(pieces.count))])"] = value(&g, depth: depth + 1)
            }
            return .object(o)
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomDocumentsReadBackAsJSONDecoderReadsThem(seed: UInt64) throws {
        var g = Generator(seed: seed)
        for _ in 0..<500 {
            let original = Self.value(&g, depth: 0)
            let data = try JSONEncoder().encode(original)
            let parsed = try ParsedJSON(parsing: data)
            #expect(parsed.jsonValue == original, "\(String(decoding: data, as: UTF8.self))")
            #expect(try JSONDecoder().decode(JSONValue.self, from: data) == parsed.jsonValue)
        }
    }

    @Test func whatItRefusesIsNotJSONOrIsLeftToJSONDecoder() throws {
        let refused = [
            "", " ", "[1,]", "{\"a\":1,}", "01", "1.", "-", "+1", ".5", "1e", "[1 2]", "{\"a\" 1}", "{a:1}", "'a'",
            "\"\\ud800\"", "\"\\udc00x\"", "\"a\u{01}\"", "\"\\x\"", "\"abc", "[", "{", "nul", "truth", "[1]]",
            "{\"a\":1,\"a\":2}", "NaN", "1e999",
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ]
        for text in refused {
            #expect(throws: ParsedJSON.Failure.self, "\(text.prefix(40))") { try ParsedJSON(parsing: Data(text.utf8)) }
        }
        // Not UTF-8.
        #expect(throws: ParsedJSON.Failure.self) { try ParsedJSON(parsing: Data([0x22, 0xFF, 0x22])) }
        // And what it takes, it reads as `JSONDecoder` does.
        let accepted = [
            "0", "-0", "12", "-3.25e+2", "1E2", "9223372036854775807", "9223372036854775808",
            "\"\\u00e9\\ud83d\\ude00\"",
            " {\"a\" : [ true , false , null ] } ", "\"\\/\\b\\f\\n\\r\\t\"", "[]", "{}",
        ]
        for text in accepted {
            let data = Data(text.utf8)
            #expect(
                (try? ParsedJSON(parsing: data))?.jsonValue == (try? JSONDecoder().decode(JSONValue.self, from: data)),
                "\(text)")
            #expect((try? ParsedJSON(parsing: data)) != nil, "\(text)")
        }
        #expect(try ParsedJSON(parsing: Data("12".utf8)) == .integer(12))
        #expect(try ParsedJSON(parsing: Data("12.0".utf8)) == .number(12))
        #expect(try ParsedJSON(parsing: Data("9223372036854775808".utf8)) == .number(9_223_372_036_854_775_808))
    }
}
