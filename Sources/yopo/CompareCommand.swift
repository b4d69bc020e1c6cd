import ArgumentParser
import Foundation
import YOPO
import YOPOPruning

/// `yopo compare`: dense, YOPO and the token-pruning baselines at one FLOPs budget, side by side.
struct Compare: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare dense, YOPO, FastV, PyramidDrop and SparseVLM at one FLOPs budget.",
        discussion: """
            Each baseline gets the setting whose FLOPs under --convention come closest to --budget of the \
            dense count without exceeding it (the cheapest one, flagged, when none reaches it): FastV K = 2 \
            and the image tokens kept; PyramidDrop λ at boundaries L/4, L/2, 3L/4 (or BASELINES.md §2.2's \
            derived sets); SparseVLM's retain-192/128/64 schedule. YOPO runs --yopo, else yopo-25 \
            (budget ≥ 20%) or yopo-12 on 32 × 32 and 40 × 40 decoders, else the solver's w 5, r 2, K.

            Columns: FLOPs of the prompt under each convention (yopo in FLOPs, the others in MACs; \
            "-" where a convention cannot count the method), full = this engine's analytic count of the \
            prefill (vision tower, projector, decoder, LM head; dense and YOPO), executed = the engine's \
            counter over the same prefill, prefill wall-clock, bytes of visual keys/values cached, \
            KL(dense ‖ method) of the first answer token's distribution, and top-1 agreement: the dense \
            model's greedy answer (--steps tokens) is fed to every method and the steps where its argmax \
            equals dense's token are counted.

            --input FILE.jsonl: one {"image": PATH, "prompt": TEXT} object per line (relative paths are \
            relative to the file); one row per sample and method, then each method's mean. Settings are \
            solved once, for the samples' mean prompt layout.
            """)

    @OptionGroup var session: SessionOptionGroup

    @Option(parsing: .unconditional, help: ArgumentHelp("Image file (JPEG or PNG); one for now.", valueName: "file"))
    var image: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The question or instruction; - reads it from stdin.", valueName: "text"))
    var prompt: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("FLOPs target as a share of the dense count, in (0%, 100%]: 25% or 0.25.", valueName: "share"),
        transform: OptionValue.budget)
    var budget: FLOPsBudget?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Convention the budget is counted in (full, this engine's own count, is a column of the report).", valueName: "convention"))
    var convention: BudgetConvention = .yopo

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "YOPO spec or preset to run instead of the preset / solver choice (e.g. yopo:window=5,layers=16,heads-keep=16,ffn=2).",
            valueName: "spec"), transform: OptionValue.pruneSpec)
    var yopo: PruningSpec?

    @OptionGroup var mode: YOPOModeOption

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Greedy dense tokens fed to every method for top-1 agreement, 1 to 1048576.", valueName: "n", default: 20),
        transform: OptionValue.integer("steps", 1...SamplingOptions.maxTokenCount))
    var steps: Int = 20

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "JSONL file of {\"image\": PATH, \"prompt\": TEXT} samples, at most 64 MiB (instead of --image/--prompt).", valueName: "file"))
    var input: String?

    @OptionGroup var output: OutputOptions

    /// Largest `--input` file read.
    static let maxInputBytes = 64 << 20

    // MARK: input

    /// Reads `--input`: one JSON object per non-empty line with string fields `image` and `prompt`.
    static func readSamples(_ path: String) throws -> [Comparison.Sample] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ArgumentError("cannot read --input '\(path)': no such file")
        }
        guard !isDirectory.boolValue else { throw ArgumentError("--input '\(path)' is a directory, not a JSONL file") }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            throw ArgumentError("--input '\(path)' is not a regular file (a JSONL file of {\"image\", \"prompt\"} lines)")
        }
        if let size = attributes?[.size] as? Int, size > maxInputBytes {
            throw ArgumentError("--input '\(path)' is \(size >> 20) MiB; at most \(maxInputBytes >> 20) MiB of samples are read")
        }
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: maxInputBytes + 1) ?? Data() else {
            throw ArgumentError("cannot read --input '\(path)': permission denied or unreadable")
        }
        guard data.count <= maxInputBytes else {
            throw ArgumentError(
                "--input '\(path)' is larger than \(maxInputBytes >> 20) MiB; at most \(maxInputBytes >> 20) MiB of samples are read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ArgumentError("--input '\(path)' is not UTF-8 text (one {\"image\", \"prompt\"} JSON object per line)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var samples: [Comparison.Sample] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            let where_ = "\(path) line \(i + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw ArgumentError("\(where_) is not a JSON object (each line: {\"image\": PATH, \"prompt\": TEXT})")
            }
            guard let image = object["image"] as? String, !image.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ArgumentError("\(where_) has no \"image\" string")
            }
            guard let prompt = object["prompt"] as? String, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ArgumentError("\(where_) has no \"prompt\" string")
            }
            let resolved = image.hasPrefix("/") ? image : base.appendingPathComponent(image).path
            samples.append(Comparison.Sample(image: .path(resolved), prompt: prompt))
        }
        guard !samples.isEmpty else {
            throw ArgumentError("--input '\(path)' has no samples (one {\"image\", \"prompt\"} object per line)")
        }
        return samples
    }

    // MARK: run

    func execute() throws {
        // Everything that can be checked without the model first.
        guard let budget else { throw ArgumentError("give --budget (e.g. 25% or 0.25)") }
        if let yopo, !yopo.isYOPO {
            throw ArgumentError("--yopo takes a YOPO spec or preset (yopo-25, yopo-12, yopo:…), not \(yopo.description)")
        }
        let options = try session.sessionOptions(json: output.json)
        let samples: [Comparison.Sample]
        if let input {
            guard image == nil && prompt == nil else { throw ArgumentError("give --image and --prompt, or --input, not both") }
            samples = try Self.readSamples(input)
        } else {
            guard let image, let prompt else { throw ArgumentError("give --image and --prompt (or --input FILE.jsonl)") }
            samples = [Comparison.Sample(image: .path(image), prompt: try OptionValue.prompt(prompt))]
        }
        for sample in samples where !FileManager.default.fileExists(atPath: sample.label) {
            throw ArgumentError("cannot read image '\(sample.label)': no such file")
        }
        let comparison = try Comparison(
            budget: budget, convention: convention.convention, yopo: yopo, yopoMode: mode.yopoMode, steps: steps)

        let report = try comparison.run(on: try Session(modelDirectory: session.model, options: options), samples: samples)
        if output.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(report.table().utf8))
        }
    }
}
