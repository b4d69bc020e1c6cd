import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// `BenchmarkScoring.score` on the committed samples equals what the reference scorers computed on them
/// (Tests/Fixtures/eval/<benchmark>/reference_scores.json, written by Tools/reference/make_eval_fixtures.py).
/// Every metric is compared EXACTLY (==): the Swift code sums and divides in the reference's order.
final class ScoringGoldenTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/eval").path

    static func path(_ benchmark: BenchmarkName, _ name: String) -> String { "\(root)/\(benchmark.rawValue)/\(name)" }

    static func answers(_ benchmark: BenchmarkName) throws -> [JSONValue] {
        try EvalFiles.jsonLines(path(benchmark, "answers.jsonl"))
    }

    func check(
        _ benchmark: BenchmarkName, questions: String, groundTruth: String?, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let reference = try EvalFiles.json(Self.path(benchmark, "reference_scores.json"))
        let score = try BenchmarkScoring.score(
            benchmark, questionsFile: Self.path(benchmark, questions), groundTruth: groundTruth.map { Self.path(benchmark, $0) },
            predictions: Self.answers(benchmark))
        let expected = try XCTUnwrap(reference["metrics"]?.members, file: file, line: line)
        XCTAssertEqual(score.metrics.map(\.name).sorted(), expected.map(\.key).sorted(), file: file, line: line)
        for member in expected {
            XCTAssertEqual(score.value(member.key), member.value.double, "\(benchmark) \(member.key)", file: file, line: line)
        }
        XCTAssertEqual(score.primary.name, reference["primary"]?.string, file: file, line: line)
        XCTAssertEqual(score.scored, reference["scored"]?.int, file: file, line: line)
        XCTAssertFalse(score.primary.value.isNaN, file: file, line: line)
    }

    func testGQA() throws {
        try check(.gqa, questions: "llava_gqa_testdev_balanced.jsonl", groundTruth: "testdev_balanced_questions.json")
    }

    func testVQAv2() throws {
        try check(.vqav2, questions: "llava_vqav2_val_fixture.jsonl", groundTruth: "v2_mscoco_val2014_annotations.json")
    }

    func testPOPE() throws { try check(.pope, questions: "llava_pope_test.jsonl", groundTruth: "coco_pope") }

    func testMMBench() throws { try check(.mmbench, questions: "mmbench_dev_fixture.tsv", groundTruth: nil) }

    /// An `--all-rounds` answer file scores as its round-0 lines: later rounds' letters refer to
    /// rotated options (here every one is "Z", wrong for any row), and the tsv's circular rows
    /// already are the rotations.
    func testMMBenchAllRoundsScoresRoundZero() throws {
        let tsv = Self.path(.mmbench, "mmbench_dev_fixture.tsv")
        let roundZero = try Self.answers(.mmbench)
        var all: [JSONValue] = []
        for line in roundZero {
            all.append(line)
            guard case .object(var members) = line else { return XCTFail("an answer line is not an object") }
            members.removeAll { $0.key == "round_id" || $0.key == "text" }
            members.append(JSONMember("round_id", 1))
            members.append(JSONMember("text", "Z"))
            all.append(.object(members))
        }
        let expected = try BenchmarkScoring.score(.mmbench, questionsFile: tsv, groundTruth: nil, predictions: roundZero)
        XCTAssertEqual(try BenchmarkScoring.score(.mmbench, questionsFile: tsv, groundTruth: nil, predictions: all), expected)
        XCTAssertGreaterThan(expected.primary.value, 0)
    }

    func testScienceQA() throws { try check(.scienceqa, questions: "llava_test_CQM-A.json", groundTruth: "scienceqa") }

    func testTextVQA() throws {
        try check(.textvqa, questions: "llava_textvqa_val_v051_ocr.jsonl", groundTruth: "TextVQA_0.5.1_val.json")
    }

    func testMME() throws { try check(.mme, questions: "llava_mme.jsonl", groundTruth: "MME_Benchmark_release_version") }

    func testSamplesHaveAtLeastThirtyQuestions() throws {
        for benchmark in BenchmarkName.allCases {
            let reference = try EvalFiles.json(Self.path(benchmark, "reference_scores.json"))
            let scored = try XCTUnwrap(reference["scored"]?.int)
            // MMBench counts circular questions; its tsv has every rotation as a row.
            let rows = benchmark == .mmbench ? try TSVTable(contentsOf: Self.path(.mmbench, "mmbench_dev_fixture.tsv")).rows.count : scored
            XCTAssertGreaterThanOrEqual(rows, 30, "\(benchmark)")
        }
    }
}
