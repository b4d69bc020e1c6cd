import Foundation
import XCTest

@testable import YOPOText

final class HuggingFaceTokenizerTests: XCTestCase {
    func testProperties() {
        for t in [Fixtures.hfMetaspace, Fixtures.hfLegacy] {
            XCTAssertEqual(t.vocabularySize, 32002)
            XCTAssertEqual(t.bosTokenID, 1)
            XCTAssertEqual(t.eosTokenID, 2)
            XCTAssertEqual(t.unknownTokenID, 0)
            XCTAssertEqual(t.padTokenID, 32001)
            XCTAssertTrue(t.addsBOSByDefault)
            XCTAssertFalse(t.addsEOSByDefault)
            XCTAssertEqual(t.addedTokens.map(\.content), ["<unk>", "<s>", "</s>", "<image>", "<pad>"])
            XCTAssertEqual(t.addedTokens.map(\.id), [0, 1, 2, 32000, 32001])
            XCTAssertEqual(t.tokenID(for: "<image>"), 32000)
            XCTAssertEqual(t.tokenID(for: "\u{2581}Hello"), 15043)
            XCTAssertEqual(t.piece(for: 32001), "<pad>")
            XCTAssertEqual(t.piece(for: 13), "<0x0A>")
            XCTAssertNil(t.piece(for: 32002))
            XCTAssertTrue(t.isSpecialToken(32000))
            XCTAssertFalse(t.isSpecialToken(15043))
        }
    }

    /// Canonically equivalent spellings are distinct tokens ("ί" U+1F77 vs U+03AF).
    func testVocabularyIsByteExact() {
        let t = Fixtures.hfMetaspace
        let a = t.tokenID(for: "\u{1F77}"), b = t.tokenID(for: "\u{3AF}")
        XCTAssertNotNil(a)
        XCTAssertNotNil(b)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a, Fixtures.spm.tokenID(for: "\u{1F77}"))
        XCTAssertEqual(b, Fixtures.spm.tokenID(for: "\u{3AF}"))
    }

    /// transformers 5.24 tokenizer.json (Metaspace, prepend_scheme "first"): `tokenizers` 0.23.3 ids.
    func testMetaspaceGoldens() {
        let cases = Fixtures.encodeCases("hf-metaspace/encode")
        XCTAssertEqual(cases.count, 46 + 27)
        for c in cases {
            XCTAssertEqual(Fixtures.hfMetaspace.encode(c.text, addBOS: true), c.ids, show(c.text))
        }
    }

    /// Hub legacy form (Prepend + Replace normaliser, merges as "a b" strings).
    func testLegacyGoldens() {
        let cases = Fixtures.encodeCases("hf-legacy/encode")
        XCTAssertEqual(cases.count, 46 + 27)
        for c in cases {
            XCTAssertEqual(Fixtures.hfLegacy.encode(c.text, addBOS: true), c.ids, show(c.text))
        }
    }

    func testKnownDifferences() {
        let prompt = "USER: <image>\nWhat is shown? ASSISTANT:"
        XCTAssertEqual(
            Fixtures.hfMetaspace.encode(prompt, addBOS: true),
            [1, 3148, 1001, 29901, 29871, 32000, 13, 5618, 338, 4318, 29973, 319, 1799, 9047, 13566, 29901])
        // The legacy normaliser prepends ▁ after <image> too, like the original stack.
        XCTAssertEqual(
            Fixtures.hfLegacy.encode(prompt, addBOS: true),
            [1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 4318, 29973, 319, 1799, 9047, 13566, 29901])
        // "first" adds no ▁ to a text that already starts with one; SentencePiece always does. The
        // legacy form adds it, but merges by rank ("▁ ▁" is merge 0) where SentencePiece merges by score.
        XCTAssertEqual(Fixtures.spm.sentencePieceEncode("   leading"), [1678, 8236])
        XCTAssertEqual(Fixtures.hfMetaspace.encode("   leading", addBOS: false), [259, 8236])
        XCTAssertEqual(Fixtures.hfLegacy.encode("   leading", addBOS: false), [268, 25369])
        XCTAssertEqual(Fixtures.spm.sentencePieceEncode(" Hello world"), [29871, 15043, 3186])
        XCTAssertEqual(Fixtures.hfMetaspace.encode(" Hello world", addBOS: false), [15043, 3186])
        XCTAssertEqual(Fixtures.hfLegacy.encode(" Hello world", addBOS: false), [259, 10994, 3186])
        // <image> is one id, never the text "▁< image >".
        XCTAssertEqual(Fixtures.hfMetaspace.encode("<image>", addBOS: false), [32000])
        XCTAssertEqual(Fixtures.hfMetaspace.encode("x<pad>y", addBOS: false), [921, 32001, 29891])
    }

    /// `tokenizers` decode with skip_special_tokens false and true.
    func testDecodeGoldens() {
        for (name, t) in [("hf-metaspace", Fixtures.hfMetaspace), ("hf-legacy", Fixtures.hfLegacy)] {
            let cases = Fixtures.decodeCases("\(name)/decode")
            XCTAssertGreaterThan(cases.count, 90)
            for c in cases {
                assertSameText(t.decode(c.ids, skipSpecialTokens: false), c.text, "\(name) \(c.ids)")
                assertSameText(t.decode(c.ids, skipSpecialTokens: true), c.textSkipSpecial!, "\(name) skip \(c.ids)")
            }
        }
    }

    func testDecodeEdgeCases() {
        let t = Fixtures.hfMetaspace
        XCTAssertEqual(t.decode([1, 15043], skipSpecialTokens: false), "<s> Hello")
        XCTAssertEqual(t.decode([1, 15043], skipSpecialTokens: true), "Hello")
        // A byte run with an invalid byte becomes U+FFFD per byte, valid characters included.
        XCTAssertEqual(t.decode([243, 162, 169, 156, 243, 15043]), "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD} Hello")
        XCTAssertEqual(Fixtures.spm.decode([243, 162, 169, 156, 243, 15043]), "🦙\u{FFFD} Hello")
    }

    /// Tiny tokenizer.json files: added-token flags, prepend schemes, split, unk fusion, ignore_merges,
    /// other decoder chains.
    func testToyTokenizers() throws {
        for name in ["toy-hf-always.json", "toy-hf-first.json", "toy-hf-never.json"] {
            let t = try HuggingFaceTokenizer(contentsOf: Fixtures.url("toy/\(name)"))
            let encode = Fixtures.encodeCases("toy-hf/\(name)/encode")
            XCTAssertEqual(encode.count, 16)
            for c in encode {
                XCTAssertEqual(t.encode(c.text, addBOS: false), c.ids, "\(name) \(show(c.text))")
            }
            for c in Fixtures.decodeCases("toy-hf/\(name)/decode") {
                assertSameText(t.decode(c.ids, skipSpecialTokens: false), c.text, "\(name) \(c.ids)")
                assertSameText(t.decode(c.ids, skipSpecialTokens: true), c.textSkipSpecial!, "\(name) skip \(c.ids)")
            }
        }
    }

    func testToyDetails() throws {
        let always = try HuggingFaceTokenizer(contentsOf: Fixtures.url("toy/toy-hf-always.json"))
        // lstrip swallows the space before [L] (id 14); rstrip the spaces after [R] (15).
        XCTAssertEqual(always.encode("a [L] b", addBOS: false), [5, 14, 1, 3])
        XCTAssertEqual(always.encode("a [R]  b", addBOS: false), [5, 1, 15, 1, 3])
        // single_word "cc" (17) only between non-word characters.
        XCTAssertEqual(always.encode("cc acc cc_", addBOS: false), [17, 5, 4, 4, 1, 4, 4, 0])
        // An unknown character waits for the next vocabulary hit; byte-fallback tokens go first.
        XCTAssertEqual(always.encode("qzq", addBOS: false), [1, 10, 0])
        XCTAssertNil(always.bosTokenID, "no post-processor and no <s>")
    }

    func testRejectsUnsupportedAndCorruptFiles() {
        func load(_ json: String) throws -> HuggingFaceTokenizer {
            try HuggingFaceTokenizer(data: Data(json.utf8), path: "t.json")
        }
        XCTAssertThrowsError(try load(#"{"model": {"type": "Unigram", "vocab": []}}"#)) { e in
            XCTAssertEqual(e as? TokenizerError, .unsupported("t.json", feature: "model type Unigram (only BPE is implemented)"))
        }
        XCTAssertThrowsError(
            try load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#)
        ) { e in
            XCTAssertEqual(
                e as? TokenizerError, .unsupported("t.json", feature: "pre_tokenizer ByteLevel with use_regex (GPT-2's pattern)"))
        }
        XCTAssertThrowsError(try load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#)) { e in
            XCTAssertEqual(e as? TokenizerError, .corrupt("t.json", reason: "merge 1 (a b) uses a token missing from the vocabulary"))
        }
        XCTAssertThrowsError(try load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}"#)) { e in
            guard case .corrupt("t.json", let reason)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.hasPrefix("invalid JSON at byte"), reason)
        }
        // Both merge spellings build the same model.
        let strings = try? load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}"#)
        let arrays = try? load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}"#)
        XCTAssertEqual(strings?.encode("abab", addBOS: false), [2, 2])
        XCTAssertEqual(arrays?.encode("abab", addBOS: false), [2, 2])
    }

    /// The legacy fixture stores merges as "a b" strings, the Metaspace one as arrays.
    func testFixturesUseBothMergeSpellings() throws {
        let legacy = try JSONValue.parse(Data(contentsOf: Fixtures.url("hf-legacy/tokenizer.json")))
        let metaspace = try JSONValue.parse(Data(contentsOf: Fixtures.url("hf-metaspace/tokenizer.json")))
        XCTAssertEqual(legacy["model"]?["merges"]?.array?[1].string, "\u{2581} t")
        XCTAssertEqual(metaspace["model"]?["merges"]?.array?[1].array?.compactMap(\.string), ["\u{2581}", "t"])
    }
}

/// Compares UTF-8 bytes (Swift `==` on strings ignores canonically equivalent differences).
func assertSameText(_ a: String, _ b: String, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Array(a.utf8), Array(b.utf8), "\(show(a)) vs \(show(b)) \(message)", file: file, line: line)
}
