import XCTest

@testable import YOPOEval

/// The yes/no and letter parsers on the cases their reference scripts single out (expected values follow
/// the reference code's rules; the goldens in ScoringGoldenTests check them against the scripts' output).
final class MetricParsingTests: XCTestCase {
    func testPOPE() {
        let cases: [(String, String)] = [
            ("Yes", "yes"), ("No", "no"), ("No, there is not.", "no"), ("There is no dog.", "no"), ("Not sure.", "yes"),
            ("NO", "yes"), ("Yes, there is a cat. No other animals.", "yes"), ("There is a dog, not a cat.", "no"), ("", "yes"),
            ("no.", "no"), ("nope", "yes"), ("no,", "no")
        ]
        for (text, expected) in cases { XCTAssertEqual(AnswerParsing.popeAnswer(text), expected, text) }
    }

    func testMME() {
        let cases: [(String, String)] = [
            ("Yes", "yes"), ("No", "no"), ("yes, it is", "yes"), ("Not sure", "no"), ("None", "no"), ("I think yes", "other"),
            ("YES", "yes"), ("N/A", "other"), ("y", "other"), ("", "other"), ("no yes", "no"), ("yesno", "yes")
        ]
        for (text, expected) in cases { XCTAssertEqual(AnswerParsing.mmeAnswer(text), expected, text) }
    }

    func testScienceQA() {
        let cases: [(String, String)] = [
            ("A", "A"), ("B. yes", "B"), ("The answer is C.", "C"), ("The answer is C", "FAILED"), ("a", "FAILED"),
            ("The answer is A. The answer is B.", "FAILED"), ("A.", "FAILED"), ("(B)", "FAILED"), ("E", "E"), ("F", "FAILED"),
            ("I think. The answer is D!", "D"), ("The answer is Z.", "Z")
        ]
        for (text, expected) in cases { XCTAssertEqual(AnswerParsing.scienceQAAnswer(text), expected, text) }
    }

    func testGQA() {
        XCTAssertEqual(AnswerParsing.gqaPrediction("Left.."), "left")
        XCTAssertEqual(AnswerParsing.gqaPrediction(" Blue. "), " blue. ")  // rstrip('.') only strips periods
        XCTAssertEqual(AnswerParsing.gqaPrediction("The Man."), "the man")
    }

    func testTextVQAPromptProcessor() {
        XCTAssertEqual(
            AnswerParsing.textVQAQuestion(
                prompt: "What is it?\nReference OCR token: A, B\nAnswer the question using a single word or phrase."),
            "what is it?")
        XCTAssertEqual(AnswerParsing.textVQAQuestion(prompt: "Reference OCR token: A\nWhat Is It?\nAnswer briefly."), "what is it?")
        XCTAssertEqual(AnswerParsing.textVQAQuestion(prompt: "What is it?\nAnswer briefly."), "what is it?")
        XCTAssertEqual(AnswerParsing.textVQAQuestion(prompt: "OCR tokens: a b Question: Which One? Short answer:"), "which one?")
        XCTAssertNil(AnswerParsing.textVQAQuestion(prompt: "one line only"))
    }
}
