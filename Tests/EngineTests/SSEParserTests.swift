@testable import Engine
import EventsWorkload
import Testing

@Suite struct SSEParserTests {
    static let stream =
        "data: one\n\n: a comment\r\ndata:two\r\ndata:  three\r\n\r\nevent: done\rid: 7\rdata: [DONE]\r\r"
    static let expected = [
        ServerSentEvent(event: nil, data: "one", id: nil),
        ServerSentEvent(event: nil, data: "two\n three", id: nil),
        ServerSentEvent(event: "done", data: "[DONE]", id: "7"),
    ]

    @Test func parsesFieldsCommentsAndEveryLineEnding() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array(Self.stream.utf8)) == Self.expected)
        #expect(!parser.hasPartialEvent)
    }

    /// However the bytes are split into chunks, the same events come out.
    @Test(arguments: 1...40 as ClosedRange<UInt64>)
    func anySplitIntoChunksGivesTheSameEvents(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let bytes = Array(Self.stream.utf8)
        var parser = SSEParser()
        var events: [ServerSentEvent] = []
        var i = 0
        while i < bytes.count {
            let n = Int(rng.next() % 7) + 1
            events += try parser.feed(bytes[i..<min(bytes.count, i + n)])
            i += n
        }
        #expect(events == Self.expected)
    }

    @Test func aCutOffEventIsReportedAsPartial() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array("data: {\"choices\":[".utf8)).isEmpty)
        #expect(parser.hasPartialEvent)
    }

    @Test func anOverlongLineIsAnError() {
        var parser = SSEParser(maxLineBytes: 16)
        #expect(throws: SSEParser.LineTooLong.self) {
            _ = try parser.feed(Array(String(repeating: "x", count: 17).utf8))
        }
    }
}
