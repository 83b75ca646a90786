import Foundation
import Testing
@testable import EventStore

/// A helper process appends under load and is SIGKILLed at a random moment, many times over the same log.
/// After each kill, every append it acknowledged must be in the log, seqs gap-free, and `verify` must pass.
@Suite struct CrashTests {
    struct Ack: Hashable {
        let stream: String
        let revision: UInt64
        let firstSeq: UInt64
        let lastSeq: UInt64
        let ids: [UUID]
    }

    static var helperPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "StoreCrashHelper"
        ).path
    }

    @Test(arguments: ["durable", "relaxed"])
    func everyAcknowledgedAppendSurvivesSIGKILL(mode: String) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.helperPath), "build the StoreCrashHelper product first")
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: propertySeeds(count: 1)[0] &+ (mode == "durable" ? 0 : 1))
        var acknowledged: [Ack] = []
        for round in 0..<6 {
            let acksBeforeKill = Int.random(in: 1...300, using: &rng)
            let lines = try await Self.runAndKill(arguments: [dir.path, "16", mode], afterAcks: acksBeforeKill)
            let acks = lines.compactMap(Self.parse)
            #expect(acks.count >= acksBeforeKill, "round \(round): the helper printed \(acks.count) acknowledgements")
            acknowledged += acks

            let store = try EventStore.openForTest(dir.path)
            let all = try store.readAll()
            #expect(
                all.enumerated().allSatisfy { $0.element.seq.rawValue == UInt64($0.offset) + 1 },
                "gap-free after round \(round)")
            let bySeq = Dictionary(uniqueKeysWithValues: all.map { ($0.seq.rawValue, $0) })
            for ack in acknowledged {
                let recorded = (ack.firstSeq...ack.lastSeq).compactMap { bySeq[$0] }
                #expect(
                    recorded.map(\.id) == ack.ids,
                    "round \(round): acknowledged append at seq \(ack.firstSeq) is missing or different")
                #expect(recorded.allSatisfy { $0.stream.rawValue == ack.stream })
                #expect(recorded.last?.revision.rawValue == ack.revision)
            }
            let report = try store.verify()
            #expect(report.isIntact, "round \(round): \(report.firstFailure?.description ?? "")")
            await store.close()
        }
        #expect(acknowledged.count >= 6)
    }

    /// Another process (an auditor's `logbook verify`, say) reads and verifies the log while the writer appends.
    @Test func aReadOnlyProcessReadsAndVerifiesWhileAnotherAppends() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.helperPath), "build the StoreCrashHelper product first")
        let dir = TemporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.helperPath)
        process.arguments = [dir.path, "8", "durable"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let spawned = ContinuousClock.now
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

        // Wait for the writer to create the log and append a little.
        var store: EventStore?
        var lastError: (any Error)?
        // A try follows every wait, however long the wait took: in a loaded test run, a task may get no thread for a
        // minute, and the deadline must not pass unseen between the writer creating the log and the next try.
        let deadline = ContinuousClock.now + .seconds(60)
        while store == nil {
            do { store = try EventStore.openForTest(dir.path) { $0.readOnly = true } } catch {
                lastError = error
                guard ContinuousClock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let reader = try #require(
            store,
            "the writer never created the log: \(lastError.map { "\($0)" } ?? ""); helper \(process.isRunning ? "running" : "exited with \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit"))"), started \(ContinuousClock.now - spawned) ago; \(Self.describe(process.processIdentifier)); directory: \((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])"
        )

        // A read-only subscription goes live on the other process's appends (within 2 minutes, or the test fails).
        let subscription = Task { () -> (UInt64?, Int) in
            var caughtUpAt: UInt64?
            var liveEvents = 0
            for await message in reader.subscribe(from: reader.lastSeq) {
                switch message {
                case .caughtUp(let seq): caughtUpAt = seq.rawValue
                case .event(let e): if let c = caughtUpAt, e.seq.rawValue > c { liveEvents += 1 }
                case .dropped(let reason): Issue.record("dropped: \(reason)")
                case .idle: Issue.record("no heartbeat was asked for")
                }
                if liveEvents >= 50 { break }
            }
            return (caughtUpAt, liveEvents)
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(120))
            subscription.cancel()
        }
        let (caughtUpAt, liveEvents) = await subscription.value
        watchdog.cancel()
        #expect(
            caughtUpAt != nil,
            "caught up at \(caughtUpAt.map(String.init) ?? "never"), \(liveEvents) live events; the log's head is \(reader.lastSeq), the writer is \(process.isRunning ? "running" : "gone")"
        )
        #expect(
            liveEvents >= 50,
            "caught up at \(caughtUpAt.map(String.init) ?? "never"), \(liveEvents) live events; the log's head is \(reader.lastSeq), the writer is \(process.isRunning ? "running" : "gone")"
        )

        // Verify while the writer goes on, until the log is past both dictionary training points (500 and 3,000).
        var checked: UInt64 = 0
        let verifyingUntil = ContinuousClock.now + .seconds(120)
        while checked <= 3_000, ContinuousClock.now < verifyingUntil {
            try await Task.sleep(for: .milliseconds(20))
            let report = try reader.verify()
            #expect(report.isIntact, "\(report.firstFailure?.description ?? "")")
            checked = max(checked, report.checkedEvents)
        }
        #expect(checked > 3_000, "the reader saw the writer's appends, past both dictionary training points")
        let all = try reader.readAll()
        #expect(all.enumerated().allSatisfy { $0.element.seq.rawValue == UInt64($0.offset) + 1 })
        await reader.close()
    }

    /// What the kernel says a process is doing (state, wait channel, threads), for failure messages.
    static func describe(_ pid: Int32) -> String {
        func read(_ path: String) -> String {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "?").trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        let status = read("/proc/\(pid)/status").split(separator: "\n").filter {
            $0.hasPrefix("State") || $0.hasPrefix("Threads") || $0.hasPrefix("Name")
        }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let waits = tasks.map {
            "\($0):\(read("/proc/\(pid)/task/\($0)/wchan")):\(read("/proc/\(pid)/task/\($0)/syscall").prefix(40))"
        }
        return
            "pid \(pid) \(status.joined(separator: ", ")) exe \((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "?") threads \(waits)"
    }

    static func parse(_ line: String) -> Ack? {
        let parts = line.split(separator: " ")
        guard parts.count == 6, parts[0] == "ack", let revision = UInt64(parts[2]), let first = UInt64(parts[3]),
            let last = UInt64(parts[4])
        else { return nil }
        let ids = parts[5].split(separator: ",").compactMap { UUID(uuidString: String($0)) }
        return Ack(stream: String(parts[1]), revision: revision, firstSeq: first, lastSeq: last, ids: ids)
    }

    /// Runs the helper until it has printed `afterAcks` acknowledgements, SIGKILLs it, and returns every line it printed.
    static func runAndKill(arguments: [String], afterAcks: Int) async throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: helperPath)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Blocking pipe reads belong on their own thread, not the cooperative pool.
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let reader = output.fileHandleForReading
                var buffer = Data()
                var acks = 0
                var killed = false
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }  // EOF: the helper is gone
                    buffer.append(chunk)
                    acks =
                        buffer.split(separator: UInt8(ascii: "\n")).filter { $0.starts(with: Data("ack ".utf8)) }.count
                    if !killed, acks >= afterAcks {
                        kill(process.processIdentifier, SIGKILL)
                        killed = true
                    }
                }
                if !killed { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                let text = String(decoding: buffer, as: UTF8.self)
                // A line cut by the kill has no newline: drop it, it was never a complete acknowledgement.
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if !text.hasSuffix("\n") { lines.removeLast() }
                continuation.resume(returning: lines)
            }
        }
    }
}
