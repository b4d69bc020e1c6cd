# Runs the official VQA evaluator (GT-Vision-Lab/VQA, Python 2) on one result file and prints, as JSON,
# the unrounded overall and per-answer-type accuracies (100*sum/n, the expression of its setAccuracy)
# plus its own rounded numbers. Usage (Python 2.7):
#   python2 vqa_eval_py2.py VQA_CHECKOUT annotations.json questions.json results.json
import json
import sys

sys.path.insert(0, sys.argv[1] + "/PythonHelperTools")
sys.path.insert(0, sys.argv[1] + "/PythonEvaluationTools")
from vqaTools.vqa import VQA  # noqa: E402
from vqaEvaluation.vqaEval import VQAEval  # noqa: E402

captured = {}


class CapturingVQAEval(VQAEval):
    def setAccuracy(self, accQA, accQuesType, accAnsType):
        captured["accQA"] = list(accQA)
        captured["accAnsType"] = dict((k, list(v)) for k, v in accAnsType.items())
        VQAEval.setAccuracy(self, accQA, accQuesType, accAnsType)


stdout = sys.stdout
sys.stdout = sys.stderr  # the evaluator prints progress
vqa = VQA(sys.argv[2], sys.argv[3])
res = vqa.loadRes(sys.argv[4], sys.argv[3])
evaluator = CapturingVQAEval(vqa, res, n=2)
evaluator.evaluate()
sys.stdout = stdout
acc = captured["accQA"]
out = {
    "overall": 100 * float(sum(acc)) / len(acc),
    "per_answer_type": dict((k, 100 * float(sum(v)) / len(v)) for k, v in captured["accAnsType"].items()),
    "official_rounded": evaluator.accuracy,
}
print(json.dumps(out))
