import ArgumentParser
import Foundation
import Logging
import YOPO
import YOPOCore
import YOPOPruning

/// `yopo`: thin commands over the YOPO library.
@main
struct YOPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yopo",
        abstract: "Run LLaVA-1.5 on the CPU, with YOPO visual-computation pruning.",
        subcommands: [Generate.self, Bench.self, BenchGEMM.self, FLOPs.self, Compare.self],
        defaultSubcommand: Generate.self)
}

/// Writes a line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// A subcommand whose failures print one `error: …` line and exit with status 1.
protocol OneLineErrorCommand: ParsableCommand {
    func execute() throws
}

extension OneLineErrorCommand {
    func run() throws {
        MatMul.retainFreedMemory()
        do {
            try execute()
        } catch let error as CleanExit {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// A one-line argument error.
struct ArgumentError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct Generate: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about an image with a LLaVA-1.5 checkpoint.",
        discussion: """
            Streams the answer to stdout and prints timings (load, image encode, prefill, decode) to \
            stderr. Checkpoints: llava-hf (LlavaForConditionalGeneration) or original LLaVA \
            (LlavaLlamaForCausalLM, with --vision-tower or a local mm_vision_tower).
            """)

    @Option(help: "Checkpoint directory (config.json + safetensors).")
    var model: String

    @Option(help: "CLIP vision tower directory (original LLaVA layout).")
    var visionTower: String?

    @Option(help: "Image file (JPEG or PNG).")
    var image: String

    @Option(help: "The question or instruction.")
    var prompt: String

    @Option(help: "Maximum number of tokens to generate.")
    var maxTokens: Int = 128

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling threshold (1 = off).")
    var topP: Float = 1

    @Option(help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Compute threads (default: physical cores).")
    var threads: Int?

    @Option(help: "Matrix-product precision: auto (bf16 for BF16 checkpoints where supported), fp32 or bf16.")
    var compute: String = "auto"

    @Option(help: "Prompt template: vicuna_v1, llava_v1 or llava-hf (default: from the checkpoint layout).")
    var template: String?

    @Option(help: "Image squaring: pad (original LLaVA) or crop (llava-hf) (default: from the checkpoint).")
    var imageAspect: String?

    @Option(help: "Visual-computation pruning: none, yopo-25, yopo-12, or yopo:window=5,layers=16,heads=MASK.npy,ffn=2.")
    var prune: String = "none"

    @Option(help: "How a YOPO plan runs: skip (the work is not done) or simulate (the official numerics).")
    var yopoMode: String = "skip"

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    @Flag(help: "Log progress details to stderr.")
    var verbose = false

    func execute() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
        let parameters = GenerationParameters(
            maxTokens: maxTokens, temperature: temperature, topP: topP, topK: topK, seed: seed)
        try parameters.validate()
        if let threads {
            guard threads >= 1 else { throw GenerationError.invalidParameter("threads must be at least 1") }
        }
        let options = try PipelineOptions(
            visionTower: visionTower, template: template, imageAspect: imageAspect,
            threads: threads, compute: compute, showProgress: !json && isatty(STDERR_FILENO) != 0)
        let pipeline = try LLaVAPipeline(modelDirectory: model, options: options)
        guard let mode = YOPOMode(rawValue: yopoMode) else {
            throw GenerationError.invalidOption("unknown yopo mode \(yopoMode) (choose from skip, simulate)")
        }
        let spec = try PruningSpec(parsing: prune, baseDirectory: FileManager.default.currentDirectoryPath)
        let request = GenerationRequest(
            prompt: prompt, imagePaths: [image], parameters: parameters, prune: spec, yopoMode: mode)
        let result = try pipeline.generate(request) { text in
            if !json {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(result) + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
            let t = result.timingsMS
            printError(String(
                format: "load %.0f ms | vision %.0f ms | prefill %.0f ms (%d tokens, %d visual) | decode %.0f ms (%d tokens, %.2f tok/s)",
                t.load, t.vision, t.prefill, result.promptTokens, result.visualTokens, t.decode,
                result.generatedTokens, result.decodeTokensPerSecond))
        }
    }
}
