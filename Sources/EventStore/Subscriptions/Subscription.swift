/// What a subscription delivers.
public enum SubscriptionMessage: Sendable, Equatable {
    /// The next event in log order.
    case event(RecordedEvent)
    /// Every event up to this seq was delivered; what follows is live. Sent once.
    case caughtUp(Seq)
    /// The subscription ended and delivers nothing more.
    case dropped(SubscriptionDropReason)
    /// Nothing was appended for the subscription's `heartbeat`; still caught up at this seq. Sent only to
    /// subscriptions made with a heartbeat (a live tail uses it to find out its reader has gone).
    case idle(Seq)
}

/// Why a subscription ended.
public enum SubscriptionDropReason: Sendable, Equatable, CustomStringConvertible {
    /// The subscriber fell more than `Limits.maxSubscriberLagEvents` behind the head after catching up.
    case subscriberTooSlow(lagEvents: UInt64, limit: UInt64)
    /// The store was closed.
    case storeClosed
    /// Reading the log failed.
    case failed(EventStoreError)

    public var description: String {
        switch self {
        case .subscriberTooSlow(let lag, let limit):
            "subscriber too slow: \(lag) events behind the head (limit \(limit)); resubscribe from the last seq it handled"
        case .storeClosed: "the store was closed"
        case .failed(let error): "reading the log failed: \(error.message)"
        }
    }
}

/// Events from a seq on: first the backlog, then `.caughtUp`, then live events as they are committed.
///
/// It pulls from the log in chunks as the consumer asks, so it never buffers more than one chunk
/// (`Limits.subscriptionChunkEvents`): a slow consumer slows only itself. One that falls more than
/// `Limits.maxSubscriberLagEvents` behind after catching up is dropped with `.subscriberTooSlow`.
/// Ends (returns nil) after a `.dropped` message or when the consuming task is cancelled. With a `heartbeat`, a
/// caught-up subscription that waits that long for an append delivers `.idle`.
public struct Subscription: AsyncSequence, Sendable {
    public typealias Element = SubscriptionMessage
    let store: EventStore
    let start: Seq
    let heartbeat: Duration?

    public func makeAsyncIterator() -> Iterator { Iterator(store: store, heartbeat: heartbeat, next: start.rawValue) }

    public struct Iterator: AsyncIteratorProtocol {
        let store: EventStore
        let heartbeat: Duration?
        var next: UInt64
        var buffer: [RecordedEvent] = []
        var bufferIndex = 0
        var caughtUp = false
        var ended = false

        public mutating func next() async -> SubscriptionMessage? {
            while !ended {
                if bufferIndex < buffer.count {
                    defer { bufferIndex += 1 }
                    return .event(buffer[bufferIndex])
                }
                let head = store.currentHead()
                if next <= head {
                    if caughtUp, head - next + 1 > store.limits.maxSubscriberLagEvents {
                        return end(
                            .subscriberTooSlow(lagEvents: head - next + 1, limit: store.limits.maxSubscriberLagEvents))
                    }
                    do {
                        buffer = try store.read(from: Seq(next), maxCount: store.limits.subscriptionChunkEvents)
                    } catch {
                        return end(error.code == .closed ? .storeClosed : .failed(error))
                    }
                    bufferIndex = 0
                    guard let last = buffer.last else {
                        return end(
                            .failed(
                                EventStoreError(
                                    .corrupt, "event \(next) is missing below the head \(head); run 'logbook verify'")))
                    }
                    next = last.seq.rawValue + 1
                    continue
                }
                if !caughtUp {
                    caughtUp = true
                    return .caughtUp(Seq(head))
                }
                if Task.isCancelled { return nil }
                if store.writer == nil {
                    // Read-only: another process appends, and nothing here hears of its commits. Poll.
                    do { try await Task.sleep(for: store.configuration.readOnlyPollInterval) } catch { return nil }
                    if store.env.isClosed { return end(.storeClosed) }
                    continue
                }
                if let heartbeat {
                    switch await store.head.wait(after: next - 1, timeout: heartbeat) {
                    case .advanced: continue
                    case .timedOut: return .idle(Seq(next - 1))
                    case .ended: if Task.isCancelled { return nil } else { return end(.storeClosed) }
                    }
                }
                guard await store.head.wait(after: next - 1) != nil else {
                    if Task.isCancelled { return nil }
                    return end(.storeClosed)
                }
            }
            return nil
        }

        private mutating func end(_ reason: SubscriptionDropReason) -> SubscriptionMessage {
            ended = true
            return .dropped(reason)
        }
    }
}
