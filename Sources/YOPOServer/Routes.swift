import Foundation
import Hummingbird
import Logging
import YOPO
import YOPOCore

/// The routes of `yopo serve` (docs/SERVER.md): `POST /v1/chat/completions`, `GET /v1/models`,
/// `GET /health`, `GET /metrics`. Every error is OpenAI's JSON error body.
public func makeRouter(state: ServerState) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: JSONErrorMiddleware())
    router.get("/health") { _, _ -> Response in
        state.session == nil
            ? json(["status": "loading"], status: .serviceUnavailable, headers: [.retryAfter: "1"])
            : json(["status": "ok"], status: .ok)
    }
    router.get("/v1/models") { _, _ -> Response in
        json(ModelList(data: [.init(id: state.configuration.modelID, created: state.created)]), status: .ok)
    }
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: state.metricsText())))
    }
    router.post("/v1/chat/completions") { request, _ -> Response in
        await ChatCompletions(state: state).respond(request)
    }
    return router
}

/// Builds the HTTP application over `state`; `onServerRunning` gets the bound port.
public func makeApplication(
    state: ServerState, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: makeRouter(state: state),
        configuration: .init(address: .hostname(state.configuration.host, port: state.configuration.port), serverName: "yopo"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) }, logger: logger)
}

/// One chat completion: read and check the body, wait for a place in the queue, run it on the
/// session (cancelled when the client goes away or the time is up), answer whole or as SSE.
struct ChatCompletions {
    let state: ServerState
    var configuration: ServerConfiguration { state.configuration }

    func respond(_ request: Request) async -> Response {
        var request = request
        do {
            guard let session = state.session else {
                throw APIError(status: .serviceUnavailable, message: "the model is loading", type: "server_error", retryAfter: 1)
            }
            if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
                throw tooLarge()
            }
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw tooLarge()
            }
            let body = try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(buffer: buffer))
            let job = try ChatRequestReader(configuration: configuration).job(body)
            try session.check(job.request)
            guard let admission = state.admit() else {
                throw APIError(
                    status: .serviceUnavailable,
                    message: "the server's queue is full (\(configuration.maxQueuedRequests) requests); retry later",
                    type: "server_error", code: "queue_full", retryAfter: 1)
            }
            let run = EngineRun(session: session, state: state, job: job)
            if job.stream { return streamed(run, request: request, admission: admission) }
            defer { admission.release() }
            let outcome = try await request.body.consumeWithInboundCloseHandler { _ in
                try await run.execute { _ in }
            } onInboundClosed: {
                run.cancel()
            }
            let answer = ChatCompletion(
                id: run.id, created: run.created, model: configuration.modelID,
                choices: [.init(message: .init(content: outcome.text), finishReason: outcome.finishReason)],
                usage: Usage(outcome.result, completionTokens: outcome.completionTokens))
            return json(answer, status: .ok)
        } catch is CancellationError {
            return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request"))
        } catch {
            let api = APIError.from(error)
            state.metrics.request("error_\(api.status.code)")
            return api.response
        }
    }

    func tooLarge() -> APIError {
        APIError(
            status: .contentTooLarge, message: "the request body is larger than \(configuration.maxBodyBytes) bytes",
            param: nil, code: "request_too_large")
    }

    /// SSE: a role chunk, a chunk per piece of text, a finish chunk, the usage chunk when asked,
    /// `data: [DONE]`; an error after the head is a `data: {"error": …}` event.
    func streamed(_ run: EngineRun, request: Request, admission: Admission) -> Response {
        let model = configuration.modelID
        let includeUsage = run.job.includeUsage
        @Sendable func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil) -> ChatCompletionChunk {
            ChatCompletionChunk(
                id: run.id, created: run.created, model: model, choices: [.init(delta: delta, finishReason: finish)], usage: nil)
        }
        let body = ResponseBody { writer in
            defer { admission.release() }
            try await request.body.consumeWithInboundCloseHandler { _ in
                do {
                    try await writer.write(event(chunk(.init(role: "assistant", content: ""))))
                    let outcome = try await run.execute { text in
                        try await writer.write(event(chunk(.init(content: text))))
                    }
                    try await writer.write(event(chunk(.init(), finish: outcome.finishReason)))
                    if includeUsage {
                        var last = chunk(.init())
                        last.choices = []
                        last.usage = Usage(outcome.result, completionTokens: outcome.completionTokens)
                        try await writer.write(event(last))
                    }
                } catch let error where !run.isCancelled || run.timedOut {
                    let api = APIError.from(error)
                    state.metrics.request("error_\(api.status.code)")
                    try await writer.write(
                        event(ErrorBody(error: .init(message: api.message, type: api.type, param: api.param, code: api.code))))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            } onInboundClosed: {
                run.cancel()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

/// One request on the engine: streams its text through the stop sequences, counts it in the
/// metrics, cancels on demand or at the timeout.
final class EngineRun: @unchecked Sendable {
    let session: Session
    let state: ServerState
    let job: ChatJob
    let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    let created = Int(Date().timeIntervalSince1970)
    private let token = CancellationToken()
    private let lock = NSLock()
    private var didTimeOut = false

    init(session: Session, state: ServerState, job: ChatJob) {
        self.session = session
        self.state = state
        self.job = job
    }

    struct Outcome {
        var text: String
        var finishReason: String
        var completionTokens: Int
        var result: GenerationResult
    }

    func cancel() { token.cancel() }
    var isCancelled: Bool { token.isCancelled }
    var timedOut: Bool {
        lock.lock()
        defer { lock.unlock() }
        return didTimeOut
    }

    /// Runs the request, calling `send` with each piece of text the client may see. Throws
    /// `APIError` 504 at the timeout, `CancellationError` when the client went away, and what the
    /// session throws for a request that cannot run.
    func execute(_ send: (String) async throws -> Void) async throws -> Outcome {
        let timer = state.configuration.requestTimeoutSeconds.map { seconds in
            Task { [weak self] in
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                self?.timeOut()
            }
        }
        defer { timer?.cancel() }
        var stops = StopMatcher(job.stops)
        var text = ""
        var tokens = 0
        var stoppedAt: Int?
        var finished: GenerationResult?
        do {
            for try await event in session.stream(job.request, prefixCache: state.cache, cancellation: token) {
                switch event {
                case .token(_, let piece):
                    tokens += 1
                    guard stoppedAt == nil else { continue }
                    let (safe, stopped) = stops.feed(piece)
                    text += safe
                    if !safe.isEmpty { try await send(safe) }
                    if stopped {
                        stoppedAt = tokens
                        token.cancel()
                    }
                case .finished(let result, let trailing):
                    if stoppedAt == nil {
                        let (safe, stopped) = stops.feed(trailing)
                        let rest = stopped ? safe : safe + stops.flush()
                        text += rest
                        if !rest.isEmpty { try await send(rest) }
                        if stopped { stoppedAt = tokens }
                    }
                    finished = result
                }
            }
        } catch {
            // A write to a client that went away, or the session's error: the engine stops.
            let wasCancelled = token.isCancelled
            token.cancel()
            if timedOut { throw timeoutError() }
            if wasCancelled { state.metrics.request("cancelled") }
            throw error
        }
        guard let result = finished else {
            throw APIError(status: .internalServerError, message: "the engine ended without a result", type: "server_error")
        }
        let reason: String
        if stoppedAt != nil {
            reason = "stop"
        } else {
            switch result.finishReason {
            case .stop: reason = "stop"
            case .length, .context: reason = "length"
            case .cancelled:
                state.metrics.record(result, completionTokens: result.generatedTokens)
                if timedOut { throw timeoutError() }
                // The client went away: counted here, nobody reads an answer.
                state.metrics.request("cancelled")
                throw CancellationError()
            }
        }
        let completionTokens = stoppedAt ?? result.generatedTokens
        state.metrics.request(reason)
        state.metrics.record(result, completionTokens: completionTokens)
        return Outcome(text: text, finishReason: reason, completionTokens: completionTokens, result: result)
    }

    private func timeOut() {
        lock.lock()
        didTimeOut = true
        lock.unlock()
        token.cancel()
    }

    func timeoutError() -> APIError {
        APIError(
            status: .gatewayTimeout,
            message: "the request ran longer than \(state.configuration.requestTimeoutSeconds ?? 0) seconds and was cancelled",
            type: "timeout_error", code: "timeout")
    }
}

/// Turns errors thrown past a route (an unknown route, a method not allowed) into OpenAI's error body.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let type = error.status == .notFound ? "not_found_error" : "invalid_request_error"
            return APIError(
                status: error.status, message: error.body ?? "\(request.method) \(request.uri.path): \(error.status.reasonPhrase)",
                type: type
            ).response
        }
    }
}

extension APIError {
    var response: Response {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return json(ErrorBody(error: .init(message: message, type: type, param: param, code: code)), status: status, headers: headers)
    }
}

func json(_ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func event(_ value: some Encodable) -> ByteBuffer {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    var buffer = ByteBuffer(string: "data: ")
    buffer.writeBytes(data)
    buffer.writeString("\n\n")
    return buffer
}

/// Serves until SIGTERM or SIGINT (in-flight requests finish first), loading the model with `load`
/// in the background: `/health` answers 503 until it is loaded. `onServerRunning` gets the bound
/// port; `onLoadFailure` the error when loading fails (the CLI prints it and exits non-zero).
public func runServer(
    state: ServerState, logger: Logger, load: @escaping @Sendable () throws -> Session,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    onLoadFailure: @escaping @Sendable (any Error) -> Void
) async throws {
    let listening = Locked(false)  // set once the listener is bound: tells bind failures from later ones
    let app = makeApplication(state: state, logger: logger) { port in
        listening.set(true)
        await onServerRunning(port)
    }
    if state.session == nil {
        Thread.detachNewThread {
            do {
                state.ready(try load())
            } catch {
                onLoadFailure(error)
            }
        }
    }
    do {
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    } catch  where !listening.value {
        throw ListenError(host: state.configuration.host, port: state.configuration.port, underlying: error)
    }
}

/// The server could not bind its address (port in use, unknown host, no permission); `description` is the one-line error.
public struct ListenError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let underlying: any Error
    public var description: String {
        let reason = String(describing: underlying)
        if reason.contains("errno: \(EADDRINUSE)") {
            return "cannot listen on \(host):\(port): the address is already in use (another server?); choose another --port or --port 0"
        }
        return "cannot listen on \(host):\(port): \(reason)"
    }
}
