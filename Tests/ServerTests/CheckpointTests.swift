import Checkpoints
import EventStore
import Events
import Foundation
import Synchronization
import Testing

/// Signed checkpoints: the C2SP signed-note format against the Go reference's own vector, refusals, and the rewrite
/// attack — a log rewritten from some seq with its chain computed again passes `logbook verify` but not
/// `logbook verify --checkpoint`, which names where it parts from what was signed.
@Suite(.serialized) struct CheckpointTests {
    /// golang.org/x/mod/sumdb/note's test key and note: Ed25519 is deterministic, so signing the text with the key
    /// must give the published note byte for byte, and any verifier of that ecosystem (witnesses) accepts ours.
    static let goVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let goText =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote =
        goText
        + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test func notesAndKeysMatchTheGoReferenceByteForByte() throws {
        let signer = try SignedNote.SignerKey(Self.goSigner)
        #expect(signer.encoded == Self.goSigner)
        #expect(signer.verifier.description == Self.goVerifier)
        #expect(try SignedNote.sign(Self.goText, with: signer) == Self.goNote)
        let verifier = try SignedNote.VerifierKey(Self.goVerifier)
        #expect(try SignedNote.open(Self.goNote, verifiedBy: verifier) == Self.goText)
    }

    @Test func aChangedNoteAnotherKeyOrAMalformedOneIsRefused() throws {
        let verifier = try SignedNote.VerifierKey(Self.goVerifier)
        #expect(throws: CheckpointError.badSignature("PeterNeumann")) {
            try SignedNote.open(Self.goNote.replacingOccurrences(of: "answer", with: "Answer"), verifiedBy: verifier)
        }
        let other = try SignedNote.SignerKey.generate(name: "PeterNeumann")
        #expect(throws: CheckpointError.notSigned("PeterNeumann")) {
            try SignedNote.open(Self.goNote, verifiedBy: other.verifier)
        }
        #expect(throws: CheckpointError.self) { try SignedNote.open(Self.goText, verifiedBy: verifier) }
        #expect(throws: CheckpointError.self) { try SignedNote.VerifierKey("PeterNeumann+c74f20a4+" + "AAAA") }
        #expect(throws: CheckpointError.self) {
            try SignedNote.VerifierKey(Self.goVerifier.replacingOccurrences(of: "c74f20a3", with: "c74f20a4"))
        }
        // A key's text never shows in what a bad key says.
        do {
            _ = try SignedNote.SignerKey(Self.goSigner.replacingOccurrences(of: "c74f20a3", with: "00000000"))
            Issue.record("a signing key with the wrong id was accepted")
        } catch {
            #expect(!"\(error)".contains("AYEKFALVFGyNhPJEMzD1QIDr"))
        }
        // A checkpoint signed and read back.
        let key = try SignedNote.SignerKey.generate(name: "logbook.test/log")
        let checkpoint = LogCheckpoint(origin: key.name, size: 42, hash: Array(repeating: 7, count: 32))
        #expect(try LogCheckpoint(note: try checkpoint.signed(with: key), verifiedBy: key.verifier) == checkpoint)
    }

    /// Runs the built `logbook`.
    static func logbook(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        try await LiveProcess.run([CLITests.binary] + arguments)
    }

    @Test func aLogRewrittenWithItsChainComputedAgainFailsTheCheckpointAndTheCheckSaysWhere() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = dir.appendingPathComponent("original").path
        // A log of 60 messages, a checkpoint after every tenth (as `serve --sign-every 10` would sign).
        let key = try SignedNote.SignerKey.generate(name: "logbook.test/log")
        let store = try EventStore.open(EventStore.Configuration(directory: original))
        let signer = try CheckpointSigner(store: store, key: key, everyEvents: 10)
        var signedSizes: [UInt64] = []
        for i in 1...60 {
            _ = try await store.append(
                [DomainEvent.userMessage(UserMessage(text: "message number \(i)")).proposed()],
                to: StreamID("thread/t-\(i % 3)"))
            if i % 10 == 0, let signed = try await signer.sign() { signedSizes.append(signed.size) }
        }
        let latest = try #require(signer.latest)
        await store.close()
        #expect(signedSizes.count == 6)
        let note = dir.appendingPathComponent("checkpoint.txt")
        try Data(latest.utf8).write(to: note)
        let keyFile = dir.appendingPathComponent("verifier.key")
        try Data(key.verifier.description.utf8).write(to: keyFile)

        // The untouched log extends its checkpoint, and the checkpoints in it.
        var result = try await Self.logbook([
            "verify", "--data", original, "--checkpoint", note.path, "--key", keyFile.path,
        ])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("extends the checkpoint of logbook.test/log"), "\(result.output)")

        // The attack: export, change message 37, import with the chain computed again.
        let export = dir.appendingPathComponent("export.ndjson").path
        result = try await Self.logbook(["export", "--data", original, "--out", export])
        #expect(result.status == 0, "\(result.errors)")
        let lines = try String(contentsOfFile: export, encoding: .utf8)
        let edited = lines.replacingOccurrences(of: "message number 37\"", with: "message number 73\"")
        #expect(edited != lines, "the export holds the message to change")
        let changedSeq = try #require(
            lines.split(separator: "\n").first { $0.contains("message number 37\"") }.flatMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["seq"] as? Int
            })
        try Data(edited.utf8).write(to: URL(fileURLWithPath: export))
        let rewritten = dir.appendingPathComponent("rewritten").path
        result = try await Self.logbook(["import", "--data", rewritten, "--rechain", export])
        #expect(result.status == 0, "\(result.errors)")

        // Plain verify cannot tell: the chain is whole.
        result = try await Self.logbook(["verify", "--data", rewritten])
        #expect(result.status == 0, "the rewritten log's chain verifies: \(result.errors)")
        // The checkpoint can: it names the events between the last checkpoint that still matches and the first that
        // does not, and the changed one is among them.
        result = try await Self.logbook([
            "verify", "--data", rewritten, "--checkpoint", note.path, "--key", key.verifier.description,
        ])
        #expect(result.status == 1)
        #expect(result.errors.contains("does not extend the checkpoint"), "\(result.errors)")
        let before = try #require(signedSizes.last { $0 < changedSeq })
        let after = try #require(signedSizes.first { $0 >= changedSeq })
        #expect(result.errors.contains("events \(before + 1)…\(after)"), "\(result.errors)")

        // The wrong key, or a changed checkpoint, is refused before the log is read.
        let stranger = try SignedNote.SignerKey.generate(name: "logbook.test/log")
        result = try await Self.logbook([
            "verify", "--data", original, "--checkpoint", note.path, "--key", stranger.verifier.description,
        ])
        #expect(result.status != 0 && result.errors.contains("no signature of the key"), "\(result.errors)")
        try Data(latest.replacingOccurrences(of: "\n\(signedSizes.last!)\n", with: "\n1\n").utf8).write(to: note)
        result = try await Self.logbook([
            "verify", "--data", original, "--checkpoint", note.path, "--key", keyFile.path,
        ])
        #expect(result.status != 0 && result.errors.contains("does not verify"), "\(result.errors)")
    }

    @Test func serveSignsWithTheKeyItsReferenceNamesAndTheLatestCheckpointVerifies() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the logbook product first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-sign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("signing.key").path
        var result = try await Self.logbook(["signing-key", "--name", "logbook.test/serve", "--out", keyFile])
        #expect(result.status == 0, "\(result.errors)")
        let verifier = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let secretPart = try String(contentsOfFile: keyFile, encoding: .utf8).split(separator: "+").last!
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            (try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600,
            "the key is readable by its owner only")
        result = try await Self.logbook(["signing-key", "--name", "logbook.test/serve", "--out", keyFile])
        #expect(result.status != 0 && result.errors.contains("exists"), "a key is never overwritten")

        try await TracingTests.withServe(
            [:], arguments: ["--signing-key", "file:\(keyFile)", "--sign-every", "3", "--sign-interval", "0.2"]
        ) { port, http, data, server in
            for name in ["a", "b", "c", "d"] {
                #expect(
                    try await TracingTests.send(
                        http, port, .PUT, "/v1/registry/agents/\(name)", #"{"instructions": "x"}"#
                    ).status == 201)
            }
            var note = ""
            for _ in 0..<100 {
                let (status, body) = try await TracingTests.send(http, port, .GET, "/v1/checkpoints/latest", nil)
                if status == 200, let size = body.split(separator: "\n").dropFirst().first.flatMap({ UInt64($0) }),
                    size >= 4
                {
                    note = body
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(note.hasPrefix("logbook.test/serve\n"), "a checkpoint signed by the key: \(note)")
            let file = dir.appendingPathComponent("latest.txt")
            try Data(note.utf8).write(to: file)
            let check = try await Self.logbook(["verify", "--data", data, "--checkpoint", file.path, "--key", verifier])
            #expect(check.status == 0, "\(check.errors)")
            #expect(!server.text.contains(secretPart) && !server.errorText.contains(secretPart))
        }
    }

    @Test func aSignerThatCannotAppendSaysSoOnceAndAgainWhenItRecovers() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-signfail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let failing = Atomic<Bool>(false)
        var configuration = EventStore.Configuration(directory: dir.path)
        configuration.commitFault = { failing.load(ordering: .relaxed) ? ENOSPC : nil }
        let store = try EventStore.open(configuration)
        _ = try await store.append(
            [DomainEvent.userMessage(UserMessage(text: "one")).proposed()], to: StreamID("thread/t-1"))
        let signer = try CheckpointSigner(
            store: store, key: try SignedNote.SignerKey.generate(name: "logbook.test/log"), everyEvents: 1)
        // The disk fills: every second the signer tries, and fails.
        failing.store(true, ordering: .relaxed)
        let said = Mutex<[String]>([])
        let running = Task {
            await signer.run(
                failed: { error in said.withLock { $0.append("failed: \(error.code)") } },
                recovered: { said.withLock { $0.append("recovered") } })
        }
        try await Task.sleep(for: .milliseconds(3_500))
        #expect(said.withLock { $0 } == ["failed: disk_full"], "one line for three failed tries")
        failing.store(false, ordering: .relaxed)
        for _ in 0..<50 where signer.latest == nil { try await Task.sleep(for: .milliseconds(100)) }
        running.cancel()
        _ = await running.value
        #expect(signer.latest != nil, "signed once the disk had room")
        #expect(said.withLock { $0 } == ["failed: disk_full", "recovered"])
        await store.close()
    }
}
