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
        abstract: "Run vision-language models on the CPU, with YOPO visual pruning.",
        discussion: "yopo --version prints the version. Every bad command line gets one `error:` line and exit status 1.",
        subcommands: [
            Generate.self, Bench.self, BenchGEMM.self, FLOPs.self, Compare.self, Eval.self, Calibrate.self, Analyze.self, Serve.self
        ],
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
            printError("error: \(CommandLineShape.message(for: error, arguments: arguments))")
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

struct Generate: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt about one or more images.",
        discussion: """
            Streams the answer to stdout and prints timings (load, image encode, prefill, decode) to \
            stderr. Checkpoints: llava-hf (LlavaForConditionalGeneration), original LLaVA \
            (LlavaLlamaForCausalLM, with --vision-tower or a local mm_vision_tower), Qwen2-VL \
            (Qwen2VLForConditionalGeneration) and Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration). \
            --prompt - reads the prompt from stdin. Every option takes the next word as its value, so \
            a negative number reaches its range check.
            """)

    @OptionGroup var session: SessionOptionGroup

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Image file (JPEG or PNG); repeat it for several images, which go before the text in order or at its <image> markers.",
            valueName: "file"))
    var image: [String]

    @Option(parsing: .unconditional, help: ArgumentHelp("The question or instruction; - reads it from stdin.", valueName: "text"))
    var prompt: String

    @OptionGroup var sampling: SamplingOptions

    @OptionGroup var pruning: PruningOptions

    @OptionGroup var output: OutputOptions

    @Flag(help: "Log progress details to stderr.")
    var verbose = false

    @Flag(help: "After the text, print the generated token ids on stderr (to compare with a reference).")
    var printTokenIds = false

    func execute() throws {
        // Every option is checked before the checkpoint loads.
        let parameters = sampling.parameters
        try parameters.validate()
        let options = try session.sessionOptions(json: output.json)
        let text = try OptionValue.prompt(prompt)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
        let loaded = try Session(modelDirectory: session.model, options: options)
        let request = GenerationRequest(
            prompt: text, images: image.map(ImageInput.path), parameters: parameters, prune: pruning.prune, yopoMode: pruning.yopoMode)
        let json = output.json
        let result = try loaded.generate(request) { event in
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
