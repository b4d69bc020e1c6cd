import ArgumentParser
import Foundation
import YOPO
import YOPOCore
import YOPOModels
import YOPOPruning

struct Bench: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time LLM prefill on random weights with a real model's dimensions.",
        discussion: """
            The prompt is [system][image grid][text] as random embeddings. Decoder layers share one \
            random weight set (times like distinct weights, holds one layer in memory). Each --prune \
            is run in turn; the table shows the measured speed-up over the first one next to the \
            speed-up its executed FLOPs predict.
            """)

    @Option(help: "Model dimensions: llava-1.5-7b or llava-1.5-13b.")
    var arch: String = "llava-1.5-7b"

    @Option(help: "Decoder layers (default: the model's).")
    var layers: Int?

    @Option(help: "Tokens before the image.")
    var systemTokens: Int = 35

    @Option(help: "Visual tokens on a square grid (576 = 24×24).")
    var visualTokens: Int = 576

    @Option(help: "Text tokens after the image.")
    var textTokens: Int = 30

    @Option(help: "A pruning spec to time; repeat for several (the first is the baseline).")
    var prune: [String] = []

    @Option(help: "YOPO mode: skip or simulate.")
    var yopoMode: String = "skip"

    @Option(help: "Timed runs per spec (median reported), after one warm-up.")
    var runs: Int = 5

    @Option(help: "Compute threads (default: physical cores).")
    var threads: Int?

    @Flag(help: "Print JSON instead of a table.")
    var json = false


    func execute() throws {
        var config: LlamaConfiguration
        switch arch {
        case "llava-1.5-7b": config = LlamaConfiguration(hiddenSize: 4096, numHiddenLayers: 32, numAttentionHeads: 32, intermediateSize: 11008)
        case "llava-1.5-13b": config = LlamaConfiguration(hiddenSize: 5120, numHiddenLayers: 40, numAttentionHeads: 40, intermediateSize: 13824)
        default: throw GenerationError.invalidOption("unknown arch \(arch) (llava-1.5-7b, llava-1.5-13b)")
        }
        if let layers {
            guard layers >= 1 else { throw GenerationError.invalidOption("layers must be at least 1") }
            config.numHiddenLayers = layers
        }
        let grid = Int(Double(visualTokens).squareRoot())
        guard visualTokens > 0, grid * grid == visualTokens else {
            throw GenerationError.invalidOption("visual-tokens \(visualTokens) is not a square grid")
        }
        guard systemTokens >= 0, textTokens >= 1 else {
            throw GenerationError.invalidOption("system-tokens must be ≥ 0 and text-tokens ≥ 1")
        }
        guard let mode = YOPOMode(rawValue: yopoMode) else {
            throw GenerationError.invalidOption("unknown yopo mode \(yopoMode) (choose from skip, simulate)")
        }
        MatMul.setThreads(threads ?? physicalCoreCount())
        let specs = try (prune.isEmpty ? ["none"] : prune).map {
            try PruningSpec(parsing: $0, baseDirectory: FileManager.default.currentDirectoryPath)
        }
        let bench = try PrefillBenchmark(
            config: config, systemTokens: systemTokens, gridRows: grid, gridColumns: grid, textTokens: textTokens)
        var results: [PrefillBenchmark.Result] = []
        for spec in specs {
            results.append(try bench.run(spec: spec, mode: mode, runs: runs))
            if !json { printError("done: \(spec.description)") }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            FileHandle.standardOutput.write(try encoder.encode(results) + Data("\n".utf8))
            return
        }
        print("\(arch), \(config.numHiddenLayers) layers, prompt \(systemTokens) system + \(visualTokens) visual + \(textTokens) text, \(threads ?? physicalCoreCount()) threads, \(runs) runs, mode \(mode.rawValue)")
        print("| spec | prefill ms (median) | executed GFLOP | GFLOP/s | predicted speed-up | measured speed-up | measured / predicted |")
        print("|---|---|---|---|---|---|---|")
        let base = results[0]
        for r in results {
            let predicted = Double(base.executedFLOPs) / Double(r.executedFLOPs)
            let measured = base.prefillMS / r.prefillMS
            print(String(format: "| %@ | %.0f | %.1f | %.1f | %.2f× | %.2f× | %.0f%% |",
                         r.spec, r.prefillMS, Double(r.executedFLOPs) / 1e9, r.gflopsPerSecond,
                         predicted, measured, 100 * measured / predicted))
        }
    }
}
