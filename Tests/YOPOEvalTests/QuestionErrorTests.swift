import Foundation
import XCTest

@testable import YOPOEval

/// Each way a question file can be wrong is one line naming the file, the line and the problem.
final class QuestionErrorTests: XCTestCase {
    func loadError(_ benchmark: BenchmarkName, _ contents: String, name: String = "q.jsonl") throws -> String {
        let path = (try temporaryDirectory() as NSString).appendingPathComponent(name)
        try write(contents, to: path)
        return errorDescription { try loadBenchmarkQuestions(benchmark, questionsFile: path) }.replacingOccurrences(of: path, with: "FILE")
    }

    let good = #"{"question_id": 1, "image": "a.jpg", "text": "Q?"}"# + "\n"

    func testJSONLines() throws {
        XCTAssertEqual(try loadError(.pope, good + "{\"question_id\": 2,\n"), "FILE:2: invalid JSON at byte 18: expected a key")
        XCTAssertEqual(try loadError(.pope, good + #"{"question_id": 2, "image": "a.jpg"}"#), "FILE:2: missing \"text\"")
        XCTAssertEqual(try loadError(.gqa, #"{"image": "a.jpg", "text": "Q?"}"#), "FILE:1: missing \"question_id\"")
        XCTAssertEqual(
            try loadError(.gqa, #"{"question_id": true, "image": "a.jpg", "text": "Q?"}"#),
            "FILE:1: \"question_id\" is true, expected a string or a number")
        XCTAssertEqual(try loadError(.mme, #"{"question_id": 1, "image": 5, "text": "Q?"}"#), "FILE:1: \"image\" is 5, expected a string")
        XCTAssertEqual(try loadError(.textvqa, good + "\n" + good), "FILE:2: empty line")
        XCTAssertEqual(try loadError(.vqav2, "[]\n"), "FILE:1: expected a JSON object, found a list")
        XCTAssertEqual(
            errorDescription { try loadBenchmarkQuestions(.gqa, questionsFile: "/nonexistent/q.jsonl") },
            "/nonexistent/q.jsonl: missing file (cannot open)")
    }

    func testScienceQA() throws {
        XCTAssertEqual(try loadError(.scienceqa, "{}", name: "q.json"), "FILE: expected a JSON array of questions, found an object")
        XCTAssertEqual(try loadError(.scienceqa, "[{\"id\": \"4\"", name: "q.json"), "FILE: invalid JSON at byte 11: unexpected end")
        XCTAssertEqual(
            try loadError(.scienceqa, #"[{"id": "4"}]"#, name: "q.json"), "FILE: item 0 (id \"4\"): missing \"conversations\"[0]")
        XCTAssertEqual(
            try loadError(.scienceqa, #"[{"id": "4", "image": null, "conversations": [{"value": "Q"}]}]"#, name: "q.json"),
            "FILE: item 0 (id \"4\"): \"image\" is null, expected a string")
        XCTAssertEqual(try loadError(.scienceqa, #"[{"conversations": []}]"#, name: "q.json"), "FILE: item 0: missing \"id\"")
    }

    func testMMBench() throws {
        let header = "index\tquestion\thint\tA\tB\tC\tD\timage\n"
        XCTAssertEqual(try loadError(.mmbench, "index\tquestion\tA\n1\tq\ta\n", name: "q.tsv"), "FILE: missing column \"hint\"")
        XCTAssertEqual(
            try loadError(.mmbench, header + "x1\tq\t\ta\tb\t\t\tiVBORw0K\n", name: "q.tsv"), "FILE:2: index \"x1\" is not an integer")
        XCTAssertEqual(
            try loadError(.mmbench, header + "7\tNone\t\ta\tb\t\t\tiVBORw0K\n", name: "q.tsv"), "FILE:2: index 7: the question is missing")
        XCTAssertEqual(
            try loadError(.mmbench, header + "7\tq\t\ta\tb\t\t\t\n", name: "q.tsv"), "FILE:2: index 7: the image is missing or not base64")
        XCTAssertEqual(
            try loadError(.mmbench, header + "7\tq\t\ta\tb\t\t\tiVBORw0K=x\n", name: "q.tsv"),
            "FILE:2: index 7: the image is missing or not base64")
    }
}
