import Foundation
import YOPOText

/// The per-benchmark scorers behind `BenchmarkScoring.score`, each replaying its reference script.
enum ReferenceScorers {
    /// Last answer line per question id (the references build dicts from the answer file: later wins).
    static func latest(_ answers: [AnswerLine]) -> [String: AnswerLine] {
        var byKey: [String: AnswerLine] = [:]
        for answer in answers { byKey[answer.key] = answer }
        return byKey
    }

    /// GQA: `convert_gqa_for_eval.py` (prediction = `text.rstrip('.').lower()`, keyed by question_id),
    /// then GQA's `eval.py --tier testdev_balanced` (the copy LLaVA's gqa.sh runs): over the questions
    /// with `isBalanced`, in file order, 1 when prediction == `answer`; accuracy, and binary / open split by
    /// `types.structural == "query"` (open). A balanced question without a prediction is an error (eval.py
    /// raises "missing predictions"); predictions for other ids are ignored.
    static func gqa(groundTruth: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        var predictions: [String: String] = [:]
        for answer in answers { predictions[answer.key] = AnswerParsing.gqaPrediction(answer.text) }
        guard let questions = try EvalFiles.json(groundTruth).members else {
            throw EvalError.malformed(file: groundTruth, line: 0, message: "not a JSON object of questions by id")
        }
        var accuracy: [Double] = [], binary: [Double] = [], open: [Double] = []
        for member in questions {
            guard let balanced = member.value["isBalanced"]?.bool else {
                throw EvalError.missing(file: groundTruth, what: "isBalanced of question \(member.key)")
            }
            guard balanced else { continue }
            guard let predicted = predictions["s:" + member.key] else {
                throw EvalError.missing(
                    file: "<predictions>", what: "prediction for GQA question \(member.key) (eval.py: missing predictions)")
            }
            guard let gold = member.value["answer"]?.string, let structural = member.value["types"]?["structural"]?.string else {
                throw EvalError.missing(file: groundTruth, what: "answer or types.structural of question \(member.key)")
            }
            let score: Double = predicted == gold ? 1 : 0
            accuracy.append(score)
            if structural == "query" { open.append(score) } else { binary.append(score) }
        }
        func avg(_ l: [Double]) -> Double { l.isEmpty ? 0 : l.reduce(0, +) / Double(l.count) * 100 }
        return BenchmarkScore(
            benchmark: .gqa,
            metrics: [
                ScoreMetric(name: "accuracy", value: avg(accuracy)), ScoreMetric(name: "binary", value: avg(binary)),
                ScoreMetric(name: "open", value: avg(open))
            ], primary: "accuracy", scored: accuracy.count)
    }

    /// VQAv2 (val, locally): the split's questions are the question file's ids; each gets
    /// `EvalAIAnswerProcessor(text)` ("" when unanswered), as `convert_vqav2_for_submission.py` writes the
    /// EvalAI upload; then the official `vqaEval.py` on those (what the EvalAI server runs): over the
    /// annotations in file order, `accuracy` = 100·Σ/n and per `answer_type`. The result ids must be exactly
    /// the annotation ids (the VQA API's `loadRes` asserts). Named variants: `accuracy_evalai` — m4c's
    /// `TextVQAAccuracyEvaluator` (EvalAI processor on both sides, 10 answers) on the raw text;
    /// `accuracy_vqaeval_raw` — the official evaluator on the raw, unprocessed text.
    static func vqav2(questionsFile: String, annotations: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        let byKey = latest(answers)
        var splitKeys: [String] = []
        for (index, question) in try EvalFiles.jsonLines(questionsFile).enumerated() {
            guard let id = question["question_id"], let key = AnswerLine.key(id) else {
                throw EvalError.malformed(file: questionsFile, line: index + 1, message: "no question_id")
            }
            splitKeys.append(key)
        }
        guard let anns = try EvalFiles.json(annotations)["annotations"]?.array else {
            throw EvalError.missing(file: annotations, what: "\"annotations\" array")
        }
        var parsed: [(key: String, answers: [String], type: String)] = []
        for ann in anns {
            guard let id = ann["question_id"], let key = AnswerLine.key(id), let list = ann["answers"]?.array,
                let type = ann["answer_type"]?.string
            else {
                throw EvalError.malformed(file: annotations, line: 0, message: "an annotation lacks question_id, answers or answer_type")
            }
            let texts = try list.map { a -> String in
                guard let s = a["answer"]?.string else { throw EvalError.missing(file: annotations, what: "answers[].answer of \(key)") }
                return s
            }
            parsed.append((key, texts, type))
        }
        guard Set(splitKeys) == Set(parsed.map(\.key)) else {
            throw EvalError.malformed(
                file: questionsFile, line: 0,
                message: "the question ids are not the annotation ids of \(annotations) (the VQA API's loadRes asserts they are equal)")
        }
        let processor = EvalAIAnswerProcessor()
        var official: [Double] = [], evalAI: [Double] = [], raw: [Double] = []
        var byType: [(String, [Double])] = []
        for ann in parsed {
            let text = byKey[ann.key]?.text
            let submitted = text.map { processor($0) } ?? ""
            let acc = VQAAccuracy.vqaEval(prediction: submitted, answers: ann.answers)
            official.append(acc)
            if let i = byType.firstIndex(where: { $0.0 == ann.type }) { byType[i].1.append(acc) } else { byType.append((ann.type, [acc])) }
            guard let m4c = VQAAccuracy.evalAI(prediction: text ?? "", answers: ann.answers) else {
                throw EvalError.malformed(
                    file: annotations, line: 0, message: "question \(ann.key) has \(ann.answers.count) answers, not 10")
            }
            evalAI.append(m4c)
            raw.append(VQAAccuracy.vqaEval(prediction: text ?? "", answers: ann.answers))
        }
        guard !official.isEmpty else { throw EvalError.missing(file: annotations, what: "annotations (none to score)") }
        func percent(_ l: [Double]) -> Double { 100 * l.reduce(0, +) / Double(l.count) }
        var metrics = [ScoreMetric(name: "accuracy", value: percent(official))]
        metrics += byType.map { ScoreMetric(name: "accuracy \($0.0)", value: percent($0.1)) }
        metrics.append(ScoreMetric(name: "accuracy_evalai", value: evalAI.reduce(0, +) / Double(evalAI.count) * 100))
        metrics.append(ScoreMetric(name: "accuracy_vqaeval_raw", value: percent(raw)))
        return BenchmarkScore(benchmark: .vqav2, metrics: metrics, primary: "accuracy", scored: official.count)
    }

    /// TextVQA: `eval_textvqa.py` — each answer line is matched to the annotation with
    /// `(image_id, question.lower())` = `(question_id, prompt_processor(prompt))` (an unmatched line is an
    /// error: the script raises KeyError); m4c's `TextVQAAccuracyEvaluator` scores the lines in order;
    /// accuracy = 100·(Σ/n). Unanswered annotations are not counted (the script scores the answer file).
    static func textVQA(annotations: String, answers: [AnswerLine]) throws -> BenchmarkScore {
        guard let data = try EvalFiles.json(annotations)["data"]?.array else {
            throw EvalError.missing(file: annotations, what: "\"data\" array")
        }
        var byQuestion: [String: [String]] = [:]
        for entry in data {
            guard let image = entry["image_id"], let key = AnswerLine.key(image), let question = entry["question"]?.string,
                let list = entry["answers"]?.array
            else { throw EvalError.malformed(file: annotations, line: 0, message: "a data entry lacks image_id, question or answers") }
            byQuestion[key + "\u{0}" + PythonText.lower(question)] = list.compactMap(\.string)
        }
        var scores: [Double] = []
        for (index, answer) in answers.enumerated() {
            guard let prompt = answer.prompt, let question = AnswerParsing.textVQAQuestion(prompt: prompt) else {
                throw EvalError.malformed(
                    file: "<predictions>", line: index + 1, message: "prompt has no TextVQA question (prompt_processor asserts)")
            }
            guard let gts = byQuestion[answer.key + "\u{0}" + question] else {
                throw EvalError.missing(file: annotations, what: "annotation for image \(answer.id.summary) question \"\(question)\"")
            }
            guard let score = VQAAccuracy.evalAI(prediction: answer.text, answers: gts) else {
                throw EvalError.malformed(file: annotations, line: 0, message: "\"\(question)\" has \(gts.count) answers, not 10")
            }
            scores.append(score)
        }
        guard !scores.isEmpty else { throw EvalError.missing(file: "<predictions>", what: "answers (none to score)") }
        return BenchmarkScore(
            benchmark: .textvqa, metrics: [ScoreMetric(name: "accuracy", value: 100 * (scores.reduce(0, +) / Double(scores.count)))],
            primary: "accuracy", scored: scores.count)
    }
}
