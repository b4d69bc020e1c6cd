import XCTest

@testable import YOPOEval

/// Expected values are what the reference code returned on the same inputs: LLaVA m4c_evaluator.py
/// `EvalAIAnswerProcessor` (Python 3), GT-Vision-Lab/VQA vqaEval.py (Python 2.7), lmms-eval
/// `MMBench_Evaluator.can_infer_option` / `can_infer_text`, run by hand with the checkouts of Tools/reference/README.md.
final class MetricProcessorTests: XCTestCase {
    func testEvalAIAnswerProcessor() {
        let processor = EvalAIAnswerProcessor()
        let cases: [(String, String)] = [
            ("Two dogs", "2 dogs"),
            ("A dog.", "dog"),
            ("The cat's toy", "cat 's toy"),
            ("dont know", "don't know"),
            ("Yes!", "yes"),
            ("t-shirt", "t shirt"),
            ("t - shirt", "t shirt"),
            ("3.5", "3.5"),
            ("Mr. Smith.", "mr smith"),
            ("1,000", "1000"),
            ("black & white", "black & white"),
            ("(left)", "left"),
            ("[left]", "left"),
            ("It's sunny.", "it 's sunny"),
            ("youre", "you're"),
            ("None", "0"),
            ("ten.", "10"),
            ("a.b.c", "abc"),
            ("e = mc2", "e mc2"),
            ("What?", "what"),
            ("x\ny\tz", "x y z"),
            ("hello ; world", "hello world"),
            ("@home", "home"),
            ("@ home", "home"),
            (
                "1. 2. 3. 4. 5. 6. 7. 8. 9. 10. 11. 12. 13. 14. 15. 16. 17. 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29. 30. 31. 32. 33. 34. 35.",
                "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33. 34. 35."
            ),
            ("I'd've gone", "i'd've gone"),
            ("Coca-Cola", "coca cola"),
            ("  an apple  ", "apple")
        ]
        for (input, expected) in cases { XCTAssertEqual(processor(input), expected, input) }
        // The official evaluator does not split 's and treats digit,digit by deleting every mark.
        XCTAssertEqual(processor("1,000-2"), "1000 2")
    }

    func testPeriodStripRemovesAtMost32Periods() {
        // re.sub(PERIOD_STRIP, "", text, re.UNICODE): re.UNICODE == 32 lands in `count`.
        let text = String(repeating: "a.", count: 40)
        let out = EvalAIAnswerProcessor().processPunctuation(text)
        XCTAssertEqual(out, String(repeating: "a", count: 32) + String(repeating: "a.", count: 8))
        // The typo (?!<=\d) is a lookahead: a period after a digit and before a letter still goes; before a digit it stays.
        XCTAssertEqual(EvalAIAnswerProcessor().processPunctuation("3.x 3.5 x.5"), "3x 3.5 x.5")
    }

    func testOfficialVQAEvalProcessor() {
        let processor = VQAEvalAnswerProcessor()
        let cases: [(String, String)] = [
            ("Two dogs", "2 dogs"),
            ("1,000 dogs", "1000 dogs"),
            ("What?", "what"),
            ("The cat's toy", "cat's toy"),
            ("dont know", "don't know"),
            ("a.b.c", "abc"),
            ("3.5", "3.5"),
            ("Yes!", "yes"),
            ("x-y, z", "x y z"),
            ("1,000-2", "10002")
        ]
        for (input, expected) in cases { XCTAssertEqual(processor(input), expected, input) }
    }

    func testSoftAccuracy() {
        // m4c _compute_answer_scores for k of 10 humans giving the answer: 0, 0.3, 0.6, 0.9, 1.0, 1.0.
        let expected = [0.0, 0.3, 0.6, 0.9, 1.0, 1.0]
        for k in 0..<6 {
            let answers = Array(repeating: "x", count: k) + Array(repeating: "y", count: 10 - k)
            XCTAssertEqual(VQAAccuracy.softAccuracy(prediction: "x", answers: answers), expected[k], "k = \(k)")
        }
        XCTAssertNil(VQAAccuracy.evalAI(prediction: "x", answers: ["x"]))  // the reference asserts 10 answers
        // Identical human answers: vqaEval does not normalise, so "Yes." misses "yes"; EvalAI processing hits it.
        let yes = Array(repeating: "yes", count: 10)
        XCTAssertEqual(VQAAccuracy.vqaEval(prediction: "Yes.", answers: yes), 0)
        XCTAssertEqual(VQAAccuracy.evalAI(prediction: "Yes.", answers: yes), 1)
        XCTAssertEqual(VQAAccuracy.vqaEval(prediction: "Yes.", answers: Array(yes.dropLast()) + ["no"]), 1)
    }

    func testMMBenchCanInferOption() {
        let cases: [(String, String?)] = [
            ("B", "B"),
            ("The answer is B.", "B"),
            ("(C)", "C"),
            ("A dog is here now", nil),
            ("A dog", "A"),
            ("B. four", "B"),
            ("C:", "C"),
            (":D", "D"),
            ("E", "E"),
            ("B, C", "C"),
            ("Answer: (A).", "A"),
            ("none", nil),
            ("A B", nil),
            ("Failed to obtain answer via API A", nil)
        ]
        for (input, expected) in cases { XCTAssertEqual(AnswerParsing.canInferOption(input), expected, input) }
    }

    func testMMBenchCanInferText() {
        let choices: [(letter: String, text: String)] = [("A", "cat"), ("B", "a cat"), ("C", "dog")]
        let cases: [(String, String?)] = [
            ("It is a dog", "C"),
            ("a cat", nil),
            ("Cat", "A"),
            ("bird", nil)
        ]
        for (input, expected) in cases { XCTAssertEqual(AnswerParsing.canInferText(input, choices: choices), expected, input) }
        XCTAssertEqual(AnswerParsing.canInfer("I pick (B)", choices: choices), "B")
    }
}
