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

    /// What the body writes between frames while its producer waits (an SSE comment, which readers skip).
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")

    /// The body: runs `produce` when the response starts, writing what it sends as the client reads it.
    ///
    /// The server learns that a client went away only when a write to it fails, and a run waiting on a slow model or
    /// tool writes nothing: so the body also writes `keepAlive` every `heartbeat`, and a client that hung up (the web
    /// page's Cancel, a closed terminal) cancels its run within about two heartbeats instead of when the model
    /// answers.
    static func make(
        heartbeat: Duration = .seconds(1), _ produce: @escaping @Sendable (Sink) async -> Void
    ) -> ResponseBody {
        ResponseBody { writer in
            let channel = AsyncChannel<ByteBuffer>()
            let beats = Task {
                while (try? await Task.sleep(for: heartbeat)) != nil { await channel.send(keepAlive) }
            }
            let producer = Task {
                await produce(Sink(channel: channel))
                beats.cancel()
                channel.finish()
            }
            // The client went away (a write fails, or the server cancels the response): stop the producer, and release
            // a send waiting on the channel.
            let stop = { @Sendable in
                beats.cancel()
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
