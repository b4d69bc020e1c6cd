import ArgumentParser
import Foundation
import YOPO
import YOPOEval
import YOPOPruning

extension BenchmarkName: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `yopo eval`: a benchmark as LLaVA's eval scripts run it (`run`, the default), scoring an answer
/// file (`score`), and merging shard answer files (`merge`).
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run a benchmark (GQA, VQAv2, POPE, MMBench, ScienceQA, TextVQA, MME) as LLaVA's eval scripts do; score; merge shards.",
        subcommands: [EvalRun.self, EvalScore.self, EvalMerge.self], defaultSubcommand: EvalRun.self)
}

/// `--benchmark` and `--questions`, shared by the three.
struct BenchmarkOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The benchmark.", valueName: "name"))
    var benchmark: BenchmarkName

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Question file as LLaVA ships it (llava_gqa_testdev_balanced.jsonl, mmbench_dev_20230712.tsv, llava_test_CQM-A.json, …).",
            valueName: "file"))
    var questions: String
}

/// `--submission-questions`, shared by run and merge (the submission files' id list).
struct SubmissionQuestionsOption: ParsableArguments {
    @Option(
        name: .customLong("submission-questions"), parsing: .unconditional,
        help: ArgumentHelp(
            "VQAv2 test-dev: the full llava_vqav2_mscoco_test2015.jsonl the EvalAI file lists ids from (default: --questions).",
            valueName: "file"))
    var file: String?
}

struct EvalRun: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Answer a benchmark's questions with one or several pruning plans; write LLaVA's answer files, scores, submissions.",
        discussion: """
            Prompts, greedy decoding and max_new_tokens are LLaVA-1.5's (docs/EVAL.md). Files go to \
            OUT/<plan>/: answers.jsonl (LLaVA's layout; N_I.jsonl for --shard I/N), summary.json (score, \
            questions/s, executed FLOPs per question, FLOPs under each paper's convention), and the \
            submission files of GQA (testdev_balanced_predictions.json), VQAv2 (EvalAI json) and MMBench \
            (the submission columns as tsv). Several --prune (or --budget) plans run in one pass over the \
            data and OUT/comparison.md compares them. An interrupted run continues where it stopped when \
            started again with the same options.

            Questions are grouped by image; each image is encoded once and, per plan, the prompt up to \
            the end of the image runs once for all its questions (dense and YOPO: every layer; FastV, \
            PyramidDrop, SparseVLM: the layers before their first pruning layer). --no-prefix-cache makes \
            every question do its own (the same answers, slower).

            Scale out with --shard I/N on N machines or a Slurm array (I = $SLURM_ARRAY_TASK_ID), then \
            `yopo eval merge` (see docs/EVAL.md).
            """)

    @OptionGroup var session: SessionOptionGroup
    @OptionGroup var benchmark: BenchmarkOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Directory the question file's image names are relative to.", valueName: "dir"))
    var images: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Ground truth the benchmark's scorer reads, for scoring here (see yopo eval score --help).", valueName: "path"))
    var answers: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Output directory.", valueName: "dir"))
    var out: String

    @OptionGroup var submission: SubmissionQuestionsOption

    @Option(
        parsing: .singleValue,
        help: ArgumentHelp("A pruning plan; repeat for several in one pass (default: none).", valueName: "spec"),
        transform: OptionValue.pruneSpec)
    var prune: [PruningSpec] = []

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Also run dense, YOPO, FastV, PyramidDrop and SparseVLM at this share of the dense FLOPs (as yopo compare chooses).",
            valueName: "share"), transform: OptionValue.budget)
    var budget: FLOPsBudget?

    @Option(parsing: .unconditional, help: ArgumentHelp("Convention --budget is counted in.", valueName: "convention"))
    var convention: BudgetConvention = .yopo

    @OptionGroup var mode: YOPOModeOption

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "This machine's part: shard I of N, 0 ≤ I < N ≤ 100000 (contiguous chunks as LLaVA's --chunk-idx).", valueName: "I/N")
    )
    var shard: String?

    @Flag(help: "Shards take every N-th question (I, I+N, …) instead of contiguous chunks.")
    var strided = false

    @Flag(help: "Every question encodes its image and runs its prompt prefix itself.")
    var noPrefixCache = false

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Only the first N questions (of the shard), 1 to 100000000.", valueName: "n"),
        transform: OptionValue.integer("limit", 1...100_000_000))
    var limit: Int?

    @Flag(
        help:
            "MMBench: also ask every rotation of each row's options (LLaVA's --all-rounds; the local score reads round 0, as the tsv's circular rows hold the rotations; the submission keeps the last round, as LLaVA's converter does)."
    )
    var allRounds = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("model_id of the answer lines (default: the model directory's name).", valueName: "name"))
    var modelID: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Without a terminal, a progress line every N questions, 1 to 1000000.", valueName: "n", default: 100),
        transform: OptionValue.integer("progress-every", 1...1_000_000))
    var progressEvery: Int = 100

    func execute() throws {
        let shardValue = try shard.map { try Shard(parsing: $0, strided: strided) } ?? .whole
        if strided && shard == nil { throw ArgumentError("--strided goes with --shard I/N") }
        guard FileManager.default.fileExists(atPath: benchmark.questions) else {
            throw ArgumentError("cannot read --questions '\(benchmark.questions)': no such file")
        }
        if let images {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: images, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ArgumentError("--images '\(images)' is not a directory")
            }
        }
        let options = try session.sessionOptions(json: true)
        let loaded = try Session(modelDirectory: session.model, options: options)
        var plans = prune.map { EvaluationPlan(prune: $0, yopoMode: mode.yopoMode) }
        let comparison = try budget.map { try Comparison(budget: $0, convention: convention.convention, yopoMode: mode.yopoMode, steps: 1) }
        if plans.isEmpty && comparison == nil { plans = [EvaluationPlan(prune: .none)] }
        let modelName = modelID ?? URL(fileURLWithPath: session.model).standardizedFileURL.lastPathComponent
        var evaluation = Evaluation(
            options: EvaluationOptions(
                benchmark: benchmark.benchmark, questionsFile: benchmark.questions, imagesDirectory: images, groundTruth: answers,
                outDirectory: out, plans: plans, budget: comparison, shard: shardValue, prefixCache: !noPrefixCache, limit: limit,
                modelID: modelName, mmbenchAllRounds: allRounds))
        evaluation.options.submissionQuestionsFile = submission.file
        let bar = ProgressDisplay(terminal: isatty(STDERR_FILENO) != 0, every: progressEvery)
        let summary = try evaluation.run(on: loaded) { bar.show($0) }
        bar.finish()
        for plan in summary.plans {
            let score = plan.score.map { "\($0.primary.name) \(String(format: "%.2f", $0.primary.value))" } ?? "not scored"
            print(
                "\(plan.plan.method) (\(plan.plan.prune.description)): \(score); \(plan.answered) answered, "
                    + String(format: "%.3f q/s, %.3f TFLOPs/q executed", plan.questionsPerSecond, plan.executedFLOPsPerQuestion / 1e12)
                    + " → \(plan.answersFile)")
        }
        if summary.plans.count > 1 { print("\n" + summary.table, terminator: "") }
    }
}

/// The progress bar on a terminal (rate and ETA), else a line every N questions.
final class ProgressDisplay: @unchecked Sendable {
    let terminal: Bool
    let every: Int

    init(terminal: Bool, every: Int) {
        self.terminal = terminal
        self.every = every
    }

    func show(_ p: EvaluationProgress) {
        let eta = p.etaSeconds.map { Self.clock($0) } ?? "--:--"
        let counts = "\(p.done)/\(p.total)" + (p.resumed > 0 ? " (+\(p.resumed) resumed)" : "")
        let rate = String(format: "%.2f q/s", p.rate)
        if terminal {
            let width = 30, filled = p.total > 0 ? width * p.done / p.total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\(bar) \(counts) \(rate) ETA \(eta)\u{1B}[K".utf8))
        } else if p.done % every == 0 || p.done == p.total {
            FileHandle.standardError.write(Data("\(counts) questions, \(rate), ETA \(eta)\n".utf8))
        }
    }

    func finish() { if terminal { FileHandle.standardError.write(Data("\n".utf8)) } }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

struct EvalScore: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score an answer file in LLaVA's layout (ours or another engine's) as the benchmark's reference scorer does.",
        discussion: """
            --answers is what the reference scorer reads: GQA the questions json with answers \
            (testdev_balanced_questions.json), VQAv2 the annotations json, POPE the directory of \
            coco_pope_*.json, ScienceQA the directory with problems.json and pid_splits.json, TextVQA \
            TextVQA_0.5.1_val.json, MME the eval tool's directory; MMBench dev needs none (its tsv has the answers).
            """)

    @OptionGroup var benchmark: BenchmarkOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Ground truth (see the discussion).", valueName: "path"))
    var answers: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The answer file (jsonl) to score.", valueName: "file"))
    var predictions: String

    @OptionGroup var output: OutputOptions

    func execute() throws {
        let score = try BenchmarkScoring.score(
            benchmark.benchmark, questionsFile: benchmark.questions, groundTruth: answers, predictions: AnswerFile.read(predictions))
        print(output.json ? score.json.pythonJSON : score.text, terminator: output.json ? "\n" : "")
        if !output.json && !score.text.hasSuffix("\n") { print() }
    }
}

struct EvalMerge: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge shard answer files into one in question order (byte-identical to an unsharded run).",
        discussion: "Give every shard's file with --input (any order; contiguous or strided shards).")

    @OptionGroup var benchmark: BenchmarkOptions

    @Option(parsing: .singleValue, help: ArgumentHelp("A shard's answer file; repeat for each shard.", valueName: "file"))
    var input: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("The merged answer file to write.", valueName: "file"))
    var out: String

    @Flag(help: "MMBench: the shards ran with --all-rounds.")
    var allRounds = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Also write the submission files of GQA, VQAv2 and MMBench here (as yopo eval run does).", valueName: "dir"))
    var submissions: String?

    @OptionGroup var submission: SubmissionQuestionsOption

    func execute() throws {
        guard !input.isEmpty else { throw ArgumentError("give each shard's answer file with --input FILE") }
        if submissions != nil, ![.gqa, .vqav2, .mmbench].contains(benchmark.benchmark) {
            throw ArgumentError(
                "--submissions: \(benchmark.benchmark.rawValue) has no submission file (it is scored locally; submission files exist for gqa, vqav2, mmbench)"
            )
        }
        let questions = try loadBenchmarkQuestions(
            benchmark.benchmark, questionsFile: benchmark.questions, mmbenchAllRounds: allRounds)
        let merged = try AnswerFile.merge(shardFiles: input, questions: questions)
        try Data(merged.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        print("\(questions.count) answers → \(out)")
        if let submissions {
            try FileManager.default.createDirectory(atPath: submissions, withIntermediateDirectories: true)
            for file in try Submission.write(
                benchmark.benchmark, answersFile: out, questionsFile: submission.file ?? benchmark.questions, outDirectory: submissions)
            {
                print("submission → \(file)")
            }
        }
    }
}
