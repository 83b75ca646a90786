import Engine
import Foundation
@testable import Server
import Testing

/// `logbook serve`'s settings: flags over the environment over the config file over the defaults; bad input named.
@Suite struct ServeSettingsTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logbook-settings-\(UUID().uuidString).json"
        ).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func eachSettingComesFromTheHighestLayerThatSetsIt() throws {
        let path = try write(
            #"{"port": 9090, "host": "0.0.0.0", "policy": "/etc/logbook/policy.json", "rateLimit": 5, "logLevel": "debug"}"#
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try ServeSettings.file(path)
        let environment = try ServeSettings.environment([
            "LOGBOOK_PORT": "7070", "LOGBOOK_AUDIENCE": "ops-api", "LOGBOOK_RATE_LIMIT": "0", "HOME": "/root",
        ])
        let flags = ServeSettings(port: 6060, data: "/srv/log")
        let settings = flags.over(environment).over(file).over(.defaults)
        #expect(
            settings
                == ServeSettings(
                    host: "0.0.0.0", port: 6060, data: "/srv/log", policy: "/etc/logbook/policy.json", jwks: nil,
                    issuer: "logbook", audience: "ops-api", rateLimit: 0, logLevel: "debug", durability: .durable,
                    compressionLevel: 3, allowedSecrets: ServeSettings.defaults.allowedSecrets,
                    maxTokenLifetime: 86_400,
                    healthCheckInterval: 30, modelTimeout: 600, modelFirstByteTimeout: 120, modelIdleTimeout: 60,
                    defaultMaxTokens: 4096, maxLogSize: 64 << 30, checkpointEvents: 100_000, logFormat: "text",
                    signEvery: 10_000, signInterval: 60))
        #expect(ServeSettings().over(.defaults) == .defaults)
    }

    @Test func theSigningKeyIsAReferenceNeverTheKeyAndTheCadenceIsChecked() throws {
        let environment = try ServeSettings.environment([
            "LOGBOOK_SIGNING_KEY": "file:/etc/logbook/signing.key", "LOGBOOK_SIGN_EVERY": "500",
            "LOGBOOK_SIGN_INTERVAL": "5",
        ])
        #expect(environment.signingKey == "file:/etc/logbook/signing.key")
        #expect(environment.signEvery == 500 && environment.signInterval == 5)
        // A key pasted where its reference goes is refused, and not repeated in the message.
        let pasted = "PRIVATE+KEY+logbook.test/log+01234567+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
        do {
            _ = try ServeSettings(signingKey: pasted).checked()
            Issue.record("a pasted key was taken as a reference")
        } catch {
            #expect(error.description.contains("--signing-key must be a secret reference"), "\(error)")
            #expect(!error.description.contains("AYEKFALVFG"))
        }
        #expect(throws: SettingsError.self) { try ServeSettings(signEvery: 0).checked() }
        #expect(throws: SettingsError.self) { try ServeSettings.environment(["LOGBOOK_SIGN_INTERVAL": "0"]) }
    }

    @Test func storageSettingsComeFromEveryLayerAndAreChecked() throws {
        let path = try write(#"{"durability": "relaxed", "compressionLevel": 5}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try ServeSettings.file(path)
        #expect(file.durability == .relaxed)
        #expect(file.compressionLevel == 5)
        let environment = try ServeSettings.environment(["LOGBOOK_COMPRESSION_LEVEL": "9"])
        let flags = try ServeSettings(durability: .durable).checked()
        let settings = flags.over(environment).over(file).over(.defaults)
        #expect(settings.durability == .durable)
        #expect(settings.compressionLevel == 9)
        #expect(ServeSettings.defaults.durability == .durable)
        #expect(ServeSettings.defaults.compressionLevel == 3)

        for (variable, value) in [
            ("LOGBOOK_DURABILITY", "fsync"), ("LOGBOOK_COMPRESSION_LEVEL", "0"), ("LOGBOOK_COMPRESSION_LEVEL", "20"),
            ("LOGBOOK_COMPRESSION_LEVEL", "3.5"),
        ] {
            do {
                _ = try ServeSettings.environment([variable: value]); Issue.record("\(variable)=\(value) was accepted")
            } catch {
                #expect(error.description.contains(variable))
            }
        }
        do {
            _ = try ServeSettings(compressionLevel: 22).checked(); Issue.record("--compression-level 22 was accepted")
        } catch {
            #expect(error.description.contains("--compression-level"))
        }
        do { _ = try ServeSettings(port: 70_000).checked(); Issue.record("--port 70000 was accepted") } catch {
            #expect(error.description.contains("--port"))
        }
        #expect(
            try ServeSettings(port: 8080, rateLimit: 5, logLevel: "debug").checked()
                == ServeSettings(port: 8080, rateLimit: 5, logLevel: "debug"))
    }

    @Test func badSettingsAreRefusedNamingWhereTheyCameFrom() throws {
        #expect(throws: SettingsError.self) { try ServeSettings.environment(["LOGBOOK_PORT": "eighty"]) }
        do { _ = try ServeSettings.environment(["LOGBOOK_PORT": "99999"]) } catch {
            #expect(error.description.contains("LOGBOOK_PORT"))
        }
        let typo = try write(#"{"prot": 9090}"#)
        let wrongType = try write(#"{"host": 5}"#)
        let notJSON = try write("port = 9090")
        defer { for p in [typo, wrongType, notJSON] { try? FileManager.default.removeItem(atPath: p) } }
        do { _ = try ServeSettings.file(typo); Issue.record("a typo was accepted") } catch {
            #expect(error.description.contains("unknown setting 'prot'"))
        }
        do { _ = try ServeSettings.file(wrongType); Issue.record("a number host was accepted") } catch {
            #expect(error.description.contains("host must be a string"))
        }
        #expect(throws: SettingsError.self) { try ServeSettings.file(notJSON) }
        #expect(throws: SettingsError.self) { try ServeSettings.file("/nonexistent/logbook.json") }
        #expect(throws: SettingsError.self) { try ServeSettings.environment(["LOGBOOK_RATE_LIMIT": "-1"]) }
        do { _ = try ServeSettings.environment(["LOGBOOK_LOG_FORMAT": "xml"]) } catch {
            #expect(error.description.contains("LOGBOOK_LOG_FORMAT must be text or json"))
        }
        #expect(try ServeSettings.environment(["LOGBOOK_LOG_FORMAT": "json"]).logFormat == "json")
        #expect(ServeSettings.defaults.logFormat == "text")
    }

    /// A model call's deadlines and default answer length come from every layer; a model's own parameters win over them.
    @Test func modelDeadlinesAndTheDefaultAnswerLengthAreSettings() throws {
        let settings = try ServeSettings.environment([
            "LOGBOOK_MODEL_IDLE_TIMEOUT": "5", "LOGBOOK_DEFAULT_MAX_TOKENS": "512",
        ]).over(.defaults)
        #expect(
            settings.modelDeadlines == ModelDeadlines(total: .seconds(600), firstByte: .seconds(120), idle: .seconds(5))
        )
        #expect(settings.defaultMaxTokens == 512)
        #expect(settings.modelDeadlines.overridden(by: ["idle_timeout": "30"]).idle == .seconds(30))
        for (variable, value) in [
            ("LOGBOOK_MODEL_TIMEOUT", "0"), ("LOGBOOK_MODEL_FIRST_BYTE_TIMEOUT", "soon"),
            ("LOGBOOK_DEFAULT_MAX_TOKENS", "1.5"),
        ] {
            do {
                _ = try ServeSettings.environment([variable: value]); Issue.record("\(variable)=\(value) was accepted")
            } catch {
                #expect(error.description.contains(variable))
            }
        }
    }

    /// How many events the read models hold in memory between checkpoints is a setting, checked.
    @Test func theReadModelsCheckpointIntervalIsASetting() throws {
        #expect(try ServeSettings.environment(["LOGBOOK_CHECKPOINT_EVENTS": "20000"]).checkpointEvents == 20_000)
        #expect(ServeSettings.defaults.checkpointEvents == 100_000)
        for value in ["10", "1500.5", "lots", "200000000"] {
            do {
                _ = try ServeSettings.environment(["LOGBOOK_CHECKPOINT_EVENTS": value])
                Issue.record("\(value) was accepted")
            } catch {
                #expect(error.description.contains("LOGBOOK_CHECKPOINT_EVENTS"))
            }
        }
    }

    /// The log's maximum size is a setting with units, checked; the store it opens grows only to it.
    @Test func theMaximumLogSizeIsASetting() async throws {
        #expect(try ServeSettings.environment(["LOGBOOK_MAX_LOG_SIZE": "500M"]).maxLogSize == 500 << 20)
        #expect(try ServeSettings.environment(["LOGBOOK_MAX_LOG_SIZE": "2T"]).maxLogSize == 2 << 40)
        #expect(try ServeSettings.environment(["LOGBOOK_MAX_LOG_SIZE": "1073741824"]).maxLogSize == 1 << 30)
        for value in ["1M", "lots", "0", "999T"] {
            do {
                _ = try ServeSettings.environment(["LOGBOOK_MAX_LOG_SIZE": value]);
                Issue.record("\(value) was accepted")
            } catch {
                #expect(error.description.contains("LOGBOOK_MAX_LOG_SIZE"))
            }
        }
        try await ServerTests.withServer(configure: { $0.maxLogSizeBytes = 128 << 20 }) { app, _ in
            let stats = try app.store.statistics()
            #expect(stats.maxMapSizeBytes == 128 << 20)
        }
    }
}
