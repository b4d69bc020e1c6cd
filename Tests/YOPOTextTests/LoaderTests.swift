import Foundation
import XCTest

@testable import YOPOText

final class LoaderTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func directory(_ name: String, files: [String: URL]) throws -> URL {
        let d = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for (file, source) in files { try FileManager.default.copyItem(at: source, to: d.appendingPathComponent(file)) }
        return d
    }

    func testOriginalCheckpointUsesSentencePiece() throws {
        let t = try loadTokenizer(directory: Fixtures.directory, preferSentencePiece: false)
        let spm = try XCTUnwrap(t as? SentencePieceTokenizer)
        XCTAssertFalse(spm.legacy)
        XCTAssertEqual(spm.configuration.modelMaxLength, 2048)
        XCTAssertEqual(t.encode("a</s>USER"), [1, 263, 2, 11889])
    }

    func testLlavaHFCheckpointUsesTokenizerJSON() throws {
        let t = try loadTokenizer(directory: Fixtures.url("hf-legacy"), preferSentencePiece: true)
        XCTAssertTrue(t is HuggingFaceTokenizer)
        XCTAssertEqual(t.vocabularySize, 32002)
        XCTAssertEqual(t.padTokenID, 32001)
        XCTAssertEqual(t.encode("<image>"), [1, 32000])
    }

    func testPreferenceWhenBothFilesExist() throws {
        let both = try directory(
            "both",
            files: [
                "tokenizer.model": Fixtures.url("tokenizer.model"),
                "tokenizer.json": Fixtures.url("hf-metaspace/tokenizer.json"),
                "tokenizer_config.json": Fixtures.url("hf-metaspace/tokenizer_config.json")
            ])
        XCTAssertEqual(try tokenizerFile(in: both, preferSentencePiece: true).0, .sentencePiece)
        XCTAssertEqual(try tokenizerFile(in: both, preferSentencePiece: false).0, .tokenizersJSON)
        let slow = try loadTokenizer(directory: both, preferSentencePiece: true)
        let fast = try loadTokenizer(directory: both, preferSentencePiece: false)
        XCTAssertTrue(slow is SentencePieceTokenizer)
        XCTAssertTrue(fast is HuggingFaceTokenizer)
        // Leading space: SentencePiece keeps a ▁ piece, Metaspace "first" does not.
        XCTAssertEqual(slow.encode(" Hello", addBOS: true), [1, 29871, 15043])
        XCTAssertEqual(fast.encode(" Hello", addBOS: true), [1, 15043])
        // tokenizer_config.json's <pad> is not in tokenizer.model: no pad id on the slow side.
        XCTAssertNil(slow.padTokenID)
    }

    func testMissingFilesNameTheDirectory() throws {
        let empty = try directory("empty", files: [:])
        XCTAssertThrowsError(try loadTokenizer(directory: empty, preferSentencePiece: true)) { e in
            XCTAssertEqual(e as? TokenizerError, .noTokenizerFiles(directory: empty.path))
            XCTAssertTrue("\(e)".contains(empty.path))
            XCTAssertEqual(
                "\(e)", "no tokenizer in \(empty.path): expected tokenizer.model (SentencePiece) or tokenizer.json (HF tokenizers)")
        }
    }

    func testCorruptFilesNameTheFile() throws {
        let d = try directory("corrupt", files: [:])
        let model = d.appendingPathComponent("tokenizer.model")
        try Data(try Data(contentsOf: Fixtures.url("tokenizer.model")).prefix(4096)).write(to: model)
        XCTAssertThrowsError(try loadTokenizer(directory: d, preferSentencePiece: true)) { e in
            guard case .corrupt(let path, _)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, model.path)
        }
        try FileManager.default.removeItem(at: model)
        let json = d.appendingPathComponent("tokenizer.json")
        try Data("{\"model\": ".utf8).write(to: json)
        XCTAssertThrowsError(try loadTokenizer(directory: d, preferSentencePiece: true)) { e in
            XCTAssertEqual(e as? TokenizerError, .corrupt(json.path, reason: "invalid JSON at byte 10: unexpected end"))
        }
        try Data().write(to: json)
        XCTAssertThrowsError(try loadTokenizer(directory: d, preferSentencePiece: true)) { e in
            XCTAssertEqual(e as? TokenizerError, .corrupt(json.path, reason: "file is empty"))
        }
        try FileManager.default.removeItem(at: json)
        try Data("[1, 2]".utf8).write(to: d.appendingPathComponent("tokenizer_config.json"))
        try FileManager.default.copyItem(at: Fixtures.url("tokenizer.model"), to: model)
        XCTAssertThrowsError(try loadTokenizer(directory: d, preferSentencePiece: true)) { e in
            XCTAssertEqual(
                e as? TokenizerError,
                .corrupt(d.appendingPathComponent("tokenizer_config.json").path, reason: "top level is not a JSON object"))
        }
    }

    func testConfigurationKeys() throws {
        let c = try TokenizerConfiguration(directory: Fixtures.url("hf-legacy"))
        XCTAssertEqual(c.addBOSToken, true)
        XCTAssertEqual(c.addEOSToken, false)
        XCTAssertEqual(c.legacy, false)
        XCTAssertEqual([c.bosToken, c.eosToken, c.unknownToken, c.padToken], ["<s>", "</s>", "<unk>", "<pad>"])
        XCTAssertEqual(c.addedTokens.map(\.id), [0, 1, 2, 32000, 32001])
        XCTAssertTrue(c.addedTokens.allSatisfy { $0.special && !$0.normalized })
        XCTAssertNil(c.modelMaxLength, "1e30 means no limit")
        let original = try TokenizerConfiguration(directory: Fixtures.directory)
        XCTAssertEqual(original.bosToken, "<s>", "AddedToken objects are read by their content")
        XCTAssertNil(original.padToken)
        let none = try TokenizerConfiguration(directory: scratch)
        XCTAssertEqual(none, TokenizerConfiguration())
    }

    /// add_bos_token / add_eos_token drive `encode(_:)`.
    func testConfigurationChangesDefaults() throws {
        var c = TokenizerConfiguration()
        c.addBOSToken = false
        c.addEOSToken = true
        let t = try SentencePieceTokenizer(contentsOf: Fixtures.url("tokenizer.model"), configuration: c)
        XCTAssertEqual(t.encode("Hello"), [15043, 2])
        let h = try HuggingFaceTokenizer(contentsOf: Fixtures.url("toy/toy-hf-always.json"), configuration: c)
        XCTAssertFalse(h.addsBOSByDefault)
        XCTAssertTrue(h.addsEOSByDefault)
    }
}
