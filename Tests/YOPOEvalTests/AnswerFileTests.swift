import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

final class AnswerFileTests: XCTestCase {
    /// The answer file a whole (unsharded) run with the fake model writes.
    func wholeRun(_ questions: [BenchmarkQuestion]) -> String {
        questions.map { $0.answerLine(text: fakeAnswer($0), modelID: "yopo-test") + "\n" }.joined()
    }

    func benchmarks() throws -> [(String, [BenchmarkQuestion])] {
        try [
            ("gqa", loadBenchmarkQuestions(.gqa, questionsFile: fixture("gqa/questions.jsonl"))),
            ("textvqa", loadBenchmarkQuestions(.textvqa, questionsFile: fixture("textvqa/questions.jsonl"))),
            ("mme", loadBenchmarkQuestions(.mme, questionsFile: fixture("mme/questions.jsonl"))),
            ("mmbench", loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)),
            ("scienceqa", loadBenchmarkQuestions(.scienceqa, questionsFile: fixture("scienceqa/questions.json")))
        ]
    }

    func testThreeShardsMergeToTheUnshardedFileByteForByte() throws {
        let directory = try temporaryDirectory()
        for (name, questions) in try benchmarks() {
            let whole = wholeRun(questions)
            for strided in [false, true] {
                var files: [String] = []
                for index in 0..<3 {
                    let shard = Shard(index: index, count: 3, strided: strided)
                    let path = (directory as NSString).appendingPathComponent("\(name)-\(strided)-\(index).jsonl")
                    try write(wholeRun(shard.select(questions)), to: path)
                    files.append(path)
                }
                XCTAssertEqual(try AnswerFile.merge(shardFiles: files, questions: questions), whole, "\(name) strided \(strided)")
                XCTAssertEqual(try AnswerFile.merge(shardFiles: files.reversed(), questions: questions), whole, "\(name) reversed")
                if !strided {
                    // LLaVA's merge, `cat` in chunk order, gives the same bytes for contiguous shards.
                    XCTAssertEqual(try files.map { try String(contentsOfFile: $0, encoding: .utf8) }.joined(), whole)
                }
            }
        }
    }

    func testResumeAfterATruncatedLastLine() throws {
        let questions = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)
        let whole = wholeRun(questions)
        let lines = whole.split(separator: "\n").map { String($0) + "\n" }
        let path = (try temporaryDirectory() as NSString).appendingPathComponent("answers.jsonl")
        let complete = lines.prefix(5).joined()
        try write(complete + lines[5].prefix(40), to: path)  // interrupted while writing line 6
        let state = try AnswerFile.resumeState(path, questions: questions)
        XCTAssertEqual(state.completedKeys, Set(questions.prefix(5).map(\.key)))
        XCTAssertEqual(state.completedKeys, ["34@r0", "34@r1", "34@r2", "34@r3", "1000034@r0"])
        XCTAssertTrue(state.droppedPartialLine)
        XCTAssertFalse(state.missingNewline)
        XCTAssertEqual(state.validBytes, complete.utf8.count)
        XCTAssertEqual(try AnswerFile.completedKeys(path, questions: questions), state.completedKeys)
        // `read` does not tolerate the partial line, resume does and cuts it off.
        XCTAssertTrue(errorDescription { try AnswerFile.read(path) }.hasPrefix("\(path):6: invalid JSON at byte 40"))
        XCTAssertEqual(try AnswerFile.prepareForResume(path, questions: questions), state)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), complete)
        // The resumed run asks only the rest and appends: the file is the whole run's.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        let rest = questions.filter { !state.completedKeys.contains($0.key) }
        try handle.write(contentsOf: Data(wholeRun(rest).utf8))
        try handle.close()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), whole)
        XCTAssertEqual(try AnswerFile.read(path).count, 20)
    }

    func testResumeAfterALostNewlineAndFromNothing() throws {
        let questions = try loadBenchmarkQuestions(.gqa, questionsFile: fixture("gqa/questions.jsonl"))
        let lines = wholeRun(questions).split(separator: "\n").map(String.init)
        let path = (try temporaryDirectory() as NSString).appendingPathComponent("answers.jsonl")
        XCTAssertEqual(try AnswerFile.completedKeys(path, questions: questions), [])
        try write(lines[0] + "\n" + lines[1], to: path)
        let state = try AnswerFile.prepareForResume(path, questions: questions)
        XCTAssertEqual(state.completedKeys, ["\"201307251\"", "\"201640614\""])
        XCTAssertTrue(state.missingNewline)
        XCTAssertFalse(state.droppedPartialLine)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), lines[0] + "\n" + lines[1] + "\n")
    }

    func testErrors() throws {
        let questions = try loadBenchmarkQuestions(.mme, questionsFile: fixture("mme/questions.jsonl"))
        let lines = wholeRun(questions).split(separator: "\n").map { String($0) + "\n" }
        let directory = try temporaryDirectory()
        let a = (directory as NSString).appendingPathComponent("a.jsonl")
        let b = (directory as NSString).appendingPathComponent("b.jsonl")
        try write(lines[0] + lines[1], to: a)
        try write(lines[2] + lines[1], to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [a, b], questions: questions) },
            "\(b):2: question \"code_reasoning/0020.png\"#1 is answered twice (first at \(a):2)")
        try write(lines[2], to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [a, b], questions: questions) },
            "\(a), \(b): missing answers to 1 of 4 questions (the first: \"code_reasoning/0014.png\"#1)")
        try write(lines[2] + #"{"question_id": "code_reasoning/0099.png", "text": "Yes"}"# + "\n", to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [a, b], questions: questions) },
            "\(b):2: question_id \"code_reasoning/0099.png\" is not in the question file")
        try write(lines[2] + #"{"question_id": "code_reasoning/0014.png", "prompt": "Something else?", "text": "Yes"}"# + "\n", to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [a, b], questions: questions) },
            "\(b):2: no question with question_id \"code_reasoning/0014.png\" has this line's prompt")
        try write(lines[2] + "[1]\n", to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [a, b], questions: questions) },
            "\(b):2: expected a JSON object, found a list")
        try write(#"{"text": "Yes"}"# + "\n", to: b)
        XCTAssertEqual(errorDescription { try AnswerFile.merge(shardFiles: [b], questions: questions) }, "\(b):1: missing \"question_id\"")
        // A damaged line before the last is no interruption: resume refuses.
        try write(lines[0] + "{\"question_id\n" + lines[2], to: b)
        XCTAssertTrue(errorDescription { try AnswerFile.completedKeys(b, questions: questions) }.hasPrefix("\(b):2: invalid JSON at byte"))
        try write(lines[0] + "\n" + lines[2], to: b)
        XCTAssertEqual(errorDescription { try AnswerFile.completedKeys(b, questions: questions) }, "\(b):2: empty line")
        XCTAssertEqual(
            errorDescription { try AnswerFile.merge(shardFiles: [directory + "/none.jsonl"], questions: questions) },
            "\(directory)/none.jsonl: missing file (cannot open)")
        let mmbench = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)
        try write(#"{"question_id": 34, "round_id": 7, "text": "A"}"# + "\n", to: b)
        XCTAssertEqual(
            errorDescription { try AnswerFile.completedKeys(b, questions: mmbench) },
            "\(b):1: question_id 34 round 7 is not in the question file")
    }
}
