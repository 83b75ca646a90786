import Engine
import EventStore
import Events
import Foundation
import Hummingbird
import Projections

/// Everything about threads, in one place: create, list and read them, post a message (the answer streamed or not),
/// page through their events, and debug them (fork, replay, counterfactual, diff). Each handler is in the file named
/// for what it does: `ThreadRoutes+Conversation.swift`, `ThreadRoutes+Messages.swift`, `ThreadRoutes+Debugging.swift`.
struct ThreadRoutes {
    let runtime: AgentRuntime
    let store: EventStore
    let readModels: ProjectionRunner
    let maxMessageBytes: Int

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("threads", use: create)
        group.get("threads", use: list)
        group.get("threads/:thread", use: show)
        group.post("threads/:thread/messages", use: postMessage)
        group.get("threads/:thread/events", use: events)
        group.post("threads/:thread/fork", use: fork)
        group.post("threads/:thread/replay", use: replay)
        group.get("threads/:thread/diff/:other", use: diff)
    }
}
