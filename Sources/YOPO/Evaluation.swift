import Foundation
import YOPOEval
import YOPOModels
import YOPOPruning
import YOPOText

// `yopo eval`: a benchmark's questions through one session, for one or several pruning plans in one
// pass over the data, as LLaVA's eval scripts run them (docs/EVAL.md): the reference prompt, greedy
// decoding with the benchmark's token budget, LLaVA's answer file, then its metric and the files a
// submission server takes.
//
// Questions are grouped by image. Each image is read and encoded once for every plan; for each plan
// the prompt up to the end of the image is run once (`PromptPrefix`: every layer for dense and
// YOPO, the layers before the first pruning layer for FastV, PyramidDrop and SparseVLM) and every
// question about the image continues it. One image's prefix is held at a time, so memory does not
// grow with the benchmark. Without the cache each question makes its own prefix the same way, so
// the answers are the same bytes.

/// One way to run the benchmark: pruning and its YOPO execution, named in paths and tables.
public struct EvaluationPlan: Sendable, Equatable {
    public var prune: PruningSpec
    public var yopoMode: YOPOMode
    /// How the method is named in tables (`dense`, `YOPO`, `FastV`, … or the spec).
    public var method: String

    public init(prune: PruningSpec, yopoMode: YOPOMode = .skip, method: String? = nil) {
        self.prune = prune
        self.yopoMode = yopoMode
        self.method = method ?? (prune == .none ? "dense" : prune.description)
    }

    /// The plan's directory under `--out`: the spec with `/` → `-` and `:` → `_` (`none`, `yopo-25`,
    /// `fastv_k=2,r=0.5`), `+simulate` for a YOPO plan in simulate execution.
    public var label: String {
        let base = prune.description.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ":", with: "_")
        return prune.isYOPO && yopoMode == .simulate ? base + "+simulate" : base
    }
}

/// What to evaluate and where the files go.
public struct EvaluationOptions: Sendable {
    public var benchmark: BenchmarkName
    /// The question file as LLaVA ships it (`loadBenchmarkQuestions`).
    public var questionsFile: String
    /// Where `image` names of the question file are found (not needed for MMBench's inline images).
    public var imagesDirectory: String?
    /// The ground truth the benchmark's scorer reads (`BenchmarkScoring.score`); nil: MMBench scores
    /// from its tsv, the others are not scored.
    public var groundTruth: String?
    /// `<out>/<plan label>/` receives each plan's answer file, summary and submission files.
    public var outDirectory: String
    public var plans: [EvaluationPlan]
    /// Also run every method at a FLOPs budget, set as `yopo compare` sets them for the mean prompt
    /// layout of the benchmark's first 100 questions with an image (plans already listed are not repeated).
    public var budget: Comparison?
    public var shard: Shard
    /// The question file submission files list ids from (VQAv2: LLaVA's full
    /// `llava_vqav2_mscoco_test2015.jsonl`, whose unanswered ids get `""`); nil: `questionsFile`.
    public var submissionQuestionsFile: String?
    /// Reuse each image's prompt prefix across its questions (off: each question makes its own).
    public var prefixCache: Bool
    /// Only the first `limit` questions of the shard (a smoke run).
    public var limit: Int?
    /// `model_id` of the answer lines (LLaVA: the checkpoint directory's name).
    public var modelID: String
    /// MMBench: LLaVA's `--all-rounds` (every rotation of the options; off, as LLaVA-1.5's mmbench.sh
    /// runs it: the tsv's circular rows are the rotations). The local score reads round 0; the submission
    /// keeps the last round's text, as LLaVA's converter does.
    public var mmbenchAllRounds: Bool

    public init(
        benchmark: BenchmarkName, questionsFile: String, imagesDirectory: String? = nil, groundTruth: String? = nil,
        outDirectory: String, plans: [EvaluationPlan], budget: Comparison? = nil, shard: Shard = .whole, prefixCache: Bool = true,
        limit: Int? = nil,
        modelID: String, mmbenchAllRounds: Bool = false
    ) {
        self.benchmark = benchmark
        self.questionsFile = questionsFile
        self.imagesDirectory = imagesDirectory
        self.groundTruth = groundTruth
        self.outDirectory = outDirectory
        self.plans = plans
        self.budget = budget
        self.shard = shard
        self.prefixCache = prefixCache
        self.limit = limit
        self.modelID = modelID
        self.mmbenchAllRounds = mmbenchAllRounds
    }

    /// The answer file's name in a plan's directory: `answers.jsonl`, or LLaVA's chunk naming
    /// `<n>_<i>.jsonl` for shard i of n.
    public var answerFileName: String { shard.count == 1 ? "answers.jsonl" : "\(shard.count)_\(shard.index).jsonl" }
}

/// Where a run is, for progress display.
public struct EvaluationProgress: Sendable, Equatable {
    /// Questions answered in this run (all plans) and the run's total.
    public var done: Int
    public var total: Int
    /// Questions answered by an earlier, interrupted run (not counted in `total`).
    public var resumed: Int
    public var elapsedSeconds: Double
    /// Questions per second so far.
    public var rate: Double { elapsedSeconds > 0 ? Double(done) / elapsedSeconds : 0 }
    /// Seconds left at the current rate (nil before the first answer).
    public var etaSeconds: Double? { done > 0 ? Double(total - done) / rate : nil }
}

/// Runs `options` through `session`.
public struct Evaluation {
    public var options: EvaluationOptions

    public init(options: EvaluationOptions) { self.options = options }

    /// Answers every question not answered yet (a run interrupted before resumes from its files),
    /// writes each plan's answer file in question order, scores it when ground truth is at hand
    /// and the run covers the whole file, writes the submission files of GQA, VQAv2 and MMBench,
    /// and a summary. Throws `EvalError` for unreadable or malformed benchmark files,
    /// `GenerationError.invalidOption` for options that cannot run, and what the session throws
    /// for an image it cannot read (the answers so far are kept for a resumed run).
    public func run(on session: Session, progress: ((EvaluationProgress) -> Void)? = nil) throws -> EvaluationSummary {
        let all = try loadBenchmarkQuestions(
            options.benchmark, questionsFile: options.questionsFile, mmbenchAllRounds: options.mmbenchAllRounds)
        var plans = options.plans
        if let comparison = options.budget {
            let prompts = all.filter { $0.image != nil }.prefix(100).map(\.prompt)
            for entry in try comparison.settings(for: session, prompts: Array(prompts))
            where !plans.contains(where: { $0.prune == entry.spec }) {
                plans.append(EvaluationPlan(prune: entry.spec, yopoMode: comparison.yopoMode, method: entry.method))
            }
        }
        guard !plans.isEmpty else { throw GenerationError.invalidOption("an evaluation needs at least one plan") }
        let labels = plans.map(\.label)
        if let repeated = labels.first(where: { l in labels.filter { $0 == l }.count > 1 }) {
            throw GenerationError.invalidOption("the plan \(repeated) is given twice")
        }
        var questions = options.shard.select(all)
        if let limit = options.limit { questions = Array(questions.prefix(max(limit, 0))) }
        if options.imagesDirectory == nil,
            let q = questions.first(where: { if case .file = $0.image { return true } else { return false } })
        {
            throw GenerationError.invalidOption("the questions name image files (\(q.image.map(describe) ?? "")); give --images DIR")
        }
        try FileManager.default.createDirectory(atPath: options.outDirectory, withIntermediateDirectories: true)

        // Each plan's files and what an earlier run answered.
        var runs: [PlanRun] = []
        for plan in plans {
            let directory = (options.outDirectory as NSString).appendingPathComponent(plan.label)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let final = (directory as NSString).appendingPathComponent(options.answerFileName)
            let partial = final + ".partial"
            var done: Set<String> = []
            do {
                if FileManager.default.fileExists(atPath: final) {
                    done = try AnswerFile.completedKeys(final, questions: questions)
                    // A finished file is rewritten from itself: carry its answers into the partial file.
                    if !FileManager.default.fileExists(atPath: partial) {
                        // Copied whole or not at all: an interrupted copy must not pass for a partial file.
                        let copying = partial + ".copying"
                        try? FileManager.default.removeItem(atPath: copying)
                        try FileManager.default.copyItem(atPath: final, toPath: copying)
                        try FileManager.default.moveItem(atPath: copying, toPath: partial)
                    }
                }
                done.formUnion(try AnswerFile.prepareForResume(partial, questions: questions).completedKeys)
                if FileManager.default.fileExists(atPath: partial) {
                    for (i, line) in try AnswerFile.read(partial).enumerated() where line["model_id"]?.string != options.modelID {
                        throw GenerationError.invalidOption(
                            "\(partial) line \(i + 1) was answered by model_id \(line["model_id"]?.summary ?? "none"), not \(options.modelID); use another --out"
                        )
                    }
                }
            } catch let error as EvalError {
                // Resuming continues a run with the same questions; say so when the files are another run's.
                throw GenerationError.invalidOption(
                    "\(directory) holds answers this run cannot continue (a run with other --shard, --limit or --all-rounds options, "
                        + "or another question file, wrote them; use another --out): \(error)")
            }
            if !FileManager.default.fileExists(atPath: partial) { _ = FileManager.default.createFile(atPath: partial, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: partial) else {
                throw EvalError.missing(file: partial, what: "file (cannot write)")
            }
            try handle.seekToEnd()
            runs.append(PlanRun(plan: plan, directory: directory, final: final, partial: partial, handle: handle, done: done))
        }
        defer { for run in runs { try? run.handle.close() } }

        // Questions grouped by image, images in order of first appearance.
        var groups: [(image: BenchmarkImage?, members: [Int])] = []
        var groupOf: [BenchmarkImage: Int] = [:]
        for (i, q) in questions.enumerated() {
            guard let image = q.image else {
                groups.append((nil, [i]))
                continue
            }
            if let g = groupOf[image] {
                groups[g].members.append(i)
            } else {
                groupOf[image] = groups.count
                groups.append((image, [i]))
            }
        }
        let resumed = runs.reduce(0) { $0 + $1.done.count }
        let total = runs.reduce(0) { total, run in total + questions.filter { !run.done.contains($0.key) }.count }
        let start = DispatchTime.now()
        var answered = 0
        var shared = SharedWork()
        for group in groups {
            let pending = runs.indices.map { r in group.members.filter { !runs[r].done.contains(questions[$0].key) } }
            guard pending.contains(where: { !$0.isEmpty }) else { continue }
            let input = group.image.map(imageInput)
            // The image read and encoded once for every plan (the prefix cache's first half).
            var encoded: EncodedImages?
            if let input, options.prefixCache {
                let t = DispatchTime.now()
                encoded = try session.encodeImages([input])
                shared.encodeSeconds += secondsSince(t)
                shared.images += 1
            }
            for r in runs.indices where !pending[r].isEmpty {
                let plan = runs[r].plan
                let t = DispatchTime.now()
                var prefix: PromptPrefix?
                if let input, options.prefixCache, let first = pending[r].first(where: { !questions[$0].prompt.contains("<image>") }) {
                    prefix = try session.makePrefix(request(questions[first], plan, input), images: encoded)
                    if let prefix {
                        runs[r].prefixes += 1
                        runs[r].executedWithReuse += prefix.flops.total
                        runs[r].prefixBytes = max(runs[r].prefixBytes, prefix.bytes)
                    }
                }
                for i in pending[r] {
                    let q = questions[i]
                    let req = request(q, plan, input)
                    let result: GenerationResult
                    // A question that places the image itself (`<image>` in its text) cannot share the prefix.
                    if input != nil, !options.prefixCache || q.prompt.contains("<image>") {
                        // The same chunked prefill, nothing shared: the image and prefix made for this question.
                        result = try session.generate(req, prefix: try session.makePrefix(req))
                    } else {
                        result = try session.generate(req, prefix: prefix)
                    }
                    let line = q.answerLine(text: benchmarkAnswerText(result.text), modelID: options.modelID)
                    try runs[r].handle.write(contentsOf: Data((line + "\n").utf8))
                    runs[r].done.insert(q.key)
                    runs[r].record(result, prefix: prefix, question: q, image: input, session: session)
                    answered += 1
                    progress?(EvaluationProgress(done: answered, total: total, resumed: resumed, elapsedSeconds: secondsSince(start)))
                }
                runs[r].seconds += secondsSince(t)
            }
        }
        for r in runs.indices { try runs[r].handle.synchronize() }

        // Answer files in question order, scores, submission files, summaries.
        var summaries: [EvaluationPlanSummary] = []
        for run in runs {
            let complete = questions.allSatisfy { run.done.contains($0.key) }
            guard complete else { throw EvalError.missing(file: run.partial, what: "answers for every question (the run stopped early)") }
            let merged = try AnswerFile.merge(shardFiles: [run.partial], questions: questions)
            try Data(merged.utf8).write(to: URL(fileURLWithPath: run.final), options: .atomic)
            try FileManager.default.removeItem(atPath: run.partial)
            var score: BenchmarkScore?
            var submissions: [String] = []
            let whole = options.shard.count == 1 && options.limit == nil
            if whole, options.groundTruth != nil || options.benchmark == .mmbench {
                score = try BenchmarkScoring.score(
                    options.benchmark, questionsFile: options.questionsFile, groundTruth: options.groundTruth,
                    predictions: AnswerFile.read(run.final))
            }
            if whole, [.gqa, .vqav2, .mmbench].contains(options.benchmark) {
                submissions = try Submission.write(
                    options.benchmark, answersFile: run.final, questionsFile: options.submissionQuestionsFile ?? options.questionsFile,
                    outDirectory: run.directory)
            }
            let summary = try run.summary(
                questions: questions.count, session: session, score: score, submissions: submissions, options: options)
            try Data((summary.json.pythonJSON + "\n").utf8).write(
                to: URL(fileURLWithPath: (run.directory as NSString).appendingPathComponent(summaryName)), options: .atomic)
            summaries.append(summary)
        }
        let summary = EvaluationSummary(
            benchmark: options.benchmark, model: options.modelID, shard: options.shard, prefixCache: options.prefixCache,
            questions: questions.count, answered: answered, resumed: resumed, seconds: secondsSince(start),
            imagesEncoded: shared.images, encodeSeconds: shared.encodeSeconds, plans: summaries)
        try Data((summary.json.pythonJSON + "\n").utf8).write(
            to: URL(fileURLWithPath: (options.outDirectory as NSString).appendingPathComponent(summaryName)), options: .atomic)
        if summaries.count > 1 {
            let name = options.shard.count == 1 ? "comparison.md" : "comparison.\(options.shard.count)_\(options.shard.index).md"
            try Data(summary.table.utf8).write(
                to: URL(fileURLWithPath: (options.outDirectory as NSString).appendingPathComponent(name)), options: .atomic)
        }
        return summary
    }

    var summaryName: String { options.shard.count == 1 ? "summary.json" : "summary.\(options.shard.count)_\(options.shard.index).json" }

    /// The request LLaVA's script makes for `q`: the image first, the benchmark's prompt, greedy,
    /// the benchmark's token budget.
    func request(_ q: BenchmarkQuestion, _ plan: EvaluationPlan, _ image: ImageInput?) -> GenerationRequest {
        GenerationRequest(
            prompt: q.prompt, images: image.map { [$0] } ?? [],
            parameters: GenerationParameters(maxTokens: q.maxNewTokens, temperature: 0), prune: plan.prune, yopoMode: plan.yopoMode)
    }

    func imageInput(_ image: BenchmarkImage) -> ImageInput {
        switch image {
        case .file(let name): return .path(((options.imagesDirectory ?? "") as NSString).appendingPathComponent(name))
        case .data(let data): return .data(data)
        }
    }
}

func describe(_ image: BenchmarkImage) -> String {
    switch image {
    case .file(let name): return name
    case .data(let data): return "<\(data.count) bytes>"
    }
}

func secondsSince(_ start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

/// Work shared by every plan.
struct SharedWork {
    var images = 0
    var encodeSeconds = 0.0
}

/// One plan's files and counters during a run.
struct PlanRun {
    let plan: EvaluationPlan
    let directory: String
    let final: String
    let partial: String
    let handle: FileHandle
    var done: Set<String>
    var seconds = 0.0
    var answered = 0
    var prefixes = 0
    var prefixBytes = 0
    var generatedTokens = 0
    /// Σ over answered questions of the FLOPs each would execute alone (prefix included).
    var executedPerQuestion = 0
    /// What really executed: each prefix once, each question's own part.
    var executedWithReuse = 0
    /// Σ of the paper-convention FLOPs per question (nil when a convention cannot count the plan).
    var conventionFLOPs: [FLOPsConvention: Double] = [:]
    var conventionCounted: [FLOPsConvention: Int] = [:]
    var flopsModel: FLOPsModel?

    init(plan: EvaluationPlan, directory: String, final: String, partial: String, handle: FileHandle, done: Set<String>) {
        self.plan = plan
        self.directory = directory
        self.final = final
        self.partial = partial
        self.handle = handle
        self.done = done
    }

    mutating func record(
        _ result: GenerationResult, prefix: PromptPrefix?, question: BenchmarkQuestion, image: ImageInput?, session: Session
    ) {
        answered += 1
        generatedTokens += result.generatedTokens
        executedPerQuestion += result.flops.total
        executedWithReuse += result.flops.total - (prefix?.flops.total ?? 0)
        if flopsModel == nil { flopsModel = try? FLOPsModel(session.dimensions()) }
        guard question.image != nil, let model = flopsModel, let layout = try? session.promptLayout(question.prompt, image: image) else {
            return
        }
        for c in Comparison.conventions {
            guard let counted = try? model.count(c, spec: plan.prune, layout: layout) else { continue }
            conventionFLOPs[c, default: 0] += counted.total
            conventionCounted[c, default: 0] += 1
        }
    }
}
