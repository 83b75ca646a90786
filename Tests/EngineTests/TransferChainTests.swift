@testable import Engine
import EventStore
import Events
import Foundation
import Testing

/// An export carries its hash chain, and an import checks it: an edited line is refused, naming its seq, unless the
/// import is told to re-chain; so is an export whose hashes were stripped.
@Suite struct TransferChainTests {
    static let golden = ReplayTests.goldenDirectory.appendingPathComponent("time-tools-and-fork.ndjson")

    static func importing(_ lines: [String], rechain: Bool = false) async throws -> Result<Int, any Error> {
        let f = try await AgentRuntimeTests.Fixture(mcp: nil, emptyLog: true)
        let result: Result<Int, any Error>
        do { result = .success(try await LogTransfer.import(lines, into: f.store, rechain: rechain)) } catch {
            result = .failure(error)
        }
        await f.close()
        return result
    }

    static func refusal(_ result: Result<Int, any Error>) -> String? {
        if case .failure(let error) = result { String(describing: error) } else { nil }
    }

    @Test func anEditedExportIsRefusedNamingTheSeqUnlessReChained() async throws {
        let lines = try String(contentsOf: Self.golden, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(try await Self.importing(lines).get() == lines.count, "the export as written imports")

        // Someone changes who asked for a tool call.
        var edited = lines
        let index = try #require(
            edited.firstIndex { $0.contains(#""actor":"user:alice""#) && $0.contains("authz.decided") })
        edited[index] = edited[index].replacingOccurrences(
            of: #""actor":"user:alice""#, with: #""actor":"user:mallory""#)
        let seq = try JSONDecoder().decode(LogTransfer.Line.self, from: Data(edited[index].utf8)).seq
        let refused = Self.refusal(try await Self.importing(edited))
        #expect(refused?.contains("seq \(seq)) was changed after the export") == true, "\(refused ?? "imported")")
        #expect(try await Self.importing(edited, rechain: true).get() == lines.count, "--rechain accepts the edit")

        // The same edit inside `data`, and a line taken out of the middle.
        var inData = lines
        let text = try #require(inData.firstIndex { $0.contains("message.user") })
        inData[text] = inData[text].replacingOccurrences(of: #""text":""#, with: #""text":"(edited) "#)
        #expect(Self.refusal(try await Self.importing(inData))?.contains("was changed after the export") == true)
        var cut = lines
        cut.remove(at: lines.count / 2)
        #expect(Self.refusal(try await Self.importing(cut)) != nil)

        // Hashes stripped: refused, saying what to do.
        let stripped = lines.map {
            $0.replacingOccurrences(of: #","hash":"[0-9a-f]{64}""#, with: "", options: .regularExpression)
        }
        #expect(!stripped.contains { $0.contains("\"hash\"") })
        #expect(Self.refusal(try await Self.importing(stripped))?.contains("carries no hash") == true)
        #expect(try await Self.importing(stripped, rechain: true).get() == lines.count)
    }
}
