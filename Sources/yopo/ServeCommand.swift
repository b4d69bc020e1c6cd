import ArgumentParser
import Foundation
import Logging
import YOPO
import YOPOCore
import YOPOPruning
import YOPOServer

/// `yopo serve`: the OpenAI-compatible server (docs/SERVER.md) over one session.
struct Serve: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API (chat completions with images, per-request pruning).",
        discussion: """
            Routes: POST /v1/chat/completions, GET /v1/models, GET /health, GET /metrics. A request \
            chooses its pruning with the extension field "yopo": {"prune": SPEC, "mode": skip|simulate}; \
            --prune and --yopo-mode are the defaults. The port is bound at once and /health answers 503 \
            until the model is loaded. SIGTERM or SIGINT stops it after the requests in flight.
            """)

    @OptionGroup var session: SessionOptionGroup

    @Option(parsing: .unconditional, help: ArgumentHelp("Address to listen on.", valueName: "host"))
    var host = "127.0.0.1"

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Port to listen on (0 picks a free one).", valueName: "port"),
        transform: OptionValue.integer("port", 0...65535))
    var port = 8080

    @OptionGroup var pruning: PruningOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("max_tokens of requests that give none.", valueName: "n"),
        transform: OptionValue.integer("max-tokens", 1...(1 << 30)))
    var maxTokens = 512

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Requests admitted at once, running or queued; more get 503 with Retry-After.", valueName: "n"),
        transform: OptionValue.integer("queue-size", 1...4096))
    var queueSize = 16

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Cancel a request still running after this many seconds (504); 0 = no limit.", valueName: "seconds"),
        transform: OptionValue.integer("timeout", 0...(7 * 24 * 3600)))
    var timeout = 600

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Largest request body in MiB (413 above it).", valueName: "MiB"),
        transform: OptionValue.integer("max-body-mib", 1...4096))
    var maxBodyMib = 64

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("MiB of image prefixes (vision features and their KV cache) kept for reuse; 0 = off.", valueName: "MiB"),
        transform: OptionValue.integer("prefix-cache-mib", 0...(1 << 20)))
    var prefixCacheMib = 2048

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Directory whose image files requests may name (file:// or a path); default: data: URIs only.", valueName: "dir")
    )
    var allowedImageDir: String?

    @Flag(help: "Log each request to stderr.")
    var verbose = false

    func execute() throws {
        let options = try session.sessionOptions(json: true)
        if let dir = allowedImageDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ArgumentError("--allowed-image-dir \(dir) is not a directory")
            }
        }
        var configuration = ServerConfiguration(modelID: URL(fileURLWithPath: session.model).standardizedFileURL.lastPathComponent)
        configuration.host = host
        configuration.port = port
        configuration.defaultPrune = pruning.prune
        configuration.defaultMode = pruning.yopoMode
        configuration.defaultMaxTokens = maxTokens
        configuration.maxQueuedRequests = queueSize
        configuration.requestTimeoutSeconds = timeout == 0 ? nil : Double(timeout)
        configuration.maxBodyBytes = maxBodyMib << 20
        configuration.prefixCacheBytes = prefixCacheMib << 20
        configuration.allowedImageDirectory = allowedImageDir
        let verbose = self.verbose
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .info : .warning
            return handler
        }
        let state = ServerState(configuration: configuration)
        let directory = session.model
        let host = self.host
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)  // handed from the server's task to this thread
        Task {
            do {
                try await runServer(
                    state: state, logger: Logger(label: "yopo.serve"),
                    load: { try Session(modelDirectory: directory, options: options) },
                    onServerRunning: { port in printError("yopo serve: listening on http://\(host):\(port)") },
                    onLoadFailure: { error in
                        printError("error: \(oneLine(String(describing: error)))")
                        Foundation.exit(1)
                    })
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = failure.value { throw error }
    }
}
