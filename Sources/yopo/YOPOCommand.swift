import ArgumentParser
import Foundation
import Logging
import YOPO
import YOPOCore
import YOPOImage
import YOPOPruning
import YOPOText

/// `yopo`: thin commands over the YOPO library.
@main
struct YOPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yopo",
        abstract: "Run LLaVA-1.5 on the CPU, with YOPO visual-computation pruning.",
        discussion: "yopo --version prints the version. Every bad command line gets one `error:` line and exit status 1.",
        subcommands: [Generate.self, Bench.self, BenchGEMM.self, FLOPs.self, Compare.self],
        defaultSubcommand: Generate.self)

    /// Parses and runs the command line. Help and `--version` print to stdout and exit 0; every bad
    /// command line prints one `error: …` line naming the word at fault and exits 1 (ArgumentParser
    /// alone would exit 64 with its usage text; `CommandLineShape` checks the line first).
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            switch try CommandLineShape.check(arguments) {
            case .version:
                print("yopo \(yopoVersion)")
                Foundation.exit(0)
            case .parse, .parserHandles:
                break
            }
        } catch {
            printError("error: \(oneLine(String(describing: error)))")
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let code as ExitCode {
            // A command that failed has printed its one line already.
            Foundation.exit(code.isSuccess ? 0 : 1)
        } catch {
            if exitCode(for: error).isSuccess { exit(withError: error) }  // help: its text, status 0
            printError("error: \(CommandLineShape.message(for: error))")
            Foundation.exit(1)
        }
        Foundation.exit(0)
    }
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
            printError("error: \(oneLine(String(describing: error)))")
            throw ExitCode(1)
        }
    }
}

/// `--template`. Throws `ArgumentError` naming the value.
func parseTemplate(_ text: String?) throws -> PromptTemplate? {
    guard let text else { return nil }
    guard let t = PromptTemplate(rawValue: text) else {
        throw ArgumentError("unknown template \(text) (choose from \(PromptTemplate.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return t
}

/// `--image-aspect`. Throws `ArgumentError` naming the value.
func parseImageAspect(_ text: String?) throws -> SquareMode? {
    guard let text else { return nil }
    guard let m = SquareMode(rawValue: text) else { throw ArgumentError("unknown image aspect mode \(text) (choose from pad, crop)") }
    return m
}

/// `--compute`: `auto` → nil (automatic), `fp32`, `bf16`.
func parseCompute(_ text: String) throws -> ComputePrecision? {
    guard text != "auto" else { return nil }
    guard let p = ComputePrecision(rawValue: text) else {
        throw ArgumentError("unknown compute precision \(text) (choose from auto, fp32, bf16)")
    }
    return p
}

/// The YOPO execution mode of `--yopo-mode` (`skip`, `simulate`; any case).
func parseYOPOMode(_ text: String) throws -> YOPOMode {
    guard let mode = YOPOMode(rawValue: text.lowercased()) else {
        throw ArgumentError("unknown --yopo-mode \(text) (skip, simulate)")
    }
    return mode
}

struct Generate: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about an image with a LLaVA-1.5 checkpoint.",
        discussion: """
            Streams the answer to stdout and prints timings (load, image encode, prefill, decode) to \
            stderr. Checkpoints: llava-hf (LlavaForConditionalGeneration) or original LLaVA \
            (LlavaLlamaForCausalLM, with --vision-tower or a local mm_vision_tower). \
            --prompt - reads the prompt from stdin. Every option takes the next word as its value, so \
            a negative number reaches its range check.
            """)

    /// Most tokens `--max-tokens` (and `--top-k`) accept; generation also stops at the context length.
    static let maxTokenCount = 1 << 20

    @Option(parsing: .unconditional, help: ArgumentHelp("Checkpoint directory (config.json + safetensors).", valueName: "dir"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("CLIP vision tower directory (original LLaVA layout).", valueName: "dir"))
    var visionTower: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Image file (JPEG or PNG); one per prompt for now.", valueName: "file"))
    var image: String

    @Option(parsing: .unconditional, help: ArgumentHelp("The question or instruction; - reads it from stdin.", valueName: "text"))
    var prompt: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Maximum number of tokens to generate, 1 to 1048576.", valueName: "n"))
    var maxTokens: String = "128"

    @Option(parsing: .unconditional, help: ArgumentHelp("Sampling temperature, a finite number ≥ 0; 0 is greedy.", valueName: "t"))
    var temperature: String = "0"

    @Option(parsing: .unconditional, help: ArgumentHelp("Nucleus sampling threshold in (0, 1] (1 = off).", valueName: "p"))
    var topP: String = "1"

    @Option(parsing: .unconditional, help: ArgumentHelp("Keep only the K most likely tokens, 0 to 1048576 (0 = off).", valueName: "k"))
    var topK: String = "0"

    @Option(parsing: .unconditional, help: ArgumentHelp("Random seed for sampling, 0 to 18446744073709551615.", valueName: "n"))
    var seed: String = "0"

    @Option(parsing: .unconditional, help: ArgumentHelp("Compute threads, at least 1 (default: physical cores).", valueName: "n"))
    var threads: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Matrix-product precision: auto (bf16 for BF16 checkpoints where supported), fp32 or bf16.", valueName: "precision"))
    var compute: String = "auto"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Prompt template: vicuna_v1, llava_v1 or llava-hf (default: from the checkpoint layout).", valueName: "name"))
    var template: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Image squaring: pad (original LLaVA) or crop (llava-hf) (default: from the checkpoint).", valueName: "mode"))
    var imageAspect: String?

    /// `--prune`'s help: every method with one example (from `PruningSpec.examples`, the list the
    /// parser's tests check, so help and parser cannot drift apart).
    static let pruneHelp = ArgumentHelp(
        "Visual-computation pruning, one spec: " + PruningSpec.examples.map(\.example).joined(separator: " | ")
            + " (docs/PRUNING.md).",
        discussion: PruningSpec.examples.map { "\($0.example): \($0.description)." }.joined(separator: "\n"),
        valueName: "spec")

    @Option(parsing: .unconditional, help: Generate.pruneHelp)
    var prune: String = "none"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "How a YOPO plan runs: skip (the work is not done) or simulate (the official numerics).", valueName: "mode"))
    var yopoMode: String = "skip"

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    @Flag(help: "Log progress details to stderr.")
    var verbose = false

    @Flag(help: "After the text, print the generated token ids on stderr (to compare with a reference).")
    var printTokenIds = false

    func execute() throws {
        // Every option is checked before the checkpoint loads.
        let limits = MemoryLimits.current()
        let parameters = GenerationParameters(
            maxTokens: try OptionValue.integer(maxTokens, "max-tokens", min: 1, max: Self.maxTokenCount),
            temperature: try OptionValue.number(temperature, "temperature", allowed: "a finite number ≥ 0") {
                $0 >= 0 ? nil : "must be at least 0"
            },
            topP: try OptionValue.number(topP, "top-p", allowed: "a number in (0, 1]") {
                $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1]"
            },
            topK: try OptionValue.integer(topK, "top-k", min: 0, max: Self.maxTokenCount),
            seed: try OptionValue.unsigned(seed, "seed"))
        try parameters.validate()
        let threadCount = try limits.threads(threads) ?? limits.defaultThreads
        let mode = try parseYOPOMode(yopoMode)
        let spec = try PruningSpec(parsing: prune, baseDirectory: FileManager.default.currentDirectoryPath)
        let options = SessionOptions(
            visionTower: visionTower, template: try parseTemplate(template), imageAspectMode: try parseImageAspect(imageAspect),
            execution: ExecutionOptions(threads: threadCount, compute: try parseCompute(compute)),
            showProgress: !json && isatty(STDERR_FILENO) != 0)
        try options.execution.validate()
        let text = try OptionValue.prompt(prompt)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
        let session = try Session(modelDirectory: model, options: options)
        let request = GenerationRequest(
            prompt: text, imagePaths: [image], parameters: parameters, prune: spec, yopoMode: mode)
        let result = try session.generate(request) { event in
            guard !json else { return }
            switch event {
            case .token(_, let text), .finished(_, let text): FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(result) + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data("\n".utf8))
            if printTokenIds { printError("token ids: " + result.tokenIDs.map(String.init).joined(separator: " ")) }
            printError(result.timingLine)
        }
    }
}
