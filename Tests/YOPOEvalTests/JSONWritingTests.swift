import XCTest
import YOPOText

@testable import YOPOEval

/// Answer lines are written as Python's `json.dumps` writes them (LLaVA's eval scripts).
final class JSONWritingTests: XCTestCase {
    func testMatchesPythonJSONDumps() throws {
        // python3 -c 'import json; print(json.dumps({"a": "é\u2028\x01\"\\/😀", "b": [1, 2.5, 1e-05, 5e20, 1e16], "c": None, "d": True}))'
        let python = #"{"a": "\u00e9\u2028\u0001\"\\/\ud83d\ude00", "b": [1, 2.5, 1e-05, 5e+20, 1e+16], "c": null, "d": true}"#
        let value = JSONValue.object([
            JSONMember("a", .string("é\u{2028}\u{01}\"\\/😀")),
            JSONMember("b", .array([1, .number(2.5), .number(1e-05), .number(5e20), .number(1e16)])),
            JSONMember("c", .null), JSONMember("d", true)
        ])
        XCTAssertEqual(value.pythonJSON, python)
        XCTAssertEqual(try JSONValue.parse(Data(python.utf8)), value)
    }

    func testCommandLineNames() {
        XCTAssertEqual(BenchmarkName.allCases.map(\.rawValue), ["gqa", "vqav2", "pope", "mmbench", "scienceqa", "textvqa", "mme"])
    }
}
