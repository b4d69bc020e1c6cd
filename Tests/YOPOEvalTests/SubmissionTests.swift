import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// Submission files against what LLaVA's own conversion scripts wrote from the same answer files
/// (Tools/reference/check_eval_conversions.py put their outputs under `*/reference/`).
final class SubmissionTests: XCTestCase {
    /// The made-up answer texts of the fixture answer files, chosen to exercise the conversions:
    /// trailing periods and case (GQA), EvalAI's processing (VQAv2), the last round winning and a
    /// text with a quote and a line break (MMBench).
    static let texts: [String: [String]] = [
        "gqa": ["No", "Woman.", "Yes..", "UPPER Case", "the man's hat.", "İstanbul", "2.5", "Left.side", "yes", "a . b ."],
        "vqav2": ["Yes.", "Baseball!", "Two", "a frisbee, probably"],
        "mmbench": [
            "A", "B", "C", "D", "A", "B", "C", "D", "A", "B", "C", "D", "B", "A", "A", "B", "C", "A", "B\nbecause \"two\"", "A"
        ]
    ]

    static let questionFiles: [String: (BenchmarkName, String)] = [
        "gqa": (.gqa, "gqa/questions.jsonl"), "vqav2": (.vqav2, "vqav2/questions.jsonl"), "mmbench": (.mmbench, "mmbench/questions.tsv")
    ]

    /// The fixture answer files are what `answerLine` writes today (YOPO_REGENERATE_FIXTURES=1 rewrites them; then run
    /// Tools/reference/check_eval_conversions.py again).
    func testFixtureAnswerFilesAreOurs() throws {
        for (name, (benchmark, questionsFile)) in Self.questionFiles {
            // The MMBench fixture has every round (LLaVA's --all-rounds), to show the last one winning.
            let questions = try loadBenchmarkQuestions(
                benchmark, questionsFile: fixture(questionsFile), mmbenchAllRounds: benchmark == .mmbench)
            let texts = try XCTUnwrap(Self.texts[name])
            XCTAssertEqual(questions.count, texts.count, name)
            let contents = zip(questions, texts).map { $0.answerLine(text: $1, modelID: "yopo-llava-v1.5-7b") + "\n" }.joined()
            if ProcessInfo.processInfo.environment["YOPO_REGENERATE_FIXTURES"] == "1" {
                try write(contents, to: fixture("\(name)/answers.jsonl"))
            }
            XCTAssertEqual(try fixtureText("\(name)/answers.jsonl"), contents, name)
        }
    }

    func submission(_ benchmark: BenchmarkName, _ name: String, questions: String) throws -> (paths: [String], text: String) {
        let out = try temporaryDirectory()
        let paths = try Submission.write(
            benchmark, answersFile: fixture("\(name)/answers.jsonl"), questionsFile: fixture(questions), outDirectory: out)
        XCTAssertEqual(paths.count, 1)
        return (paths.map { String($0.dropFirst(out.count + 1)) }, try String(contentsOfFile: paths[0], encoding: .utf8))
    }

    /// Byte-equal to `convert_gqa_for_eval.py --src gqa/answers.jsonl`.
    func testGQAEqualsTheReferenceConversion() throws {
        let (paths, text) = try submission(.gqa, "gqa", questions: "gqa/questions.jsonl")
        XCTAssertEqual(paths, ["testdev_balanced_predictions.json"])
        XCTAssertEqual(text, try fixtureText("gqa/reference/testdev_balanced_predictions.json"))
        XCTAssertTrue(
            text.hasPrefix(#"[{"questionId": "201307251", "prediction": "no"}, {"questionId": "201640614", "prediction": "woman"}"#))
        XCTAssertTrue(text.contains(#""prediction": "i\u0307stanbul""#))
        XCTAssertTrue(text.contains(#""prediction": "a . b "}"#))
    }

    /// Byte-equal to `convert_vqav2_for_submission.py`, which lists every question of the test2015
    /// file (one without answer gets "") and applies EvalAIAnswerProcessor.
    func testVQAv2EqualsTheReferenceConversion() throws {
        let (paths, text) = try submission(.vqav2, "vqav2", questions: "vqav2/test2015.jsonl")
        XCTAssertEqual(paths, ["answers.json"])
        XCTAssertEqual(text, try fixtureText("vqav2/reference/answers.json"))
        XCTAssertEqual(
            text,
            #"[{"question_id": 262144000, "answer": "yes"}, {"question_id": 262144001, "answer": "baseball"}, "#
                + #"{"question_id": 262146000, "answer": ""}, {"question_id": 262144002, "answer": "2"}, "#
                + #"{"question_id": 262145000, "answer": "frisbee probably"}]"#)
    }

    /// Byte-equal to the xlsx `convert_mmbench_for_submission.py` wrote, read back by pandas and
    /// written with `to_csv(sep='\t', index=False)`.
    func testMMBenchEqualsTheReferenceConversion() throws {
        let (paths, text) = try submission(.mmbench, "mmbench", questions: "mmbench/questions.tsv")
        XCTAssertEqual(paths, ["answers.tsv"])
        XCTAssertEqual(text, try fixtureText("mmbench/reference/answers.tsv"))
        let lines = text.components(separatedBy: "\n")
        XCTAssertEqual(lines[0], "index\tquestion\tA\tB\tC\tD\tprediction\tanswer\tsplit")
        // Row 34 had four rounds: the last one's text is the prediction.
        XCTAssertTrue(lines[1].hasPrefix("34\tWhich one is the correct caption of this image?\tA woman is riding"))
        XCTAssertTrue(lines[1].hasSuffix("\tD\tA\tdev"))
        let table = try TSVTable(data: Data(text.utf8))
        XCTAssertEqual(
            table.column("prediction").map { col in table.rows.map { $0[col] } }, ["D", "D", "D", "A", "C", "B\nbecause \"two\"", "A"])
    }

    func testErrors() throws {
        let out = try temporaryDirectory()
        for benchmark in [BenchmarkName.pope, .scienceqa, .textvqa, .mme] {
            XCTAssertEqual(
                errorDescription { try Submission.write(benchmark, answersFile: "a.jsonl", questionsFile: "q", outDirectory: out) },
                "unsupported: \(benchmark.rawValue) has no submission file "
                    + "(it is scored locally; submission files exist for gqa, vqav2, mmbench)")
        }
        let answers = (out as NSString).appendingPathComponent("a.jsonl")
        try write(#"{"question_id": 5, "text": "A"}"# + "\n", to: answers)
        XCTAssertEqual(
            errorDescription {
                try Submission.write(.mmbench, answersFile: answers, questionsFile: fixture("mmbench/questions.tsv"), outDirectory: out)
            },
            "\(answers):1: question_id 5 is no index of \(fixture("mmbench/questions.tsv"))")
        XCTAssertEqual(
            errorDescription {
                try Submission.write(.vqav2, answersFile: answers, questionsFile: fixture("vqav2/test2015.jsonl"), outDirectory: out)
            },
            "\(answers): question_id 5 is not in \(fixture("vqav2/test2015.jsonl"))")
        let tsv = (out as NSString).appendingPathComponent("q.tsv")
        try write("index\tquestion\thint\tA\n1\tq\th\ta\n", to: tsv)
        XCTAssertEqual(
            errorDescription { try Submission.write(.mmbench, answersFile: answers, questionsFile: tsv, outDirectory: out) },
            "\(tsv): missing column \"category\" (the MMBench submission needs it)")
        try write(#"{"question_id": "5"}"# + "\n", to: answers)
        XCTAssertEqual(
            errorDescription { try Submission.write(.gqa, answersFile: answers, questionsFile: "", outDirectory: out) },
            "\(answers):1: missing \"text\"")
    }

    func testPythonStringHelpers() {
        XCTAssertEqual(PythonText.rstrip("a.b...", ["."]), "a.b")
        XCTAssertEqual(PythonText.rstrip("...", ["."]), "")
        XCTAssertEqual(PythonText.lower("ÀB İ ẞ"), "àb i\u{307} ß")
    }
}
