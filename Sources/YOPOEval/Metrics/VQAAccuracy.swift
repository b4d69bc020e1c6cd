import Foundation

/// VQA soft accuracy of one prediction, as both LLaVA's `m4c_evaluator.py` `TextVQAAccuracyEvaluator`
/// and the official `vqaEval.py` compute it: for each human answer i, `min(1, (number of the OTHER
/// answers equal to the prediction) / 3)`, then the mean over the answers (summed in answer order,
/// divided by their count). With 10 answers a prediction given by k humans scores
/// `(k·min(1,(k−1)/3) + (10−k)·min(1,k/3)) / 10`, e.g. 0.3 for k = 1, 0.6 for 2, 0.9 for 3, 1 for ≥ 4.
public enum VQAAccuracy {
    /// The soft accuracy in [0, 1]; `answers` and `prediction` already normalised. 0 for no answers.
    public static func softAccuracy(prediction: String, answers: [String]) -> Double {
        guard !answers.isEmpty else { return 0 }
        var sum = 0.0
        for i in answers.indices {
            var matching = 0
            for j in answers.indices where j != i && answers[j] == prediction { matching += 1 }
            sum += min(1, Double(matching) / 3)
        }
        return sum / Double(answers.count)
    }

    /// `TextVQAAccuracyEvaluator` for one entry: `EvalAIAnswerProcessor` on the prediction and each of the
    /// answers, then `softAccuracy`. The reference asserts exactly 10 answers; nil otherwise.
    public static func evalAI(prediction: String, answers: [String]) -> Double? {
        guard answers.count == 10 else { return nil }
        let processor = EvalAIAnswerProcessor()
        return softAccuracy(prediction: processor(prediction), answers: answers.map { processor($0) })
    }

    /// `VQAEval.evaluate` for one question: every answer and the prediction are cleaned (`\n`/`\t` →
    /// space, strip); only when the cleaned human answers are not all equal are they and the prediction
    /// normalised with `VQAEvalAnswerProcessor`; then `softAccuracy`.
    public static func vqaEval(prediction: String, answers: [String]) -> Double {
        let processor = VQAEvalAnswerProcessor()
        var gts = answers.map { processor.clean($0) }
        var res = processor.clean(prediction)
        if Set(gts).count > 1 {
            gts = gts.map { processor($0) }
            res = processor(res)
        }
        return softAccuracy(prediction: res, answers: gts)
    }
}
