import Foundation
import XCTest

@testable import YOPOText

final class SentencePieceTests: XCTestCase {
    func testModelProtoFields() throws {
        let m = Fixtures.spm.model
        XCTAssertEqual(m.pieces.count, 32000)
        XCTAssertEqual(m.trainerSpec.modelType, .bpe)
        XCTAssertTrue(m.trainerSpec.byteFallback)
        XCTAssertEqual([m.trainerSpec.unknownID, m.trainerSpec.bosID, m.trainerSpec.eosID, m.trainerSpec.padID], [0, 1, 2, -1])
        XCTAssertEqual(m.normalizerSpec.name, "identity")
        XCTAssertTrue(m.normalizerSpec.addDummyPrefix)
        XCTAssertFalse(m.normalizerSpec.removeExtraWhitespaces)
        XCTAssertTrue(m.normalizerSpec.escapeWhitespaces)
        XCTAssertEqual(m.pieces[0].type, .unknown)
        XCTAssertEqual(m.pieces[1].piece, "<s>")
        XCTAssertEqual(m.pieces[1].type, .control)
        XCTAssertEqual(m.pieces[13].piece, "<0x0A>")
        XCTAssertEqual(m.pieces[13].type, .byte)
        XCTAssertEqual(m.pieces[29871].piece, "\u{2581}")
        XCTAssertEqual(m.pieces[15043].piece, "\u{2581}Hello")
        XCTAssertEqual(m.pieces[15043].score, -14784)
        XCTAssertEqual(m.pieces[29871].score, -1e9)
    }

    func testTokenizerProperties() {
        let t = Fixtures.spm
        XCTAssertEqual(t.vocabularySize, 32000)
        XCTAssertEqual(t.bosTokenID, 1)
        XCTAssertEqual(t.eosTokenID, 2)
        XCTAssertEqual(t.unknownTokenID, 0)
        XCTAssertNil(t.padTokenID)
        XCTAssertTrue(t.addsBOSByDefault)
        XCTAssertFalse(t.addsEOSByDefault)
        XCTAssertFalse(t.legacy, "tokenizer_config.json of the fixture says legacy: false")
        XCTAssertEqual(t.addedTokens.map(\.content), ["<unk>", "<s>", "</s>"])
        XCTAssertEqual(t.tokenID(for: "\u{2581}Hello"), 15043)
        XCTAssertEqual(t.tokenID(for: "<0xF0>"), 243)
        XCTAssertNil(t.tokenID(for: "no such piece"))
        XCTAssertEqual(t.piece(for: 2), "</s>")
        XCTAssertNil(t.piece(for: 32000))
        XCTAssertTrue(t.isSpecialToken(1))
        XCTAssertTrue(t.isSpecialToken(2))
        XCTAssertFalse(t.isSpecialToken(15043))
    }

    /// llama.cpp's 46 reference strings: SentencePiece ids without BOS.
    func testLlamaCppReferenceStrings() {
        XCTAssertEqual(Fixtures.llamaCases.count, 46)
        for (i, c) in Fixtures.llamaCases.enumerated() {
            XCTAssertEqual(Fixtures.spm.sentencePieceEncode(c.text), c.ids, "case \(i) \(show(c.text))")
        }
    }

    func testKnownIDs() {
        let t = Fixtures.spm
        XCTAssertEqual(t.sentencePieceEncode(" Hello world"), [29871, 15043, 3186])
        XCTAssertEqual(t.sentencePieceEncode("Hello world"), [15043, 3186])
        XCTAssertEqual(t.sentencePieceEncode("\n"), [29871, 13])
        XCTAssertEqual(t.sentencePieceEncode(""), [])
        // Byte fallback: 🦙 has no piece.
        XCTAssertEqual(t.sentencePieceEncode("🦙"), [29871, 243, 162, 169, 156])
        // Without the dummy prefix.
        XCTAssertEqual(t.sentencePieceEncode("Hello", addDummyPrefix: false), [10994])
        // Treated as text by SentencePiece itself.
        XCTAssertEqual(t.sentencePieceEncode("<image>"), [529, 3027, 29958])
    }

    /// `SentencePieceProcessor.encode` on the strings around special tokens (no special handling).
    func testSentencePieceGoldens() {
        for c in Fixtures.encodeCases("spm/encode") {
            XCTAssertEqual(Fixtures.spm.sentencePieceEncode(c.text), c.ids, show(c.text))
        }
    }

    /// transformers 4.37.2 slow LlamaTokenizer (the original LLaVA's), legacy false and true.
    func testSlowTokenizerGoldens() {
        for (tokenizer, key) in [(Fixtures.spm, "legacy=False"), (Fixtures.spmLegacy, "legacy=True")] {
            let cases = Fixtures.encodeCases("slow/\(key)")
            XCTAssertEqual(cases.count, 46 + (Fixtures.golden("special_strings") as! [String]).count)
            for c in cases {
                XCTAssertEqual(tokenizer.encode(c.text, addBOS: true), c.ids, "\(key) \(show(c.text))")
            }
        }
    }

    func testLegacyFlagAfterSpecialTokens() {
        // transformers docs example and the multi-turn separator of vicuna_v1.
        XCTAssertEqual(Fixtures.spmLegacy.encode("Hello <s>.", addBOS: true), [1, 15043, 29871, 1, 869])
        XCTAssertEqual(Fixtures.spm.encode("Hello <s>.", addBOS: true), [1, 15043, 29871, 1, 29889])
        XCTAssertEqual(Fixtures.spmLegacy.encode("a</s>USER: hi", addBOS: false), [263, 2, 3148, 1001, 29901, 7251])
        XCTAssertEqual(Fixtures.spm.encode("a</s>USER: hi", addBOS: false), [263, 2, 11889, 29901, 7251])
        XCTAssertEqual(Fixtures.spm.encode("<s>Hello", addBOS: false), [1, 10994])
        XCTAssertEqual(Fixtures.spm.encode("", addBOS: true), [1])
        XCTAssertEqual(Fixtures.spm.encode("x", addBOS: true, addEOS: true), [1, 921, 2])
    }

    /// `SentencePieceProcessor.decode`: control ids invisible, leading ▁ of the first piece dropped.
    func testDecodeGoldens() {
        let cases = Fixtures.decodeCases("spm/decode")
        XCTAssertGreaterThan(cases.count, 60)
        for c in cases {
            XCTAssertEqual(Fixtures.spm.decode(c.ids, skipSpecialTokens: true), c.text, "\(c.ids)")
        }
    }

    func testDecodeEdgeCases() {
        let t = Fixtures.spm
        XCTAssertEqual(t.decode([29871, 15043], skipSpecialTokens: true), " Hello")
        XCTAssertEqual(t.decode([1, 15043], skipSpecialTokens: true), "Hello")
        XCTAssertEqual(t.decode([1, 15043, 2], skipSpecialTokens: false), "<s>Hello</s>")
        XCTAssertEqual(t.decode([243, 162, 169, 156, 15043]), "🦙 Hello")
        XCTAssertEqual(t.decode([243, 162, 15043]), "\u{FFFD}\u{FFFD} Hello")
        XCTAssertEqual(t.decode([0, 15043]), " \u{2047}  Hello")
        XCTAssertEqual(t.decode([-1, 40000, 15043]), "Hello", "ids outside the vocabulary are ignored")
    }

    /// Hand-built models: user-defined pieces, an unused piece, no byte fallback, whitespace collapsing.
    func testToyModels() throws {
        for name in ["toy-collapse.model", "toy-raw.model"] {
            let t = try SentencePieceTokenizer(contentsOf: Fixtures.url("toy/\(name)"))
            let cases = Fixtures.golden("spm/toy/\(name)") as! [[String: Any]]
            XCTAssertEqual(cases.count, 23)
            for c in cases {
                let text = c["text"] as! String
                let ids = t.sentencePieceEncode(text)
                XCTAssertEqual(ids, c["ids"] as! [Int], "\(name) \(show(text))")
            }
            for c in Fixtures.decodeCases("spm/toy/\(name):decode") {
                XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: true), c.text, "\(name) \(c.ids)")
            }
        }
    }

    func testToyModelDetails() throws {
        let t = try SentencePieceTokenizer(contentsOf: Fixtures.url("toy/toy-raw.model"))
        // "abc" (unused) is formed by merging, then split back into "ab" + "c".
        XCTAssertEqual(t.sentencePieceEncode("abc"), [10, 8])
        // One <unk> per run of unknown characters.
        XCTAssertEqual(t.sentencePieceEncode("xyz"), [0])
        // User-defined pieces are matched before merging.
        XCTAssertEqual(t.sentencePieceEncode("a[MASK]b"), [6, 3, 7])
        // Equal scores: the leftmost pair merges first ("dd" + "d" → "ddd", then "d").
        XCTAssertEqual(t.sentencePieceEncode("dddd"), [17, 9])
    }

    func testRejectsUnsupportedAndCorruptModels() throws {
        // Minimal ModelProtos written by hand: pieces <unk> (type 2), <s>, </s> (type 3), "a" (normal),
        // then a TrainerSpec holding only model_type (field 3).
        func piece(_ s: String, type: UInt8) -> [UInt8] {
            let body = [0x0A, UInt8(s.utf8.count)] + Array(s.utf8) + [0x18, type]
            return [0x0A, UInt8(body.count)] + body
        }
        let pieces = piece("<unk>", type: 2) + piece("<s>", type: 3) + piece("</s>", type: 3) + piece("a", type: 1)
        let unigram = Data(pieces + [0x12, 0x02, 0x18, 0x01])
        XCTAssertThrowsError(try SentencePieceTokenizer(data: unigram, path: "u.model")) { e in
            XCTAssertEqual(e as? TokenizerError, .unsupported("u.model", feature: "model_type unigram (only BPE is implemented)"))
        }
        let bpe = try SentencePieceTokenizer(data: Data(pieces + [0x12, 0x02, 0x18, 0x02]))
        XCTAssertEqual(bpe.model.pieces.map(\.piece), ["<unk>", "<s>", "</s>", "a"])
        XCTAssertEqual(bpe.sentencePieceEncode("a b"), [0, 3, 0], "▁ and b are unknown; no byte fallback")
        let full = try Data(contentsOf: Fixtures.url("tokenizer.model"))
        XCTAssertThrowsError(try SentencePieceTokenizer(data: full.prefix(1000), path: "cut.model")) { e in
            guard case .corrupt("cut.model", let reason)? = e as? TokenizerError else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("truncated"), reason)
        }
        XCTAssertThrowsError(try SentencePieceTokenizer(data: Data("{\"model\": 1}".utf8), path: "j.model")) { e in
            guard case .corrupt("j.model", _)? = e as? TokenizerError else { return XCTFail("\(e)") }
        }
    }

    /// A ~600-token prompt must encode quickly (pairs are kept in a priority queue, not rescanned).
    func testLongPromptIsFast() {
        let system = PromptTemplate.vicunaV1.systemPrompt!
        let text = Array(repeating: system, count: 18).joined(separator: " ")
        let t = Fixtures.spm
        let start = Date()
        let ids = t.sentencePieceEncode(text)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(ids.count, 540, "sentencepiece 0.2.3: 30 tokens per copy")
        XCTAssertLessThan(elapsed, 0.25, "600 tokens took \(elapsed) s")
        // 20× longer stays roughly linear.
        let long = Array(repeating: text, count: 20).joined(separator: " ")
        let start2 = Date()
        XCTAssertEqual(t.sentencePieceEncode(long).count, 10800)
        XCTAssertLessThan(Date().timeIntervalSince(start2), 40 * max(elapsed, 0.005))
    }
}
