import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import YOPO
import YOPOPruning

/// What `yopo serve` is started with.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port.
    public var port = 8080
    /// The name `/v1/models` lists and requests' `model` must match (the checkpoint directory's name).
    public var modelID: String
    /// Pruning of requests that send no `yopo.prune`.
    public var defaultPrune: PruningSpec = .none
    public var defaultMode: YOPOMode = .skip
    /// `max_tokens` of requests that give none.
    public var defaultMaxTokens = 512
    /// Largest request body, in bytes (413 above it).
    public var maxBodyBytes = 64 << 20
    /// Requests admitted at once, running or waiting for the engine (503 with `Retry-After` above it).
    public var maxQueuedRequests = 16
    /// A request still running after this many seconds is cancelled (504); nil: no limit.
    public var requestTimeoutSeconds: Double? = 600
    /// Bytes of image prefixes kept for reuse (`PrefixCache`); 0 keeps none.
    public var prefixCacheBytes = 2 << 30
    /// Local image files (`file://` or a path in `image_url`) are read only under this directory.
    public var allowedImageDirectory: String?

    public init(modelID: String) { self.modelID = modelID }
}

/// The server's model, queue, cache and metrics, shared by every request.
public final class ServerState: @unchecked Sendable {
    public let configuration: ServerConfiguration
    /// The image-prefix cache; nil when `prefixCacheBytes` is 0 (every request then runs as
    /// `yopo generate` runs it: one prefill of the whole prompt).
    public let cache: PrefixCache?
    let registry = PrometheusCollectorRegistry()
    let metrics: ServerMetrics
    private let lock = NSLock()
    private var loaded: Session?
    private var admitted = 0
    let created = Int(Date().timeIntervalSince1970)

    public init(configuration: ServerConfiguration, session: Session? = nil) {
        self.configuration = configuration
        cache = configuration.prefixCacheBytes > 0 ? PrefixCache(capacityBytes: configuration.prefixCacheBytes) : nil
        metrics = ServerMetrics(factory: PrometheusMetricsFactory(registry: registry))
        loaded = session
    }

    /// The model once loaded; nil while loading.
    public var session: Session? {
        lock.lock()
        defer { lock.unlock() }
        return loaded
    }

    public func ready(_ session: Session) {
        lock.lock()
        loaded = session
        lock.unlock()
    }

    /// Takes a place in the queue, or nil when it is full.
    func admit() -> Admission? {
        lock.lock()
        defer { lock.unlock() }
        guard admitted < configuration.maxQueuedRequests else { return nil }
        admitted += 1
        return Admission(state: self)
    }

    fileprivate func leave() {
        lock.lock()
        admitted -= 1
        lock.unlock()
    }

    var inFlight: Int {
        lock.lock()
        defer { lock.unlock() }
        return admitted
    }

    /// The Prometheus text of every metric, gauges read now.
    public func metricsText() -> String {
        let status = session?.status
        metrics.queueDepth.record(status?.waiting ?? 0)
        metrics.busy.record(status?.running == true ? 1 : 0)
        metrics.inFlight.record(inFlight)
        let s = cache?.statistics ?? PrefixCache.Statistics()
        metrics.cacheBytes.record(s.bytes)
        metrics.cacheEntries.record(s.entries)
        return registry.emitToString()
    }
}

/// A place in the queue, given back once (at the latest when dropped).
final class Admission: @unchecked Sendable {
    private let state: ServerState
    private let lock = NSLock()
    private var held = true

    init(state: ServerState) { self.state = state }

    func release() {
        lock.lock()
        defer { lock.unlock() }
        guard held else { return }
        held = false
        state.leave()
    }

    deinit { release() }
}

/// The metrics `/metrics` shows, through swift-metrics into this server's Prometheus registry.
struct ServerMetrics {
    let factory: PrometheusMetricsFactory
    let promptTokens, visualTokens, generatedTokens, cachedPromptTokens, executedFLOPs: Metrics.Counter
    let cacheHits, cacheMisses: Metrics.Counter
    let prefillSeconds, decodeSeconds: Metrics.FloatingPointCounter
    let queueDepth, busy, inFlight, cacheBytes, cacheEntries: Metrics.Gauge

    init(factory: PrometheusMetricsFactory) {
        self.factory = factory
        func counter(_ name: String) -> Metrics.Counter { Metrics.Counter(label: name, factory: factory) }
        func gauge(_ name: String) -> Metrics.Gauge { Metrics.Gauge(label: name, factory: factory) }
        promptTokens = counter("yopo_prompt_tokens_total")
        visualTokens = counter("yopo_visual_tokens_total")
        generatedTokens = counter("yopo_generated_tokens_total")
        cachedPromptTokens = counter("yopo_cached_prompt_tokens_total")
        executedFLOPs = counter("yopo_executed_flops_total")
        cacheHits = counter("yopo_prefix_cache_hits_total")
        cacheMisses = counter("yopo_prefix_cache_misses_total")
        prefillSeconds = Metrics.FloatingPointCounter(label: "yopo_prefill_seconds_total", factory: factory)
        decodeSeconds = Metrics.FloatingPointCounter(label: "yopo_decode_seconds_total", factory: factory)
        queueDepth = gauge("yopo_queue_depth")
        busy = gauge("yopo_busy")
        inFlight = gauge("yopo_requests_in_flight")
        cacheBytes = gauge("yopo_prefix_cache_bytes")
        cacheEntries = gauge("yopo_prefix_cache_entries")
    }

    /// Counts a finished request by its outcome (`stop`, `length`, `cancelled`, `timeout`, `error_400`, …).
    func request(_ outcome: String) {
        Metrics.Counter(label: "yopo_requests_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    func record(_ result: GenerationResult, completionTokens: Int) {
        promptTokens.increment(by: result.promptTokens)
        visualTokens.increment(by: result.visualTokens)
        generatedTokens.increment(by: completionTokens)
        prefillSeconds.increment(by: result.timingsMS.prefill / 1000)
        decodeSeconds.increment(by: result.timingsMS.decode / 1000)
        var executed = result.flops.total
        if let use = result.prefixCache {
            if use.hit {
                executed -= use.prefixFLOPs
                cacheHits.increment()
                cachedPromptTokens.increment(by: use.prefixTokens)
            } else {
                cacheMisses.increment()
            }
        }
        executedFLOPs.increment(by: max(executed, 0))
    }
}
