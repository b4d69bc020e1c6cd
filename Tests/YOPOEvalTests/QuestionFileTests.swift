import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// Question files read as LLaVA's eval scripts read them, prompts as they build them; the answer
/// lines are checked against LLaVA-1.5-13B's released answer files (same bytes but `answer_id`).
final class QuestionFileTests: XCTestCase {
    let shortAnswer = "\nAnswer the question using a single word or phrase."

    /// Our line for the released line's question and text equals the released line but the id.
    func assertMatchesReleased(
        _ questions: [BenchmarkQuestion], _ released: String, file: StaticString = #filePath, line: UInt = #line
    )
        throws
    {
        let lines = released.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, questions.count, file: file, line: line)
        for (question, releasedLine) in zip(questions, lines) {
            let text = try JSONValue.parse(Data(releasedLine.utf8))["text"]!.string!
            let ours = question.answerLine(text: text, modelID: "llava-v1.5-13b")
            let id = AnswerID.make(modelID: "llava-v1.5-13b", key: question.key, text: text)
            XCTAssertEqual(ours, try withAnswerID(releasedLine, id), file: file, line: line)
        }
    }

    func testGQA() throws {
        let questions = try loadBenchmarkQuestions(.gqa, questionsFile: fixture("gqa/questions.jsonl"))
        XCTAssertEqual(questions.count, 10)
        XCTAssertEqual(questions[0].questionID, "201307251")
        XCTAssertEqual(questions[0].image, .file("n161313.jpg"))
        XCTAssertEqual(questions[0].prompt, "Is it overcast?" + shortAnswer)
        XCTAssertEqual(questions[0].recordedPrompt, questions[0].prompt)
        XCTAssertEqual(questions[0].maxNewTokens, 128)
        XCTAssertEqual(questions[0].key, "\"201307251\"")
        XCTAssertNil(questions[0].roundID)
        XCTAssertEqual(questions[1].prompt, "Who is wearing the dress?" + shortAnswer)
        try assertMatchesReleased(questions, fixtureText("gqa/released_answers.jsonl"))
        // The answer_id as a 10-line Python transcription of AnswerID.make's documented hash gives it.
        XCTAssertEqual(
            questions[0].answerLine(text: "No", modelID: "llava-v1.5-13b"),
            #"{"question_id": "201307251", "prompt": "Is it overcast?\nAnswer the question using a single word or phrase.", "#
                + #""text": "No", "answer_id": "aWPZshuc6ajeJPKVXrJhQL", "model_id": "llava-v1.5-13b", "metadata": {}}"#)
    }

    func testPOPEIntegerIDs() throws {
        let questions = try loadBenchmarkQuestions(.pope, questionsFile: fixture("pope/questions.jsonl"))
        XCTAssertEqual(questions.map(\.key), ["1", "2", "3"])
        XCTAssertEqual(questions[2].prompt, "Is there a person in the image?" + shortAnswer)
        XCTAssertEqual(questions[2].image, .file("COCO_val2014_000000310196.jpg"))
        try assertMatchesReleased(questions, fixtureText("pope/released_answers.jsonl"))
    }

    func testTextVQAAndMMERepeatIDsAndGetOccurrenceKeys() throws {
        let textvqa = try loadBenchmarkQuestions(.textvqa, questionsFile: fixture("textvqa/questions.jsonl"))
        XCTAssertEqual(textvqa.map(\.key), ["\"003a8ae2ef43b901\"", "\"831bcec304a17054\"#0", "\"831bcec304a17054\"#1"])
        XCTAssertEqual(
            textvqa[0].prompt,
            "What is the brand of this camera?\nReference OCR token: DAKOTA, DIGITAL, Single-Use, Camera, Pire, digitat" + shortAnswer)
        try assertMatchesReleased(textvqa, fixtureText("textvqa/released_answers.jsonl"))
        let mme = try loadBenchmarkQuestions(.mme, questionsFile: fixture("mme/questions.jsonl"))
        XCTAssertEqual(
            mme.map(\.key),
            [
                "\"code_reasoning/0020.png\"#0", "\"code_reasoning/0020.png\"#1", "\"code_reasoning/0014.png\"#0",
                "\"code_reasoning/0014.png\"#1"
            ])
        XCTAssertEqual(mme[1].prompt, "Is a c++ code shown in the picture?" + shortAnswer)
        XCTAssertEqual(mme[1].image, .file("code_reasoning/0020.png"))
        try assertMatchesReleased(mme, fixtureText("mme/released_answers.jsonl"))
    }

    func testVQAv2() throws {
        let questions = try loadBenchmarkQuestions(.vqav2, questionsFile: fixture("vqav2/questions.jsonl"))
        XCTAssertEqual(questions.map(\.key), ["262144000", "262144001", "262144002", "262145000"])
        XCTAssertEqual(questions[0].prompt, "Is the ball flying towards the batter?" + shortAnswer)
    }

    func testScienceQA() throws {
        let questions = try loadBenchmarkQuestions(.scienceqa, questionsFile: fixture("scienceqa/questions.json"))
        XCTAssertEqual(questions.map(\.key), ["\"4\"", "\"5\"", "\"11\"", "\"15\""])
        XCTAssertEqual(questions.map(\.image), [nil, .file("5/image.png"), .file("11/image.png"), nil])
        XCTAssertEqual(questions.map(\.maxNewTokens), [1024, 1024, 1024, 1024])
        // Fed to the model: no <image> (the template puts it first), the suffix at the end.
        XCTAssertEqual(
            questions[2].prompt,
            "What is the name of the colony shown?\nA. Maryland\nB. New Hampshire\nC. Rhode Island\nD. Vermont\n"
                + "Answer with the option's letter from the given choices directly.")
        // Recorded: `<image>\n` first for items with an image; equal to what LLaVA's run recorded.
        XCTAssertEqual(questions[2].recordedPrompt, "<image>\n" + questions[2].prompt)
        XCTAssertEqual(questions[3].recordedPrompt, questions[3].prompt)
        let released = try JSONValue.parse(Data(fixtureText("scienceqa/released_prompts.json").utf8))
        for question in questions { XCTAssertEqual(question.recordedPrompt, released[question.questionID.string!]?.string) }
        try assertMatchesReleased(Array(questions.prefix(1)), fixtureText("scienceqa/released_answers.jsonl"))
    }

    func testPythonStrip() {
        XCTAssertEqual(PythonText.strip("\n\u{a0}\u{2003} a b\u{1c}\u{85}\t"), "a b")
        XCTAssertEqual(PythonText.strip("\u{200b}x\u{feff}"), "\u{200b}x\u{feff}")  // not whitespace to Python
        XCTAssertEqual(PythonText.strip(" \n "), "")
    }
}

// Fixture helpers shared by the format tests (Question*, AnswerFile*, Shard*, Submission*).

/// Tests/Fixtures/eval/formats/: real lines of LLaVA's question and released answer files (commit
/// 32cebc3809441cc40d8ac7b2855d148308741f2a, `playground/data/eval/`), see its README.md.
let formatFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/eval/formats").path

func fixture(_ relative: String) -> String { (formatFixtures as NSString).appendingPathComponent(relative) }

func fixtureText(_ relative: String) throws -> String { try String(contentsOfFile: fixture(relative), encoding: .utf8) }

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("yopo-formats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// The description of the error `body` throws (fails the test when it throws none).
func errorDescription(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        _ = try body()
        XCTFail("no error thrown", file: file, line: line)
        return ""
    } catch {
        return "\(error)"
    }
}

/// A released answer line with its random `answer_id` replaced by ours.
func withAnswerID(_ line: String, _ id: String) throws -> String {
    guard case .object(let members) = try JSONValue.parse(Data(line.utf8)) else { return line }
    return JSONValue.object(members.map { $0.key == "answer_id" ? JSONMember("answer_id", .string(id)) : $0 }).pythonJSON
}

/// The answer text a fake model gives: a deterministic function of the question.
func fakeAnswer(_ question: BenchmarkQuestion) -> String {
    let choices = ["Yes.", "no", "Two dogs.", "The man's hat", "B", "A"]
    return choices[abs(question.key.unicodeScalars.reduce(0) { $0 &* 31 &+ Int($1.value) }) % choices.count]
}
