import Foundation
import XCTest

@testable import YOPOText

/// Qwen2's byte-level BPE `tokenizer.json` (Tests/Fixtures/tokenizer/qwen2, written by
/// Tools/reference/make_qwen2_tokenizer.py from llama.cpp's Qwen2 vocabulary): NFC, the Qwen2 split
/// regex, the byte alphabet, Qwen2-VL's added tokens.
final class Qwen2TokenizerTests: XCTestCase {
    static let directory = Fixtures.url("qwen2")
    nonisolated(unsafe) static let tokenizer: any Tokenizer = try! loadTokenizer(directory: directory, preferSentencePiece: false)

    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
        var decoded_skip_special: String
    }

    static let cases: [Case] = {
        struct File: Decodable { var cases: [Case] }
        let data = try! Data(contentsOf: directory.appendingPathComponent("goldens.json"))
        return try! JSONDecoder().decode(File.self, from: data).cases
    }()

    func testProperties() throws {
        let t = Self.tokenizer
        XCTAssertTrue(t is HuggingFaceTokenizer)
        XCTAssertEqual(t.vocabularySize, 151657)
        XCTAssertNil(t.bosTokenID)
        XCTAssertFalse(t.addsBOSByDefault)
        XCTAssertEqual(t.eosTokenID, 151645)
        XCTAssertEqual(t.padTokenID, 151643)
        XCTAssertEqual(t.tokenID(for: "<|image_pad|>"), 151655)
        XCTAssertEqual(t.tokenID(for: "<|vision_start|>"), 151652)
        XCTAssertEqual(t.tokenID(for: "\u{0120}Hello"), 21927)  // "Ġ" is the space of the byte alphabet
        XCTAssertTrue(t.isSpecialToken(151644))
        XCTAssertFalse(t.isSpecialToken(9707))
    }

    /// llama.cpp's 46 test strings and its expected ids for the Qwen2 vocabulary.
    func testLlamaCppCases() throws {
        let dir = Self.directory
        let inp = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-qwen2.gguf.inp"), encoding: .utf8)
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-qwen2.gguf.out"), encoding: .utf8)
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        XCTAssertEqual(texts.removeLast(), "")
        XCTAssertEqual(texts.count, 46)
        let lines = out.components(separatedBy: "\n")
        for (i, text) in texts.enumerated() {
            let expected = lines[i].split(separator: " ").map { Int($0)! }
            XCTAssertEqual(Self.tokenizer.encode(text, addBOS: false), expected, "case \(i): \(text.debugDescription)")
        }
    }

    /// `tokenizers` 0.23.3 on the same strings plus strings around the special tokens, Unicode
    /// normalisation (NFC), contractions, whitespace runs and control characters: ids and both decodings.
    func testGoldens() {
        XCTAssertEqual(Self.cases.count, 69)
        for c in Self.cases {
            XCTAssertEqual(Self.tokenizer.encode(c.text, addBOS: false), c.ids, c.text.debugDescription)
            XCTAssertEqual(Self.tokenizer.decode(c.ids, skipSpecialTokens: false), c.decoded, c.text.debugDescription)
            XCTAssertEqual(Self.tokenizer.decode(c.ids, skipSpecialTokens: true), c.decoded_skip_special, c.text.debugDescription)
        }
    }

    /// Streaming decoding of each golden's ids equals the whole decoding, even where a character's
    /// bytes are split across tokens.
    func testStreamingEqualsDecode() {
        for c in Self.cases {
            var stream = Self.tokenizer.makeStreamingDetokenizer(skipSpecialTokens: false)
            var text = ""
            for id in c.ids { text += stream.append(id) }
            text += stream.finish()
            XCTAssertEqual(text, c.decoded, c.text.debugDescription)
        }
    }

    func testUnsupportedSplitPatternIsNamed() throws {
        let json = #"""
            {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}}
            """#
        XCTAssertThrowsError(try HuggingFaceTokenizer(data: Data(json.utf8), path: "t.json")) { error in
            XCTAssertEqual(
                "\(error)",
                "\(TokenizerError.unsupported("t.json", feature: "pre_tokenizer Split regex \\w+ (supported: the Qwen2 and LLaMA-3 patterns)"))"
            )
        }
    }
}
