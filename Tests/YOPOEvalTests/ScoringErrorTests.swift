import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// Missing or invalid input and the reference scripts' crash cases give one-line `EvalError`s.
final class ScoringErrorTests: XCTestCase {
    typealias G = ScoringGoldenTests

    func error(_ body: () throws -> BenchmarkScore) -> EvalError? {
        do {
            _ = try body()
            return nil
        } catch { return error as? EvalError }
    }

    func score(_ b: BenchmarkName, _ q: String, _ gt: String?, _ answers: [JSONValue]) throws -> BenchmarkScore {
        try BenchmarkScoring.score(b, questionsFile: G.path(b, q), groundTruth: gt.map { G.path(b, $0) }, predictions: answers)
    }

    func testMissingGroundTruthAndFiles() throws {
        let e1 = error { try BenchmarkScoring.score(.gqa, questionsFile: "q.jsonl", groundTruth: nil, predictions: []) }
        XCTAssertEqual(e1, .missing(file: "q.jsonl", what: "ground truth for gqa"))
        let e2 = error { try BenchmarkScoring.score(.textvqa, questionsFile: "q", groundTruth: "/nonexistent.json", predictions: []) }
        XCTAssertEqual(e2?.description, "/nonexistent.json: missing file")
        let e3 = error {
            try BenchmarkScoring.score(
                .pope, questionsFile: G.path(.pope, "llava_pope_test.jsonl"), groundTruth: "/nonexistent", predictions: [])
        }
        XCTAssertEqual(e3, .missing(file: "/nonexistent", what: "directory"))
    }

    func testMalformedAnswerLine() {
        let e = error {
            try BenchmarkScoring.score(.gqa, questionsFile: "q", groundTruth: "gt", predictions: [.object([JSONMember("text", "x")])])
        }
        XCTAssertEqual(e, .malformed(file: "<predictions>", line: 1, message: "no question_id (a string or a number)"))
    }

    func testGQAMissingPredictionIsAnError() throws {
        var answers = try G.answers(.gqa)
        let dropped = answers.removeFirst()
        let e = error { try score(.gqa, "llava_gqa_testdev_balanced.jsonl", "testdev_balanced_questions.json", answers) }
        let id = try XCTUnwrap(dropped["question_id"]?.string)
        XCTAssertEqual(e, .missing(file: "<predictions>", what: "prediction for GQA question \(id) (eval.py: missing predictions)"))
    }

    func testVQAv2QuestionIdsMustBeTheAnnotationIds() throws {
        let tmp = NSTemporaryDirectory() + "yopo-vqa-\(ProcessInfo.processInfo.processIdentifier).jsonl"
        let lines = try String(contentsOfFile: G.path(.vqav2, "llava_vqav2_val_fixture.jsonl"), encoding: .utf8).split(separator: "\n")
        try lines.dropLast().joined(separator: "\n").write(toFile: tmp, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let ann = G.path(.vqav2, "v2_mscoco_val2014_annotations.json")
        let e = error { try BenchmarkScoring.score(.vqav2, questionsFile: tmp, groundTruth: ann, predictions: try G.answers(.vqav2)) }
        guard case .malformed(let file, _, let message)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(file, tmp)
        XCTAssertTrue(message.contains("loadRes"), message)
    }

    func testPOPEUnknownQuestionIsAnError() throws {
        let answers = try G.answers(.pope) + [.object([JSONMember("question_id", 123_456_789), JSONMember("text", "Yes")])]
        let e = error { try score(.pope, "llava_pope_test.jsonl", "coco_pope", answers) }
        XCTAssertEqual(e, .missing(file: G.path(.pope, "llava_pope_test.jsonl"), what: "question 123456789 of an answer line"))
    }

    func testMMBenchMissingPredictionIsAnError() throws {
        let answers = try G.answers(.mmbench).filter { $0["question_id"]?.int != 1_000_000 }
        let e = error { try score(.mmbench, "mmbench_dev_fixture.tsv", nil, answers) }
        XCTAssertEqual(e, .missing(file: "<predictions>", what: "prediction for MMBench index 1000000"))
    }

    func testTextVQAUnknownQuestionIsAnError() throws {
        var answers = try G.answers(.textvqa)
        answers[0] = .object([JSONMember("question_id", "nope"), JSONMember("prompt", "Q?\nShort."), JSONMember("text", "x")])
        let e = error { try score(.textvqa, "llava_textvqa_val_v051_ocr.jsonl", "TextVQA_0.5.1_val.json", answers) }
        XCTAssertEqual(e, .missing(file: G.path(.textvqa, "TextVQA_0.5.1_val.json"), what: "annotation for image \"nope\" question \"q?\""))
    }

    func testMMEMissingSubtaskOddCountAndTab() throws {
        let all = try G.answers(.mme)
        let noOCR = all.filter { !($0["question_id"]?.string ?? "").hasPrefix("OCR/") }
        XCTAssertEqual(
            error { try score(.mme, "llava_mme.jsonl", "MME_Benchmark_release_version", noOCR) },
            .missing(file: "<predictions>", what: "answers of MME subtask OCR (calculation.py needs every subtask)"))
        let firstOCR = try XCTUnwrap(all.firstIndex { ($0["question_id"]?.string ?? "").hasPrefix("OCR/") })
        var odd = all
        odd.remove(at: firstOCR)
        XCTAssertEqual(
            error { try score(.mme, "llava_mme.jsonl", "MME_Benchmark_release_version", odd) },
            .malformed(file: "<predictions>", line: 0, message: "MME subtask OCR has an odd number of answers"))
        var tabbed = all
        var members = try XCTUnwrap(tabbed[0].members)
        members[members.firstIndex { $0.key == "text" }!].value = "Yes\tNo"
        tabbed[0] = .object(members)
        guard case .unsupported? = error({ try score(.mme, "llava_mme.jsonl", "MME_Benchmark_release_version", tabbed) }) else {
            return XCTFail("a tab in an MME answer must be refused")
        }
    }

    func testScienceQAMissingSplit() {
        let e = error { try BenchmarkScoring.score(.scienceqa, questionsFile: "q", groundTruth: "/nonexistent", predictions: []) }
        XCTAssertEqual(e, .missing(file: "/nonexistent/pid_splits.json", what: "file"))
    }

    func testScoreJSONAndText() throws {
        let score = BenchmarkScore(
            benchmark: .pope, metrics: [ScoreMetric(name: "f1", value: 85.5), ScoreMetric(name: "accuracy", value: 86)], primary: "f1",
            scored: 3)
        XCTAssertEqual(
            score.json.pythonJSON,
            #"{"benchmark": "pope", "primary": {"name": "f1", "value": 85.5}, "scored": 3, "metrics": {"f1": 85.5, "accuracy": 86}}"#)
        XCTAssertEqual(score.text, "pope f1: 85.5 *\npope accuracy: 86.0")
    }
}
