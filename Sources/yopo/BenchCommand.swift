import ArgumentParser
import Foundation
import YOPO
import YOPOCore
import YOPOModels
import YOPOPruning

/// `yopo bench`: vision encode, prefill and decode on random weights with a real model's
/// dimensions (or a checkpoint directory), per pruning spec.
struct Bench: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time vision encode, LLM prefill and decode on random weights with a real model's dimensions.",
        discussion: """
            The prompt is [system][image grid][text] as embeddings of fixed token ids. With --random-weights \
            every decoder layer gets its own weights (so decode streams the real bytes and peak RSS is the \
            real one) unless --shared-layers. Each --prune is run in turn; the table shows the measured \
            prefill speed-up over the first spec next to the speed-up its executed FLOPs predict.
            """)

    /// Most tokens of each prompt part (and of the whole prompt), and most decode steps.
    static let maxTokens = 1 << 20, maxDecodeTokens = 1 << 16
    /// Most timed runs and warm-ups per spec.
    static let maxRuns = 1000

    /// `--arch` (default llava-1.5-7b, random weights) or `--model` (a checkpoint, through a session).
    @OptionGroup var dimensions: DimensionsOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Random weights' storage (default: bf16).", valueName: "type"))
    var randomWeights: WeightStorage?

    @Flag(help: "Every decoder layer shares one random weight set (fits a small machine; decode and RSS not representative).")
    var sharedLayers = false

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Decoder layers, at least 1 (default: the model's).", valueName: "n"),
        transform: OptionValue.integer("layers", 1...Bench.maxTokens))
    var layers: Int?

    @Option(
        name: .customLong("system-tokens"), parsing: .unconditional,
        help: ArgumentHelp(
            "Tokens before the image, 0 to 1048576 (default: 35 for vicuna_v1, 15 for Qwen2-VL's template).", valueName: "n"),
        transform: OptionValue.integer("system-tokens", 0...Bench.maxTokens))
    var systemTokenCount: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Visual tokens, 1 to 1048576 (laid out on the most nearly square grid, or give --grid).", valueName: "n"),
        transform: OptionValue.integer("visual-tokens", 1...Bench.maxTokens))
    var visualTokens: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Image grid as ROWSxCOLUMNS, at most 1048576 cells (instead of --visual-tokens).", valueName: "grid"),
        transform: OptionValue.grid(maxCells: Bench.maxTokens))
    var grid: VisualGrid?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Text tokens after the image, 1 to 1048576.", valueName: "n", default: 30),
        transform: OptionValue.integer("text-tokens", 1...Bench.maxTokens))
    var textTokens: Int = 30

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Decode steps (fixed token ids) timed after the prefill, 0 to 65536 (0: none).", valueName: "n", default: 16),
        transform: OptionValue.integer("decode-tokens", 0...Bench.maxDecodeTokens))
    var decodeTokens: Int = 16

    @Flag(help: "Skip the vision-tower timing.")
    var noVision = false

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "A pruning spec to time (none, yopo-25, yopo-12, yopo:…, fastv:…, pdrop:…, sparsevlm:…); repeat for several (the first is the baseline).",
            valueName: "spec"), transform: OptionValue.pruneSpec)
    var prune: [PruningSpec] = []

    @OptionGroup var mode: YOPOModeOption

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Timed runs per spec (median reported), 1 to 1000.", valueName: "n", default: 5),
        transform: OptionValue.integer("runs", 1...Bench.maxRuns))
    var runs: Int = 5

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Untimed warm-up prefills per spec before the timed runs, 0 to 1000.", valueName: "n", default: 1),
        transform: OptionValue.integer("warmup", 0...Bench.maxRuns))
    var warmup: Int = 1

    @OptionGroup var compute: ComputeOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Instead of the prefill runs: N questions about one image (own text tokens each), answered without and with the image-prefix cache (yopo eval's), 1 to 1000.",
            valueName: "n"), transform: OptionValue.integer("questions-per-image", 1...1000))
    var questionsPerImage: Int?

    @OptionGroup var output: OutputOptions

    /// Everything `--json` prints.
    struct Report: Encodable {
        var arch: String
        var layers: Int
        var threads: Int
        var weights: String
        var compute: String
        var oneDNN: String?
        var kernels: String
        var systemTokens: Int
        var visualTokens: Int
        var grid: [Int]
        var textTokens: Int
        var visionEncodeMS: Double?
        var visionGFLOPs: Double?
        var weightBytes: Int
        var decodeWeightBytes: Int
        var memoryReadGBPerSecond: Double?
        /// memory read bandwidth / decode bytes per token.
        var decodeBoundTokensPerSecond: Double?
        var peakRSSBytes: Int
        var results: [ModelBenchmark.SpecResult]
        var prefixReuse: [ModelBenchmark.PrefixReuseResult]?

        enum CodingKeys: String, CodingKey {
            case arch, layers, threads, weights, compute, oneDNN = "onednn", kernels
            case systemTokens = "system_tokens", visualTokens = "visual_tokens", grid, textTokens = "text_tokens"
            case visionEncodeMS = "vision_encode_ms", visionGFLOPs = "vision_gflops", weightBytes = "weight_bytes"
            case decodeWeightBytes = "decode_weight_bytes", decodeBoundTokensPerSecond = "decode_bound_tokens_per_second"
            case memoryReadGBPerSecond = "memory_read_gb_per_second", peakRSSBytes = "peak_rss_bytes", results
            case prefixReuse = "prefix_reuse"
        }
    }

    func execute() throws {
        // Every option first, then the memory the run needs, then the weights.
        let limits = MemoryLimits.current()
        try dimensions.validate()
        let arch = dimensions.arch ?? ArchitectureName(argument: "llava-1.5-7b")!
        // The template's system prefix: a checkpoint's family, else the architecture's.
        let qwenFamily =
            dimensions.model.map { (try? ModelRegistry.family(forDirectory: $0))?.id == ModelIdentity.qwen2VLFamily } ?? arch.isQwen2VL
        let systemTokens = systemTokenCount ?? (qwenFamily ? 15 : 35)
        let (rows, columns) = try gridShape()
        let promptTokens = systemTokens + rows * columns + textTokens  // each ≤ 2²⁰: no overflow
        guard promptTokens <= Self.maxTokens else {
            throw ArgumentError(
                "the prompt has \(promptTokens) tokens (\(systemTokens) system + \(rows * columns) visual + \(textTokens) text), more than \(Self.maxTokens); lower --system-tokens, --visual-tokens (--grid) or --text-tokens"
            )
        }
        let model = dimensions.model
        if model != nil {
            if randomWeights != nil { throw ArgumentError("--random-weights goes with --arch (random weights), not --model") }
            if sharedLayers { throw ArgumentError("--shared-layers goes with --arch (random weights), not --model") }
        }
        let storage = (randomWeights ?? .bf16).dtype
        let requested = try compute.precision()
        let threadCount = compute.threadCount
        let specs = prune.isEmpty ? [PruningSpec.none] : prune
        let mode = self.mode.yopoMode
        let json = output.json

        let bench: ModelBenchmark, name: String, context: ExecutionContext
        if let model {
            let session = try Session(
                modelDirectory: model,
                options: SessionOptions(visionTower: dimensions.visionTower, threads: threadCount, compute: requested))
            context = session.context
            let checkpointLayers = session.model.decoder.spec.numHiddenLayers
            if let layers, layers > checkpointLayers {
                throw ArgumentError("--layers \(layers) exceeds the checkpoint's \(checkpointLayers)")
            }
            bench = try ModelBenchmark(
                session: session, layers: layers, vision: !noVision, systemTokens: systemTokens,
                gridRows: rows, gridColumns: columns, textTokens: textTokens)
            name = (model as NSString).lastPathComponent
            // The weights are in memory now; what the run adds on top of them.
            let need = ModelBenchmark.estimatedRunBytes(
                decoder: bench.decoder.spec, promptTokens: promptTokens, textTokens: textTokens, decodeTokens: decodeTokens,
                threads: threadCount, bandwidthProbe: decodeTokens > 0)
            try limits.require(
                need, threads: threadCount, what: "bench",
                for: "\(name)'s activations and caches (\(promptTokens) prompt tokens, \(Self.steps(decodeTokens)))",
                hint: Self.fewerTokens)
        } else {
            var config = arch.decoderConfiguration
            let fullShape = config.decoderSpec.shape
            if let layers {
                guard layers <= config.numHiddenLayers else {
                    throw ArgumentError("--layers \(layers) exceeds \(arch.name)'s \(config.numHiddenLayers)")
                }
                config.numHiddenLayers = layers
            }
            let qwenVision = noVision ? nil : Qwen2VLVisionConfiguration(arch.dimensions)
            try requireMemory(
                config: config, arch: arch.name, storage: storage, promptTokens: promptTokens, textTokens: textTokens,
                decodeTokens: decodeTokens, threads: threadCount, limits: limits, qwenVision: qwenVision, grid: (rows, columns))
            context = ExecutionContext(threads: threadCount, precision: requested ?? .automatic(for: storage))
            if !json { printError("generating \(storage.rawValue) random weights for \(arch.name) (\(config.numHiddenLayers) layers)…") }
            // Generating them runs on the compute threads too.
            let (decoder, vision): (TextDecoder, VisionWorkload?) = try context.run {
                let decoder = try TextDecoder(
                    randomWeightsFor: config, dtype: storage, sharedLayers: sharedLayers, attentionBias: arch.isQwen2VL)
                guard !noVision else { return (decoder, nil) }
                if let qwenVision {
                    let tower = try Qwen2VLVisionTower(randomWeightsFor: qwenVision, dtype: storage)
                    return (decoder, .qwen(tower, rows: rows, columns: columns))
                }
                return (decoder, .clip(try CLIPVisionTower(randomWeightsFor: .llavaDefault, featureLayer: -2, dtype: storage)))
            }
            bench = ModelBenchmark(
                decoder: decoder, vision: vision, systemTokens: systemTokens,
                gridRows: rows, gridColumns: columns, textTokens: textTokens, planShape: fullShape)
            name = arch.name
        }
        let decoder = bench.decoder
        if let questions = questionsPerImage {
            let reuse = try context.run {
                try specs.map { spec in
                    let r = try bench.prefixReuse(spec: spec, mode: mode, questions: questions, decodeTokens: decodeTokens)
                    if !json { printError("done: \(spec.description)") }
                    return r
                }
            }
            printPrefixReuse(
                reuse, name: name, decoder: decoder, threads: threadCount, context: context, json: json, systemTokens: systemTokens)
            return
        }
        let (encode, results, peakRSS, bandwidth) = try context.run {
            let encode = bench.visionEncode(runs: runs, warmup: warmup)
            var results: [ModelBenchmark.SpecResult] = []
            for spec in specs {
                results.append(try bench.run(spec: spec, mode: mode, runs: runs, warmup: warmup, decodeTokens: decodeTokens))
                if !json { printError("done: \(spec.description)") }
            }
            let peakRSS = peakResidentBytes()  // before the bandwidth probe's 1 GiB buffer
            return (encode, results, peakRSS, decodeTokens > 0 ? measureReadBandwidth() : nil)
        }
        let report = Report(
            arch: name, layers: decoder.spec.numHiddenLayers, threads: threadCount,
            weights: decoder.embedTokens.dtype.rawValue.lowercased(), compute: context.precision.rawValue,
            oneDNN: MatMul.oneDNNVersion, kernels: "\(MatMul.supportedKernelLevel)",
            systemTokens: systemTokens, visualTokens: rows * columns, grid: [rows, columns], textTokens: textTokens,
            visionEncodeMS: encode?.ms, visionGFLOPs: encode.map { Double($0.flops) / 1e9 },
            weightBytes: decoder.weightBytes, decodeWeightBytes: decoder.decodeWeightBytes,
            memoryReadGBPerSecond: bandwidth,
            decodeBoundTokensPerSecond: bandwidth.map { $0 * 1e9 / Double(decoder.decodeWeightBytes) },
            peakRSSBytes: peakRSS,
            results: results)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
            return
        }
        printTable(report, mode: mode)
    }

    private func printTable(_ r: Report, mode: YOPOMode) {
        print(
            "\(r.arch), \(r.layers) layers, \(r.weights) weights, \(r.compute) compute, prompt \(r.systemTokens) system + \(r.visualTokens) visual (\(r.grid[0])×\(r.grid[1])) + \(r.textTokens) text, \(r.threads) threads, \(runs) runs, mode \(mode.rawValue)"
        )
        if let ms = r.visionEncodeMS, let g = r.visionGFLOPs {
            print(String(format: "vision encode: %.0f ms (%.1f GFLOP, %.1f GFLOP/s)", ms, g, g / (ms / 1000)))
        }
        print(String(format: "weights: %.2f GB, peak RSS: %.2f GB", Double(r.weightBytes) / 1e9, Double(r.peakRSSBytes) / 1e9))
        if let bw = r.memoryReadGBPerSecond, let bound = r.decodeBoundTokensPerSecond {
            print(
                String(
                    format: "memory read bandwidth: %.1f GB/s → decode bound %.2f tokens/s for %.2f GB read per token",
                    bw, bound, Double(r.decodeWeightBytes) / 1e9))
        }
        print(
            "| spec | prefill ms (median) | executed GFLOP | GFLOP/s | predicted speed-up | measured speed-up | measured / predicted | decode tokens/s | % of decode bound |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        let base = r.results[0]
        for x in r.results {
            let predicted = Double(base.executedFLOPs) / Double(x.executedFLOPs)
            let measured = base.prefillMS / x.prefillMS
            let decode = x.decodeTokensPerSecond.map { String(format: "%.2f", $0) } ?? "–"
            var fraction = "–"
            if let tps = x.decodeTokensPerSecond, let bound = r.decodeBoundTokensPerSecond {
                fraction = String(format: "%.0f%%", 100 * tps / bound)
            }
            print(
                String(
                    format: "| %@ | %.0f | %.1f | %.1f | %.2f× | %.2f× | %.0f%% | %@ | %@ |",
                    x.spec, x.prefillMS, Double(x.executedFLOPs) / 1e9, x.gflopsPerSecond,
                    predicted, measured, 100 * measured / predicted, decode, fraction))
        }
    }

    /// `--questions-per-image`'s report: JSON, or a line of settings and a table.
    private func printPrefixReuse(
        _ reuse: [ModelBenchmark.PrefixReuseResult], name: String, decoder: TextDecoder, threads: Int, context: ExecutionContext,
        json: Bool, systemTokens: Int
    ) {
        let (rows, columns) = (try? gridShape()) ?? (0, 0)
        if json {
            let report = Report(
                arch: name, layers: decoder.spec.numHiddenLayers, threads: threads,
                weights: decoder.embedTokens.dtype.rawValue.lowercased(),
                compute: context.precision.rawValue, oneDNN: MatMul.oneDNNVersion, kernels: "\(MatMul.supportedKernelLevel)",
                systemTokens: systemTokens, visualTokens: rows * columns, grid: [rows, columns], textTokens: textTokens,
                visionEncodeMS: nil, visionGFLOPs: nil, weightBytes: decoder.weightBytes, decodeWeightBytes: decoder.decodeWeightBytes,
                memoryReadGBPerSecond: nil, decodeBoundTokensPerSecond: nil, peakRSSBytes: peakResidentBytes(), results: [],
                prefixReuse: reuse)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            if let data = try? encoder.encode(report) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            return
        }
        print(
            "\(name), \(decoder.spec.numHiddenLayers) layers, \(decoder.embedTokens.dtype.rawValue.lowercased()) weights, \(context.precision.rawValue) compute, prompt \(systemTokens) system + \(rows * columns) visual + \(textTokens) text, \(threads) threads, \(Self.steps(decodeTokens)) per question, vision \(noVision ? "not timed" : "timed")"
        )
        print(
            "| spec | questions | reused layers | without cache s | with cache s | s/question without | s/question with | speed-up | same first token |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in reuse {
            print(
                String(
                    format: "| %@ | %d | %d | %.1f | %.1f | %.2f | %.2f | %.2f× | %d/%d |", r.spec, r.questions, r.reusedLayers,
                    r.uncachedMS / 1000, r.cachedMS / 1000, r.uncachedMS / 1000 / Double(r.questions),
                    r.cachedMS / 1000 / Double(r.questions),
                    r.speedUp, r.sameFirstToken, r.questions))
        }
    }

    /// `1 decode step`, `16 decode steps`.
    static func steps(_ n: Int) -> String { "\(n) decode step\(n == 1 ? "" : "s")" }

    static let fewerTokens = "use fewer tokens (--visual-tokens, --grid, --system-tokens, --text-tokens, --decode-tokens)"

    /// Refuses, before any weight is generated, a random-weights run that does not fit this machine:
    /// the hint names --layers / --shared-layers when the weights dominate, fewer tokens otherwise.
    private func requireMemory(
        config: LlamaConfiguration, arch: String, storage: DType, promptTokens: Int, textTokens: Int,
        decodeTokens: Int, threads: Int, limits: MemoryLimits, qwenVision: Qwen2VLVisionConfiguration?, grid: (Int, Int)
    ) throws {
        var weights = ModelBenchmark.estimatedWeightBytes(
            decoder: config, dtype: storage, sharedLayers: sharedLayers, vision: noVision || qwenVision != nil ? nil : .llavaDefault)
        var run = ModelBenchmark.estimatedRunBytes(
            decoder: config.decoderSpec, promptTokens: promptTokens, textTokens: textTokens, decodeTokens: decodeTokens,
            threads: threads, bandwidthProbe: decodeTokens > 0)
        if let qwenVision {
            let (w, r) = ModelBenchmark.estimatedQwenVisionBytes(qwenVision, dtype: storage, rows: grid.0, columns: grid.1)
            weights = weights.flatMap { a in w.flatMap { a.addingReportingOverflow($0).overflow ? nil : a + $0 } }
            run = run.flatMap { a in r.flatMap { a.addingReportingOverflow($0).overflow ? nil : a + $0 } }
        }
        let total = weights.flatMap { w in run.flatMap { r in w.addingReportingOverflow(r).overflow ? nil : w + r } }
        let n = config.numHiddenLayers, type = storage == .bf16 ? "bf16" : "fp32"  // the --random-weights words
        let layerText =
            sharedLayers
            ? "\(n) layer\(n == 1 ? "" : "s") sharing one \(type) weight set"
            : "\(n) distinct \(type) layer\(n == 1 ? "" : "s")"
        let weightsDominate = (weights ?? 0) >= (run ?? Int.max)
        try limits.require(
            total, threads: threads, what: "bench",
            for: "\(arch) (\(layerText), \(promptTokens) prompt tokens, \(Self.steps(decodeTokens)))",
            hint: weightsDominate && !sharedLayers
                ? "use --layers N or --shared-layers"
                : weightsDominate ? "use --layers N" : Self.fewerTokens)
    }

    /// `--grid RxC`, else the most nearly square factorisation of `--visual-tokens` (rows ≤ columns).
    private func gridShape() throws -> (Int, Int) {
        if let grid {
            if visualTokens != nil { throw ArgumentError("give --visual-tokens or --grid, not both") }
            return (grid.rows, grid.columns)
        }
        let visualTokens = self.visualTokens ?? 576
        var rows = Int(Double(visualTokens).squareRoot())
        while visualTokens % rows != 0 { rows -= 1 }
        return (rows, visualTokens / rows)
    }
}

/// `yopo bench-gemm`: GFLOP/s of each matrix-product path on the shapes LLaVA-1.5 runs, the
/// measurements behind `MatMul.linear`'s choices (BENCHMARKS.md).
struct BenchGEMM: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gemm",
        abstract: "Time every matrix-product path (OpenBLAS fp32, oneDNN bf16, own bf16 GEMM, own GEMV, widening fallback) per shape.")

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Shapes as MxKxN (C[M,N] = A[M,K]·W[N,K]ᵀ), each size 1 to 16777216; repeat. Default: LLaVA-1.5-7B prefill, YOPO text-row (M = 65), decode and CLIP shapes.",
            valueName: "shape"), transform: OptionValue.productShape)
    var shape: [ProductShape] = []

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Timed repetitions per path (best reported), after one warm-up, 1 to 1000.", valueName: "n", default: 5),
        transform: OptionValue.integer("runs", 1...Bench.maxRuns))
    var runs: Int = 5

    @OptionGroup var threads: ThreadOptions

    @OptionGroup var output: OutputOptions

    /// Bytes one shape's buffers take: A twice (its values are built in an array first), C, the
    /// fp32 weight, its bf16 copy and a reordered bf16 copy (oneDNN), plus 64 MiB; nil beyond 64 bits.
    static func estimatedBytes(m: Int, k: Int, n: Int) -> Int? {
        func product(_ a: Int, _ b: Int, _ c: Int) -> Int? {
            let (ab, o1) = a.multipliedReportingOverflow(by: b)
            let (abc, o2) = ab.multipliedReportingOverflow(by: c)
            return o1 || o2 ? nil : abc
        }
        guard let a = product(m, k, 8), let c = product(m, n, 4), let w = product(n, k, 8) else { return nil }
        var total = 64 << 20
        for x in [a, c, w] {
            let (sum, overflow) = total.addingReportingOverflow(x)
            if overflow { return nil }
            total = sum
        }
        return total
    }

    struct Row: Encodable {
        var m, k, n: Int
        var path: String
        var ms: Double
        var gflopsPerSecond: Double
        var weightGBPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case m, k, n, path, ms, gflopsPerSecond = "gflops_per_second", weightGBPerSecond = "weight_gb_per_second"
        }
    }

    func execute() throws {
        let limits = MemoryLimits.current()
        let threadCount = threads.count
        let shapes: [(Int, Int, Int)] =
            shape.isEmpty
            ? [
                (641, 4096, 4096), (641, 4096, 11008), (641, 11008, 4096), (2048, 4096, 11008), (577, 1024, 4096),
                (577, 4096, 1024), (65, 4096, 4096), (65, 4096, 11008), (65, 11008, 4096), (1, 4096, 4096),
                (1, 4096, 11008), (1, 11008, 4096), (1, 4096, 32000), (4, 4096, 11008)
            ]
            : shape.map { ($0.m, $0.k, $0.n) }
        // One shape's buffers live at a time: the largest must fit.
        for (m, k, n) in shapes {
            try limits.require(
                Self.estimatedBytes(m: m, k: k, n: n), threads: threadCount, what: "bench-gemm",
                for: "--shape \(m)x\(k)x\(n)", hint: "use smaller sizes")
        }
        var rows: [Row] = []
        for (m, k, n) in shapes {
            let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { Float(($0 * 7) % 13) / 13 - 0.5 })
            let c = Tensor(zeros: [m, n])
            let f32 = WeightMatrix(randomRows: n, columns: k, dtype: .f32, scale: 0.02, seed: 1)
            let bf16 = f32.converted(to: .bf16)
            // (label, weight, precision, level, forced own bf16 GEMM)
            var paths: [(String, WeightMatrix, ComputePrecision, MatMul.KernelLevel, Bool)] = [
                ("openblas-sgemm-fp32", f32, .fp32, .avx512, false),
                ("bf16-weights-fp32-compute", bf16, .fp32, .avx512, false)
            ]
            if m > MatMul.gemvMaxRows {
                // Both forced, whichever `linear` would choose for this m.
                if MatMul.bf16Available { paths.append(("onednn-bf16", bf16, .bf16, .avx512, false)) }
                if ExecutionContext(kernelLevel: .avx512).run({ MatMul.ownGEMMBF16Available }) {
                    paths.append(("own-gemm-bf16", bf16, .bf16, .avx512, true))
                }
            }
            if m <= MatMul.gemvMaxRows {
                paths.append(("own-gemv-bf16-portable", bf16, .fp32, .portable, false))
                if MatMul.bf16Available { paths.append(("own-gemv-bf16-activations-bf16", bf16, .bf16, .avx512, false)) }
            }
            for (name, w, precision, level, own) in paths {
                try ExecutionContext(threads: threadCount, precision: precision, kernelLevel: level).run {
                    var label = name
                    if name == "bf16-weights-fp32-compute" {
                        label = m <= MatMul.gemvMaxRows ? "own-gemv-bf16-\(MatMul.kernelLevel)" : "bf16-widened-openblas-sgemm"
                    }
                    let product = {
                        if own {
                            MatMul.ownGEMMBF16(m: m, a: a.data, lda: k, weight: w, c: c.data, ldc: n)
                        } else if name == "onednn-bf16" {
                            MatMul.oneDNNBF16(m: m, a: a.data, lda: k, weight: w, c: c.data, ldc: n)
                        } else {
                            MatMul.linear(m: m, a: a.data, lda: k, weight: w, c: c.data, ldc: n)
                        }
                    }
                    product()
                    var best = Double.infinity
                    for _ in 0..<runs {
                        let start = DispatchTime.now()
                        product()
                        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
                    }
                    rows.append(
                        Row(
                            m: m, k: k, n: n, path: label, ms: best,
                            gflopsPerSecond: 2 * Double(m) * Double(k) * Double(n) / (best / 1000) / 1e9,
                            weightGBPerSecond: Double(w.byteCount) / (best / 1000) / 1e9))
                }
            }
        }
        if output.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(rows) + Data("\n".utf8))
            return
        }
        print(
            "\(threadCount) threads, oneDNN \(MatMul.oneDNNVersion ?? "absent"), own kernels \(MatMul.supportedKernelLevel); best of \(runs)"
        )
        print("| M | K | N | path | ms | GFLOP/s | weight GB/s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows {
            print(
                String(
                    format: "| %d | %d | %d | %@ | %.2f | %.1f | %.1f |", r.m, r.k, r.n, r.path, r.ms, r.gflopsPerSecond,
                    r.weightGBPerSecond))
        }
    }
}
