import Foundation
import XCTest

@testable import YOPOText

final class PromptTests: XCTestCase {
    let question = [ChatTurn.user("What is shown?", images: 1)]
    let multiTurn = [
        ChatTurn.user("What is shown?", images: 1), .assistant("A cat on a mat."), .user("What colour is it?")
    ]

    /// `ids` with each run of N placeholders collapsed back to one (the goldens hold one per image).
    func collapsed(_ p: PromptTokens) -> [Int] {
        var out: [Int] = []
        var i = 0
        let spans = Dictionary(uniqueKeysWithValues: p.imageSpans.map { ($0.start, $0.length) })
        while i < p.ids.count {
            out.append(p.ids[i])
            i += spans[i] ?? 1
        }
        return out
    }

    func goldenPrompts(_ path: String) -> [[String: Any]] { Fixtures.golden(path) as! [[String: Any]] }

    func turns(_ golden: [String: Any]) -> [ChatTurn] {
        (golden["turns"] as! [[Any]]).map { t in
            ChatTurn(role: ChatRole(rawValue: t[0] as! String)!, text: t[1] as! String, imageCount: 0)
        }
    }

    func testVicunaV1SingleTurn() throws {
        let prompt = PromptTemplate.vicunaV1.render(question)
        XCTAssertEqual(
            prompt,
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
                + "detailed, and polite answers to the user's questions. USER: <image>\nWhat is shown? ASSISTANT:")
        let p = try PromptTemplate.vicunaV1.tokenize(question, tokenizer: Fixtures.spm)
        XCTAssertEqual(p.imageTokenID, -200)
        XCTAssertEqual(p.imageSpans, [ImageSpan(start: 35, length: 576)])
        XCTAssertEqual(p.ids.count, 35 + 576 + 11)
        XCTAssertEqual(p.ids.first, 1)
        XCTAssertEqual(Array(p.ids[29..<35]), [5155, 29889, 3148, 1001, 29901, 29871])
        XCTAssertEqual(Array(p.ids[35..<611]), Array(repeating: -200, count: 576))
        XCTAssertEqual(Array(p.ids[611...]), [29871, 13, 5618, 338, 4318, 29973, 319, 1799, 9047, 13566, 29901])
    }

    /// Against the original LLaVA's `tokenizer_image_token` with transformers 4.37.2's slow tokenizer.
    func testOriginalTemplatesMatchSlowTokenizer() throws {
        for (tokenizer, key) in [(Fixtures.spm, "legacy=False"), (Fixtures.spmLegacy, "legacy=True")] {
            let goldens = goldenPrompts("slow/prompts:\(key)")
            XCTAssertEqual(goldens.count, 6)
            for g in goldens {
                let template = PromptTemplate(rawValue: g["template"] as! String)!
                let raw = g["turns"] as! [[Any]]
                let turns = raw.map {
                    ChatTurn(role: ChatRole(rawValue: $0[0] as! String)!, text: $0[1] as! String, imageCount: $0[2] as! Int)
                }
                XCTAssertEqual(template.render(turns), g["prompt"] as! String)
                let p = try template.tokenize(turns, tokenizer: tokenizer)
                XCTAssertEqual(collapsed(p), g["ids"] as! [Int], "\(key) \(show(g["prompt"] as! String))")
                XCTAssertEqual(p.imageSpans.count, turns.reduce(0) { $0 + $1.imageCount })
            }
        }
        // legacy=false: "</s>USER" → 11889 (no dummy prefix after the special token).
        let p = try PromptTemplate.vicunaV1.tokenize(multiTurn, tokenizer: Fixtures.spm)
        let ids = collapsed(p)
        XCTAssertEqual(ids.firstIndex(of: 2), 53)
        XCTAssertEqual(Array(ids[47..<57]), [319, 6635, 373, 263, 1775, 29889, 2, 11889, 29901, 1724])
    }

    func testLlavaV1SystemPrompt() {
        XCTAssertEqual(
            PromptTemplate.llavaV1.render([.user("Hi")]),
            "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
                + "detailed, and polite answers to the human's questions. USER: Hi ASSISTANT:")
        XCTAssertEqual(
            PromptTemplate.vicunaV1.render([.system("Be brief."), .user("Hi"), .assistant("Hello.")], addGenerationPrompt: false),
            "Be brief. USER: Hi ASSISTANT: Hello.</s>")
    }

    /// A checkpoint's chat template that writes a built-in system prompt by default is recognised
    /// by its text (quotes escaped or not); llava-hf's own template has none.
    func testDefaultSystemPromptOfAChatTemplate() throws {
        let vicuna = try XCTUnwrap(PromptTemplate.vicunaV1.systemPrompt)
        let escaped = vicuna.replacingOccurrences(of: "'", with: "\\'")
        XCTAssertTrue(escaped.contains("user\\'s"))
        let jinja = "{%- if messages[0]['role'] != 'system' -%}{{ '\(escaped) ' }}{%- endif -%}{%- for message in messages -%}"
        XCTAssertEqual(PromptTemplate.defaultSystemPrompt(inChatTemplate: jinja), vicuna)
        XCTAssertEqual(PromptTemplate.defaultSystemPrompt(inChatTemplate: "{{ \"\(vicuna)\" }}"), vicuna)
        XCTAssertEqual(
            PromptTemplate.defaultSystemPrompt(inChatTemplate: "x" + PromptTemplate.llavaV1.systemPrompt! + "y"),
            PromptTemplate.llavaV1.systemPrompt)
        XCTAssertNil(PromptTemplate.defaultSystemPrompt(inChatTemplate: "{%- for message in messages -%}{{ 'USER: ' }}{%- endfor -%}"))
        XCTAssertNil(PromptTemplate.defaultSystemPrompt(inChatTemplate: String(vicuna.dropLast())))
        // Rendered as a system turn under llava-hf, it gives vicuna_v1's single-turn text.
        XCTAssertEqual(
            PromptTemplate.llavaHF.render([.system(vicuna), .user("Hi", images: 1)]),
            PromptTemplate.vicunaV1.render([.user("Hi", images: 1)]))
    }

    func testLlavaHFTemplate() throws {
        XCTAssertEqual(PromptTemplate.llavaHF.render(question), "USER: <image>\nWhat is shown? ASSISTANT:")
        XCTAssertEqual(
            PromptTemplate.llavaHF.render(multiTurn),
            "USER: <image>\nWhat is shown? ASSISTANT: A cat on a mat. USER: What colour is it? ASSISTANT:")
        XCTAssertNil(PromptTemplate.llavaHF.systemPrompt)
        for (name, t) in [("hf-metaspace", Fixtures.hfMetaspace), ("hf-legacy", Fixtures.hfLegacy)] {
            let goldens = goldenPrompts("hf-prompts/\(name)")
            XCTAssertEqual(goldens.count, 4)
            for g in goldens {
                let raw = g["turns"] as! [[Any]]
                let turns = raw.map {
                    ChatTurn(role: ChatRole(rawValue: $0[0] as! String)!, text: $0[1] as! String, imageCount: $0[2] as! Int)
                }
                XCTAssertEqual(PromptTemplate.llavaHF.render(turns), g["prompt"] as! String)
                let p = try PromptTemplate.llavaHF.tokenize(turns, tokenizer: t)
                XCTAssertEqual(collapsed(p), g["ids"] as! [Int], "\(name) \(show(g["prompt"] as! String))")
            }
            let p = try PromptTemplate.llavaHF.tokenize(question, tokenizer: t)
            XCTAssertEqual(p.imageTokenID, 32000)
            XCTAssertEqual(p.imageSpans, [ImageSpan(start: 5, length: 576)])
            XCTAssertEqual(Array(p.ids[0..<5]), [1, 3148, 1001, 29901, 29871])
            XCTAssertEqual(p.ids.filter { $0 == 32000 }.count, 576)
        }
        // Two images: spans at 5 and after "<image>\n" (the newline id between them).
        let two = try PromptTemplate.llavaHF.tokenize([.user("Compare them.", images: 2)], tokenizer: Fixtures.hfMetaspace)
        XCTAssertEqual(two.imageSpans, [ImageSpan(start: 5, length: 576), ImageSpan(start: 582, length: 576)])
        XCTAssertEqual(two.ids[581], 13)
    }

    func testTextOnlyPrompt() throws {
        let p = try PromptTemplate.vicunaV1.tokenize([.user("Tell me a joke.")], tokenizer: Fixtures.spm)
        XCTAssertEqual(p.imageSpans, [])
        XCTAssertEqual(p.ids.count, 45)
        let hf = try PromptTemplate.llavaHF.tokenize([.user("Tell me a joke.")], tokenizer: Fixtures.hfMetaspace)
        XCTAssertEqual(hf.ids, [1, 3148, 1001, 29901, 24948, 592, 263, 2958, 446, 29889, 319, 1799, 9047, 13566, 29901])
    }

    func testErrors() {
        let prompt = PromptTemplate.vicunaV1.render([.user("What is shown?")])
        func check(_ expected: PromptError, _ body: () throws -> PromptTokens) {
            XCTAssertThrowsError(try body()) { XCTAssertEqual($0 as? PromptError, expected) }
        }
        let original = ImageTokenization.chunks(placeholderID: -200)
        check(.missingImagePlaceholder(images: 1)) {
            try tokenizePrompt(prompt, tokenizer: Fixtures.spm, imageTokenization: original, images: 1)
        }
        check(.tooManyImagePlaceholders(placeholders: 2, images: 1)) {
            try tokenizePrompt("<image><image>x", tokenizer: Fixtures.spm, imageTokenization: original, images: 1)
        }
        check(.tooFewImagePlaceholders(placeholders: 1, images: 2)) {
            try tokenizePrompt("<image>x", tokenizer: Fixtures.hfMetaspace, imageTokenization: .specialToken("<image>"), images: 2)
        }
        check(.tooManyImagePlaceholders(placeholders: 1, images: 0)) {
            try tokenizePrompt("<image>x", tokenizer: Fixtures.hfMetaspace, imageTokenization: .specialToken("<image>"), images: 0)
        }
        check(.contextOverflow(tokens: 622, contextLength: 600)) {
            try PromptTemplate.vicunaV1.tokenize(self.question, tokenizer: Fixtures.spm, contextLength: 600)
        }
        // The original tokenizer has no <image> token: the llava-hf path cannot use it.
        check(.imageTokenNotInVocabulary("<image>")) {
            try PromptTemplate.llavaHF.tokenize(self.question, tokenizer: Fixtures.spm)
        }
        XCTAssertEqual(
            PromptError.contextOverflow(tokens: 622, contextLength: 600).description,
            "the prompt needs 622 tokens (text and image) but the context holds 600")
        XCTAssertNoThrow(try PromptTemplate.vicunaV1.tokenize(question, tokenizer: Fixtures.spm, contextLength: 622))
    }

    func testLocateImageSpans() {
        XCTAssertEqual(
            locateImageSpans([1, 7, 7, 7, 7, 2, 7, 7], imageTokenID: 7, tokensPerImage: 2),
            [ImageSpan(start: 1, length: 2), ImageSpan(start: 3, length: 2), ImageSpan(start: 6, length: 2)])
        XCTAssertEqual(locateImageSpans([1, 2, 3], imageTokenID: 7, tokensPerImage: 2), [])
        XCTAssertEqual(ImageSpan(start: 35, length: 576).range, 35..<611)
    }

    func testTemplateNamesMatchTheCLI() {
        XCTAssertEqual(PromptTemplate.allCases.map(\.rawValue), ["vicuna_v1", "llava_v1", "llava-hf", "qwen2-vl"])
    }

    /// Qwen2-VL's ChatML: the default system turn, images where they sit (before the text, or at
    /// `<image>`), a given system turn replacing the default, multi-turn separators.
    func testQwen2VLTemplate() {
        let t = PromptTemplate.qwen2VL
        let image = PromptTemplate.qwenImageMarkup
        XCTAssertEqual(
            t.render([.user("What is shown?", images: 2)]),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n\(image)\(image)What is shown?<|im_end|>\n<|im_start|>assistant\n"
        )
        XCTAssertEqual(
            t.render([.system("Be brief."), .user("Left <image> right"), .assistant("A cat."), .user("And?")], addGenerationPrompt: false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nLeft \(image) right<|im_end|>\n<|im_start|>assistant\nA cat.<|im_end|>\n<|im_start|>user\nAnd?<|im_end|>\n"
        )
        XCTAssertEqual(t.imageTokenization, .specialToken("<|image_pad|>"))
    }
}
