import ArgumentParser
import Engine
import Foundation
import Hummingbird
import Logging
import Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API on the embedded log.",
        discussion: """
            Callers present a JWT: HS256 with the secret in $LOGBOOK_JWT_SECRET (at least 32 bytes), or RS256/ES256 \
            with the keys of --jwks. The policy file maps roles to permissions (see docs/engine.md). The model comes \
            from the registry, or from $LOGBOOK_LLM_BASE_URL and $LOGBOOK_LLM_MODEL (and $LOGBOOK_LLM_API_KEY).

            Without a secret, keys or policy (development), it makes a secret in DIR/dev-jwt-secret, allows the \
            'admin' role everything, and prints a token to use.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: ArgumentHelp("The policy (JSON): roles and their permissions.", valueName: "FILE")) var policy: String?
    @Option(help: ArgumentHelp("Public keys (JWKS) for RS256/ES256 tokens.", valueName: "FILE")) var jwks: String?
    @Option(help: "The issuer tokens must name.") var issuer = "logbook"
    @Option(help: "The audience tokens must name.") var audience = "logbook"
    @Option(help: ArgumentHelp("Requests per second per subject, in bursts of twice as many; 0 for no limit.", valueName: "N"))
    var rateLimit = 20.0
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical") }
    }

    func run() async throws {
        var keys: [VerificationKey] = []
        var developmentSecret: [UInt8]?
        if let secret = ProcessInfo.processInfo.environment["LOGBOOK_JWT_SECRET"] { keys.append(try .hmac(Array(secret.utf8))) }
        if let jwks { keys += try VerificationKey.keySet(json: try Data(contentsOf: URL(fileURLWithPath: jwks))) }
        if keys.isEmpty {
            let secret = try Self.developmentSecret(in: options.data)
            keys.append(try .hmac(secret))
            developmentSecret = secret
        }
        let rules: Policy
        if let policy { rules = try Policy(json: try Data(contentsOf: URL(fileURLWithPath: policy))) } else {
            rules = try Policy(roles: ["admin": ["*"]])
        }
        var configuration = ServerConfiguration(verifier: TokenVerifier(keys: keys, issuer: issuer, audience: audience), policy: rules)
        (configuration.host, configuration.port, configuration.dataDirectory) = (host, port, options.data)
        configuration.rateLimit = rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateLimit * 2) : nil
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let app = try await buildApplication(configuration: configuration)
        var banner = "logbook: serving \(options.data) on http://\(host):\(port)\n"
        if let developmentSecret {
            let token = DevelopmentToken.mint(secret: developmentSecret, subject: "user:dev", roles: ["admin"], issuer: issuer, audience: audience)
            banner += "logbook: development mode (no LOGBOOK_JWT_SECRET, --jwks or --policy); a token for the 'admin' role, valid 12 hours:\n\(token)\n"
        }
        FileHandle.standardOutput.write(Data(banner.utf8))  // unbuffered: a script can read the token at once
        do { try await app.application.runService() } catch {
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
        guard FileManager.default.createFile(atPath: path, contents: Data(secret), attributes: [.posixPermissions: 0o600]) else {
            throw Failure("cannot write \(path)")
        }
        return secret
    }
}
