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

    @Option(help: "Model dimensions: llava-1.5-7b or llava-1.5-13b.")
    var arch: String = "llava-1.5-7b"

    @Option(help: "A LLaVA checkpoint directory to time instead of random weights.")
    var model: String?

    @Option(help: "Random weights' storage: bf16 or fp32.")
    var randomWeights: String = "bf16"

    @Flag(help: "Every decoder layer shares one random weight set (fits a small machine; decode and RSS not representative).")
    var sharedLayers = false

    @Option(help: "Decoder layers (default: the model's).")
    var layers: Int?

    @Option(help: "Tokens before the image.")
    var systemTokens: Int = 35

    @Option(help: "Visual tokens (any count: laid out on the most nearly square grid, or give --grid).")
    var visualTokens: Int = 576

    @Option(help: "Image grid as ROWSxCOLUMNS (overrides --visual-tokens).")
    var grid: String?

    @Option(help: "Text tokens after the image.")
    var textTokens: Int = 30

    @Option(help: "Decode steps (fixed token ids) timed after the prefill (0: none).")
    var decodeTokens: Int = 16

    @Flag(help: "Skip the vision-tower timing.")
    var noVision = false

    @Option(help: "A pruning spec to time; repeat for several (the first is the baseline).")
    var prune: [String] = []

    @Option(help: "YOPO mode: skip or simulate.")
    var yopoMode: String = "skip"

    @Option(help: "Timed runs per spec (median reported).")
    var runs: Int = 5

    @Option(help: "Untimed warm-up prefills per spec before the timed runs.")
    var warmup: Int = 1

    @Option(help: "Compute threads (default: physical cores).")
    var threads: Int?

    @Option(help: "Matrix-product precision: auto, fp32 or bf16.")
    var compute: String = "auto"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

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

        enum CodingKeys: String, CodingKey {
            case arch, layers, threads, weights, compute, oneDNN = "onednn", kernels
            case systemTokens = "system_tokens", visualTokens = "visual_tokens", grid, textTokens = "text_tokens"
            case visionEncodeMS = "vision_encode_ms", visionGFLOPs = "vision_gflops", weightBytes = "weight_bytes"
            case decodeWeightBytes = "decode_weight_bytes", decodeBoundTokensPerSecond = "decode_bound_tokens_per_second"
            case memoryReadGBPerSecond = "memory_read_gb_per_second", peakRSSBytes = "peak_rss_bytes", results
        }
    }

    func execute() throws {
        let (rows, columns) = try gridShape()
        guard systemTokens >= 0, textTokens >= 1 else {
            throw GenerationError.invalidOption("system-tokens must be ≥ 0 and text-tokens ≥ 1")
        }
        guard runs >= 1 else { throw GenerationError.invalidOption("runs must be at least 1") }
        guard warmup >= 0 else { throw GenerationError.invalidOption("warmup must be ≥ 0") }
        guard decodeTokens >= 0 else { throw GenerationError.invalidOption("decode-tokens must be ≥ 0") }
        if let threads, threads < 1 { throw GenerationError.invalidOption("threads must be at least 1") }
        if let layers, layers < 1 { throw GenerationError.invalidOption("layers must be at least 1") }
        guard let mode = YOPOMode(rawValue: yopoMode) else {
            throw GenerationError.invalidOption("unknown yopo mode \(yopoMode) (choose from skip, simulate)")
        }
        guard let storage = ["bf16": DType.bf16, "fp32": DType.f32][randomWeights] else {
            throw GenerationError.invalidOption("unknown random-weights type \(randomWeights) (choose from bf16, fp32)")
        }
        let requested = try ComputePrecision(option: compute)
        let specs = try (prune.isEmpty ? ["none"] : prune).map {
            try PruningSpec(parsing: $0, baseDirectory: FileManager.default.currentDirectoryPath)
        }
        let threadCount = threads ?? physicalCoreCount()
        MatMul.setThreads(threadCount)

        let decoder: LlamaDecoder, vision: CLIPVisionTower?, name: String, fullShape: DecoderShape
        if let model {
            let llava = try LLaVAModel(directory: model)
            guard layers == nil || layers! <= llava.configuration.text.numHiddenLayers else {
                throw GenerationError.invalidOption("layers \(layers!) exceeds the checkpoint's \(llava.configuration.text.numHiddenLayers)")
            }
            decoder = layers.map { llava.decoder.prefix(layers: $0) } ?? llava.decoder
            let t = llava.configuration.text
            fullShape = DecoderShape(numHiddenLayers: t.numHiddenLayers, numAttentionHeads: t.numAttentionHeads,
                                     intermediateSize: t.intermediateSize)
            vision = noVision ? nil : llava.visionTower
            name = (model as NSString).lastPathComponent
        } else {
            var config = try Bench.dimensions(arch)
            fullShape = DecoderShape(numHiddenLayers: config.numHiddenLayers, numAttentionHeads: config.numAttentionHeads,
                                     intermediateSize: config.intermediateSize)
            if let layers {
                guard layers <= config.numHiddenLayers else {
                    throw GenerationError.invalidOption("layers \(layers) exceeds \(arch)'s \(config.numHiddenLayers)")
                }
                config.numHiddenLayers = layers
            }
            if !json { printError("generating \(storage.rawValue) random weights for \(arch) (\(config.numHiddenLayers) layers)…") }
            decoder = try LlamaDecoder(randomWeightsFor: config, dtype: storage, sharedLayers: sharedLayers)
            vision = noVision ? nil : try CLIPVisionTower(
                randomWeightsFor: .llavaDefault, featureLayer: -2, dtype: storage)
            name = arch
        }
        MatMul.precision = requested ?? .automatic(for: decoder.embedTokens.dtype)

        let bench = ModelBenchmark(decoder: decoder, vision: vision, systemTokens: systemTokens,
                                   gridRows: rows, gridColumns: columns, textTokens: textTokens, planShape: fullShape)
        let encode = bench.visionEncode(runs: runs, warmup: warmup)
        var results: [ModelBenchmark.SpecResult] = []
        for spec in specs {
            results.append(try bench.run(spec: spec, mode: mode, runs: runs, warmup: warmup, decodeTokens: decodeTokens))
            if !json { printError("done: \(spec.description)") }
        }
        let peakRSS = peakResidentBytes()  // before the bandwidth probe's 1 GiB buffer
        let bandwidth = decodeTokens > 0 ? measureReadBandwidth() : nil
        let report = Report(
            arch: name, layers: decoder.config.numHiddenLayers, threads: threadCount,
            weights: decoder.embedTokens.dtype.rawValue.lowercased(), compute: MatMul.precision.rawValue,
            oneDNN: MatMul.oneDNNVersion, kernels: "\(MatMul.kernelLevel)",
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
        print("\(r.arch), \(r.layers) layers, \(r.weights) weights, \(r.compute) compute, prompt \(r.systemTokens) system + \(r.visualTokens) visual (\(r.grid[0])×\(r.grid[1])) + \(r.textTokens) text, \(r.threads) threads, \(runs) runs, mode \(mode.rawValue)")
        if let ms = r.visionEncodeMS, let g = r.visionGFLOPs {
            print(String(format: "vision encode: %.0f ms (%.1f GFLOP, %.1f GFLOP/s)", ms, g, g / (ms / 1000)))
        }
        print(String(format: "weights: %.2f GB, peak RSS: %.2f GB", Double(r.weightBytes) / 1e9, Double(r.peakRSSBytes) / 1e9))
        if let bw = r.memoryReadGBPerSecond, let bound = r.decodeBoundTokensPerSecond {
            print(String(format: "memory read bandwidth: %.1f GB/s → decode bound %.2f tokens/s for %.2f GB read per token",
                         bw, bound, Double(r.decodeWeightBytes) / 1e9))
        }
        print("| spec | prefill ms (median) | executed GFLOP | GFLOP/s | predicted speed-up | measured speed-up | measured / predicted | decode tokens/s | % of decode bound |")
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
            print(String(format: "| %@ | %.0f | %.1f | %.1f | %.2f× | %.2f× | %.0f%% | %@ | %@ |",
                         x.spec, x.prefillMS, Double(x.executedFLOPs) / 1e9, x.gflopsPerSecond,
                         predicted, measured, 100 * measured / predicted, decode, fraction))
        }
    }

    /// `--grid RxC`, else the most nearly square factorisation of `--visual-tokens` (rows ≤ columns).
    private func gridShape() throws -> (Int, Int) {
        if let grid {
            let parts = grid.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else {
                throw GenerationError.invalidOption("grid \(grid) is not ROWSxCOLUMNS (e.g. 24x48)")
            }
            return (parts[0], parts[1])
        }
        guard visualTokens > 0 else { throw GenerationError.invalidOption("visual-tokens must be at least 1") }
        var rows = Int(Double(visualTokens).squareRoot())
        while visualTokens % rows != 0 { rows -= 1 }
        return (rows, visualTokens / rows)
    }

    /// Decoder dimensions of a built-in architecture (`ModelDimensions.architectures`, shared with `yopo flops`).
    static func dimensions(_ arch: String) throws -> LlamaConfiguration {
        guard let t = ModelDimensions.architectures[arch]?.text else {
            let known = ModelDimensions.architectures.keys.sorted().joined(separator: ", ")
            throw GenerationError.invalidOption("unknown arch \(arch) (\(known))")
        }
        return LlamaConfiguration(
            hiddenSize: t.hiddenSize, numHiddenLayers: t.numHiddenLayers, numAttentionHeads: t.numAttentionHeads,
            numKeyValueHeads: t.numKeyValueHeads, intermediateSize: t.intermediateSize, vocabSize: t.vocabSize)
    }
}

/// `yopo bench-gemm`: GFLOP/s of each matrix-product path on the shapes LLaVA-1.5 runs, the
/// measurements behind `MatMul.linear`'s choices (BENCHMARKS.md).
struct BenchGEMM: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gemm",
        abstract: "Time every matrix-product path (OpenBLAS fp32, oneDNN bf16, own bf16 GEMM, own GEMV, widening fallback) per shape.")

    @Option(help: "Shapes as MxKxN (C[M,N] = A[M,K]·W[N,K]ᵀ); repeat. Default: LLaVA-1.5-7B prefill, YOPO text-row (M = 65), decode and CLIP shapes.")
    var shape: [String] = []

    @Option(help: "Timed repetitions per path (best reported), after one warm-up.")
    var runs: Int = 5

    @Option(help: "Compute threads (default: physical cores).")
    var threads: Int?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

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
        guard runs >= 1 else { throw GenerationError.invalidOption("runs must be at least 1") }
        if let threads, threads < 1 { throw GenerationError.invalidOption("threads must be at least 1") }
        let shapes: [(Int, Int, Int)] = try shape.isEmpty
            ? [(641, 4096, 4096), (641, 4096, 11008), (641, 11008, 4096), (2048, 4096, 11008), (577, 1024, 4096),
               (577, 4096, 1024), (65, 4096, 4096), (65, 4096, 11008), (65, 11008, 4096), (1, 4096, 4096),
               (1, 4096, 11008), (1, 11008, 4096), (1, 4096, 32000), (4, 4096, 11008)]
            : shape.map { text in
                let p = text.lowercased().split(separator: "x").compactMap { Int($0) }
                guard p.count == 3, p.allSatisfy({ $0 > 0 }) else {
                    throw GenerationError.invalidOption("shape \(text) is not MxKxN with positive sizes (e.g. 641x4096x11008)")
                }
                return (p[0], p[1], p[2])
            }
        MatMul.setThreads(threads ?? physicalCoreCount())
        var rows: [Row] = []
        for (m, k, n) in shapes {
            let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { Float(($0 * 7) % 13) / 13 - 0.5 })
            let c = Tensor(zeros: [m, n])
            let f32 = WeightMatrix(randomRows: n, columns: k, dtype: .f32, scale: 0.02, seed: 1)
            let bf16 = f32.converted(to: .bf16)
            // (label, weight, precision, level, forced own bf16 GEMM)
            var paths: [(String, WeightMatrix, ComputePrecision, MatMul.KernelLevel, Bool)] = [
                ("openblas-sgemm-fp32", f32, .fp32, .avx512, false),
                ("bf16-weights-fp32-compute", bf16, .fp32, .avx512, false),
            ]
            if m > MatMul.gemvMaxRows {
                // Both forced, whichever `linear` would choose for this m.
                if MatMul.bf16Available { paths.append(("onednn-bf16", bf16, .bf16, .avx512, false)) }
                MatMul.setKernelLevel(.avx512)
                if MatMul.ownGEMMBF16Available { paths.append(("own-gemm-bf16", bf16, .bf16, .avx512, true)) }
            }
            if m <= MatMul.gemvMaxRows {
                paths.append(("own-gemv-bf16-portable", bf16, .fp32, .portable, false))
                if MatMul.bf16Available { paths.append(("own-gemv-bf16-activations-bf16", bf16, .bf16, .avx512, false)) }
            }
            for (name, w, precision, level, own) in paths {
                MatMul.precision = precision
                MatMul.setKernelLevel(level)
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
                rows.append(Row(m: m, k: k, n: n, path: label, ms: best,
                                gflopsPerSecond: 2 * Double(m * k * n) / (best / 1000) / 1e9,
                                weightGBPerSecond: Double(w.byteCount) / (best / 1000) / 1e9))
            }
        }
        MatMul.precision = .fp32
        MatMul.setKernelLevel(.avx512)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(rows) + Data("\n".utf8))
            return
        }
        print("\(MatMul.threads) threads, oneDNN \(MatMul.oneDNNVersion ?? "absent"), own kernels \(MatMul.kernelLevel); best of \(runs)")
        print("| M | K | N | path | ms | GFLOP/s | weight GB/s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows {
            print(String(format: "| %d | %d | %d | %@ | %.2f | %.1f | %.1f |", r.m, r.k, r.n, r.path, r.ms, r.gflopsPerSecond,
                         r.weightGBPerSecond))
        }
    }
}
