import Foundation
import YOPOText

extension ReferenceScorers {
    /// POPE: `eval_pope.py` — for each `coco_pope_<split>.json` of the directory (any other file is an
    /// error: the script asserts), the answer lines whose question (looked up in the question file; an
    /// unknown id is an error, the script raises KeyError) has that category, in answer-file order, are
    /// paired BY POSITION with the label file's lines (zip: the shorter decides). Per split accuracy,
    /// precision, recall, F1 (over the pairs) and yes-ratio (over all the split's answers), each ×100;
    /// then `f1` and `accuracy`, the means over the splits in name order. A split without answers or with
    /// no predicted / no labelled yes is an error (the script divides by zero).
    static func pope(questionsFile: String, annotationDirectory: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        var categories: [String: String] = [:]
        for (index, question) in try EvalFiles.jsonLines(questionsFile).enumerated() {
            guard let id = question["question_id"], let key = AnswerLine.key(id), let category = question["category"]?.string else {
                throw EvalError.malformed(file: questionsFile, line: index + 1, message: "no question_id or category")
            }
            categories[key] = category
        }
        let answerCategories = try answers.map { answer -> String in
            guard let category = categories[answer.key] else {
                throw EvalError.missing(file: questionsFile, what: "question \(answer.id.summary) of an answer line")
            }
            return category
        }
        var metrics: [ScoreMetric] = []
        var f1s: [Double] = [], accuracies: [Double] = []
        for file in try EvalFiles.directory(annotationDirectory) {
            guard file.hasPrefix("coco_pope_"), file.hasSuffix(".json"), file.count >= 15 else {
                throw EvalError.malformed(
                    file: annotationDirectory + "/" + file, line: 0, message: "not a coco_pope_<split>.json label file")
            }
            let split = String(file.dropFirst(10).dropLast(5))
            let path = annotationDirectory + "/" + file
            let labels = try EvalFiles.jsonLines(path).enumerated().map { index, line -> Int in
                guard let label = line["label"]?.string else { throw EvalError.malformed(file: path, line: index + 1, message: "no label") }
                return label == "no" ? 0 : 1
            }
            let preds = zip(answers, answerCategories).filter { $0.1 == split }.map { AnswerParsing.popeAnswer($0.0.text) == "no" ? 0 : 1 }
            guard !preds.isEmpty else { throw EvalError.missing(file: questionsFile, what: "answers of POPE split \(split)") }
            let yesRatio = Double(preds.filter { $0 == 1 }.count) / Double(preds.count)
            var tp = 0, tn = 0, fp = 0, fn = 0
            for (pred, label) in zip(preds, labels) {
                switch (pred, label) {
                case (1, 1): tp += 1
                case (1, 0): fp += 1
                case (0, 0): tn += 1
                default: fn += 1
                }
            }
            guard tp + fp > 0, tp + fn > 0, tp > 0 else {
                throw EvalError.unsupported(
                    "POPE split \(split): precision, recall or F1 divides by zero (eval_pope.py raises ZeroDivisionError)")
            }
            let precision = Double(tp) / Double(tp + fp), recall = Double(tp) / Double(tp + fn)
            let f1 = 2 * precision * recall / (precision + recall)
            let accuracy = Double(tp + tn) / Double(tp + tn + fp + fn)
            metrics += [
                ScoreMetric(name: "\(split) accuracy", value: accuracy * 100),
                ScoreMetric(name: "\(split) precision", value: precision * 100),
                ScoreMetric(name: "\(split) recall", value: recall * 100), ScoreMetric(name: "\(split) f1", value: f1 * 100),
                ScoreMetric(name: "\(split) yes_ratio", value: yesRatio * 100)
            ]
            f1s.append(f1)
            accuracies.append(accuracy)
        }
        guard !f1s.isEmpty else { throw EvalError.missing(file: annotationDirectory, what: "coco_pope_*.json label files") }
        let mean = { (l: [Double]) in l.reduce(0, +) / Double(l.count) * 100 }
        metrics.insert(
            contentsOf: [ScoreMetric(name: "f1", value: mean(f1s)), ScoreMetric(name: "accuracy", value: mean(accuracies))], at: 0)
        return BenchmarkScore(benchmark: .pope, metrics: metrics, primary: "f1", scored: answers.count)
    }

    /// MMBench dev: lmms-eval's `MMBench_Evaluator.eval_result` with VLMEvalKit's `exact_matching` policy
    /// (no judge model: an answer `can_infer` does not resolve is wrong). Rows are sorted by `index`; each
    /// row with index < 10⁶ is a question whose rotations are the rows with index % 10⁶ equal to it; the
    /// question counts when every one of those rows' stripped prediction infers (`can_infer_option`,
    /// then `can_infer_text` over the row's present A–D options) that row's `answer`. accuracy =
    /// hits / questions × 100. Every row needs a prediction (question_id = index; an error otherwise).
    static func mmbench(tsv: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        let table = try TSVTable(contentsOf: tsv)
        for column in ["index", "answer"] where table.column(column) == nil {
            throw EvalError.missing(file: tsv, what: "column \(column)")
        }
        // Round 0 holds the tsv's own option order (later `--all-rounds` rounds rotate the options,
        // so their letters do not answer the tsv's `answer`; the tsv's circular rows are the rotations).
        let byKey = latest(answers.filter { ($0.roundID ?? 0) == 0 })
        struct Row {
            var index: Int
            var answer: String
            var prediction: String
            var choices: [(letter: String, text: String)]
        }
        var rows: [Row] = []
        for r in table.rows.indices {
            guard let text = table[r, "index"], let index = Int(text) else {
                throw EvalError.malformed(file: tsv, line: 0, message: "row \(r + 1) has no integer index")
            }
            guard let answer = table[r, "answer"] else { throw EvalError.missing(file: tsv, what: "answer of index \(index)") }
            guard let prediction = byKey["n:\(index)"] else {
                throw EvalError.missing(file: "<predictions>", what: "prediction for MMBench index \(index)")
            }
            let choices = ["A", "B", "C", "D"].compactMap { letter in table[r, letter].map { (letter: letter, text: $0) } }
            rows.append(Row(index: index, answer: answer, prediction: PythonText.strip(prediction.text), choices: choices))
        }
        rows.sort { $0.index < $1.index }
        var answerMap: [Int: String] = [:]
        for row in rows { answerMap[row.index] = row.answer }
        let main = rows.filter { $0.index < 1_000_000 }
        guard !main.isEmpty else { throw EvalError.missing(file: tsv, what: "questions (rows with index < 1000000)") }
        var hits = 0
        for question in main {
            let circular = rows.filter { $0.index % 1_000_000 == question.index }
            if circular.allSatisfy({ AnswerParsing.canInfer($0.prediction, choices: $0.choices) == answerMap[$0.index] }) { hits += 1 }
        }
        return BenchmarkScore(
            benchmark: .mmbench, metrics: [ScoreMetric(name: "accuracy", value: Double(hits) / Double(main.count) * 100)],
            primary: "accuracy", scored: main.count)
    }

    /// ScienceQA: `eval_science_qa.py --split test` — over `pid_splits.json["test"]` (first occurrence
    /// order), each problem's answer line by question_id (a missing one is "FAILED" with prompt
    /// "Unknown"); the parsed letter's index among the first len(choices) of A–E must equal `answer`.
    /// `img_accuracy` (Table 2's SQA-IMG) counts only problems whose answer line's prompt contains
    /// `<image>`, as the script does; `accuracy` all of them. Both ×100.
    static func scienceQA(baseDirectory: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        let splitsPath = baseDirectory + "/pid_splits.json", problemsPath = baseDirectory + "/problems.json"
        guard let ids = try EvalFiles.json(splitsPath)["test"]?.array?.compactMap(\.string) else {
            throw EvalError.missing(file: splitsPath, what: "\"test\" list")
        }
        let problems = try EvalFiles.json(problemsPath)
        let byKey = latest(answers)
        let options = ["A", "B", "C", "D", "E"]
        var seen = Set<String>()
        var correct = 0, total = 0, imageCorrect = 0, imageTotal = 0
        for id in ids where seen.insert(id).inserted {
            guard let problem = problems[id], let choices = problem["choices"]?.array, let answer = problem["answer"]?.int else {
                throw EvalError.missing(file: problemsPath, what: "problem \(id) with choices and answer")
            }
            let line = byKey["s:" + id]
            let parsed = AnswerParsing.scienceQAAnswer(line?.text ?? "FAILED", options: options)
            let predicted = Array(options.prefix(choices.count)).firstIndex(of: parsed) ?? -1
            let hit = predicted == answer
            let multimodal = PythonText.contains(line?.prompt ?? "Unknown", "<image>")
            total += 1
            if hit { correct += 1 }
            if multimodal {
                imageTotal += 1
                if hit { imageCorrect += 1 }
            }
        }
        guard total > 0, imageTotal > 0 else {
            throw EvalError.missing(file: splitsPath, what: "test problems with an image answer (the script divides by zero)")
        }
        return BenchmarkScore(
            benchmark: .scienceqa,
            metrics: [
                ScoreMetric(name: "img_accuracy", value: Double(imageCorrect) / Double(imageTotal) * 100),
                ScoreMetric(name: "accuracy", value: Double(correct) / Double(total) * 100)
            ], primary: "img_accuracy", scored: total)
    }
}
