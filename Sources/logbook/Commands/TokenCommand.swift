import ArgumentParser
import CommandSupport
import Engine
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Mint an HS256 JWT from the configured secret (development and scripts).",
        discussion: """
            The secret is $LOGBOOK_JWT_SECRET, else the development secret `logbook serve` keeps in DIR/dev-jwt-secret. \
            The token goes to standard output and nowhere else. In production, tokens come from your identity provider.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "The subject (sub).") var subject = "user:dev"
    @Option(name: .customLong("role"), help: "A role (repeat for several).") var roles: [String] = ["admin"]
    @Option(help: "The workspace the token is scoped to.") var workspace = "default"
    @Option(help: "The issuer (iss); must match `serve --issuer`.") var issuer = "logbook"
    @Option(help: "The audience (aud); must match `serve --audience`.") var audience = "logbook"
    @Option(help: "Hours until it expires, at most 24 (what `serve --max-token-lifetime` accepts by default).")
    var hours = 12

    func validate() throws {
        guard hours > 0 && hours <= 24 else {
            throw ValidationError(
                "--hours must be between 1 and 24: a server refuses tokens that live longer than its --max-token-lifetime (24 hours unless raised)"
            )
        }
    }

    func run() throws {
        let secret: [UInt8]
        if let value = ProcessInfo.processInfo.environment["LOGBOOK_JWT_SECRET"] {
            secret = Array(value.utf8)
        } else if let data = FileManager.default.contents(atPath: options.data + "/dev-jwt-secret"), data.count >= 32 {
            secret = [UInt8](data)
        } else {
            throw Failure(
                "no secret: set LOGBOOK_JWT_SECRET, or run 'logbook serve --data \(options.data)' once in development mode to make one"
            )
        }
        print(
            DevelopmentToken.mint(
                secret: secret, subject: subject, roles: roles, workspace: workspace, issuer: issuer,
                audience: audience,
                lifetime: .seconds(hours * 3600)))
    }
}
