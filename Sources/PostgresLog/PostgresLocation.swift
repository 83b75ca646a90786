import EventStore
import Foundation
import PostgresNIO

/// Where the shared log's database is: `postgres://user[:password]@host[:port]/database`, with `?host=/dir` for a
/// Unix socket directory and `?sslmode=disable|prefer|require` (default `prefer`), as libpq reads them. Without a password in the URL, `PGPASSWORD` is used. The password is
/// never shown: `description` leaves it out.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// A Unix socket directory, instead of TCP to `host`.
    public var socketDirectory: String?
    /// TLS over TCP: never, when the server offers it, or required.
    public var sslMode: SSLMode

    public enum SSLMode: String, Sendable { case disable, prefer, require }

    /// - Throws: `invalidArgument`, saying what is wrong (the password never appears in it).
    public init(
        _ text: String, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(EventStoreError)
    {
        let example = "write it as postgres://user@host:5432/database"
        guard let url = URLComponents(string: text), let scheme = url.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw EventStoreError(.invalidArgument, "the store is not a postgres:// URL; \(example)")
        }
        guard let user = url.user, !user.isEmpty else {
            throw EventStoreError(.invalidArgument, "the postgres:// URL names no user; \(example)")
        }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty else {
            throw EventStoreError(.invalidArgument, "the postgres:// URL names no database; \(example)")
        }
        self.user = user.removingPercentEncoding ?? user
        self.password = url.password.map { $0.removingPercentEncoding ?? $0 } ?? environment["PGPASSWORD"]
        self.database = database
        self.port = url.port ?? 5432
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        guard let sslMode = SSLMode(rawValue: mode) else {
            throw EventStoreError(.invalidArgument, "sslmode '\(mode)' is not one of disable, prefer, require")
        }
        self.sslMode = sslMode
        let hostItem = url.queryItems?.first { $0.name == "host" }?.value
        if let hostItem, hostItem.hasPrefix("/") {
            socketDirectory = hostItem
            host = url.host ?? "localhost"
        } else {
            socketDirectory = nil
            host = hostItem ?? (url.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost")
        }
    }

    /// The URL without its password (the same location, and safe to show).
    public var description: String {
        var query = socketDirectory.map { ["host=\($0)"] } ?? []
        if sslMode != .prefer { query.append("sslmode=\(sslMode.rawValue)") }
        return "postgres://\(user)@\(host):\(port)/\(database)"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    private var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration =
            if let socketDirectory {
                PostgresClient.Configuration(
                    unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password,
                    database: database)
            } else {
                PostgresClient.Configuration(
                    host: host, port: port, username: user, password: password, database: database, tls: tls)
            }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 16
        // A server that stops in the middle of an append transaction (hung, or cut off from the database) holds
        // the log's head row, and with it every server's appends: the database ends such a transaction after this.
        configuration.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "10s")]
        return configuration
    }
}
