import ArgumentParser
import CommandSupport
import Engine
import Events
import EventStore
import Foundation
import Projections
import Server

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Step through a thread, or re-execute it against its recording and report the first divergence.",
        discussion: """
            --step prints each step of the thread (a fork's inherited history included) with the state it leaves: \
            messages, tokens, tool calls, denials. Without it, the thread's runs are re-executed by this build with \
            the recorded model responses and tool results (no network, nothing run) under the policy, and the first \
            difference from the recording is reported (exit status 1). The policy is --policy FILE, else the one \
            `serve` is given (LOGBOOK_POLICY, or `policy` in the config file of --config / LOGBOOK_CONFIG). Both read \
            the log without writing to it, so they work beside a running server.
            """)

    @OptionGroup var options: DataOptions
    @Argument(help: "The thread's id (A-Z a-z 0-9 - _ . : @).") var thread: ThreadID
    @Flag(help: "Walk the thread step by step instead of re-executing it.") var step = false
    @Option(
        help: ArgumentHelp(
            "The policy to re-execute under (JSON roles → permissions); default: the server's (LOGBOOK_POLICY or the config file's).",
            valueName: "FILE"))
    var policy: String?
    @Option(help: ArgumentHelp("The config file whose `policy` to use (default $LOGBOOK_CONFIG).", valueName: "FILE"))
    var config: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        if step { try await walk() } else { try await reexecute() }
    }

    private func walk() async throws {
        let store = try options.openReadOnly()
        defer { Task { await store.close() } }
        let side = try ThreadDiff.Side.of(thread, in: store)
        guard !side.steps.isEmpty else { throw Failure("there is no thread '\(thread)' in \(options.data)") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for s in side.steps { print(String(decoding: try encoder.encode(s), as: UTF8.self)) }
            return
        }
        var messages = 0, toolCalls = 0, denials = 0
        for (i, s) in side.steps.enumerated() {
            switch s.kind {
            case "message.user", "message.assistant": messages += 1
            case "tool.called": toolCalls += 1
            case "authz.decided" where s.summary.hasPrefix("deny"): denials += 1
            default: break
            }
            let summary = s.summary.replacingOccurrences(of: "\n", with: " ")
            print(
                "\(i + 1)\tseq \(s.seq)\t\(s.kind)\t\(summary.prefix(100).terminalSafeLine)\(summary.count > 100 ? "…" : "")"
            )
            print("\t\tstate: \(messages) messages, \(toolCalls) tool calls, \(denials) denials")
        }
        print("\(side.steps.count) steps; \(side.inputTokens) input and \(side.outputTokens) output tokens")
    }

    /// The policy file: the flag's, else the server's setting (nil: none given).
    private func policyFile() throws -> String? {
        if let policy { return policy }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["LOGBOOK_POLICY"], !path.isEmpty { return path }
        if let file = config ?? environment["LOGBOOK_CONFIG"], let path = try ServeSettings.file(file).policy {
            return path
        }
        return nil
    }

    private func reexecute() async throws {
        // Read-only: nothing is appended (not even the read's authorization), so a running server may hold the log.
        let store = try options.openReadOnly()
        // A policy given here decides every run (a dry run under other rules); without one, each run is decided by the
        // policy the log recorded in force when it started — or, for a log that recorded none, the server's setting.
        let recordsPolicy = ((try? store.revision(of: AccessControl.policyStream)) ?? nil) != nil
        var rules: Policy?
        if let path = try policyFile(), policy != nil || !recordsPolicy {
            do { rules = try Policy(json: try Data(contentsOf: URL(fileURLWithPath: path))) } catch let error
                as AuthError
            {
                await store.close()
                throw Failure("replay: the policy \(path): \(error.message)")
            } catch {
                await store.close()
                throw Failure("replay: cannot read the policy \(path): \(error.localizedDescription)")
            }
        } else if !recordsPolicy {
            await store.close()
            throw Failure(
                "replay: this log records no policy, so re-execution needs one to check the recorded decisions against: give --policy FILE (or set LOGBOOK_POLICY, or a config file with \"policy\", as for serve)"
            )
        }
        let pool = MCPPool()
        let runtime = AgentRuntime(
            store: store, registry: ProjectionRunner(store: store, projections: [RegistryProjection.self]),
            policy: try rules ?? Policy(roles: [:]), pool: pool)
        let user = ProcessInfo.processInfo.environment["USER"] ?? "local"
        let principal = Principal(subject: "cli:\(user)", roles: ["logbook-cli"], workspace: "*", expiry: .max)
        let report: ReplayReport
        do {
            report = try await runtime.debugger.replay(
                thread: thread, as: principal, recordingRead: false, under: rules)
        } catch {
            await pool.shutdown(); await store.close()
            throw Failure("replay: \(error.message)")
        }
        await pool.shutdown()
        await store.close()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else if let d = report.divergence {
            print("replay: DIVERGED in run \(d.runID) at step \(d.index + 1) (\(d.aspect))")
            print("  recorded: \(d.recorded.map { "\($0.kind) \($0.summary)".terminalSafeLine } ?? "(nothing)")")
            print("  replayed: \(d.replayed.map { "\($0.kind) \($0.summary)".terminalSafeLine } ?? "(nothing)")")
            print("  \(d.detail.terminalSafeLine)")
        } else {
            print(
                "replay: \(report.runsReplayed) runs, \(report.stepsMatched) steps reproduced exactly\(report.runsSkipped > 0 ? " (\(report.runsSkipped) OpenAI-compatible runs skipped)" : "")"
            )
        }
        if report.divergence != nil { throw ExitCode(1) }
    }
}
