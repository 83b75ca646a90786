import AsyncAlgorithms
import Hummingbird
import NIOCore

/// A response body that a producer writes with back-pressure: each `send` waits until the client has taken the frame
/// before it, so a slow reader slows its own producer (a run, an export) instead of making the server hold everything
/// it has not read yet. A client that goes away cancels the producer.
enum StreamedBody {
    /// Where the producer writes.
    struct Sink: Sendable {
        let channel: AsyncChannel<ByteBuffer>
        /// Waits until the client's side takes `frame` (returns at once if the client is gone).
        func send(_ frame: ByteBuffer) async { await channel.send(frame) }
    }

    /// The body: runs `produce` when the response starts, writing what it sends as the client reads it.
    static func make(_ produce: @escaping @Sendable (Sink) async -> Void) -> ResponseBody {
        ResponseBody { writer in
            let channel = AsyncChannel<ByteBuffer>()
            let producer = Task {
                await produce(Sink(channel: channel))
                channel.finish()
            }
            // The client went away (a write fails, or the server cancels the response): stop the producer, and release
            // a send waiting on the channel.
            let stop = { @Sendable in
                producer.cancel()
                channel.finish()
            }
            try await withTaskCancellationHandler {
                do {
                    for await frame in channel { try await writer.write(frame) }
                } catch {
                    stop()
                    throw error
                }
            } onCancel: {
                stop()
            }
            try await writer.finish(nil)
        }
    }
}
