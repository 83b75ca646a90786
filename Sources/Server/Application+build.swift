import Checkpoints
import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Logging
import Projections

/// The running server's parts: the Hummingbird application and the log it serves, which `close` closes after the
/// application has stopped.
public struct LogbookApplication: Sendable {
    public let application: Application<RouterResponder<AppRequestContext>>
    public let store: EventStore
    public let runtime: AgentRuntime
    public let pool: MCPPool
    /// Every route, as `METHOD /path/{capture}`.
    public let routes: [String]
    /// Keeps the read models (audit trail, conversations) current as the log grows.
    let follower: Task<Void, Never>
    /// Checks the MCP servers now and then (nil: not configured).
    let healthChecks: Task<Void, Never>?
    /// Closes runs other servers left open (a shared log only).
    let sweeper: Task<Void, Never>?
    /// Says in the log when the read models (or a shared log's copy) fall behind.
    let lagWatch: Task<Void, Never>
    /// Signs checkpoints of the log's head (nil: no signing key).
    let signer: CheckpointSigner?
    let signing: Task<Void, Never>?
    let readModels: ProjectionRunner
    let logger: Logger

    /// Stops following the log and the MCP servers, checkpoints the read models (so the next start folds only what
    /// is newer), and closes the log.
    public func close() async {
        logger.info("stopping: following the log and checking the MCP servers")
        follower.cancel()
        _ = await follower.result
        healthChecks?.cancel()
        _ = await healthChecks?.result
        sweeper?.cancel()
        _ = await sweeper?.result
        lagWatch.cancel()
        _ = await lagWatch.result
        signing?.cancel()
        _ = await signing?.result
        if let signer {
            logger.info("stopping: signing the log's head")
            do { try await signer.sign() } catch {
                logger.error("signing the last checkpoint failed", metadata: ["error": .string(error.message)])
            }
        }
        logger.info("stopping: the MCP servers")
        await pool.shutdown()
        logger.info("stopping: checkpointing the read models")
        try? await readModels.checkpoint()
        if let shared = store.shared {
            logger.info("stopping: the shared log's connections")
            await shared.close()
        }
        logger.info("stopping: closing the log")
        await store.close()
        if store.shared != nil { SharedCopy.close(store.directory) }
        logger.notice("stopped")
    }
}

/// Builds the application: opens the log, the registry runner, the MCP pool and the agent runtime, and the routes.
/// The `logbook serve` command and the tests share it.
public func buildApplication(configuration: ServerConfiguration) async throws -> LogbookApplication {
    var logger = Logger(label: "logbook")
    logger.logLevel = configuration.logLevel
    if configuration.signingKey != nil, configuration.shared != nil {
        throw EventStoreError(
            .invalidArgument,
            "signed checkpoints are for a log of its own for now, not a shared one: start the servers without a signing key"
        )
    }
    let metrics = Metrics()
    var storeConfiguration = EventStore.Configuration(directory: configuration.dataDirectory)
    storeConfiguration.onCommit = { metrics.commit($0) }
    storeConfiguration.durability = configuration.durability
    storeConfiguration.compressionLevel = configuration.compressionLevel
    storeConfiguration.limits.maxMapSizeBytes = configuration.maxLogSizeBytes
    storeConfiguration.commitFault = configuration.storeCommitFault
    storeConfiguration.shared = configuration.shared
    if configuration.shared != nil {
        // The copy of a shared log: flushed in the background, made again after the machine stopped (`SharedCopy`).
        storeConfiguration.durability = .relaxed
        try SharedCopy.open(configuration.dataDirectory, logger: logger)
    }
    // Said once, loudly: from here every write fails and /readyz says why.
    storeConfiguration.onWritesRefused = { [logger] error in
        logger.critical(
            "the log refuses all writes from now on; restart the server once the cause is fixed",
            metadata: [
                "error": .string(error.message), "code": .string(error.code.rawValue),
                "system": .string(error.systemCode.map(String.init) ?? "-"),
            ])
    }
    storeConfiguration.onBackgroundFailure = { [logger] error in
        logger.error(
            "background work of the log failed; appends go on",
            metadata: ["error": .string(error.message), "code": .string(error.code.rawValue)])
    }
    let store = try EventStore.open(storeConfiguration)
    if let shared = configuration.shared {
        // This server's copy: brought up to the shared log's end before anything reads it, then kept up.
        let before = store.lastSeq
        try await store.catchUp()
        shared.follow(store)
        logger.notice(
            "following the shared log",
            metadata: ["copied": "\(store.lastSeq - before)", "position": "\(store.lastSeq)"])
    }
    // Before any task starts: reading the last checkpoint may fail.
    let signer: CheckpointSigner?
    do {
        signer = try configuration.signingKey.map { (key) throws(EventStoreError) in
            try CheckpointSigner(
                store: store, key: key, everyEvents: configuration.signEveryEvents, interval: configuration.signInterval
            )
        }
    } catch {
        await store.close()
        throw error
    }
    let registry = ProjectionRunner(store: store, projections: [RegistryProjection.self])
    try await registry.start()
    var engine = configuration.engine
    engine.logger = engine.logger ?? logger
    // No registry entry may name a file in the log's directory (the development JWT secret lives there).
    engine.secrets.forbiddenDirectories.append(configuration.dataDirectory)
    let pool = MCPPool(secrets: engine.secrets, environment: engine.environment)
    // A tool server that fails, and one a restart brings back, shows in the registry's health and the log.
    await pool.setRecorder { [logger] change in
        logger.notice(
            "MCP server health changed",
            metadata: [
                "server": .string(change.name), "status": .string(change.status.rawValue),
                "detail": .string(change.detail ?? "-"),
            ])
        do {
            try await store.append([change.proposed(metadata: EventMetadata(actor: "system:mcp"))], to: "registry/mcp")
        } catch {
            logger.warning(
                "recording an MCP server's health failed",
                metadata: ["server": .string(change.name), "error": .string("\(error)")])
        }
    }
    let runtime = AgentRuntime(
        store: store, registry: registry, policy: configuration.policy, pool: pool, configuration: engine)
    // The read models, on disk beside the log (`read-models/audit`, `read-models/conversations`): from where they were
    // last written, then live (written at each checkpoint).
    let readModels = try ProjectionRunner(
        store: store, projections: [AuditProjection.self, ConversationProjection.self],
        tables: store.directory + "/read-models", checkpointEveryEvents: configuration.checkpointEvents)
    try await readModels.start()
    // A policy file given to serve is the policy in force from now on: recorded once, when it differs from the log's.
    if configuration.recordsConfiguredPolicy {
        let user = ProcessInfo.processInfo.environment["USER"] ?? "operator"
        if try await runtime.access.adoptConfiguredPolicy(
            configuration.policy.rawRoles, actor: "operator:\(user)", reason: "the policy file serve was started with")
        {
            logger.notice("the policy file differs from the policy in the log: recorded it as a change")
        }
    }
    // Runs a crash cut short end now, before anyone is served: nothing can be running yet (one writer per log). On a
    // shared log, only the runs on threads no server holds (the others are running on another server), and again
    // every few seconds while serving: a server that crashes leaves its runs open while the others serve on.
    let abandoned = AbandonedRuns(runtime: runtime, readModels: readModels, store: store, logger: logger)
    try await abandoned.close()
    let sweeper = store.shared == nil ? nil : Task { await abandoned.sweep() }
    let following = FollowingFlag()
    let follower = Task {
        _ = try? await readModels.follow()
        following.clear()
    }

    let lagWatch = Task { [limit = configuration.lagWarningEvents, logger] in
        await LagWatch.run(every: .seconds(5), limit: limit, store: store, readModels: readModels, logger: logger)
    }

    let signing = signer.map { signer in
        Task { [logger] in
            await signer.run(
                failed: { error in
                    logger.error(
                        "signing a checkpoint failed; retrying every second",
                        metadata: ["error": .string(error.message)])
                },
                recovered: { logger.notice("signing checkpoints again") })
        }
    }

    let healthChecks = configuration.healthCheckInterval.map { interval in
        Task { await HealthMonitor(store: store, registry: registry, pool: pool).run(every: interval) }
    }

    metrics.countEvents(after: store.lastSeq)
    let router = Router(context: AppRequestContext.self)
    // The request's server span (named by route pattern), continuing an incoming `traceparent`; a no-op without a
    // tracer (`serve --otlp-endpoint`). It records no header: a token never reaches a span.
    router.add(middleware: TracingMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: metrics, logger: logger))
    router.add(middleware: UnmatchedRouteMiddleware(routes: OpenAPIDocument.routes))
    router.add(middleware: InputGuardMiddleware())
    HealthRoutes(store: store, readModels: readModels, following: following).add(to: router)
    router.get("metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render(store: store, readModels: readModels))))
    }
    router.get("openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }
    WebRoutes(developmentMode: configuration.developmentMode).add(to: router)
    let v1 = router.group("v1").add(middleware: BearerAuthMiddleware(verifier: configuration.verifier))
    if let limit = configuration.rateLimit { v1.add(middleware: RateLimitMiddleware(limit: limit)) }
    ThreadRoutes(
        runtime: runtime, store: store, readModels: readModels, maxMessageBytes: configuration.maxMessageBytes
    ).add(to: v1)
    RegistryRoutes(runtime: runtime).add(to: v1)
    AuditRoutes(runtime: runtime, audit: readModels, store: store).add(to: v1)
    EventRoutes(runtime: runtime, store: store, metrics: metrics).add(to: v1)
    CheckpointRoutes(runtime: runtime, signer: signer).add(to: v1)
    OpenAIRoutes(runtime: runtime).add(to: v1)
    PolicyRoutes(runtime: runtime).add(to: v1)

    let routes = router.routes.map(\.description)
    let application = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "logbook"),
        logger: logger)
    return LogbookApplication(
        application: application, store: store, runtime: runtime, pool: pool, routes: routes, follower: follower,
        healthChecks: healthChecks, sweeper: sweeper, lagWatch: lagWatch, signer: signer, signing: signing,
        readModels: readModels, logger: logger)
}
