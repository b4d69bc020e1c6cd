import ArgumentParser
import Foundation
import YOPO
import YOPOCore
import YOPOImage
import YOPOPruning
import YOPOText

// The option blocks several commands share, each declared once (`@OptionGroup`). Every option takes
// the next word as its value (`.unconditional`), so `--max-tokens -1` reaches its range check.

/// `--threads`, `--compute`: how the products run (generate, compare, bench; bench-gemm takes
/// `--threads` alone, its paths set their own precision).
struct ComputeOptions: ParsableArguments {
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Compute threads, at least 1 (default: physical cores).", valueName: "n"),
        transform: OptionValue.threads)
    var threads: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Matrix-product precision: auto (bf16 for BF16 checkpoints where supported), fp32 or bf16.", valueName: "precision"))
    var compute: ComputeChoice = .auto

    /// `--threads`, else physical cores within the address-space limit.
    var threadCount: Int { threads ?? MemoryLimits.current().defaultThreads }

    /// `--compute` (nil: automatic). Throws `GenerationError` for bf16 without oneDNN's native bf16.
    func precision() throws -> ComputePrecision? {
        try ComputePrecision.checkAvailable(compute.precision)
        return compute.precision
    }
}

/// `--threads` alone (bench-gemm).
struct ThreadOptions: ParsableArguments {
    @Option(
        parsing: .unconditional, help: ArgumentHelp("Compute threads, at least 1 (default: physical cores).", valueName: "n"),
        transform: OptionValue.threads)
    var threads: Int?

    var count: Int { threads ?? MemoryLimits.current().defaultThreads }
}

/// The checkpoint a session loads and how: `--model`, `--vision-tower`, `--template`,
/// `--image-aspect`, and the compute options (generate, compare).
struct SessionOptionGroup: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Checkpoint directory (config.json + safetensors).", valueName: "dir"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("CLIP vision tower directory (original LLaVA layout).", valueName: "dir"))
    var visionTower: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Prompt template (default: vicuna_v1 for original checkpoints, llava-hf for llava-hf ones).", valueName: "name"))
    var template: PromptTemplate?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Image squaring: pad (original LLaVA) or crop (llava-hf) (default: from the checkpoint).", valueName: "mode"))
    var imageAspect: SquareMode?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Smallest image area in pixels after resizing (Qwen2-VL / Qwen2.5-VL; default: the checkpoint's min_pixels).",
            valueName: "n"),
        transform: OptionValue.integer("min-pixels", 1...(8192 * 8192)))
    var minPixels: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest image area in pixels after resizing (Qwen2-VL / Qwen2.5-VL; default: the checkpoint's max_pixels).",
            valueName: "n"),
        transform: OptionValue.integer("max-pixels", 1...(8192 * 8192)))
    var maxPixels: Int?

    @OptionGroup var compute: ComputeOptions

    /// The session's options; the progress line only on a terminal and without `--json`.
    func sessionOptions(json: Bool) throws -> SessionOptions {
        SessionOptions(
            visionTower: visionTower, template: template, imageAspectMode: imageAspect, threads: compute.threadCount,
            compute: try compute.precision(), showProgress: !json && isatty(STDERR_FILENO) != 0, minPixels: minPixels,
            maxPixels: maxPixels)
    }
}

/// `--arch NAME` or `--model DIR` (with `--vision-tower`): the dimensions bench and flops work on.
struct DimensionsOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Built-in dimensions (instead of --model).", valueName: "name"))
    var arch: ArchitectureName?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Checkpoint directory (config.json + safetensors), instead of --arch.", valueName: "dir"))
    var model: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("CLIP vision tower directory (original LLaVA layout, with --model).", valueName: "dir"))
    var visionTower: String?

    static var archNames: String { ArchitectureName.allValueStrings.joined(separator: ", ") }

    /// Throws `ArgumentError` when both are given or `--vision-tower` comes without `--model`.
    func validate() throws {
        if arch != nil && model != nil { throw ArgumentError("give --arch or --model, not both") }
        if visionTower != nil && model == nil { throw ArgumentError("--vision-tower goes with --model") }
    }
}

/// `--max-tokens`, `--temperature`, `--top-p`, `--top-k`, `--seed`.
struct SamplingOptions: ParsableArguments {
    /// Most tokens `--max-tokens` (and `--top-k`) accept; generation also stops at the context length.
    static let maxTokenCount = 1 << 20
    /// The library's defaults are the options' defaults.
    static let defaults = GenerationParameters()

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Maximum number of tokens to generate, 1 to 1048576.", valueName: "n", default: SamplingOptions.defaults.maxTokens),
        transform: OptionValue.integer("max-tokens", 1...SamplingOptions.maxTokenCount))
    var maxTokens: Int = SamplingOptions.defaults.maxTokens

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Sampling temperature, a finite number ≥ 0; 0 is greedy.", valueName: "t", default: SamplingOptions.defaults.temperature),
        transform: OptionValue.number("temperature", allowed: "a finite number ≥ 0") { $0 >= 0 ? nil : "must be at least 0" })
    var temperature: Float = SamplingOptions.defaults.temperature

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Nucleus sampling threshold in (0, 1] (1 = off).", valueName: "p", default: SamplingOptions.defaults.topP),
        transform: OptionValue.number("top-p", allowed: "a number in (0, 1]") { $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1]" })
    var topP: Float = SamplingOptions.defaults.topP

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Keep only the K most likely tokens, 0 to 1048576 (0 = off).", valueName: "k", default: SamplingOptions.defaults.topK),
        transform: OptionValue.integer("top-k", 0...SamplingOptions.maxTokenCount))
    var topK: Int = SamplingOptions.defaults.topK

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Random seed for sampling, 0 to 18446744073709551615.", valueName: "n", default: SamplingOptions.defaults.seed),
        transform: OptionValue.unsigned("seed"))
    var seed: UInt64 = SamplingOptions.defaults.seed

    var parameters: GenerationParameters {
        GenerationParameters(maxTokens: maxTokens, temperature: temperature, topP: topP, topK: topK, seed: seed)
    }
}

/// `--yopo-mode`: how a YOPO plan runs (generate, compare, bench).
struct YOPOModeOption: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "How a YOPO plan runs: skip (the work is not done) or simulate (the official numerics, dense work).", valueName: "mode"))
    var yopoMode: YOPOMode = .skip
}

/// `--prune SPEC` and `--yopo-mode`.
struct PruningOptions: ParsableArguments {
    /// `--prune`'s help: every method with one example (from `PruningSpec.examples`, the list the
    /// parser's tests check, so help and parser cannot drift apart).
    static let help = ArgumentHelp(
        "Visual-computation pruning, one spec: " + PruningSpec.examples.map(\.example).joined(separator: " | ")
            + " (docs/PRUNING.md).",
        discussion: PruningSpec.examples.map { "\($0.example): \($0.description)." }.joined(separator: "\n"),
        valueName: "spec", default: PruningSpec.none.description)

    @Option(parsing: .unconditional, help: PruningOptions.help, transform: OptionValue.pruneSpec)
    var prune: PruningSpec = .none

    @OptionGroup var mode: YOPOModeOption

    var yopoMode: YOPOMode { mode.yopoMode }
}

/// `--json`.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of text.")
    var json = false
}

extension ArgumentHelp {
    /// Help for an option read by a `transform`, for which ArgumentParser shows no default: the
    /// abstract followed by " (default: …)" as it shows for other options.
    init(_ abstract: String, discussion: String = "", valueName: String, default value: some CustomStringConvertible) {
        self.init(abstract + " (default: \(value))", discussion: discussion, valueName: valueName)
    }
}
