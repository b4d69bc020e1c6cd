import Foundation
import YOPOCore
import YOPOModels
import YOPOPruning

/// Prefill timing on random weights with a real model's dimensions (docs: BENCHMARKS.md).
/// The prompt is `[system][image: grid²][text]` given as random embeddings, so no tokenizer,
/// vision tower or checkpoint is needed.
public struct PrefillBenchmark {
    public struct Result: Codable, Sendable {
        public var spec: String
        public var mode: YOPOMode?
        /// Median over runs, milliseconds.
        public var prefillMS: Double
        public var runsMS: [Double]
        /// Executed FLOPs of one prefill (docs/FLOPS.md `full`).
        public var executedFLOPs: Int
        public var gflopsPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case spec, mode, prefillMS = "prefill_ms", runsMS = "runs_ms", executedFLOPs = "executed_flops"
            case gflopsPerSecond = "gflops_per_second"
        }
    }

    public let decoder: LlamaDecoder
    public let systemTokens: Int
    public let gridRows: Int
    public let gridColumns: Int
    public let textTokens: Int

    /// - Parameters: `config` gives the decoder dimensions; layers share one random weight set.
    public init(config: LlamaConfiguration, systemTokens: Int, gridRows: Int, gridColumns: Int, textTokens: Int) throws {
        decoder = try LlamaDecoder(randomWeightsFor: config)
        self.systemTokens = systemTokens
        self.gridRows = gridRows
        self.gridColumns = gridColumns
        self.textTokens = textTokens
    }

    public var promptTokens: Int { systemTokens + gridRows * gridColumns + textTokens }

    /// Times `runs` prefills of the prompt (after one warm-up) with `spec` in `mode`.
    public func run(spec: PruningSpec, mode: YOPOMode, runs: Int) throws -> Result {
        let c = decoder.config
        let plan = try spec.resolve(for: DecoderShape(
            numHiddenLayers: c.numHiddenLayers, numAttentionHeads: c.numAttentionHeads, intermediateSize: c.intermediateSize))
        let execution = DecoderExecution(plan: plan, mode: mode)
        let inputs = decoder.embed((0..<promptTokens).map { ($0 * 7919) % c.vocabSize })
        let image = ImageLayout(start: systemTokens, gridRows: gridRows, gridColumns: gridColumns)
        let counter = FLOPCounter()
        _ = decoder.forward(inputs, cache: decoder.makeCache(capacity: promptTokens), images: [image],
                            execution: execution, counter: counter)
        var times: [Double] = []
        for _ in 0..<max(runs, 1) {
            let cache = decoder.makeCache(capacity: promptTokens)
            let start = DispatchTime.now()
            _ = decoder.forward(inputs, cache: cache, images: [image], execution: execution)
            times.append(millisecondsSince(start))
        }
        let median = times.sorted()[times.count / 2]
        return Result(
            spec: spec.description, mode: plan == nil ? nil : mode, prefillMS: median, runsMS: times,
            executedFLOPs: counter.total, gflopsPerSecond: Double(counter.total) / (median / 1000) / 1e9)
    }
}
