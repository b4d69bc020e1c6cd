import Foundation
import YOPOText

extension ReferenceScorers {
    /// MME's subtasks as its eval tool (`calculation.py`) sums them.
    static let mmePerception = ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"]
    static let mmeCognition = ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"]
    static let mmeSuffix = "Answer the question using a single word or phrase."

    /// MME: LLaVA's `convert_answer_to_mme.py` then MME's `eval_tool/calculation.py`. The ground truth is
    /// the `MME_Benchmark_release_version` directory: per subtask directory, the `.txt` files of
    /// `questions_answers_YN/` (when an `images/` directory exists) or of the directory itself, lines
    /// `question<TAB>Yes|No`. An answer line's subtask is its question_id up to the first `/`, its file the
    /// last component's stem + `.txt`, its question the prompt without LLaVA's short-answer suffix,
    /// stripped, with ` Please answer yes or no.` appended (or with two spaces, where the benchmark has
    /// that). Per subtask, in answer-file order, consecutive answers are the pairs of one image: score =
    /// acc·100 + acc⁺·100 (acc⁺: both of a pair right); perception = the 10 subtasks' sum, cognition = the
    /// 4's. Errors where the tools crash: an unknown question, a subtask without answers, an odd count,
    /// a tab or line break in an answer or question.
    static func mme(benchmarkDirectory: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        let gt = try mmeGroundTruth(benchmarkDirectory)
        var perTask: [String: [(gt: String, text: String)]] = [:]
        for answer in answers {
            guard case .string(let id) = answer.id, let prompt = answer.prompt else {
                throw EvalError.malformed(
                    file: "<predictions>", line: 0, message: "MME answer lines need a string question_id and a prompt")
            }
            let category = PythonText.split(id, separator: "/")[0]
            let file = PythonText.split(PythonText.split(id, separator: "/").last!, separator: ".")[0] + ".txt"
            var question = prompt
            if PythonText.contains(question, mmeSuffix) { question = PythonText.strip(PythonText.replace(question, mmeSuffix, "")) }
            if !PythonText.contains(question, "Please answer yes or no.") {
                question += " Please answer yes or no."
                if gt[[category, file, question]] == nil {
                    question = PythonText.replace(question, " Please answer yes or no.", "  Please answer yes or no.")
                }
            }
            guard let gold = gt[[category, file, question]] else {
                throw EvalError.missing(file: benchmarkDirectory, what: "ground truth for \(id) \"\(question)\"")
            }
            for s in [question, answer.text] where s.contains("\t") || s.contains("\n") || s.contains("\r") {
                throw EvalError.unsupported("MME answer \(id): a tab or line break in \"\(s)\" breaks the eval tool's lines")
            }
            perTask[category, default: []].append((gold, answer.text))
        }
        var metrics: [ScoreMetric] = []
        var sums: [Double] = []
        for tasks in [mmePerception, mmeCognition] {
            var total = 0.0
            for task in tasks {
                guard let items = perTask[task], !items.isEmpty else {
                    throw EvalError.missing(
                        file: "<predictions>", what: "answers of MME subtask \(task) (calculation.py needs every subtask)")
                }
                guard items.count % 2 == 0 else {
                    throw EvalError.malformed(file: "<predictions>", line: 0, message: "MME subtask \(task) has an odd number of answers")
                }
                var correct = 0, plus = 0
                for pair in stride(from: 0, to: items.count, by: 2) {
                    var imageCorrect = 0
                    for item in items[pair..<(pair + 2)] {
                        let gold = PythonText.lower(item.gt)
                        guard gold == "yes" || gold == "no" else {
                            throw EvalError.malformed(file: benchmarkDirectory, line: 0, message: "answer \(item.gt) is not yes/no")
                        }
                        if AnswerParsing.mmeAnswer(item.text) == gold { imageCorrect += 1 }
                    }
                    correct += imageCorrect
                    if imageCorrect == 2 { plus += 1 }
                }
                let acc = Double(correct) / Double(items.count), accPlus = Double(plus) / Double(items.count / 2)
                let score = acc * 100 + accPlus * 100
                metrics.append(ScoreMetric(name: task, value: score))
                total += score
            }
            sums.append(total)
        }
        metrics.insert(contentsOf: [ScoreMetric(name: "perception", value: sums[0]), ScoreMetric(name: "cognition", value: sums[1])], at: 0)
        return BenchmarkScore(benchmark: .mme, metrics: metrics, primary: "perception", scored: answers.count)
    }

    /// `get_gt` of convert_answer_to_mme.py: [subtask, file, question] → answer.
    static func mmeGroundTruth(_ root: String) throws -> [[String]: String] {
        var gt: [[String]: String] = [:]
        for category in try EvalFiles.directory(root) where EvalFiles.isDirectory(root + "/" + category) {
            let dir = root + "/" + category
            let qaPath = EvalFiles.isDirectory(dir + "/images") ? dir + "/questions_answers_YN" : dir
            for file in try EvalFiles.directory(qaPath) where file.hasSuffix(".txt") {
                guard let text = String(data: try EvalFiles.data(qaPath + "/" + file), encoding: .utf8) else {
                    throw EvalError.malformed(file: qaPath + "/" + file, line: 0, message: "not UTF-8")
                }
                let normalized = PythonText.replace(PythonText.replace(text, "\r\n", "\n"), "\r", "\n")
                var lines = PythonText.split(normalized, separator: "\n")
                if lines.last == "" { lines.removeLast() }
                for (index, line) in lines.enumerated() {
                    let fields = PythonText.split(PythonText.strip(line), separator: "\t")
                    guard fields.count == 2 else {
                        throw EvalError.malformed(file: qaPath + "/" + file, line: index + 1, message: "expected question<TAB>answer")
                    }
                    gt[[category, file, fields[0]]] = fields[1]
                }
            }
        }
        return gt
    }
}
