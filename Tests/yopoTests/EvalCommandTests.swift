import Foundation
import XCTest
import YOPO
import YOPOEval
import YOPOPruning

/// `yopo eval` end to end on the tiny random-weight model: the image-prefix cache gives the same
/// bytes as every question making its own prefix (every method), shards merge into the unsharded
/// file, an interrupted run resumes to the same file, scores equal `yopo eval score`, several plans
/// and `--budget` make one comparison, and each bad input fails with one `error:` line naming it.
///
/// The question files under Tests/Fixtures/eval/run/ are small on purpose: a debug build answers
/// about two POPE questions a second (128 new tokens each) and an MMBench one in four (1024 tokens).
/// pope_small.jsonl holds six questions of the POPE fixture alternating between its two images, two
/// per split, with coco_pope/ holding their label lines in the same order (one yes, one no per split).
final class EvalCommandTests: XCTestCase {
    // MARK: fixtures and helpers

    static let run = Paths.fixtures.appendingPathComponent("eval/run")
    static let popeQuestions = run.appendingPathComponent("pope_small.jsonl").path
    static let popeLabels = run.appendingPathComponent("coco_pope").path
    static let imageA = "COCO_val2014_000000310196.jpg", imageB = "COCO_val2014_000000210789.jpg"
    static let photos = [imageA: "chelsea.png", imageB: "rocket.jpg"]
    static let tiny = Paths.model("llava-hf-tiny")

    nonisolated(unsafe) static var root: URL?
    nonisolated(unsafe) static var referenceOut: URL?
    nonisolated(unsafe) static var sharedSession: Session?

    override class func tearDown() {
        if let root { try? FileManager.default.removeItem(at: root) }
        root = nil
        referenceOut = nil
        sharedSession = nil
        super.tearDown()
    }

    /// A new empty directory under the class's scratch root.
    func scratch(_ name: String) throws -> URL {
        if Self.root == nil {
            Self.root = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-eval-\(UUID().uuidString)")
        }
        let dir = Self.root!.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The POPE images, repo photos copied under the COCO names the question files use.
    func imagesDirectory(_ names: [String] = [EvalCommandTests.imageA, EvalCommandTests.imageB]) throws -> URL {
        let dir = try scratch("images")
        for name in names {
            try FileManager.default.copyItem(atPath: Paths.image(Self.photos[name]!), toPath: dir.appendingPathComponent(name).path)
        }
        return dir
    }

    func session() throws -> Session {
        if let s = Self.sharedSession { return s }
        let s = try Session(modelDirectory: Self.tiny)
        Self.sharedSession = s
        return s
    }

    /// `yopo eval` on pope_small.jsonl (scored against coco_pope/) into `out`.
    func popeArguments(out: URL, images: URL, _ extra: [String] = []) -> [String] {
        [
            "eval", "--model", Self.tiny, "--benchmark", "pope", "--questions", Self.popeQuestions, "--images", images.path,
            "--answers", Self.popeLabels, "--out", out.path
        ] + extra
    }

    @discardableResult
    func runEval(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let run = try runYOPO(arguments)
        XCTAssertEqual(run.status, 0, "yopo \(arguments.joined(separator: " ")): \(run.stderr)", file: file, line: line)
        return run
    }

    /// The dense CLI run of pope_small.jsonl every test compares with, made once.
    func reference() throws -> URL {
        if let out = Self.referenceOut { return out }
        let out = try scratch("reference")
        try runEval(popeArguments(out: out, images: try imagesDirectory()))
        Self.referenceOut = out
        return out
    }

    func referenceAnswers() throws -> Data { try Data(contentsOf: reference().appendingPathComponent("none/answers.jsonl")) }

    func object(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    func plans(_ summary: [String: Any]) throws -> [[String: Any]] { try XCTUnwrap(summary["plans"] as? [[String: Any]]) }

    /// The `question_id` of every line of a jsonl file, as text (`1`, `20000004`).
    func questionIDs(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return "\(try XCTUnwrap(object["question_id"]))"
        }
    }

    func lines(_ data: Data) -> [Data] { data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Data($0) } }

    /// A failing run: non-zero exit, nothing on stdout, one stderr line `error: …` containing `message`.
    func assertEvalFails(_ arguments: [String], with message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runYOPO(arguments)
        XCTAssertNotEqual(run.status, 0, "expected failure of \(arguments)", file: file, line: line)
        let errorLines = run.stderr.split(separator: "\n")
        XCTAssertEqual(errorLines.count, 1, "expected one line, got: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: "), run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.contains(message), "\(run.stderr) does not contain \(message)", file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
    }

    // MARK: 1. the prefix cache

    /// Every method in one pass, with and without the prefix cache: the same answer files byte for
    /// byte, in question order (the run answers image by image, the file is in question order), one
    /// prefix per image and plan, each image encoded once for all plans.
    func testPrefixCacheGivesTheSameAnswersForEveryMethod() throws {
        let session = try session()
        let images = try imagesDirectory()
        let yopo = "yopo:window=3,layers=2,ffn=4"
        let plans = try [
            EvaluationPlan(prune: .none), EvaluationPlan(prune: PruningSpec(parsing: yopo), yopoMode: .skip),
            EvaluationPlan(prune: PruningSpec(parsing: yopo), yopoMode: .simulate),
            EvaluationPlan(prune: PruningSpec(parsing: "fastv:k=2,keep=98")),
            EvaluationPlan(prune: PruningSpec(parsing: "pdrop:layers=1/2,ratio=0.5")),
            EvaluationPlan(prune: PruningSpec(parsing: "sparsevlm:layers=1,keep=100"))
        ]
        XCTAssertEqual(
            plans.map(\.label),
            [
                "none", "yopo_window=3,layers=2,ffn=4", "yopo_window=3,layers=2,ffn=4+simulate", "fastv_k=2,keep=98",
                "pdrop_layers=1-2,ratio=0.5", "sparsevlm_layers=1,keep=100"
            ])
        // Three questions: image A, image B, image A again (two questions share A's prefix).
        let limit = 3
        let questionOrder = Array(try questionIDs(Self.popeQuestions).prefix(limit))
        var outs: [Bool: URL] = [:]
        for cache in [true, false] {
            let out = try scratch(cache ? "cached" : "uncached")
            outs[cache] = out
            let summary = try Evaluation(
                options: EvaluationOptions(
                    benchmark: .pope, questionsFile: Self.popeQuestions, imagesDirectory: images.path, groundTruth: Self.popeLabels,
                    outDirectory: out.path, plans: plans, prefixCache: cache, limit: limit, modelID: "llava-hf-tiny")
            ).run(on: session)
            XCTAssertEqual(summary.plans.map(\.plan), plans)
            XCTAssertEqual(summary.plans.map(\.prefixes), plans.map { _ in cache ? 2 : 0 }, "cache \(cache)")
            XCTAssertEqual(summary.imagesEncoded, cache ? 2 : 0)

            let written = try object(out.appendingPathComponent("summary.json"))
            XCTAssertEqual(written["prefix_cache"] as? Bool, cache)
            XCTAssertEqual(written["questions"] as? Int, limit)
            XCTAssertEqual(written["answered"] as? Int, limit * plans.count)
            XCTAssertEqual(written["resumed"] as? Int, 0)
            XCTAssertEqual(written["images_encoded"] as? Int, cache ? 2 : 0, "each image encoded once for all plans")
            let entries = try self.plans(written)
            XCTAssertEqual(entries.map { $0["prune"] as? String }, plans.map(\.prune.description))
            XCTAssertEqual(entries.map { $0["yopo_mode"] as? String }, [nil, "skip", "simulate", nil, nil, nil])
            for (plan, entry) in zip(plans, entries) {
                XCTAssertEqual(entry["answered"] as? Int, limit, plan.label)
                XCTAssertEqual(entry["generated_tokens"] as? Int, summary.plans.first { $0.plan == plan }?.generatedTokens)
                if cache { XCTAssertEqual(entry["prefixes"] as? Int, 2, "\(plan.label): one prefix per image") }
                // A limited run is not scored (the score needs the whole file).
                XCTAssertTrue(entry["score"] is NSNull, plan.label)
                let own = try object(out.appendingPathComponent(plan.label).appendingPathComponent("summary.json"))
                XCTAssertEqual(own["prefixes"] as? Int, entry["prefixes"] as? Int)
                let answers = out.appendingPathComponent(plan.label).appendingPathComponent("answers.jsonl").path
                XCTAssertEqual(try questionIDs(answers), questionOrder, "\(plan.label) (cache \(cache)): not in question order")
                XCTAssertFalse(FileManager.default.fileExists(atPath: answers + ".partial"))
            }
        }
        for plan in plans {
            let cached = try Data(contentsOf: outs[true]!.appendingPathComponent("\(plan.label)/answers.jsonl"))
            let uncached = try Data(contentsOf: outs[false]!.appendingPathComponent("\(plan.label)/answers.jsonl"))
            XCTAssertEqual(lines(cached).count, limit + 1)
            XCTAssertEqual(cached, uncached, "\(plan.label): the prefix cache changes the answers")
        }

        // The command line's --no-prefix-cache: the same bytes as the in-process cached run.
        let cli = try scratch("cli-uncached")
        try runEval(popeArguments(out: cli, images: images, ["--no-prefix-cache", "--limit", "\(limit)"]))
        XCTAssertEqual(
            try Data(contentsOf: cli.appendingPathComponent("none/answers.jsonl")),
            try Data(contentsOf: outs[true]!.appendingPathComponent("none/answers.jsonl")))
        let cliSummary = try object(cli.appendingPathComponent("summary.json"))
        XCTAssertEqual(cliSummary["prefix_cache"] as? Bool, false)
        XCTAssertEqual(cliSummary["images_encoded"] as? Int, 0)
    }

    // MARK: 2. shards

    /// Three shards through the command line, contiguous and strided, merged by `yopo eval merge`
    /// (inputs in any order): the unsharded file byte for byte. Each shard file holds its questions.
    func testThreeShardsMergeIntoTheUnshardedFile() throws {
        let expected = try referenceAnswers()
        let ids = try questionIDs(Self.popeQuestions)
        XCTAssertEqual(ids.count, 6)
        let images = try imagesDirectory()
        for strided in [false, true] {
            let out = try scratch(strided ? "strided" : "contiguous")
            var files: [String] = []
            for index in 0..<3 {
                try runEval(popeArguments(out: out, images: images, ["--shard", "\(index)/3"] + (strided ? ["--strided"] : [])))
                let file = out.appendingPathComponent("none/3_\(index).jsonl").path
                let positions = strided ? [index, index + 3] : [2 * index, 2 * index + 1]
                XCTAssertEqual(try questionIDs(file), positions.map { ids[$0] }, "shard \(index)/3 strided \(strided)")
                let summary = try object(out.appendingPathComponent("summary.3_\(index).json"))
                XCTAssertEqual(summary["shard"] as? String, "\(index)/3" + (strided ? " strided" : ""))
                XCTAssertEqual(summary["questions"] as? Int, 2)
                XCTAssertTrue(try plans(summary).first?["score"] is NSNull, "a shard is not scored")
                XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("none/summary.3_\(index).json").path))
                files.append(file)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("none/answers.jsonl").path))
            let merged = out.appendingPathComponent("merged.jsonl")
            let run = try runEval(
                ["eval", "merge", "--benchmark", "pope", "--questions", Self.popeQuestions]
                    + files.reversed().flatMap { ["--input", $0] } + ["--out", merged.path])
            XCTAssertEqual(run.stdout, "6 answers → \(merged.path)\n")
            XCTAssertEqual(try Data(contentsOf: merged), expected, "strided \(strided): merged shards differ from the unsharded run")
        }
    }

    // MARK: 3. resume

    /// A finished run started again answers nothing and keeps its file; a run interrupted after k
    /// answers and halfway through the next line's write resumes to the same bytes, answering the rest.
    func testAnInterruptedRunResumesToTheSameFile() throws {
        let expected = try referenceAnswers()
        let images = try imagesDirectory()
        let out = try scratch("resume")
        try FileManager.default.removeItem(at: out)
        try FileManager.default.copyItem(at: try reference(), to: out)
        let answers = out.appendingPathComponent("none/answers.jsonl")
        let partial = out.appendingPathComponent("none/answers.jsonl.partial")

        try runEval(popeArguments(out: out, images: images))
        XCTAssertEqual(try Data(contentsOf: answers), expected)
        var summary = try object(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["answered"] as? Int, 0, "a finished run asks nothing again")
        XCTAssertEqual(summary["resumed"] as? Int, 6)

        let k = 2
        let all = lines(expected)
        XCTAssertEqual(all.count, 7)  // six lines and the empty tail
        var cut = all.prefix(k).reduce(Data()) { $0 + $1 + Data("\n".utf8) }
        cut += all[k].prefix(all[k].count / 2)
        try FileManager.default.removeItem(at: answers)
        try cut.write(to: partial)

        let run = try runEval(popeArguments(out: out, images: images, ["--progress-every", "1"]))
        XCTAssertEqual(try Data(contentsOf: answers), expected, "the resumed file differs from the uninterrupted run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
        summary = try object(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["answered"] as? Int, 6 - k)
        XCTAssertEqual(summary["resumed"] as? Int, k)
        XCTAssertEqual(try plans(summary).first?["answered"] as? Int, 6 - k)
        XCTAssertEqual(try plans(summary).first?["questions"] as? Int, 6)
        XCTAssertTrue(run.stderr.contains("\(6 - k)/\(6 - k) (+\(k) resumed) questions"), run.stderr)
    }

    /// A finished run's directory with fewer questions asked of it (another --limit) is refused,
    /// naming why, and left as it was.
    func testAnOutDirectoryOfAnotherRunIsRefused() throws {
        let out = try scratch("other-run")
        try FileManager.default.removeItem(at: out)
        try FileManager.default.copyItem(at: try reference(), to: out)
        try assertEvalFails(
            popeArguments(out: out, images: try imagesDirectory(), ["--limit", "2"]),
            with: "holds answers this run cannot continue (a run with other --shard, --limit or --all-rounds options")
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("none/answers.jsonl")), try referenceAnswers())
        // Another model's answers are not taken for this one's.
        try assertEvalFails(
            popeArguments(out: out, images: try imagesDirectory(), ["--model-id", "another-model"]),
            with: "line 1 was answered by model_id \"llava-hf-tiny\", not another-model; use another --out")
        // Submission files exist for GQA, VQAv2 and MMBench only.
        try assertEvalFails(
            [
                "eval", "merge", "--benchmark", "pope", "--questions", Self.popeQuestions, "--input",
                out.appendingPathComponent("none/answers.jsonl").path, "--out", out.appendingPathComponent("merged.jsonl").path,
                "--submissions", out.path
            ], with: "--submissions: pope has no submission file (it is scored locally; submission files exist for gqa, vqav2, mmbench)")
    }

    // MARK: 4. scoring

    /// The run's POPE score (summary.json and the printed line) is `yopo eval score`'s on its file.
    func testTheRunsScoreIsEvalScoresOnItsFile() throws {
        let out = try reference()
        let answers = out.appendingPathComponent("none/answers.jsonl").path
        let entry = try XCTUnwrap(try plans(object(out.appendingPathComponent("summary.json"))).first)
        let score = try XCTUnwrap(entry["score"] as? [String: Any])
        let primary = try XCTUnwrap(score["primary"] as? [String: Any])
        XCTAssertEqual(primary["name"] as? String, "f1")
        XCTAssertEqual(score["benchmark"] as? String, "pope")
        XCTAssertEqual(score["scored"] as? Int, 6)
        let metrics = try XCTUnwrap(score["metrics"] as? [String: Double])
        let splits = ["adversarial", "popular", "random"]
        XCTAssertEqual(
            Set(metrics.keys),
            Set(["f1", "accuracy"] + splits.flatMap { s in ["accuracy", "precision", "recall", "f1", "yes_ratio"].map { "\(s) \($0)" } }))
        let f1 = try XCTUnwrap(primary["value"] as? Double)
        XCTAssertEqual(metrics["f1"], f1)
        XCTAssertEqual(f1, splits.map { metrics["\($0) f1"]! }.reduce(0, +) / 3, accuracy: 1e-9)

        let scoreArguments = [
            "eval", "score", "--benchmark", "pope", "--questions", Self.popeQuestions, "--answers", Self.popeLabels, "--predictions",
            answers
        ]
        let json = try runEval(scoreArguments + ["--json"])
        let scored = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? NSDictionary)
        XCTAssertEqual(scored, score as NSDictionary)

        let text = try runEval(scoreArguments)
        let textLines = text.stdout.split(separator: "\n")
        XCTAssertEqual(textLines.count, 17)
        XCTAssertEqual(textLines.first.map(String.init), "pope f1: \(f1) *")
        XCTAssertEqual(textLines.filter { $0.hasSuffix(" *") }.count, 1)
        for line in textLines {
            let parts = line.dropFirst("pope ".count).components(separatedBy: ": ")
            XCTAssertEqual(parts.count, 2, String(line))
            XCTAssertEqual(Double(parts[1].replacingOccurrences(of: " *", with: "")), metrics[parts[0]], String(line))
        }
    }

    /// MMBench from its tsv (inline base64 images, no --images): scored without --answers, the
    /// submission tsv written with one row per question row, holding the answers.
    func testMMBenchRunsFromItsTSVAndWritesTheSubmission() throws {
        let tsv = Self.run.appendingPathComponent("mmbench_small.tsv").path
        let out = try scratch("mmbench")
        // One thread: with the default (every core) a 1024-token decode ran 5× slower while other
        // processes kept the cores busy (19.7 s against 4.2 s per question on 2 cores).
        let run = try runEval([
            "eval", "--model", Self.tiny, "--benchmark", "mmbench", "--questions", tsv, "--out", out.path, "--threads",
            "1"
        ])
        let table = try TSVTable(contentsOf: tsv)
        XCTAssertEqual(table.rows.count, 2)
        let summary = try object(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["questions"] as? Int, table.rows.count)
        let entry = try XCTUnwrap(try plans(summary).first)
        let score = try XCTUnwrap(entry["score"] as? [String: Any], "MMBench dev is scored from its tsv")
        XCTAssertEqual((score["primary"] as? [String: Any])?["name"] as? String, "accuracy")
        XCTAssertEqual(score["scored"] as? Int, 1, "rows 4 and 1000004 are one circular question")
        XCTAssertTrue(run.stdout.hasPrefix("dense (none): accuracy "), run.stdout)

        let submission = out.appendingPathComponent("none/answers.tsv").path
        XCTAssertEqual(entry["submission_files"] as? [String], [submission])
        let written = try TSVTable(contentsOf: submission)
        XCTAssertEqual(written.rows.count, table.rows.count)
        XCTAssertEqual(written.header, ["index", "question", "A", "B", "C", "D", "prediction", "answer", "split"])
        let answers = try String(contentsOfFile: out.appendingPathComponent("none/answers.jsonl").path, encoding: .utf8)
            .split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(answers.map { "\($0["question_id"]!)" }, ["4", "1000004"])
        for (row, answer) in answers.enumerated() {
            XCTAssertEqual(written[row, "index"], "\(answer["question_id"]!)")
            XCTAssertEqual(written[row, "prediction"], answer["text"] as? String)
        }
    }

    // MARK: 5. several plans and --budget

    /// `--prune` twice and `--budget 25%`: the given plans first, then what `yopo compare` chooses at
    /// the budget for the questions (dense not repeated), each in summary.json and one row of comparison.md.
    func testSeveralPlansAndABudgetMakeOneComparison() throws {
        let out = try scratch("budget")
        let images = try imagesDirectory()
        try runEval(
            popeArguments(out: out, images: images, ["--prune", "fastv:k=2,keep=98", "--prune", "none", "--budget", "25%", "--limit", "1"]))
        let prompts = try loadBenchmarkQuestions(.pope, questionsFile: Self.popeQuestions).map(\.prompt)
        let chosen = try Comparison(budget: FLOPsBudget(parsing: "25%"), steps: 1).settings(for: session(), prompts: prompts)
        XCTAssertEqual(chosen.first?.method, "dense")
        var expected: [(method: String, prune: String)] = [("fastv:k=2,keep=98", "fastv:k=2,keep=98"), ("dense", "none")]
        for entry in chosen where !expected.contains(where: { $0.prune == entry.spec.description }) {
            expected.append((entry.method, entry.spec.description))
        }
        let summary = try object(out.appendingPathComponent("summary.json"))
        let entries = try plans(summary)
        XCTAssertEqual(entries.map { $0["method"] as? String ?? "" }, expected.map(\.method))
        XCTAssertEqual(entries.map { $0["prune"] as? String ?? "" }, expected.map(\.prune))
        // What the tiny model gets: every method has a setting at 25% (YOPO from the solver: no preset fits it).
        XCTAssertEqual(entries.map { $0["method"] as? String ?? "" }, ["fastv:k=2,keep=98", "dense", "YOPO", "FastV", "PDrop", "SparseVLM"])
        XCTAssertEqual(chosen.first { $0.method == "YOPO" }?.source, "solver")
        for entry in entries {
            let dir = out.appendingPathComponent(try EvaluationPlan(prune: PruningSpec(parsing: entry["prune"] as! String)).label)
            XCTAssertEqual(try questionIDs(dir.appendingPathComponent("answers.jsonl").path).count, 1)
        }

        let table = try String(contentsOf: out.appendingPathComponent("comparison.md"), encoding: .utf8)
        XCTAssertTrue(table.hasPrefix("# pope — llava-hf-tiny, 1 questions\n"), table)
        let rows = table.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| method |") }
        XCTAssertEqual(rows.count, expected.count, table)
        for (row, plan) in zip(rows, expected) {
            XCTAssertTrue(row.hasPrefix("| \(plan.method) | `\(plan.prune)`"), "\(row) is not \(plan)")
        }
    }

    // MARK: 6. bad input

    /// Options and files the run refuses before answering anything, each with its one line.
    func testBadOptionsFailWithOneLine() throws {
        let images = try imagesDirectory()
        let out = try scratch("bad")
        func eval(_ extra: [String], benchmark: String = "pope", questions: String = Self.popeQuestions) -> [String] {
            ["eval", "--model", Self.tiny, "--benchmark", benchmark, "--questions", questions] + extra
        }
        let withImages = ["--images", images.path, "--out", out.path]
        let cases: [([String], String)] = [
            (eval(["--images", images.path]), "error: yopo eval run needs --out VALUE: output directory"),
            (eval(withImages + ["--shard", "3/3"]), "error: unsupported: shard \"3/3\": the index must be 0 to 2 (0-based)"),
            (eval(withImages + ["--shard", "x"]), "error: unsupported: shard \"x\" is not i/n (a 0-based index i of n shards, e.g. 0/3)"),
            (eval(withImages + ["--strided"]), "error: --strided goes with --shard I/N"),
            (
                eval(withImages, benchmark: "popee"),
                "error: unknown --benchmark popee (choose from gqa, vqav2, pope, mmbench, scienceqa, textvqa, mme)"
            ),
            (eval(withImages, questions: "/nonexistent/q.jsonl"), "error: cannot read --questions '/nonexistent/q.jsonl': no such file"),
            (eval(["--out", out.path]), "error: invalid option: the questions name image files (\(Self.imageA)); give --images DIR"),
            (eval(["--images", Self.popeQuestions, "--out", out.path]), "error: --images '\(Self.popeQuestions)' is not a directory"),
            (
                eval(withImages, questions: Self.run.appendingPathComponent("malformed.jsonl").path),
                "error: \(Self.run.appendingPathComponent("malformed.jsonl").path):2: invalid JSON"
            ),
            (eval(withImages + ["--prune", "none", "--prune", "none"]), "error: invalid option: the plan none is given twice"),
            (
                eval(withImages + ["--prune", "fastv:k=2,keep=98", "--prune", "fastv:k=2,keep=98"]),
                "error: invalid option: the plan fastv_k=2,keep=98 is given twice"
            ),
            (
                ["eval", "merge", "--benchmark", "pope", "--questions", Self.popeQuestions, "--out", out.appendingPathComponent("m").path],
                "error: give each shard's answer file with --input FILE"
            )
        ]
        for (arguments, message) in cases {
            try assertEvalFails(arguments, with: message)
        }
        // Nothing was answered, and no output for the refused runs but the directory itself.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
    }

    /// An image missing from --images stops the run naming it, keeping the answers so far; with the
    /// image back the run resumes to the uninterrupted run's file.
    func testAMissingImageFailsNamingItAndTheRerunResumes() throws {
        let expected = try referenceAnswers()
        let images = try imagesDirectory([Self.imageA])
        let out = try scratch("missing-image")
        let missing = images.appendingPathComponent(Self.imageB).path
        try assertEvalFails(popeArguments(out: out, images: images), with: "error: cannot read image '\(missing)': no such file")
        let partial = out.appendingPathComponent("none/answers.jsonl.partial").path
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("none/answers.jsonl").path))
        // Image A's three questions (the run goes image by image) were answered before B failed.
        let ids = try questionIDs(Self.popeQuestions)
        XCTAssertEqual(try questionIDs(partial), [ids[0], ids[2], ids[4]])

        try FileManager.default.copyItem(atPath: Paths.image(Self.photos[Self.imageB]!), toPath: missing)
        try runEval(popeArguments(out: out, images: images))
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("none/answers.jsonl")), expected)
        let summary = try object(out.appendingPathComponent("summary.json"))
        XCTAssertEqual(summary["answered"] as? Int, 3)
        XCTAssertEqual(summary["resumed"] as? Int, 3)
    }

    /// `eval merge` with a shard missing names how many answers are missing; `eval score` on a
    /// truncated answer file names the file and line.
    func testMergeWithAMissingShardAndScoreOfATruncatedFile() throws {
        let expected = try referenceAnswers()
        let ids = try questionIDs(Self.popeQuestions)
        let dir = try scratch("merge")
        let all = lines(expected).dropLast()
        var shards: [String] = []
        for index in 0..<3 {
            let file = dir.appendingPathComponent("3_\(index).jsonl")
            try all[(2 * index)..<(2 * index + 2)].reduce(Data()) { $0 + $1 + Data("\n".utf8) }.write(to: file)
            shards.append(file.path)
        }
        let merged = dir.appendingPathComponent("merged.jsonl").path
        let merge = ["eval", "merge", "--benchmark", "pope", "--questions", Self.popeQuestions, "--out", merged]
        try assertEvalFails(
            merge + ["--input", shards[0], "--input", shards[2]],
            with: "error: \(shards[0]), \(shards[2]): missing answers to 2 of 6 questions (the first: \(ids[2]))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: merged))
        // The same shard twice names both places.
        try assertEvalFails(
            merge + ["--input", shards[0], "--input", shards[0]],
            with: "error: \(shards[0]):1: question \(ids[0]) is answered twice (first at \(shards[0]):1)")

        let truncated = dir.appendingPathComponent("truncated.jsonl")
        try (all[0] + Data("\n".utf8) + all[1].prefix(all[1].count / 2)).write(to: truncated)
        try assertEvalFails(
            [
                "eval", "score", "--benchmark", "pope", "--questions", Self.popeQuestions, "--answers", Self.popeLabels,
                "--predictions", truncated.path
            ], with: "error: \(truncated.path):2: invalid JSON")
    }
}
