import ArgumentParser
import Checkpoints
import CommandSupport
import Engine
import EventStore
import Foundation
import Hummingbird
import Logging
import PostgresLog
import Server
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API on the embedded log, or on a log several servers share (--store).",
        discussion: """
            Callers present a JWT: HS256 with the secret in $LOGBOOK_JWT_SECRET (at least 32 bytes), or RS256/ES256 \
            with the keys of --jwks. The policy file maps roles to permissions (see docs/engine.md). The model comes \
            from the registry, or from $LOGBOOK_LLM_BASE_URL and $LOGBOOK_LLM_MODEL (and $LOGBOOK_LLM_API_KEY).

            With --store postgres://…, several servers share one log on PostgreSQL (docs/postgres.md): each keeps a copy \
            in its --data directory and follows the others' appends; give them all the same LOGBOOK_JWT_SECRET or \
            --jwks.

            Without a secret, keys or policy (development), it makes a secret in DIR/dev-jwt-secret, allows the \
            'admin' role everything, and prints a token to use.

            Each setting comes from its flag, else the environment (LOGBOOK_HOST, LOGBOOK_PORT, LOGBOOK_DATA, \
            LOGBOOK_POLICY, LOGBOOK_JWKS, LOGBOOK_ISSUER, LOGBOOK_AUDIENCE, LOGBOOK_RATE_LIMIT, LOGBOOK_LOG_LEVEL, \
            LOGBOOK_DURABILITY, LOGBOOK_COMPRESSION_LEVEL, LOGBOOK_ALLOWED_SECRETS, LOGBOOK_MAX_TOKEN_LIFETIME, \
            LOGBOOK_HEALTH_CHECK_INTERVAL, LOGBOOK_MODEL_TIMEOUT, LOGBOOK_MODEL_FIRST_BYTE_TIMEOUT, LOGBOOK_MODEL_IDLE_TIMEOUT, \
            LOGBOOK_DEFAULT_MAX_TOKENS, LOGBOOK_MAX_LOG_SIZE, LOGBOOK_STORE, LOGBOOK_CHECKPOINT_EVENTS, LOGBOOK_SIGNING_KEY, \
            LOGBOOK_SIGN_EVERY, LOGBOOK_SIGN_INTERVAL), else the JSON config file (--config or LOGBOOK_CONFIG; keys host, port, data, \
            policy, jwks, issuer, audience, rateLimit, logLevel, durability, compressionLevel, allowedSecrets, \
            maxTokenLifetime, healthCheckInterval, modelTimeout, modelFirstByteTimeout, modelIdleTimeout, \
            defaultMaxTokens, maxLogSize, store, checkpointEvents, signingKey, signEvery, signInterval), else the \
            default. \
            Secrets only ever come from the environment, and registry entries may name only the secrets allowed by \
            --allowed-secrets (never LOGBOOK_JWT_SECRET or a file in the data directory).
            """)

    @Option(
        help: ArgumentHelp("The log's directory (default ./data); with --store, this server's copy.", valueName: "DIR"))
    var data: String?
    @Option(
        help: ArgumentHelp(
            "A log shared by several servers, on PostgreSQL: postgres://user@host:5432/database (password: PGPASSWORD).",
            valueName: "URL"))
    var store: String?
    @Option(
        help: ArgumentHelp(
            "Settings (JSON: host, port, data, policy, jwks, issuer, audience, rateLimit, logLevel, logFormat, durability, compressionLevel); default $LOGBOOK_CONFIG.",
            valueName: "FILE"))
    var config: String?
    @Option(help: "Address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default 8080).") var port: Int?
    @Option(help: ArgumentHelp("The policy (JSON): roles and their permissions.", valueName: "FILE")) var policy:
        String?
    @Option(help: ArgumentHelp("Public keys (JWKS) for RS256/ES256 tokens.", valueName: "FILE")) var jwks: String?
    @Option(help: "The issuer tokens must name (default logbook).") var issuer: String?
    @Option(help: "The audience tokens must name (default logbook).") var audience: String?
    @Option(
        help: ArgumentHelp(
            "Requests per second per subject, in bursts of twice as many; 0 for no limit (default 20).", valueName: "N")
    )
    var rateLimit: Double?
    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).") var logLevel: String?
    @Option(help: "text, or json: one JSON object per line, for log shippers (default text).") var logFormat: String?
    @Option(
        help: ArgumentHelp(
            "durable: an append is acknowledged once flushed to the device (default); relaxed: once written, flushed within a second; survives a crash of the process, while a crash of the machine loses up to a second and can damage the log (keep backups). With --store, appends are as durable as PostgreSQL makes them, and this server's copy is always relaxed (made again after a crash of the machine).",
            valueName: "MODE"),
        transform: { (text: String) throws -> Durability in
            guard let mode = Durability(rawValue: text) else {
                throw ValidationError("--durability must be durable or relaxed, not '\(text)'")
            }
            return mode
        })
    var durability: Durability?
    @Option(
        help: ArgumentHelp(
            "The zstd level new events are compressed at, 1-19 (default 3): higher stores fewer bytes for more CPU per append.",
            valueName: "N"))
    var compressionLevel: Int?
    @Option(
        help: ArgumentHelp(
            "The secret references registry entries may name, comma-separated patterns (default \(SecretScope.defaultAllowed.joined(separator: ","))).",
            valueName: "LIST"))
    var allowedSecrets: String?
    @Option(
        help: ArgumentHelp(
            "The longest lifetime (exp − iat) a token may have, in seconds (default 86400).", valueName: "SECONDS"))
    var maxTokenLifetime: Double?
    @Option(
        help: ArgumentHelp(
            "Seconds between health checks of the MCP servers; 0 for none (default 30).", valueName: "SECONDS"))
    var healthCheckInterval: Double?
    @Option(
        help: ArgumentHelp(
            "A model call's whole deadline in seconds, unless the model's parameters set `timeout` (default 600).",
            valueName: "SECONDS"))
    var modelTimeout: Double?
    @Option(
        help: ArgumentHelp(
            "Seconds a model call waits for its answer to begin (`first_byte_timeout`; default 120).",
            valueName: "SECONDS"))
    var modelFirstByteTimeout: Double?
    @Option(
        help: ArgumentHelp(
            "Seconds a streamed answer may pause between pieces (`idle_timeout`; default 60).", valueName: "SECONDS"))
    var modelIdleTimeout: Double?
    @Option(
        help: ArgumentHelp(
            "The most tokens an answer may have when neither the call nor the model's `max_tokens` says; 0 for the model server's default (default 4096).",
            valueName: "N"))
    var defaultMaxTokens: Int?
    @Option(
        help: ArgumentHelp("The largest the log may grow: 64G, 500M, 1T… (default 64G).", valueName: "SIZE"),
        transform: { (text: String) throws -> Int in
            guard let bytes = ServeSettings.bytes(text) else {
                throw ValidationError("--max-log-size must be a size like 64G, 500M or 1T, not '\(text)'")
            }
            return Int(bytes)
        })
    var maxLogSize: Int?
    @Option(
        help: ArgumentHelp(
            "Events between checkpoints of the read models: the most whose changes they hold in memory before writing them to disk (default 100000).",
            valueName: "N"))
    var checkpointEvents: Int?
    @Option(
        help: ArgumentHelp(
            "Sign checkpoints of the log's head with the key at this secret reference (env:NAME or file:PATH; 'logbook signing-key' makes one); default none.",
            valueName: "REF"))
    var signingKey: String?
    @Option(
        help: ArgumentHelp(
            "Sign a checkpoint after this many events (default 10000), or --sign-interval.", valueName: "N"))
    var signEvery: Int?
    @Option(
        help: ArgumentHelp(
            "Sign a checkpoint after this many seconds when anything was appended (default 60).",
            valueName: "SECONDS"))
    var signInterval: Double?
    @Option(
        help: ArgumentHelp(
            "Send traces to this OpenTelemetry collector (OTLP/HTTP, e.g. http://127.0.0.1:4318); default $OTEL_EXPORTER_OTLP_ENDPOINT, else no traces.",
            valueName: "URL"))
    var otlpEndpoint: String?
    @Option(help: "The service name traces carry (default $OTEL_SERVICE_NAME, else logbook).") var serviceName: String?

    /// Flags over the environment over the config file over the defaults.
    func settings() throws -> ServeSettings {
        let environment = ProcessInfo.processInfo.environment
        let flags = ServeSettings(
            host: host, port: port, data: data, policy: policy, jwks: jwks, issuer: issuer, audience: audience,
            rateLimit: rateLimit, logLevel: logLevel, durability: durability, compressionLevel: compressionLevel,
            allowedSecrets: allowedSecrets, maxTokenLifetime: maxTokenLifetime,
            healthCheckInterval: healthCheckInterval,
            modelTimeout: modelTimeout, modelFirstByteTimeout: modelFirstByteTimeout,
            modelIdleTimeout: modelIdleTimeout,
            defaultMaxTokens: defaultMaxTokens, maxLogSize: maxLogSize, store: store,
            checkpointEvents: checkpointEvents, logFormat: logFormat, signingKey: signingKey, signEvery: signEvery,
            signInterval: signInterval)
        do {
            let flags = try flags.checked()
            let file =
                try (config ?? environment["LOGBOOK_CONFIG"]).map { (path) throws(SettingsError) in
                    try ServeSettings.file(path)
                } ?? ServeSettings()
            let settings = flags.over(try ServeSettings.environment(environment)).over(file).over(.defaults)
            guard Logger.Level(rawValue: settings.logLevel ?? "") != nil else {
                throw ValidationError(
                    "the log level must be trace, debug, info, notice, warning, error or critical, not '\(settings.logLevel ?? "")'"
                )
            }
            return settings
        } catch let error as SettingsError {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let s = try settings()  // every setting but policy and jwks has a default, so is set
        LogOutput.bootstrap(format: s.logFormat!)
        let (host, port, data) = (s.host!, s.port!, s.data!)
        let (policy, jwks, issuer, audience, rateLimit) = (s.policy, s.jwks, s.issuer!, s.audience!, s.rateLimit!)
        var keys: [VerificationKey] = []
        var developmentSecret: [UInt8]?
        if let secret = ProcessInfo.processInfo.environment["LOGBOOK_JWT_SECRET"] {
            keys.append(try .hmac(Array(secret.utf8)))
        }
        if let jwks { keys += try VerificationKey.keySet(json: try Data(contentsOf: URL(fileURLWithPath: jwks))) }
        if keys.isEmpty {
            let secret = try Self.developmentSecret(in: data)
            keys.append(try .hmac(secret))
            developmentSecret = secret
        }
        let rules: Policy
        if let policy {
            rules = try Policy(json: try Data(contentsOf: URL(fileURLWithPath: policy)))
        } else {
            rules = try Policy(roles: ["admin": ["*"]])
        }
        let verifier = TokenVerifier(
            keys: keys, issuer: issuer, audience: audience, maxLifetime: .seconds(s.maxTokenLifetime!))
        var configuration = ServerConfiguration(verifier: verifier, policy: rules)
        configuration.recordsConfiguredPolicy = policy != nil
        configuration.developmentMode = developmentSecret != nil
        configuration.engine.secrets = s.secretScope
        configuration.engine.modelDeadlines = s.modelDeadlines
        configuration.maxLogSizeBytes = s.maxLogSize!
        configuration.checkpointEvents = UInt64(s.checkpointEvents!)
        if let reference = s.signingKey {
            do {
                configuration.signingKey = try SignedNote.SignerKey(try SecretReference(reference).resolve().value)
            } catch {
                throw ValidationError("--signing-key \(reference): \(error)")
            }
            if s.store != nil {
                throw ValidationError(
                    "--signing-key: signed checkpoints are for a log of its own for now, not a shared one (--store)")
            }
        }
        configuration.signEveryEvents = UInt64(s.signEvery!)
        configuration.signInterval = .milliseconds(Int64(s.signInterval! * 1000))
        configuration.engine.defaultMaxOutputTokens = s.defaultMaxTokens! > 0 ? s.defaultMaxTokens : nil
        configuration.healthCheckInterval =
            s.healthCheckInterval! > 0 ? .milliseconds(Int64(s.healthCheckInterval! * 1000)) : nil
        (configuration.host, configuration.port, configuration.dataDirectory) = (host, port, data)
        configuration.rateLimit = rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateLimit * 2) : nil
        configuration.logLevel = Logger.Level(rawValue: s.logLevel!) ?? .info
        configuration.durability = s.durability!
        configuration.compressionLevel = s.compressionLevel!
        var served = data
        if let store = s.store {
            let shared = try await PostgresLog.connect(store, logLevel: configuration.logLevel)
            configuration.shared = shared
            served = "the shared log \(shared.location) (this server's copy in \(data))"
        }
        var telemetryLogger = Logger(label: "logbook.telemetry")
        telemetryLogger.logLevel = configuration.logLevel
        let telemetry = try Telemetry.start(endpoint: otlpEndpoint, serviceName: serviceName, logger: telemetryLogger)
        let app: LogbookApplication
        do { app = try await buildApplication(configuration: configuration) } catch {
            await configuration.shared?.close()
            throw error
        }
        var banner = "logbook: serving \(served) on http://\(host):\(port) (the web page: http://\(host):\(port)/)\n"
        if configuration.durability == .relaxed, configuration.shared == nil {
            banner +=
                "logbook: relaxed durability: appends are acknowledged before they reach the device (flushed every second); they survive a crash of this process, but a crash of the machine loses up to a second of them and can damage the log: keep backups\n"
        }
        if let developmentSecret {
            let token = DevelopmentToken.mint(
                secret: developmentSecret, subject: "user:dev", roles: ["admin"], issuer: issuer, audience: audience)
            banner +=
                "logbook: development mode (no LOGBOOK_JWT_SECRET or --jwks); a token for the 'admin' role, valid 12 hours:\n\(token)\n"
        }
        if telemetry != nil { banner += "logbook: sending traces over OTLP/HTTP (docs/observability.md)\n" }
        FileHandle.standardOutput.write(Data(banner.utf8))  // unbuffered: a script can read the token at once
        // The exporter first: services stop in reverse order, so it sends the server's last spans.
        let services: [any Service] = (telemetry.map { [$0] } ?? []) + [app.application]
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: app.application.logger))
        do { try await group.run() } catch {
            await app.close()
            throw error
        }
        await app.close()
    }

    /// A random HS256 secret kept in the data directory (0600), made on first use.
    static func developmentSecret(in directory: String) throws -> [UInt8] {
        let path = directory + "/dev-jwt-secret"
        if let data = FileManager.default.contents(atPath: path), data.count >= 32 { return [UInt8](data) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var secret = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in secret.indices { secret[i] = UInt8.random(in: 0...255, using: &rng) }
        guard
            FileManager.default.createFile(atPath: path, contents: Data(secret), attributes: [.posixPermissions: 0o600])
        else {
            throw Failure("cannot write \(path)")
        }
        return secret
    }
}
