import Engine
import EventStore
import Events
import Foundation

/// How `logbook serve` is set up, layered (highest first): its flags, the environment (`LOGBOOK_HOST`, …), a JSON
/// config file (`--config` or `$LOGBOOK_CONFIG`), then `defaults`. Secrets are not settings: the JWT secret and model
/// keys come from the environment (`LOGBOOK_JWT_SECRET`, secret references) and never from a file that might be
/// committed or copied.
public struct ServeSettings: Equatable, Sendable {
    public var host: String?
    public var port: Int?
    /// The log's directory; with `store`, this server's copy of the shared log.
    public var data: String?
    /// The log several servers share: `postgres://user@host:port/database` (nil: the log in `data` is the log).
    /// Its password comes from the environment (`PGPASSWORD`, or `LOGBOOK_STORE`), never from a config file.
    public var store: String?
    /// The policy file (JSON: roles → permissions).
    public var policy: String?
    /// Public keys (JWKS file) for RS256/ES256 tokens.
    public var jwks: String?
    public var issuer: String?
    public var audience: String?
    /// Requests per second per subject (0: no limit).
    public var rateLimit: Double?
    public var logLevel: String?
    /// `text` (one readable line per message) or `json` (one JSON object per line, for log shippers).
    public var logFormat: String?
    /// `durable` (each commit flushed to the device before it is acknowledged) or `relaxed` (flushed every second in
    /// the background: survives a crash of the process; a crash of the machine loses up to a second and may damage the
    /// log, see `Durability.relaxed`).
    public var durability: Durability?
    /// The zstd level new events are compressed at, 1–19.
    public var compressionLevel: Int?
    /// The secret references registry entries may name, comma-separated patterns (`env:LOGBOOK_SECRET_*,file:/run/secrets/*`).
    public var allowedSecrets: String?
    /// The longest lifetime a token may have (`exp` − `iat`), in seconds.
    public var maxTokenLifetime: Double?
    /// Seconds between health checks of the MCP servers (0: none).
    public var healthCheckInterval: Double?
    /// A model call's deadlines in seconds, where the model's own parameters set none: the whole call, until the
    /// answer begins, between two pieces of it.
    public var modelTimeout: Double?
    public var modelFirstByteTimeout: Double?
    public var modelIdleTimeout: Double?
    /// The most tokens an answer may have where neither the call nor the model says (0: the model server's default).
    public var defaultMaxTokens: Int?
    /// The largest the log may grow, in bytes (given as `64G`, `500M`, `1T` or a number of bytes).
    public var maxLogSize: Int?
    /// Events between checkpoints of the read models: the most whose changes they hold in memory before writing them
    /// to their tables on disk (what bounds their memory; a restart folds at most this many again).
    public var checkpointEvents: Int?
    /// Where the key that signs checkpoints of the log lives: a secret reference (`env:NAME` or `file:PATH`, never the
    /// key itself); nil: no signed checkpoints. The key is a C2SP signer key (`logbook signing-key` makes one).
    public var signingKey: String?
    /// A checkpoint is signed after this many events, or after `signInterval` seconds when any was appended.
    public var signEvery: Int?
    public var signInterval: Double?

    public init(
        host: String? = nil, port: Int? = nil, data: String? = nil, policy: String? = nil, jwks: String? = nil,
        issuer: String? = nil,
        audience: String? = nil, rateLimit: Double? = nil, logLevel: String? = nil, durability: Durability? = nil,
        compressionLevel: Int? = nil, allowedSecrets: String? = nil, maxTokenLifetime: Double? = nil,
        healthCheckInterval: Double? = nil,
        modelTimeout: Double? = nil, modelFirstByteTimeout: Double? = nil, modelIdleTimeout: Double? = nil,
        defaultMaxTokens: Int? = nil,
        maxLogSize: Int? = nil, store: String? = nil, checkpointEvents: Int? = nil, logFormat: String? = nil,
        signingKey: String? = nil, signEvery: Int? = nil, signInterval: Double? = nil
    ) {
        (self.signingKey, self.signEvery, self.signInterval) = (signingKey, signEvery, signInterval)
        self.store = store
        self.logFormat = logFormat
        self.checkpointEvents = checkpointEvents
        (self.host, self.port, self.data, self.policy, self.jwks) = (host, port, data, policy, jwks)
        (self.issuer, self.audience, self.rateLimit, self.logLevel) = (issuer, audience, rateLimit, logLevel)
        (self.durability, self.compressionLevel, self.allowedSecrets, self.maxTokenLifetime) = (
            durability, compressionLevel, allowedSecrets, maxTokenLifetime
        )
        self.healthCheckInterval = healthCheckInterval
        (self.modelTimeout, self.modelFirstByteTimeout, self.modelIdleTimeout, self.defaultMaxTokens) = (
            modelTimeout, modelFirstByteTimeout, modelIdleTimeout, defaultMaxTokens
        )
        self.maxLogSize = maxLogSize
    }

    public static let defaults = ServeSettings(
        host: "127.0.0.1", port: 8080, data: "./data", issuer: "logbook", audience: "logbook",
        rateLimit: 20, logLevel: "info", durability: .durable,
        compressionLevel: EventStore.Configuration.defaultCompressionLevel,
        allowedSecrets: SecretScope.defaultAllowed.joined(separator: ","),
        maxTokenLifetime: TokenVerifier.defaultMaxLifetime.components.seconds.asDouble,
        healthCheckInterval: 30, modelTimeout: 600, modelFirstByteTimeout: 120, modelIdleTimeout: 60,
        defaultMaxTokens: 4096, maxLogSize: Limits().maxMapSizeBytes, checkpointEvents: 100_000, logFormat: "text",
        signEvery: 10_000, signInterval: 60)

    /// `64G`, `500M`, `1T`, `12K` (powers of 1024) or a number of bytes.
    public static func bytes(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased().replacingOccurrences(of: "IB", with: "")
            .replacingOccurrences(of: "B", with: "")
        let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
        if let last = t.last, let unit = units[last] { return Double(t.dropLast()).map { $0 * unit } }
        return Double(t)
    }

    /// The model calls' deadlines these settings give.
    public var modelDeadlines: ModelDeadlines {
        func seconds(_ s: Double?, _ fallback: Duration) -> Duration {
            s.map { .milliseconds(Int64($0 * 1000)) } ?? fallback
        }
        let d = ModelDeadlines()
        return ModelDeadlines(
            total: seconds(modelTimeout, d.total), firstByte: seconds(modelFirstByteTimeout, d.firstByte),
            idle: seconds(modelIdleTimeout, d.idle))
    }

    /// The secret scope these settings give (the log's directory is always out of it).
    public var secretScope: SecretScope {
        SecretScope(
            allowed: (allowedSecrets ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter
            { !$0.isEmpty },
            forbiddenDirectories: data.map { [$0] } ?? [])
    }

    /// Each setting, its config-file key and its environment variable.
    static let names: [(key: String, variable: String)] = [
        ("host", "LOGBOOK_HOST"), ("port", "LOGBOOK_PORT"), ("data", "LOGBOOK_DATA"), ("policy", "LOGBOOK_POLICY"),
        ("jwks", "LOGBOOK_JWKS"),
        ("issuer", "LOGBOOK_ISSUER"), ("audience", "LOGBOOK_AUDIENCE"), ("rateLimit", "LOGBOOK_RATE_LIMIT"),
        ("logLevel", "LOGBOOK_LOG_LEVEL"), ("logFormat", "LOGBOOK_LOG_FORMAT"),
        ("durability", "LOGBOOK_DURABILITY"), ("compressionLevel", "LOGBOOK_COMPRESSION_LEVEL"),
        ("allowedSecrets", "LOGBOOK_ALLOWED_SECRETS"), ("maxTokenLifetime", "LOGBOOK_MAX_TOKEN_LIFETIME"),
        ("healthCheckInterval", "LOGBOOK_HEALTH_CHECK_INTERVAL"), ("modelTimeout", "LOGBOOK_MODEL_TIMEOUT"),
        ("modelFirstByteTimeout", "LOGBOOK_MODEL_FIRST_BYTE_TIMEOUT"),
        ("modelIdleTimeout", "LOGBOOK_MODEL_IDLE_TIMEOUT"),
        ("defaultMaxTokens", "LOGBOOK_DEFAULT_MAX_TOKENS"), ("maxLogSize", "LOGBOOK_MAX_LOG_SIZE"),
        ("store", "LOGBOOK_STORE"), ("checkpointEvents", "LOGBOOK_CHECKPOINT_EVENTS"),
        ("signingKey", "LOGBOOK_SIGNING_KEY"), ("signEvery", "LOGBOOK_SIGN_EVERY"),
        ("signInterval", "LOGBOOK_SIGN_INTERVAL"),
    ]

    /// `self`, with what it leaves unset taken from `lower`.
    public func over(_ lower: ServeSettings) -> ServeSettings {
        ServeSettings(
            host: host ?? lower.host, port: port ?? lower.port, data: data ?? lower.data,
            policy: policy ?? lower.policy,
            jwks: jwks ?? lower.jwks, issuer: issuer ?? lower.issuer, audience: audience ?? lower.audience,
            rateLimit: rateLimit ?? lower.rateLimit, logLevel: logLevel ?? lower.logLevel,
            durability: durability ?? lower.durability, compressionLevel: compressionLevel ?? lower.compressionLevel,
            allowedSecrets: allowedSecrets ?? lower.allowedSecrets,
            maxTokenLifetime: maxTokenLifetime ?? lower.maxTokenLifetime,
            healthCheckInterval: healthCheckInterval ?? lower.healthCheckInterval,
            modelTimeout: modelTimeout ?? lower.modelTimeout,
            modelFirstByteTimeout: modelFirstByteTimeout ?? lower.modelFirstByteTimeout,
            modelIdleTimeout: modelIdleTimeout ?? lower.modelIdleTimeout,
            defaultMaxTokens: defaultMaxTokens ?? lower.defaultMaxTokens, maxLogSize: maxLogSize ?? lower.maxLogSize,
            store: store ?? lower.store, checkpointEvents: checkpointEvents ?? lower.checkpointEvents,
            logFormat: logFormat ?? lower.logFormat, signingKey: signingKey ?? lower.signingKey,
            signEvery: signEvery ?? lower.signEvery, signInterval: signInterval ?? lower.signInterval)
    }

    /// The settings the environment gives.
    /// - Throws: `SettingsError` naming a variable whose value is not a number where one is needed.
    public static func environment(_ environment: [String: String]) throws(SettingsError) -> ServeSettings {
        var settings = ServeSettings()
        for (key, variable) in names {
            guard let value = environment[variable], !value.isEmpty else { continue }
            try settings.set(key, .string(value), from: variable)
        }
        return settings
    }

    /// The settings a JSON config file gives, e.g. `{"port": 9090, "policy": "/etc/logbook/policy.json"}`.
    /// - Throws: `SettingsError` for an unreadable file, bad JSON, an unknown key (a typo would otherwise be ignored)
    ///   or a value of the wrong type.
    public static func file(_ path: String) throws(SettingsError) -> ServeSettings {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError("cannot read the config file \(path)")
        }
        guard case .object(let object)? = JSONValue(parsing: String(decoding: data, as: UTF8.self)) else {
            throw SettingsError("\(path) is not a JSON object like {\"port\": 9090, \"policy\": \"policy.json\"}")
        }
        let known = Set(names.map(\.key))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw SettingsError(
                "\(path): unknown setting '\(unknown)'; the settings are \(names.map(\.key).joined(separator: ", "))")
        }
        var settings = ServeSettings()
        for (key, value) in object { try settings.set(key, value, from: "\(path): \(key)") }
        if let store = settings.store, URLComponents(string: store)?.password != nil {
            throw SettingsError(
                "\(path): store carries a password; a config file is no place for one: give it in PGPASSWORD")
        }
        return settings
    }

    /// These settings checked by the rules the environment and the file are held to, for values given directly
    /// (`logbook serve`'s flags).
    /// - Throws: `SettingsError` naming the flag (`--compression-level`) of a value that cannot be used.
    public func checked() throws(SettingsError) -> ServeSettings {
        let values: [(key: String, value: JSONValue?)] = [
            ("host", host.map(JSONValue.string)), ("port", port.map { .number(Double($0)) }),
            ("data", data.map(JSONValue.string)),
            ("policy", policy.map(JSONValue.string)), ("jwks", jwks.map(JSONValue.string)),
            ("issuer", issuer.map(JSONValue.string)),
            ("audience", audience.map(JSONValue.string)), ("rateLimit", rateLimit.map(JSONValue.number)),
            ("logLevel", logLevel.map(JSONValue.string)), ("logFormat", logFormat.map(JSONValue.string)),
            ("durability", durability.map { .string($0.rawValue) }),
            ("compressionLevel", compressionLevel.map { .number(Double($0)) }),
            ("allowedSecrets", allowedSecrets.map(JSONValue.string)),
            ("maxTokenLifetime", maxTokenLifetime.map(JSONValue.number)),
            ("healthCheckInterval", healthCheckInterval.map(JSONValue.number)),
            ("modelTimeout", modelTimeout.map(JSONValue.number)),
            ("modelFirstByteTimeout", modelFirstByteTimeout.map(JSONValue.number)),
            ("modelIdleTimeout", modelIdleTimeout.map(JSONValue.number)),
            ("defaultMaxTokens", defaultMaxTokens.map { .number(Double($0)) }),
            ("maxLogSize", maxLogSize.map { .number(Double($0)) }),
            ("store", store.map(JSONValue.string)),
            ("checkpointEvents", checkpointEvents.map { .number(Double($0)) }),
            ("signingKey", signingKey.map(JSONValue.string)), ("signEvery", signEvery.map { .number(Double($0)) }),
            ("signInterval", signInterval.map(JSONValue.number)),
        ]
        var settings = ServeSettings()
        for case let (key, value?) in values {
            let flag = key.reduce(into: "--") { $0 += $1.isUppercase ? "-" + $1.lowercased() : String($1) }
            try settings.set(key, value, from: flag)
        }
        return settings
    }

    private mutating func set(_ key: String, _ value: JSONValue, from source: String) throws(SettingsError) {
        func text() throws(SettingsError) -> String {
            guard case .string(let s) = value else { throw SettingsError("\(source) must be a string") }
            return s
        }
        func number() throws(SettingsError) -> Double {
            switch value {
            case .number(let n): return n
            case .string(let s): if let n = Double(s) { return n }
            default: break
            }
            throw SettingsError("\(source) must be a number")
        }
        switch key {
        case "host": host = try text()
        case "port":
            let n = try number()
            guard n == n.rounded(), (0...65_535).contains(n) else {
                throw SettingsError("\(source) must be a port number (0–65535)")
            }
            port = Int(n)
        case "data": data = try text()
        case "store":
            let url = try text()
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw SettingsError(
                    "\(source) must be a postgres:// URL like postgres://logbook@db:5432/logbook (the embedded log is --data DIR)"
                )
            }
            store = url
        case "policy": policy = try text()
        case "jwks": jwks = try text()
        case "issuer": issuer = try text()
        case "audience": audience = try text()
        case "rateLimit":
            let n = try number()
            guard n >= 0 else { throw SettingsError("\(source) must be 0 (no limit) or more") }
            rateLimit = n
        case "logLevel": logLevel = try text()
        case "logFormat":
            let format = try text()
            guard format == "text" || format == "json" else {
                throw SettingsError("\(source) must be text or json, not '\(format)'")
            }
            logFormat = format
        case "durability":
            let mode = try text()
            guard let d = Durability(rawValue: mode) else {
                throw SettingsError("\(source) must be durable or relaxed, not '\(mode)'")
            }
            durability = d
        case "compressionLevel":
            let n = try number()
            let levels = EventStore.Configuration.compressionLevels
            guard n == n.rounded(), levels.contains(Int(exactly: n) ?? 0) else {
                throw SettingsError(
                    "\(source) must be a zstd level from \(levels.lowerBound) to \(levels.upperBound) (default \(EventStore.Configuration.defaultCompressionLevel))"
                )
            }
            compressionLevel = Int(n)
        case "allowedSecrets":
            let list = try text()
            for pattern in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
            where !pattern.isEmpty {
                guard pattern.hasPrefix("env:") || pattern.hasPrefix("file:/") else {
                    throw SettingsError(
                        "\(source): '\(pattern)' is not a secret reference pattern like env:LOGBOOK_SECRET_* or file:/run/secrets/*"
                    )
                }
            }
            allowedSecrets = list
        case "maxTokenLifetime":
            let n = try number()
            guard n > 0 else { throw SettingsError("\(source) must be a number of seconds above 0") }
            maxTokenLifetime = n
        case "healthCheckInterval":
            let n = try number()
            guard n >= 0 else { throw SettingsError("\(source) must be 0 (no health checks) or a number of seconds") }
            healthCheckInterval = n
        case "modelTimeout", "modelFirstByteTimeout", "modelIdleTimeout":
            let n = try number()
            guard n > 0 else { throw SettingsError("\(source) must be a number of seconds above 0") }
            switch key {
            case "modelTimeout": modelTimeout = n
            case "modelFirstByteTimeout": modelFirstByteTimeout = n
            default: modelIdleTimeout = n
            }
        case "defaultMaxTokens":
            let n = try number()
            guard n == n.rounded(), n >= 0, n <= 1_000_000 else {
                throw SettingsError("\(source) must be a whole number of tokens (0: the model server's default)")
            }
            defaultMaxTokens = Int(n)
        case "maxLogSize":
            let bytes: Double
            switch value {
            case .number(let n): bytes = n
            case .string(let s):
                guard let parsed = Self.bytes(s) else {
                    throw SettingsError(
                        "\(source) must be a size like 64G, 500M or 1T (or a number of bytes), not '\(s.prefix(40))'")
                }
                bytes = parsed
            default: throw SettingsError("\(source) must be a size like 64G")
            }
            let floor = Double(Limits().initialMapSizeBytes), ceiling = Double(UInt64(1) << 47)
            guard bytes >= floor, bytes <= ceiling else {
                throw SettingsError("\(source) must be between 64M and 128T, not \(Int(bytes)) bytes")
            }
            maxLogSize = Int(bytes)
        case "signingKey":
            let reference = try text()
            guard (try? SecretReference(reference)) != nil else {
                throw SettingsError(
                    "\(source) must be a secret reference, env:NAME or file:PATH, where the signing key is (never the key itself)"
                )
            }
            signingKey = reference
        case "signEvery":
            let n = try number()
            guard n == n.rounded(), n >= 1, n <= 1_000_000_000 else {
                throw SettingsError("\(source) must be a whole number of events from 1 to 1000000000")
            }
            signEvery = Int(n)
        case "signInterval":
            let n = try number()
            guard n >= 0.1 else { throw SettingsError("\(source) must be a number of seconds, at least 0.1") }
            signInterval = n
        case "checkpointEvents":
            let n = try number()
            guard n == n.rounded(), n >= 1_000, n <= 100_000_000 else {
                throw SettingsError("\(source) must be a whole number of events from 1000 to 100000000")
            }
            checkpointEvents = Int(n)
        default: break
        }
    }
}

/// A setting that cannot be used; the message names where it came from.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Int64 {
    fileprivate var asDouble: Double { Double(self) }
}
