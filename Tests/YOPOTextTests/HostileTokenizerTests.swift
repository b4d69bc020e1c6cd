import Foundation
import XCTest

@testable import YOPOText

/// Tokenizer files that would allocate without bound, trap or mislead fail with the exact reason (issue 11).
final class HostileTokenizerTests: XCTestCase {
    func load(_ json: String, configuration: TokenizerConfiguration = .init()) throws -> HuggingFaceTokenizer {
        try HuggingFaceTokenizer(data: Data(json.utf8), configuration: configuration, path: "t.json")
    }

    func assertCorrupt(_ json: String, _ reason: String, configuration: TokenizerConfiguration = .init(), line: UInt = #line) {
        XCTAssertThrowsError(try load(json, configuration: configuration), line: line) { e in
            XCTAssertEqual(e as? TokenizerError, .corrupt("t.json", reason: reason), line: line)
        }
    }

    func testHugeTokenIDIsRejectedBeforeAllocating() {
        // 10^9 would be a 16 GB table of spellings.
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}, "merges": []}}"#,
            "token b in model.vocab has id 1000000000; ids must be from 0 to 4194303")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1000000000, "content": "<x>"}]}"#,
            "added token <x> has id 1000000000; ids must be from 0 to 4194303")
        // Beyond Int32 (the lookup table's id type) too.
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 4294967296}, "merges": []}}"#,
            "token a in model.vocab has id 4294967296; ids must be from 0 to 4194303")
    }

    /// Gaps in the ids are allowed (HF tokenizers allows them); the table grows to the largest id.
    func testVocabularyWithGapsLoads() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 7}, "merges": []}, "added_tokens": [{"id": 20, "content": "<x>"}]}"#
        XCTAssertEqual(try load(json).vocabularySize, 21)
    }

    func testNegativeAndNonIntegerIDs() {
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}"#,
            "token a in model.vocab has id -1; ids must be from 0 to 4194303")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0.5}, "merges": []}}"#,
            "id of token a in model.vocab must be an integer, found 0.5")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}"#,
            "id of token a in model.vocab must be an integer, found \"zero\"")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": -3, "content": "<x>"}]}"#,
            "added token <x> has id -3; ids must be from 0 to 4194303")
    }

    func testDuplicateIDs() {
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}"#,
            "tokens a and b share id 0 in model.vocab")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1, "content": "<x>"}, {"id": 1, "content": "<y>"}]}"#,
            "added tokens <x> and <y> share id 1")
        // An added token repeating a vocabulary entry (as <s> does in LLaMA's tokenizer.json) is fine.
        XCTAssertEqual(
            try load(
                #"{"model": {"type": "BPE", "vocab": {"<s>": 0, "a": 1}, "merges": []}, "added_tokens": [{"id": 0, "content": "<s>", "special": true}]}"#
            ).vocabularySize, 2)
    }

    func testTokenNamesAreShownOnOneLine() {
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a\nb": 0, "c": 0}, "merges": []}}"#,
            #"tokens a\nb and c share id 0 in model.vocab"#)
    }

    func testMergesAndStructure() {
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}"#,
            "merge 1 (a c) uses a token missing from the vocabulary")
        assertCorrupt(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": "a a"}}"#, "model.merges is not a list")
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": {"id": 1}}"#,
            "added_tokens is not a list")
        assertCorrupt(#"[{"model": 1}]"#, "top level is not a JSON object")
    }

    func testPostProcessorIDsMustBeInTheVocabulary() {
        let json =
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"ids": [1000000000]}}}}"#
        assertCorrupt(json, "post_processor special token id 1000000000 is outside the vocabulary (0 to 0)")
    }

    func testAddedTokensOfTokenizerConfig() throws {
        var c = TokenizerConfiguration()
        c.addedTokens = [AddedToken(id: 1_000_000_000, content: "<big>", special: true)]
        assertCorrupt(
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#,
            "added token <big> of tokenizer_config.json has id 1000000000; ids must be from 0 to 4194303",
            configuration: c)
        XCTAssertThrowsError(
            try SentencePieceTokenizer(data: Data(contentsOf: Fixtures.url("tokenizer.model")), configuration: c, path: "m")
        ) { e in
            XCTAssertEqual(
                e as? TokenizerError,
                .corrupt(
                    "m",
                    reason:
                        "added token <big> of tokenizer_config.json has id 1000000000; ids must be from 0 to 32000, the number of tokens defined"
                ))
        }
    }

    func testTokenizerConfigKeys() throws {
        func apply(_ json: String) throws -> TokenizerConfiguration {
            var c = TokenizerConfiguration()
            try c.apply(try JSONValue.parse(Data(json.utf8)), path: "tc.json")
            return c
        }
        func assertFails(_ json: String, _ reason: String, line: UInt = #line) {
            XCTAssertThrowsError(try apply(json), line: line) { e in
                XCTAssertEqual(e as? TokenizerError, .corrupt("tc.json", reason: reason), line: line)
            }
        }
        assertFails(
            #"{"added_tokens_decoder": {"-5": {"content": "<x>"}}}"#,
            "added_tokens_decoder key -5 is not a token id (a non-negative integer)")
        assertFails(
            #"{"added_tokens_decoder": {"five": {"content": "<x>"}}}"#,
            "added_tokens_decoder key five is not a token id (a non-negative integer)")
        assertFails(#"{"added_tokens_decoder": {"5": {"special": true}}}"#, "added_tokens_decoder entry 5 has no content string")
        // -1e300 used to trap converting to Int.
        assertFails(#"{"model_max_length": -1e300}"#, "model_max_length must be a positive integer, found -1e+300")
        assertFails(#"{"model_max_length": 0}"#, "model_max_length must be a positive integer, found 0")
        assertFails(#"{"model_max_length": "long"}"#, "model_max_length must be a positive integer, found \"long\"")
        XCTAssertEqual(try apply(#"{"model_max_length": 2048}"#).modelMaxLength, 2048)
        XCTAssertNil(try apply(#"{"model_max_length": 1e30}"#).modelMaxLength)
    }

    func testFilesThatAreNotRegularFiles() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-hostile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let json = scratch.appendingPathComponent("tokenizer.json")
        try FileManager.default.createDirectory(at: json, withIntermediateDirectories: true)
        XCTAssertThrowsError(try loadTokenizer(directory: scratch, preferSentencePiece: false)) { e in
            XCTAssertEqual(e as? TokenizerError, .unreadable(json.path, reason: "it is a directory, not a file"))
            XCTAssertEqual("\(e)", "cannot read tokenizer file \(json.path): it is a directory, not a file")
        }
        try FileManager.default.removeItem(at: json)
        try FileManager.default.createSymbolicLink(at: json, withDestinationURL: URL(fileURLWithPath: "/dev/zero"))
        XCTAssertThrowsError(try loadTokenizer(directory: scratch, preferSentencePiece: false), "/dev/zero is not read to the end") { e in
            XCTAssertEqual(e as? TokenizerError, .unreadable(json.path, reason: "it is not a regular file (a device, pipe or socket)"))
        }
        let config = scratch.appendingPathComponent("tokenizer_config.json")
        try FileManager.default.createSymbolicLink(at: config, withDestinationURL: URL(fileURLWithPath: "/dev/zero"))
        XCTAssertThrowsError(try TokenizerConfiguration(directory: scratch)) { e in
            XCTAssertEqual(e as? TokenizerError, .unreadable(config.path, reason: "it is not a regular file (a device, pipe or socket)"))
        }
    }
}
