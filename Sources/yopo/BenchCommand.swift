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

    @Option(help: "Greedy decode steps timed after the prefill (0: none).")
    var decodeTokens: Int = 16

    @Flag(help: "Skip the vision-tower timing.")
    var noVision = false

    @Option(help: "A pruning spec to time; repeat for several (the first is the baseline).")
    var prune: [String] = []

    @Option(help: "YOPO mode: skip or simulate.")
    var yopoMode: String = "skip"

    @Option(help: "Timed runs per spec (median reported), after one warm-up.")
    var runs: Int = 5

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
        var memoryReadGBPerSecond: Double?
        var peakRSSBytes: Int
        var results: [ModelBenchmark.SpecResult]

        enum CodingKeys: String, CodingKey {
            case arch, layers, threads, weights, compute, oneDNN = "onednn", kernels
            case systemTokens = "system_tokens", visualTokens = "visual_tokens", grid, textTokens = "text_tokens"
            case visionEncodeMS = "vision_encode_ms", visionGFLOPs = "vision_gflops", weightBytes = "weight_bytes"
            case memoryReadGBPerSecond = "memory_read_gb_per_second", peakRSSBytes = "peak_rss_bytes", results
        }
    }

    func execute() throws {
        let (rows, columns) = try gridShape()
        guard systemTokens >= 0, textTokens >= 1 else {
            throw GenerationError.invalidOption("system-tokens must be ≥ 0 and text-tokens ≥ 1")
        }
        guard runs >= 1 else { throw GenerationError.invalidOption("runs must be at least 1") }
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
        let encode = bench.visionEncode(runs: runs)
        var results: [ModelBenchmark.SpecResult] = []
        for spec in specs {
            results.append(try bench.run(spec: spec, mode: mode, runs: runs, decodeTokens: decodeTokens))
            if !json { printError("done: \(spec.description)") }
        }
        let bandwidth = decodeTokens > 0 ? measureReadBandwidth() : nil
        let report = Report(
            arch: name, layers: decoder.config.numHiddenLayers, threads: threadCount,
            weights: decoder.embedTokens.dtype.rawValue.lowercased(), compute: MatMul.precision.rawValue,
            oneDNN: MatMul.oneDNNVersion, kernels: "\(MatMul.kernelLevel)",
            systemTokens: systemTokens, visualTokens: rows * columns, grid: [rows, columns], textTokens: textTokens,
            visionEncodeMS: encode?.ms, visionGFLOPs: encode.map { Double($0.flops) / 1e9 },
            weightBytes: decoder.weightBytes, memoryReadGBPerSecond: bandwidth, peakRSSBytes: peakResidentBytes(),
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
        if let bw = r.memoryReadGBPerSecond {
            print(String(format: "memory read bandwidth: %.1f GB/s → decode bound %.2f tokens/s for %.2f GB of decoder weights",
                         bw, bw * 1e9 / Double(r.weightBytes), Double(r.weightBytes) / 1e9))
        }
        print("| spec | prefill ms (median) | executed GFLOP | GFLOP/s | predicted speed-up | measured speed-up | measured / predicted | decode tokens/s |")
        print("|---|---|---|---|---|---|---|---|")
        let base = r.results[0]
        for x in r.results {
            let predicted = Double(base.executedFLOPs) / Double(x.executedFLOPs)
            let measured = base.prefillMS / x.prefillMS
            let decode = x.decodeTokensPerSecond.map { String(format: "%.2f", $0) } ?? "–"
            print(String(format: "| %@ | %.0f | %.1f | %.1f | %.2f× | %.2f× | %.0f%% | %@ |",
                         x.spec, x.prefillMS, Double(x.executedFLOPs) / 1e9, x.gflopsPerSecond,
                         predicted, measured, 100 * measured / predicted, decode))
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

    /// Decoder dimensions of a named architecture.
    static func dimensions(_ arch: String) throws -> LlamaConfiguration {
        switch arch {
        case "llava-1.5-7b":
            return LlamaConfiguration(hiddenSize: 4096, numHiddenLayers: 32, numAttentionHeads: 32, intermediateSize: 11008)
        case "llava-1.5-13b":
            return LlamaConfiguration(hiddenSize: 5120, numHiddenLayers: 40, numAttentionHeads: 40, intermediateSize: 13824)
        default:
            throw GenerationError.invalidOption("unknown arch \(arch) (llava-1.5-7b, llava-1.5-13b)")
        }
    }
}
