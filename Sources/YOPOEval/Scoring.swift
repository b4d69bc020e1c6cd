import Foundation
import YOPOText

/// One named number of a benchmark score.
public struct ScoreMetric: Sendable, Equatable {
    public var name: String
    public var value: Double
    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}

/// A benchmark's score as its reference scorer computes it. Accuracies, precisions, recalls, F1 and
/// yes-ratios are in percent (the reference's fraction × 100, or `100*sum/n` where the reference writes
/// it so); MME's are its points (acc·100 + acc⁺·100 per subtask, summed).
public struct BenchmarkScore: Sendable, Equatable {
    public var benchmark: BenchmarkName
    /// Every metric, in a fixed order per benchmark (the primary one included).
    public var metrics: [ScoreMetric]
    /// The number the paper's Table 2 reports for this benchmark.
    public var primary: ScoreMetric
    /// How many questions (MMBench: circular questions; MME: answers) were scored.
    public var scored: Int

    public init(benchmark: BenchmarkName, metrics: [ScoreMetric], primary: String, scored: Int) {
        self.benchmark = benchmark
        self.metrics = metrics
        self.primary = metrics.first { $0.name == primary } ?? ScoreMetric(name: primary, value: .nan)
        self.scored = scored
    }

    /// The value of the metric named `name`, or nil.
    public func value(_ name: String) -> Double? { metrics.first { $0.name == name }?.value }

    /// `{"benchmark", "primary": {"name", "value"}, "scored", "metrics": {name: value, …}}`, in that order.
    public var json: JSONValue {
        .object([
            JSONMember("benchmark", .string(benchmark.rawValue)),
            JSONMember("primary", .object([JSONMember("name", .string(primary.name)), JSONMember("value", .number(primary.value))])),
            JSONMember("scored", .number(Double(scored))),
            JSONMember("metrics", .object(metrics.map { JSONMember($0.name, .number($0.value)) }))
        ])
    }

    /// One line per metric, `benchmark name: value`, the primary one marked with `*`.
    public var text: String {
        metrics.map { "\(benchmark.rawValue) \($0.name): \($0.value)\($0.name == primary.name ? " *" : "")" }.joined(separator: "\n")
    }
}

/// Scores answer files as the reference scorers do (docs/EVAL.md): the prediction lines of any engine in
/// LLaVA's answer layout (`question_id`, `prompt`, `text`, …), the benchmark's question file and the
/// ground truth the reference scorer reads:
///
/// | benchmark | `groundTruth` | reference |
/// |---|---|---|
/// | gqa | `testdev_balanced_questions.json` (or any GQA questions json with `answer`) | LLaVA convert_gqa_for_eval.py + GQA eval.py |
/// | vqav2 | the v2 annotations json (`annotations[].answers`) | convert_vqav2_for_submission.py + vqaEval.py |
/// | pope | the directory of `coco_pope_*.json` (eval_pope's `--annotation-dir`) | llava/eval/eval_pope.py |
/// | mmbench | nil (answers are in the tsv) | lmms-eval MMBench_Evaluator, exact matching |
/// | scienceqa | the directory with `problems.json`, `pid_splits.json` (`--base-dir`) | llava/eval/eval_science_qa.py |
/// | textvqa | `TextVQA_0.5.1_val.json` | llava/eval/eval_textvqa.py + m4c_evaluator.py |
/// | mme | the `MME_Benchmark_release_version` directory | convert_answer_to_mme.py + MME eval_tool calculation.py |
///
/// Where the reference crashes (a prediction for an unknown question, a missing prediction GQA's
/// eval.py refuses, an empty split) this throws an `EvalError` naming the file and the problem.
public enum BenchmarkScoring {
    public static func score(
        _ benchmark: BenchmarkName, questionsFile: String, groundTruth: String?, predictions: [JSONValue]
    )
        throws -> BenchmarkScore
    {
        let lines = try predictions.enumerated().map { try AnswerLine($0.element, line: $0.offset + 1) }
        func required() throws -> String {
            guard let groundTruth else { throw EvalError.missing(file: questionsFile, what: "ground truth for \(benchmark.rawValue)") }
            return groundTruth
        }
        switch benchmark {
        case .gqa: return try ReferenceScorers.gqa(groundTruth: required(), answers: lines)
        case .vqav2: return try ReferenceScorers.vqav2(questionsFile: questionsFile, annotations: required(), answers: lines)
        case .pope: return try ReferenceScorers.pope(questionsFile: questionsFile, annotationDirectory: required(), answers: lines)
        case .mmbench: return try ReferenceScorers.mmbench(tsv: questionsFile, answers: lines)
        case .scienceqa: return try ReferenceScorers.scienceQA(baseDirectory: required(), answers: lines)
        case .textvqa: return try ReferenceScorers.textVQA(annotations: required(), answers: lines)
        case .mme: return try ReferenceScorers.mme(benchmarkDirectory: required(), answers: lines)
        }
    }
}

/// One answer-file line: `question_id` (kept as a key that, like a Python dict key, tells 1 from "1"),
/// `text`, `prompt`.
struct AnswerLine {
    var id: JSONValue
    var key: String
    var text: String
    var prompt: String?
    /// MMBench's `round_id` (LLaVA's `--all-rounds`), nil when absent.
    var roundID: Int?

    init(_ value: JSONValue, line: Int) throws {
        guard let id = value["question_id"], let key = AnswerLine.key(id) else {
            throw EvalError.malformed(file: "<predictions>", line: line, message: "no question_id (a string or a number)")
        }
        guard let text = value["text"]?.string else {
            throw EvalError.malformed(file: "<predictions>", line: line, message: "no \"text\" string")
        }
        self.id = id
        self.key = key
        self.text = text
        self.prompt = value["prompt"]?.string
        self.roundID = value["round_id"]?.int
    }

    static func key(_ id: JSONValue) -> String? {
        switch id {
        case .string(let s): return "s:" + s
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? "n:\(Int(d))" : "n:\(d)"
        default: return nil
        }
    }
}

/// File reading shared by the scorers.
enum EvalFiles {
    static let maximumBytes = 2 << 30

    static func data(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw EvalError.missing(file: path, what: "file")
        }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.intValue > maximumBytes {
            throw EvalError.tooLarge(file: path, bytes: size.intValue, limit: maximumBytes)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError.missing(file: path, what: "file (cannot read)") }
        return data
    }

    static func json(_ path: String) throws -> JSONValue {
        do { return try JSONValue.parse(data(path)) } catch let error as JSONError {
            throw EvalError.malformed(file: path, line: 0, message: error.description)
        }
    }

    /// A JSON-lines file (blank lines are errors, as `json.loads` has it; a final newline is not a line).
    static func jsonLines(_ path: String) throws -> [JSONValue] {
        guard let text = String(data: try data(path), encoding: .utf8) else {
            throw EvalError.malformed(file: path, line: 0, message: "not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return try lines.enumerated().map { index, line in
            do { return try JSONValue.parse(Data(line.utf8)) } catch let error as JSONError {
                throw EvalError.malformed(file: path, line: index + 1, message: error.description)
            }
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func directory(_ path: String) throws -> [String] {
        guard isDirectory(path), let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            throw EvalError.missing(file: path, what: "directory")
        }
        return names.sorted()
    }
}
