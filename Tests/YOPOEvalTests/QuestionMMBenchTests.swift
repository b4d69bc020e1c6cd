import Foundation
import XCTest
import YOPOText

@testable import YOPOEval

/// MMBench as `model_vqa_mmbench.py --single-pred-prompt --lang en [--all-rounds]` reads it. The
/// fixture's rows 34, 1000034, 2000034, 241, 244 are rebuilt from LLaVA-1.5-13B's released answer
/// lines (hint, question and options taken apart from their prompts); 99 and 100 are made up for
/// pandas' and LLaVA's missing values.
final class QuestionMMBenchTests: XCTestCase {
    let suffix = "\nAnswer with the option's letter from the given choices directly."

    func testAllRoundsRotateTheOptionsUnderTheSameLetters() throws {
        let questions = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)
        // 4 + 4 + 4 options, 241 has 2, 244 has 3, 99 stops at "NONE" (2), 100 at "None" (pandas NaN, 1).
        XCTAssertEqual(questions.count, 20)
        XCTAssertEqual(questions.filter { $0.questionID == 244 }.map(\.key), ["244@r0", "244@r1", "244@r2"])
        XCTAssertEqual(questions.map(\.maxNewTokens), Array(repeating: 1024, count: 20))
        let r244 = questions.filter { $0.questionID == 244 }
        let hint =
            "People can use the engineering-design process to develop solutions to problems. One step in the process is testing if a "
            + "potential solution meets the requirements of the design.\nThe passage below describes how the engineering-design process "
            + "was used to test a solution to a problem. Read the passage. Then answer the question below.\n\nErnesto was a landscape "
            + "architect who was hired to design a new city park. The city council wanted the park to have space for outdoor concerts "
            + "and to have at least 20% of the park shaded by trees. Ernesto thought the concert area should be at least 150 meters "
            + "from the road so traffic noise didn't interrupt the music. He developed three possible designs for the park with the "
            + "concert area in a different location in each design. Then, he tested each design by measuring the distance between the "
            + "road and the concert area.\nFigure: studying an architect's design."
        let options = [
            "which design would have the greatest distance between the concert area and the road",
            "which design would have the least traffic noise in the concert area",
            "if at least 20% of the park would be shaded by trees in each design"
        ]
        XCTAssertEqual(
            r244[1].recordedPrompt,
            hint + "\nWhich of the following could Ernesto's test show?\nA. " + options[1] + "\nB. " + options[2] + "\nC. " + options[0])
        XCTAssertEqual(r244[1].prompt, r244[1].recordedPrompt + suffix)
        XCTAssertEqual(
            r244[2].prompt.components(separatedBy: "\n").suffix(4),
            [
                "A. " + options[2], "B. " + options[0], "C. " + options[1],
                "Answer with the option's letter from the given choices directly."
            ])
        XCTAssertEqual(
            r244[2].answerLine(text: "C", modelID: "m"),
            JSONValue.object([
                JSONMember("question_id", 244), JSONMember("round_id", 2), JSONMember("prompt", .string(r244[2].recordedPrompt)),
                JSONMember("text", "C"), JSONMember("options", .array([options[2], options[0], options[1]].map { .string($0) })),
                JSONMember("option_char", .array(["C", "A", "B"])),
                JSONMember("answer_id", .string(AnswerID.make(modelID: "m", key: "244@r2", text: "C"))),
                JSONMember("model_id", "m"), JSONMember("metadata", .object([]))
            ]).pythonJSON)
        // The image is the base64 column decoded: a 1×1 PNG.
        guard case .data(let png) = questions[0].image else { return XCTFail("no image data") }
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(png.count, 69)
    }

    func testRoundZeroMatchesTheReleasedAnswers() throws {
        let questions = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)
        for releasedLine in try fixtureText("mmbench/released_answers.jsonl").split(separator: "\n").map(String.init) {
            let released = try JSONValue.parse(Data(releasedLine.utf8))
            let question = try XCTUnwrap(questions.first { $0.questionID == released["question_id"] && $0.roundID == 0 })
            let text = released["text"]!.string!
            let id = AnswerID.make(modelID: "llava-v1.5-13b", key: question.key, text: text)
            XCTAssertEqual(question.answerLine(text: text, modelID: "llava-v1.5-13b"), try withAnswerID(releasedLine, id))
        }
    }

    func testMissingHintsAndOptionsAsPandasAndLLaVA() throws {
        let questions = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: true)
        let r99 = questions.filter { $0.questionID == 99 }
        // The hint "nan" is pandas' NaN: no hint line. "NONE" stays text in pandas, LLaVA's is_none drops it and "4" after it.
        XCTAssertEqual(
            r99.map(\.prompt),
            [
                "Which number is \"shown\"?\tPick one.\nA. 1\nB. 2" + suffix, "Which number is \"shown\"?\tPick one.\nA. 2\nB. 1" + suffix
            ])
        let r100 = questions.filter { $0.questionID == 100 }
        XCTAssertEqual(r100.map(\.recordedPrompt), ["Hint line 1\nHint line 2\nIs this the only option?\nA. yes"])
        XCTAssertEqual(r100.map(\.key), ["100@r0"])
    }

    func testSingleRoundAsTheReleasedRun() throws {
        let questions = try loadBenchmarkQuestions(.mmbench, questionsFile: fixture("mmbench/questions.tsv"), mmbenchAllRounds: false)
        XCTAssertEqual(questions.map(\.key), ["34@r0", "1000034@r0", "2000034@r0", "241@r0", "244@r0", "99@r0", "100@r0"])
    }
}
