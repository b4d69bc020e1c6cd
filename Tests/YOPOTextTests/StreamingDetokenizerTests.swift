import Foundation
import XCTest

@testable import YOPOText

final class StreamingDetokenizerTests: XCTestCase {
    /// Streams `ids` one at a time; returns the chunks (the last one from `finish()`).
    func stream(_ t: any Tokenizer, _ ids: [Int], skip: Bool) -> [String] {
        var d = t.makeStreamingDetokenizer(skipSpecialTokens: skip)
        return ids.map { d.append($0) } + [d.finish()]
    }

    /// Id sequences: every encoded golden text (with BOS) plus the decode goldens' edge cases.
    func idSequences(_ tokenizer: any Tokenizer, decodeGoldens: String) -> [[Int]] {
        let texts = Fixtures.llamaCases.map(\.text) + (Fixtures.golden("special_strings") as! [String])
        return texts.map { tokenizer.encode($0, addBOS: true) } + Fixtures.decodeCases(decodeGoldens).map(\.ids)
    }

    func testStreamEqualsDecode() {
        let tokenizers: [(String, any Tokenizer, String)] = [
            ("spm", Fixtures.spm, "spm/decode"), ("hf-metaspace", Fixtures.hfMetaspace, "hf-metaspace/decode"),
            ("hf-legacy", Fixtures.hfLegacy, "hf-legacy/decode")
        ]
        for (name, t, goldens) in tokenizers {
            let sequences = idSequences(t, decodeGoldens: goldens)
            XCTAssertGreaterThan(sequences.count, 150)
            for ids in sequences {
                for skip in [false, true] {
                    let chunks = stream(t, ids, skip: skip)
                    assertSameText(chunks.joined(), t.decode(ids, skipSpecialTokens: skip), "\(name) skip=\(skip) \(ids)")
                }
            }
        }
    }

    func testToyTokenizersStreamEqualsDecode() throws {
        // toy-hf-first uses [ByteFallback, Replace] without Fuse: the re-decoding path.
        for name in ["toy-hf-always.json", "toy-hf-first.json", "toy-hf-never.json"] {
            let t = try HuggingFaceTokenizer(contentsOf: Fixtures.url("toy/\(name)"))
            for c in Fixtures.decodeCases("toy-hf/\(name)/decode") {
                for skip in [false, true] {
                    assertSameText(stream(t, c.ids, skip: skip).joined(), skip ? c.textSkipSpecial! : c.text, "\(name) \(c.ids)")
                }
            }
        }
        for name in ["toy-collapse.model", "toy-raw.model"] {
            let t = try SentencePieceTokenizer(contentsOf: Fixtures.url("toy/\(name)"))
            for c in Fixtures.decodeCases("spm/toy/\(name):decode") {
                assertSameText(stream(t, c.ids, skip: true).joined(), c.text, "\(name) \(c.ids)")
            }
        }
    }

    /// A 4-byte emoji split over four byte pieces comes out whole, at its last byte.
    func testEmojiIsHeldUntilComplete() {
        // " this is 🦙.cpp" from llama.cpp's cases.
        let ids = [29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223]
        XCTAssertEqual(Fixtures.spm.sentencePieceEncode(" this is 🦙.cpp"), ids)
        XCTAssertEqual(stream(Fixtures.spm, ids, skip: true), ["", " this", " is", " ", "", "", "", "🦙", ".", "cpp", ""])
        // HF ByteFallback decides a run when it ends: 🦙 appears with the next non-byte token.
        // (Strip drops the first space of the whole text: the lone "▁".)
        XCTAssertEqual(stream(Fixtures.hfMetaspace, ids, skip: true), ["", " this", " is", " ", "", "", "", "", "🦙.", "cpp", ""])
        XCTAssertEqual(Fixtures.hfMetaspace.decode(ids), " this is 🦙.cpp")
        XCTAssertEqual(Fixtures.spm.decode(ids), " this is 🦙.cpp")
    }

    /// Emoji and Cyrillic cases of llama.cpp's strings: no chunk carries a replacement character.
    func testNoReplacementCharactersMidStream() {
        let cases = Fixtures.llamaCases.filter { c in
            c.text.unicodeScalars.contains { $0.value >= 0x400 && $0.value < 0x500 || $0.value >= 0x1F300 }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 4)
        for c in cases {
            for t in [Fixtures.spm as any Tokenizer, Fixtures.hfMetaspace, Fixtures.hfLegacy] {
                let ids = t.encode(c.text, addBOS: true)
                let chunks = stream(t, ids, skip: true)
                XCTAssertFalse(chunks.contains { $0.contains("\u{FFFD}") }, show(c.text))
                assertSameText(chunks.joined(), t.decode(ids, skipSpecialTokens: true))
            }
        }
        // "нещо на Български" round-trips through SentencePiece.
        let text = "нещо на Български"
        let ids = Fixtures.spm.encode(text, addBOS: true)
        XCTAssertEqual(ids, [1] + Fixtures.llamaCases[20].ids)
        assertSameText(stream(Fixtures.spm, ids, skip: true).joined(), text)
    }

    /// The first piece's ▁ is dropped once, not per call.
    func testLeadingSpaceRuleAcrossCalls() {
        XCTAssertEqual(stream(Fixtures.spm, [1, 15043, 3186], skip: true), ["", "Hello", " world", ""])
        XCTAssertEqual(stream(Fixtures.spm, [29871, 15043], skip: true), ["", " Hello", ""])
        XCTAssertEqual(stream(Fixtures.spm, [1, 15043, 2], skip: false), ["<s>", "Hello", "</s>", ""])
        XCTAssertEqual(stream(Fixtures.hfMetaspace, [1, 15043, 3186], skip: true), ["", "Hello", " world", ""])
        XCTAssertEqual(stream(Fixtures.hfMetaspace, [1, 15043, 3186], skip: false), ["<s>", " Hello", " world", ""])
        // An unfinished byte run is flushed by finish().
        XCTAssertEqual(stream(Fixtures.spm, [15043, 243, 162], skip: true), ["Hello", "", "", "\u{FFFD}\u{FFFD}"])
        XCTAssertEqual(stream(Fixtures.hfLegacy, [15043, 243, 162], skip: true), ["Hello", "", "", "\u{FFFD}\u{FFFD}"])
    }
}
