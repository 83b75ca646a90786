import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Server
import Testing

/// `GET /v1/events/stream` on a live server, read as a client reads it: the backlog, `caught-up`, then live events.
@Suite(.serialized) struct EventTailTests {
    /// Frames parsed from an SSE byte stream, as (event, id, data).
    struct Frames {
        var buffer = ""
        mutating func feed(_ text: String) -> [(event: String, id: String?, data: String)] {
            buffer += text
            var frames: [(String, String?, String)] = []
            while let end = buffer.range(of: "\n\n") {
                let block = buffer[..<end.lowerBound]
                buffer = String(buffer[end.upperBound...])
                var (event, id, data) = ("message", String?.none, "")
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                }
                frames.append((event, id, data))
            }
            return frames
        }
    }

    @Test func theTailSendsTheBacklogThenCaughtUpThenLiveEventsInOrder() async throws {
        try await ServerTests.withServer(configure: { $0.rateLimit = nil }) { app, llm in
            try await app.application.test(.live) { client in
                let port = try #require(client.port)
                let admin = "Bearer \(ServerTests.token(subject: "user:root", roles: ["admin"]))"
                llm.enqueue(.json(body: ServerTests.completion), .json(body: ServerTests.completion))
                try await client.execute(
                    uri: "/v1/threads/tail-1/messages", method: .post,
                    headers: [.authorization: admin, .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"text": "first"}"#)
                ) {
                    #expect($0.status == .ok)
                }

                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events/stream?from=1")
                request.headers.add(name: "Authorization", value: admin)
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                let response = try await http.execute(request, timeout: .seconds(30))
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "content-type") == "text/event-stream")
                var frames = Frames()
                var seen: [(event: String, id: String?, data: String)] = []
                var sentSecond = false
                reading: for try await chunk in response.body {
                    for frame in frames.feed(String(buffer: chunk)) {
                        seen.append(frame)
                        if frame.event == "caught-up", !sentSecond {
                            sentSecond = true
                            try await client.execute(uri: "/metrics", method: .get) { r in
                                #expect(
                                    String(buffer: r.body).contains("\nlogbook_subscriptions_open 1.0\n"),
                                    "the open tail is counted")
                            }
                            // A second turn while the tail is open: its events must arrive live, after `caught-up`.
                            try await client.execute(
                                uri: "/v1/threads/tail-1/messages", method: .post,
                                headers: [.authorization: admin, .contentType: "application/json"],
                                body: ByteBuffer(string: #"{"text": "second"}"#)
                            ) { #expect($0.status == .ok) }
                        }
                        if sentSecond, frame.event == "run.finished", frame.data.contains("All healthy") == false,
                            seen.filter({ $0.event == "run.finished" }).count == 2
                        {
                            break reading
                        }
                    }
                }
                // Hanging up ends the server's side of the tail (else the server could not stop).
                try await http.shutdown()
                let caughtUp = try #require(seen.firstIndex { $0.event == "caught-up" })
                let seqs = seen.compactMap { $0.id.flatMap(UInt64.init) }
                // Every event once, in order, gap-free from 1 to the end of the second run; the backlog before the marker.
                #expect(seqs == Array(1...app.store.lastSeq.rawValue).filter { $0 <= seqs.last! })
                // The backlog (including the tail's own authorization) ends where `caught-up` says; the second turn came live.
                let marker = try JSONSerialization.jsonObject(with: Data(seen[caughtUp].data.utf8)) as? [String: Any]
                #expect(
                    seen[..<caughtUp].compactMap { $0.id.flatMap(UInt64.init) }.last.map(Int.init) == marker?["seq"]
                        as? Int)
                #expect(seen[..<caughtUp].contains { $0.event == "message.user" && $0.data.contains("first") })
                #expect(seen[caughtUp...].contains { $0.event == "message.user" && $0.data.contains("second") })
                // Each frame's data is the event as JSON: seq, stream and type agree with the frame.
                let last = try #require(seen.last)
                let event = try JSONDecoder().decode(EventBody.self, from: Data(last.data.utf8))
                #expect(event.seq.description == last.id)
                #expect(event.type == last.event)
                #expect(event.stream == "thread/tail-1")
            }
        }
    }
}
