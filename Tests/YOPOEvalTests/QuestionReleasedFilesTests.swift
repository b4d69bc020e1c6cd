import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// The whole question files against LLaVA-1.5-13B's whole released answer files, when a LLaVA
/// checkout (commit 32cebc3809441cc40d8ac7b2855d148308741f2a) is named by YOPO_LLAVA_CHECKOUT
/// (skipped otherwise: the files are 10 MB). Every released line is reproduced but its random
/// `answer_id`, and 3 strided shards of it merge back to the file.
final class QuestionReleasedFilesTests: XCTestCase {
    func testEveryReleasedLineIsReproduced() throws {
        guard let checkout = ProcessInfo.processInfo.environment["YOPO_LLAVA_CHECKOUT"] else {
            throw XCTSkip("set YOPO_LLAVA_CHECKOUT to a LLaVA checkout to compare the whole files")
        }
        let eval = checkout + "/playground/data/eval/"
        let cases: [(BenchmarkName, String, String, Int)] = [
            (.gqa, "gqa/llava_gqa_testdev_balanced.jsonl", "gqa/answers/llava_gqa_testdev_balanced/llava-v1.5-13b.jsonl", 12578),
            (.pope, "pope/llava_pope_test.jsonl", "pope/answers/llava-v1.5-13b.jsonl", 8910),
            (.textvqa, "textvqa/llava_textvqa_val_v051_ocr.jsonl", "textvqa/answers/llava-v1.5-13b.jsonl", 5000),
            (.mme, "MME/llava_mme.jsonl", "MME/answers/llava-v1.5-13b.jsonl", 2374)
        ]
        let directory = try temporaryDirectory()
        for (benchmark, questionsFile, answersFile, count) in cases {
            let questions = try loadBenchmarkQuestions(benchmark, questionsFile: eval + questionsFile)
            XCTAssertEqual(questions.count, count)
            XCTAssertEqual(Set(questions.map(\.key)).count, count)
            let releasedFile = try String(contentsOfFile: eval + answersFile, encoding: .utf8)
            let released = releasedFile.split(separator: "\n").map(String.init)
            XCTAssertEqual(released.count, count)
            var mismatches = 0
            for (question, line) in zip(questions, released) {
                let text = try JSONValue.parse(Data(line.utf8))["text"]!.string!
                let id = AnswerID.make(modelID: "llava-v1.5-13b", key: question.key, text: text)
                if question.answerLine(text: text, modelID: "llava-v1.5-13b") != (try withAnswerID(line, id)) { mismatches += 1 }
            }
            XCTAssertEqual(mismatches, 0, "\(benchmark)")
            let shards = try (0..<3).map { index -> String in
                let path = (directory as NSString).appendingPathComponent("\(benchmark.rawValue)-\(index).jsonl")
                try write(Shard(index: index, count: 3, strided: true).select(released).map { $0 + "\n" }.joined(), to: path)
                return path
            }
            XCTAssertEqual(try AnswerFile.merge(shardFiles: shards.reversed(), questions: questions), releasedFile, "\(benchmark)")
        }
        // ScienceQA: the prompts its run recorded (eval_science_qa.py's output keeps them).
        let questions = try loadBenchmarkQuestions(.scienceqa, questionsFile: eval + "scienceqa/llava_test_CQM-A.json")
        XCTAssertEqual(questions.count, 4241)
        XCTAssertEqual(questions.filter { $0.image != nil }.count, 2017)
        let output = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: eval + "scienceqa/answers/llava-v1.5-13b_output.jsonl")))
        var recorded: [String: String] = [:]
        for group in output.members ?? [] {
            for item in group.value.array ?? [] { recorded[item["question_id"]?.string ?? ""] = item["question"]?.string }
        }
        XCTAssertEqual(questions.filter { recorded[$0.questionID.string ?? ""] != $0.recordedPrompt }.count, 0)
    }
}
