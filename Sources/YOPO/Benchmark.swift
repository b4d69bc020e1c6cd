import CKernels
import Foundation
import YOPOCore
import YOPOImage
import YOPOModels
import YOPOPruning

/// `yopo bench`: vision encode, LLM prefill and decode timed on one model (random weights with
/// real dimensions, or a checkpoint). The prompt is `[system][image grid][text]` given as
/// embeddings of fixed token ids, so no tokenizer is needed. Numbers land in BENCHMARKS.md.
public final class ModelBenchmark {
    /// One pruning spec's timings.
    public struct SpecResult: Codable, Sendable {
        public var spec: String
        public var mode: YOPOMode?
        /// Median prefill over runs, milliseconds.
        public var prefillMS: Double
        public var runsMS: [Double]
        /// Executed FLOPs of one prefill (docs/FLOPS.md `full`, LLM only).
        public var executedFLOPs: Int
        public var gflopsPerSecond: Double
        /// Single-token decode steps (fixed token ids) after the prefill: median step, or nil when none were timed.
        public var decodeTokensPerSecond: Double?
        public var decodeMSPerToken: Double?

        enum CodingKeys: String, CodingKey {
            case spec, mode, prefillMS = "prefill_ms", runsMS = "runs_ms", executedFLOPs = "executed_flops"
            case gflopsPerSecond = "gflops_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
            case decodeMSPerToken = "decode_ms_per_token"
        }
    }

    public let decoder: TextDecoder
    public let vision: VisionWorkload?
    public let systemTokens: Int
    public let gridRows: Int
    public let gridColumns: Int
    public let textTokens: Int
    /// Shape YOPO specs are resolved against: the full model's when `decoder` is a slice of its first
    /// layers (presets and official masks exist for full models only; the plan is then cut to the slice).
    public let planShape: DecoderShape

    /// The session whose model is timed (nil for random weights): runs take their turn on it.
    public let session: Session?

    /// - Parameters: `decoder` and `vision` (nil: no vision timing) to time; the prompt is
    ///   `systemTokens` + `gridRows × gridColumns` visual + `textTokens` rows; `planShape` as above.
    ///   Runs use the calling thread's `ExecutionContext`.
    public convenience init(
        decoder: TextDecoder, vision: VisionWorkload?, systemTokens: Int, gridRows: Int, gridColumns: Int,
        textTokens: Int, planShape: DecoderShape? = nil
    ) {
        self.init(
            decoder: decoder, vision: vision, systemTokens: systemTokens, gridRows: gridRows, gridColumns: gridColumns,
            textTokens: textTokens, planShape: planShape, session: nil)
    }

    /// Times a session's model: its decoder (its first `layers` when given; YOPO plans are resolved
    /// for the whole model and cut to them) and, with `vision`, its vision tower. Each run is a
    /// request of the session: after the one before it, under the session's execution context.
    /// Throws `GenerationError.invalidParameter` for `layers` outside 1 … the model's layers.
    public convenience init(
        session: Session, layers: Int? = nil, vision: Bool = true, systemTokens: Int, gridRows: Int,
        gridColumns: Int, textTokens: Int
    ) throws {
        let full = session.model.decoder
        if let layers, layers < 1 || layers > full.spec.numHiddenLayers {
            throw GenerationError.invalidParameter("layers \(layers) is outside 1 to the checkpoint's \(full.spec.numHiddenLayers)")
        }
        self.init(
            decoder: layers.map { full.prefix(layers: $0) } ?? full,
            vision: vision ? VisionWorkload(session.model, rows: gridRows, columns: gridColumns) : nil,
            systemTokens: systemTokens, gridRows: gridRows, gridColumns: gridColumns, textTokens: textTokens,
            planShape: session.decoderShape, session: session)
    }

    private init(
        decoder: TextDecoder, vision: VisionWorkload?, systemTokens: Int, gridRows: Int, gridColumns: Int,
        textTokens: Int, planShape: DecoderShape?, session: Session?
    ) {
        self.session = session
        self.decoder = decoder
        let c = decoder.spec
        self.planShape = planShape ?? c.shape
        self.vision = vision
        self.systemTokens = systemTokens
        self.gridRows = gridRows
        self.gridColumns = gridColumns
        self.textTokens = textTokens
    }

    public var promptTokens: Int { systemTokens + gridRows * gridColumns + textTokens }

    /// Times `runs` prefills (after `warmup` untimed ones; the first also counts the executed FLOPs)
    /// with `spec` in `mode`, then `decodeTokens` single-token steps through the last prefill's KV cache.
    /// Times in milliseconds. Throws `PruningSpecError` when `spec` does not fit the decoder.
    public func run(spec: PruningSpec, mode: YOPOMode, runs: Int, warmup: Int = 1, decodeTokens: Int) throws -> SpecResult {
        try exclusive { try timed(spec: spec, mode: mode, runs: runs, warmup: warmup, decodeTokens: decodeTokens) }
    }

    /// `body` as a request of the session, if there is one.
    private func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        guard let session else { return try body() }
        return try session.exclusive(body)
    }

    private func timed(spec: PruningSpec, mode: YOPOMode, runs: Int, warmup: Int, decodeTokens: Int) throws -> SpecResult {
        let c = decoder.spec
        // A session's model is who its family says; random weights of an --arch are that LLaVA model.
        let plan = try spec.resolve(for: session?.identity ?? .llava(planShape))?.prefix(layers: c.numHiddenLayers)
        let shape = c.shape
        // A fresh pruner per sequence for the token-pruning baselines.
        func execution() throws -> DecoderExecution {
            if let pruner = try spec.makePruner(for: shape) { return .tokenPruning(pruner) }
            return DecoderExecution(plan: plan, mode: mode, simulated: session?.model.simulatedSemantics ?? .llava)
        }
        let inputs = decoder.embed((0..<promptTokens).map { ($0 * 7919) % c.vocabSize })
        let image = ImageLayout(start: systemTokens, gridRows: gridRows, gridColumns: gridColumns)
        let positions = rotaryPositions
        // FLOPs come from one counted prefill: the first warm-up, or with no warm-up the first timed run
        // (counting adds a few integer additions per row and head).
        let counter = FLOPCounter()
        var times: [Double] = []
        var cache = decoder.makeCache(capacity: promptTokens + decodeTokens)
        var last = try execution()
        let start = DispatchTime.now()
        _ = decoder.forward(inputs, cache: cache, images: [image], plan: last, counter: counter, rotaryPositions: positions)
        if warmup == 0 { times.append(millisecondsSince(start)) }
        for _ in 1..<max(warmup, 1) {
            _ = decoder.forward(
                inputs, cache: decoder.makeCache(capacity: promptTokens), images: [image],
                plan: try execution(), rotaryPositions: positions)
        }
        for _ in times.count..<max(runs, 1) {
            cache = decoder.makeCache(capacity: promptTokens + decodeTokens)
            last = try execution()
            let execution = last
            let start = DispatchTime.now()
            _ = decoder.forward(inputs, cache: cache, images: [image], plan: execution, rotaryPositions: positions)
            times.append(millisecondsSince(start))
        }
        var steps: [Double] = []
        for i in 0..<decodeTokens {
            let token = (i * 31 + 1) % c.vocabSize
            let start = DispatchTime.now()
            _ = decoder.decode(token: token, cache: cache, plan: last)
            steps.append(millisecondsSince(start))
        }
        let median = ModelBenchmark.median(times)
        let step = steps.isEmpty ? nil : ModelBenchmark.median(steps)
        return SpecResult(
            spec: spec.description, mode: plan == nil ? nil : mode, prefillMS: median, runsMS: times,
            executedFLOPs: counter.total, gflopsPerSecond: Double(counter.total) / (median / 1000) / 1e9,
            decodeTokensPerSecond: step.map { 1000 / $0 }, decodeMSPerToken: step)
    }

    /// One spec's eval-style run: `questions` prompts about one image, each `[system][image][text]`
    /// with its own text tokens, answered without and with the image-prefix cache.
    public struct PrefixReuseResult: Codable, Sendable {
        public var spec: String
        public var mode: YOPOMode?
        public var questions: Int
        /// Decoder layers the prefix reuses (all for dense and YOPO; before the first pruning layer otherwise).
        public var reusedLayers: Int
        /// Every question alone: its image encoded (when the vision tower is timed), its whole prompt
        /// prefilled in one call, `decodeTokens` steps. Milliseconds for all questions.
        public var uncachedMS: Double
        /// The image encoded once and its prefix prefilled once, then each question's continuation
        /// and decode steps. Milliseconds for all questions.
        public var cachedMS: Double
        public var speedUp: Double
        /// Questions whose first greedy token is the same both ways.
        public var sameFirstToken: Int

        enum CodingKeys: String, CodingKey {
            case spec, mode, questions, reusedLayers = "reused_layers", uncachedMS = "uncached_ms", cachedMS = "cached_ms"
            case speedUp = "speed_up", sameFirstToken = "same_first_token"
        }
    }

    /// Times `questions` questions about one image with `spec` in `mode`, without and then with the
    /// image-prefix cache (`DecoderPrefix`), each followed by `decodeTokens` steps. Throws
    /// `PruningSpecError` when `spec` does not fit the decoder.
    public func prefixReuse(spec: PruningSpec, mode: YOPOMode, questions: Int, decodeTokens: Int) throws -> PrefixReuseResult {
        try exclusive {
            let c = decoder.spec
            let plan = try spec.resolve(for: session?.identity ?? .llava(planShape))?.prefix(layers: c.numHiddenLayers)
            func execution() throws -> DecoderExecution {
                if let pruner = try spec.makePruner(for: c.shape) { return .tokenPruning(pruner) }
                return DecoderExecution(plan: plan, mode: mode, simulated: session?.model.simulatedSemantics ?? .llava)
            }
            let split = systemTokens + gridRows * gridColumns
            let image = ImageLayout(start: systemTokens, gridRows: gridRows, gridColumns: gridColumns)
            let prefixInputs = decoder.embed((0..<split).map { ($0 * 7919) % c.vocabSize })
            // Each question its own text tokens.
            let texts = (0..<questions).map { q in decoder.embed((0..<textTokens).map { (($0 + 1) * 104_729 + q * 613) % c.vocabSize }) }
            // M-RoPE (Qwen2-VL): the whole prompt's positions; the prefix takes its rows' and the
            // questions continue at index + rope delta (every question has the same length).
            let positions = rotaryPositions
            func decode(_ cache: KVCache, _ plan: DecoderExecution) {
                for i in 0..<decodeTokens { _ = decoder.decode(token: (i * 31 + 1) % c.vocabSize, cache: cache, plan: plan) }
            }
            var firstUncached: [Int] = [], firstCached: [Int] = []
            let uncachedStart = DispatchTime.now()
            for q in 0..<questions {
                vision?.encode(nil)
                let p = try execution()
                let cache = decoder.makeCache(capacity: promptTokens + decodeTokens)
                let logits = decoder.forward(
                    concatenateRows(prefixInputs, texts[q]), cache: cache, images: [image], plan: p, rotaryPositions: positions)
                firstUncached.append(argmax(logits))
                decode(cache, p)
            }
            let uncached = millisecondsSince(uncachedStart)
            let cachedStart = DispatchTime.now()
            vision?.encode(nil)
            let prefix = decoder.prefillPrefix(
                prefixInputs, images: [image], plan: try execution(), rotaryPositions: positions.map { Array($0[..<split]) })
            for q in 0..<questions {
                let p = try execution()
                let (logits, cache) = decoder.forward(continuing: prefix, texts[q], plan: p, capacity: promptTokens + decodeTokens)
                firstCached.append(argmax(logits))
                decode(cache, p)
            }
            let cached = millisecondsSince(cachedStart)
            return PrefixReuseResult(
                spec: spec.description, mode: plan == nil ? nil : mode, questions: questions, reusedLayers: prefix.layers,
                uncachedMS: uncached, cachedMS: cached, speedUp: uncached / cached,
                sameFirstToken: zip(firstUncached, firstCached).filter { $0 == $1 }.count)
        }
    }

    private func argmax(_ t: Tensor) -> Int {
        var best = 0
        for i in 0..<t.count where t.data[i] > t.data[best] { best = i }
        return best
    }

    /// Median milliseconds of encoding one image with the vision tower (after `warmup` untimed
    /// encodes, at least the counted one), and its FLOPs.
    public func visionEncode(runs: Int, warmup: Int = 1) -> (ms: Double, flops: Int)? {
        guard let vision else { return nil }
        return exclusive { encode(vision, runs: runs, warmup: warmup) }
    }

    private func encode(_ vision: VisionWorkload, runs: Int, warmup: Int) -> (ms: Double, flops: Int) {
        let counter = FLOPCounter()
        var times: [Double] = []
        let start = DispatchTime.now()
        vision.encode(counter)
        if warmup == 0 { times.append(millisecondsSince(start)) }
        for _ in 1..<max(warmup, 1) { vision.encode(nil) }
        for _ in times.count..<max(runs, 1) {
            let start = DispatchTime.now()
            vision.encode(nil)
            times.append(millisecondsSince(start))
        }
        return (ModelBenchmark.median(times), counter.total)
    }

    /// M-RoPE positions of the bench prompt (`get_rope_index` on `[system][grid][text]`) for a
    /// decoder with `mrope_section`; nil (1-D positions) otherwise.
    var rotaryPositions: [RotaryPosition]? {
        guard decoder.spec.mropeSection != nil else { return nil }
        let pad = -1
        let ids = (0..<systemTokens).map { $0 } + Array(repeating: pad, count: gridRows * gridColumns) + (0..<textTokens).map { $0 }
        return try? Qwen2VLModel.ropeIndex(ids: ids, imageToken: pad, grids: [(gridRows, gridColumns)]).positions
    }

    // MARK: memory estimates

    /// Bytes of the weights `TextDecoder(randomWeightsFor:dtype:sharedLayers:)` and, when `vision` is
    /// given, `CLIPVisionTower(randomWeightsFor:featureLayer:dtype:)` allocate: every decoder matrix
    /// (one set when `sharedLayers`), embeddings and LM head, fp32 norms, and the tower's matrices and
    /// fp32 embeddings. Checked arithmetic: nil when the count leaves 64 bits (nothing that large fits).
    public static func estimatedWeightBytes(
        decoder c: LlamaConfiguration, dtype: DType, sharedLayers: Bool, vision: CLIPVisionConfiguration?
    ) -> Int? {
        let b = dtype.byteSize, d = c.hiddenSize, m = c.intermediateSize
        guard let qWidth = checkedProduct(c.numAttentionHeads, c.headDim),
            let kvWidth = checkedProduct(c.numKeyValueHeads, c.headDim),
            let perLayerParams = checkedSum(checkedProduct(2, d, qWidth), checkedProduct(2, d, kvWidth), checkedProduct(3, d, m)),
            let layerBytes = checkedSum(checkedProduct(perLayerParams, b), checkedProduct(2, d, 4))
        else { return nil }
        var total = checkedSum(
            checkedProduct(layerBytes, sharedLayers ? 1 : c.numHiddenLayers), checkedProduct(2, c.vocabSize, d, b), 4 * d)
        if let v = vision {
            let dv = v.hiddenSize, p = v.patchSize, g = v.imageSize / max(v.patchSize, 1)
            let layer = checkedSum(
                checkedProduct(4, dv, dv, b), checkedProduct(2, dv, v.intermediateSize, b),
                checkedProduct(10, dv, 4), checkedProduct(v.intermediateSize, 4))
            total = checkedSum(
                total, checkedProduct(layer ?? -1, v.numHiddenLayers), checkedProduct(dv, 3, p, p, b),
                checkedProduct(checkedSum(checkedProduct(g, g), 2) ?? -1, dv, 4))
        }
        return total
    }

    /// Bytes of a random-weights Qwen2-VL / Qwen2.5-VL tower (`Qwen2VLVisionTower(randomWeightsFor:)`:
    /// patch embedding, per block qkv, proj and the MLP's matrices in `dtype` with fp32 norms and
    /// biases, the merger) and of one encode of a `rows × columns`-token image on top of them (the
    /// pixels, about ten fp32 activations of `[patches, embed]`, the MLP's hidden rows, one tile of
    /// 1024 query rows' scores per head). Checked arithmetic: nil beyond 64 bits.
    public static func estimatedQwenVisionBytes(
        _ v: Qwen2VLVisionConfiguration, dtype: DType, rows: Int, columns: Int
    ) -> (weights: Int?, run: Int?) {
        let b = dtype.byteSize, e = v.embedDim, m = v.intermediateSize, unit = v.spatialMergeSize * v.spatialMergeSize
        let mlpMatrices = v.variant == .qwen25VL ? 3 : 2
        let block = checkedSum(
            checkedProduct(4, e, e, b), checkedProduct(mlpMatrices, e, m, b), checkedProduct(8, e, 4), checkedProduct(mlpMatrices, m, 4))
        let weights = checkedSum(
            checkedProduct(block ?? -1, v.depth), checkedProduct(e, v.patchDimension, b),
            checkedProduct(unit * e, unit * e, b), checkedProduct(v.hiddenSize, unit * e, b))
        let patches = checkedProduct(rows, columns, unit)
        let run = checkedSum(
            checkedProduct(patches ?? -1, v.patchDimension, 8), checkedProduct(patches ?? -1, 10 * e + 2 * m, 4),
            checkedProduct(v.numHeads, 1024, patches ?? -1, 4))
        return (weights.flatMap { $0 < 0 ? nil : $0 }, run.flatMap { $0 < 0 ? nil : $0 })
    }

    /// Bytes a `run(spec:mode:runs:warmup:decodeTokens:)` series allocates on top of the weights, for a
    /// prompt of `promptTokens` rows (`textTokens` of them after the image) and `decodeTokens` steps on
    /// `threads` threads: two KV caches alive at once (fp32 keys and values of every layer, capacity
    /// prompt + decode), the prefill's fp32 activations (hidden states, q, k, v, attention output,
    /// SwiGLU), per-thread score blocks, the baselines' captured attention rows (every head, up to the
    /// text rows plus one, against the whole prompt), the 1 GiB read-bandwidth probe when
    /// `bandwidthProbe`, and 256 MiB for the rest. An estimate to refuse runs that cannot fit, not an
    /// exact count; checked arithmetic: nil beyond 64 bits.
    public static func estimatedRunBytes(
        decoder c: DecoderSpec, promptTokens: Int, textTokens: Int, decodeTokens: Int, threads: Int,
        bandwidthProbe: Bool
    ) -> Int? {
        let d = c.hiddenSize, m = c.intermediateSize
        guard let qWidth = checkedProduct(c.numAttentionHeads, c.headDim),
            let kvWidth = checkedProduct(c.numKeyValueHeads, c.headDim),
            let capacity = checkedSum(promptTokens, decodeTokens)
        else { return nil }
        let cache = checkedProduct(2, c.numHiddenLayers, 2, capacity, kvWidth, 4)
        let rowWidth = checkedSum(checkedProduct(7, d), checkedProduct(2, qWidth), checkedProduct(2, kvWidth), checkedProduct(3, m))
        let activations = checkedProduct(promptTokens, rowWidth ?? -1, 4)
        let scores = checkedProduct(max(threads, 1), attentionQueryBlock, capacity, 4)
        let captures = checkedProduct(c.numAttentionHeads + 1, textTokens + 1, capacity, 4)
        return checkedSum(cache, activations, scores, captures, bandwidthProbe ? 1 << 30 : 0, 256 << 20)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// One image through a vision tower, as `yopo bench` times it: a synthetic image of the prompt's
/// grid encoded (FLOPs counted into the counter when one is given).
public struct VisionWorkload {
    public let encode: (FLOPCounter?) -> Void

    public init(encode: @escaping (FLOPCounter?) -> Void) { self.encode = encode }

    /// CLIP on one `[3, S, S]` image (the tower's fixed grid).
    public static func clip(_ tower: CLIPVisionTower) -> VisionWorkload {
        let s = tower.config.imageSize
        let pixels = Tensor(shape: [3, s, s], values: (0..<(3 * s * s)).map { Float(($0 * 37) % 255) / 128 - 1 })
        return VisionWorkload { counter in _ = tower(pixels, counter: counter) }
    }

    /// Qwen2-VL's / Qwen2.5-VL's tower and merger on an image of `rows × columns` LLM tokens
    /// (`rows·m × columns·m` patches of synthetic values).
    public static func qwen(_ tower: Qwen2VLVisionTower, rows: Int, columns: Int) -> VisionWorkload {
        let m = tower.config.spatialMergeSize, dimension = tower.config.patchDimension
        let count = rows * m * columns * m * dimension
        let pixels = QwenVLPixels(
            gridT: 1, gridH: rows * m, gridW: columns * m, patchDimension: dimension,
            values: (0..<count).map { Float(($0 * 37) % 255) / 128 - 1 })
        return VisionWorkload { counter in _ = tower(pixels, counter: counter) }
    }

    /// A loaded model's tower on an image of the prompt's grid; nil for a family without one here.
    /// (LLaVA's CLIP sees its fixed grid whatever the prompt's.)
    init?(_ model: any VisionLanguageModel, rows: Int, columns: Int) {
        if let llava = model as? LLaVAModel {
            self = .clip(llava.visionTower)
        } else if let qwen = model as? Qwen2VLModel {
            self = .qwen(qwen.vision, rows: rows, columns: columns)
        } else {
            return nil
        }
    }
}

/// Peak resident set size of this process so far, in bytes (`getrusage`; Linux reports KiB).
public func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss
    #endif
}

/// Read bandwidth of main memory in GB/s: the median of `repeats` passes over `bytes`, read by
/// `MatMul.threads` threads (the decode bound's denominator; a median, as decode is reported).
public func measureReadBandwidth(bytes: Int = 1 << 30, repeats: Int = 5) -> Double {
    let storage = RawStorage(byteCount: bytes)
    memset(storage.pointer, 1, bytes)
    let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
    sink.initialize(repeating: 0, count: 64)
    defer { sink.deallocate() }
    var rates: [Double] = []
    let blocks = bytes / 64
    for _ in 0..<repeats {
        let start = DispatchTime.now()
        parallelChunks(blocks, minimum: 1024) { b0, b1 in
            let sum = yopo_read_memory(storage.pointer + b0 * 64, (b1 - b0) * 64)
            sink[min(63, b0 * 64 / blocks)] &+= sum
        }
        let seconds = millisecondsSince(start) / 1000
        rates.append(Double(bytes) / seconds / 1e9)
    }
    return ModelBenchmark.median(rates)
}

/// Errors of benchmark settings, one line each.
public enum BenchmarkError: Error, CustomStringConvertible, Equatable {
    /// A product shape that is not `MxKxN` with sizes 1 to `ProductShape.maxSide`; the text names it.
    case invalidShape(String)

    public var description: String {
        switch self {
        case .invalidShape(let s): return s
        }
    }
}

/// The shape of one matrix product, C[M, N] = A[M, K] · W[N, K]ᵀ, as `yopo bench-gemm` times it.
public struct ProductShape: Sendable, Equatable, CustomStringConvertible {
    /// Most rows, columns or depth of one product (BLAS takes 32-bit sizes).
    public static let maxSide = 1 << 24

    public var m: Int, k: Int, n: Int

    public init(m: Int, k: Int, n: Int) {
        self.m = m
        self.k = k
        self.n = n
    }

    /// Parses `MxKxN` (`×` or `x`, any case). Throws `BenchmarkError.invalidShape` naming the text:
    /// not three positive integers, or a size above `maxSide` (digits beyond 64 bits count as too large).
    public init(parsing text: String) throws {
        let parts = text.lowercased().replacingOccurrences(of: "×", with: "x").split(separator: "x", omittingEmptySubsequences: false)
        let words = parts.map { $0.trimmingCharacters(in: .whitespaces) }
        func isDigits(_ w: String) -> Bool { !w.isEmpty && w.allSatisfy { $0.isASCII && $0.isNumber } }
        let sizes = words.compactMap { Int($0) ?? (isDigits($0) ? Int.max : nil) }
        guard parts.count == 3, sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else {
            throw BenchmarkError.invalidShape("shape \(text) is not MxKxN with positive sizes (e.g. 641x4096x11008)")
        }
        guard sizes.allSatisfy({ $0 <= Self.maxSide }) else {
            throw BenchmarkError.invalidShape(
                "shape \(text) has a size above \(Self.maxSide) (each of M, K, N must be 1 to \(Self.maxSide))")
        }
        self.init(m: sizes[0], k: sizes[1], n: sizes[2])
    }

    /// `641x4096x11008`.
    public var description: String { "\(m)x\(k)x\(n)" }
}
