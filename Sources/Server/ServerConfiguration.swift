import Checkpoints
import Engine
import EventStore
import Foundation
import Logging

/// Everything `buildApplication` needs: where to listen, where the log lives, how callers are verified and what they
/// may do, and the engine's settings.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The log's directory (created when missing). With `shared`, this server's copy of the shared log.
    public var dataDirectory = "./data"
    /// The log several servers share (`serve --store postgres://…`): the application follows it, takes threads
    /// across servers for runs, and closes it when it stops. Nil: the log in `dataDirectory` is the log.
    public var shared: (any SharedLog)?
    /// Whether an append is acknowledged once flushed to the device (`durable`) or once written and flushed within a
    /// second (`relaxed`, see `Durability.relaxed`).
    public var durability = Durability.durable
    /// Record `policy` in the log as the policy in force (when it differs from the log's): `serve --policy FILE`.
    /// Otherwise it decides only while the log holds no policy.
    public var recordsConfiguredPolicy = false
    /// Faults injected into the log's commits, for tests (`EventStore.Configuration.commitFault`).
    public var storeCommitFault: (@Sendable () -> Int32?)?
    /// The largest the log may grow, in bytes (`Limits.maxMapSizeBytes`).
    public var maxLogSizeBytes = Limits().maxMapSizeBytes
    /// The zstd level new events are compressed at (1–19).
    public var compressionLevel = EventStore.Configuration.defaultCompressionLevel
    public var verifier: TokenVerifier
    public var policy: Policy
    public var engine = AgentRuntime.Configuration()
    /// The longest user message accepted, in bytes.
    public var maxMessageBytes = 64 << 10
    /// Events between checkpoints of the read models (`ServeSettings.checkpointEvents`).
    public var checkpointEvents: UInt64 = 100_000
    /// Requests per subject (nil: unlimited). The default suits people and scripts; raise it for integrations.
    public var rateLimit: RateLimit? = RateLimit(perSecond: 20, burst: 40)
    /// How often the MCP servers are checked (`HealthMonitor`; nil: never).
    public var healthCheckInterval: Duration? = .seconds(30)
    /// Whether the server made its own token secret (no `LOGBOOK_JWT_SECRET` or JWKS): the web page's sign-in then
    /// says how to get a token.
    public var developmentMode = false
    /// The key the server signs checkpoints of the log's head with (`CheckpointSigner`; nil: no checkpoints), every
    /// `signEveryEvents` events or `signInterval` when anything was appended.
    public var signingKey: SignedNote.SignerKey?
    public var signEveryEvents: UInt64 = 10_000
    public var signInterval: Duration = .seconds(60)
    /// Events the read models (or a shared log's copy) may fall behind the log before the server logs a warning
    /// (`LagWatch`; checked every 5 seconds): by default the lag at which `/readyz` says not ready.
    public var lagWarningEvents: UInt64 = HealthRoutes.maxLag
    /// How much the server logs (to standard output). Secrets and tokens are never logged at any level.
    public var logLevel: Logger.Level = .info

    public init(verifier: TokenVerifier, policy: Policy) {
        (self.verifier, self.policy) = (verifier, policy)
    }
}
