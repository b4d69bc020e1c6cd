import Foundation
import XCTest

@testable import YOPOEval

/// The expected values are what pandas 3.1.1 `read_csv(path, sep='\t')` returned on the same bytes.
final class TSVTests: XCTestCase {
    func testPandasQuotingNAAndHeaderRules() throws {
        let bytes: [UInt8] =
            [0xEF, 0xBB, 0xBF]
            + Array(
                ("index\tquestion\tA\t\tA\r\n1\t\"say \"\"hi\"\"\tthere\nnew\"\tNone\t\tx\r\n\n   \n"
                    + "2\tit\"s\t\"NA\"\t\"ab\"cd\tnan\r3\ta b\tNA \t#N/A N/A\t\n").utf8)
        let table = try TSVTable(data: Data(bytes))
        XCTAssertEqual(table.header, ["index", "question", "A", "Unnamed: 3", "A.1"])
        XCTAssertEqual(table.rows.count, 3)
        XCTAssertEqual(table.rows[0], ["1", "say \"hi\"\tthere\nnew", nil, nil, "x"])
        XCTAssertEqual(table.rows[1], ["2", "it\"s", nil, "abcd", nil])
        XCTAssertEqual(table.rows[2], ["3", "a b", "NA ", nil, nil])
        XCTAssertEqual(table.column("A.1"), 4)
        XCTAssertNil(table.column("B"))
        XCTAssertEqual(table[2, "question"], "a b")
        XCTAssertNil(table[0, "A"])  // the option "None" is missing, as in pandas
        XCTAssertNil(table[0, "nope"])
    }

    func testEveryDefaultNAStringIsMissingAndNeighboursAreNot() throws {
        for na in TSVTable.naStrings where !na.isEmpty {
            let table = try TSVTable(data: Data("a\tb\n\(na)\t\(na) \n".utf8))
            XCTAssertNil(table.rows[0][0], na)
            XCTAssertEqual(table.rows[0][1], na + " ")
        }
        XCTAssertEqual(TSVTable.naStrings.count, 19)
    }

    func testRaggedRowsNameTheLine() {
        // pandas: "Expected 2 fields in line 3, saw 3".
        XCTAssertThrowsError(try TSVTable(data: Data("a\tb\n1\t2\n3\t4\t5\n".utf8))) { error in
            XCTAssertEqual(error as? EvalError, .malformed(file: "<data>", line: 3, message: "expected 2 tab-separated fields, saw 3"))
        }
        // pandas pads a short row with NaN; we refuse it (a truncated benchmark file).
        XCTAssertThrowsError(try TSVTable(data: Data("a\tb\n\"x\ny\"\t2\n3\n".utf8))) { error in
            XCTAssertEqual(error as? EvalError, .malformed(file: "<data>", line: 4, message: "expected 2 tab-separated fields, saw 1"))
        }
    }

    func testUnterminatedQuoteEmptyInputInvalidUTF8AndMissingFile() {
        XCTAssertThrowsError(try TSVTable(data: Data("a\tb\n1\t\"open\n".utf8))) { error in
            XCTAssertEqual(error as? EvalError, .malformed(file: "<data>", line: 2, message: "EOF inside a quoted field"))
        }
        XCTAssertThrowsError(try TSVTable(data: Data("\n\n".utf8))) { error in
            XCTAssertEqual(error as? EvalError, .missing(file: "<data>", what: "header row (the file is empty)"))
        }
        XCTAssertThrowsError(try TSVTable(data: Data([0x61, 0x09, 0x62, 0x0A, 0xFF, 0x09, 0x31, 0x0A]))) { error in
            XCTAssertEqual(error as? EvalError, .malformed(file: "<data>", line: 2, message: "a field is not valid UTF-8"))
        }
        XCTAssertThrowsError(try TSVTable(contentsOf: "/nonexistent/x.tsv")) { error in
            XCTAssertEqual(error as? EvalError, .missing(file: "/nonexistent/x.tsv", what: "file (cannot open)"))
            XCTAssertEqual("\(error)", "/nonexistent/x.tsv: missing file (cannot open)")
        }
    }

    func testFileWithoutFinalNewlineAndTrailingEmptyField() throws {
        let path = NSTemporaryDirectory() + "yopo-tsv-\(ProcessInfo.processInfo.processIdentifier).tsv"
        try Data("x\ty\n1\t".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let table = try TSVTable(contentsOf: path)
        XCTAssertEqual(table.rows, [["1", nil]])
        XCTAssertEqual(TSVTable.maximumBytes, 2_147_483_648)
    }
}
