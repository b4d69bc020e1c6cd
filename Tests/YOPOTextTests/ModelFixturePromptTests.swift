import Foundation
import XCTest

@testable import YOPOText

/// Prompt ids written by Tools/reference/make_model_fixtures.py into
/// Tests/Fixtures/models/golden/tokenizer_hf.json for the tiny checkpoints' own tokenizer files
/// (llava-hf: chat template + tokenizer.json; vicuna_v1: tokenizer_image_token on tokenizer.model).
final class ModelFixturePromptTests: XCTestCase {
    static let models = Fixtures.directory.deletingLastPathComponent().appendingPathComponent("models")

    func testCheckpointPromptGoldens() throws {
        let golden = Self.models.appendingPathComponent("golden/tokenizer_hf.json")
        let cases = try XCTUnwrap(try JSONValue.parse(Data(contentsOf: golden))["cases"]?.array)
        XCTAssertGreaterThanOrEqual(cases.count, 7)
        let hf = try loadTokenizer(directory: Self.models.appendingPathComponent("llava-hf-tiny"), preferSentencePiece: true)
        let original = try loadTokenizer(directory: Self.models.appendingPathComponent("llava-v1.5-tiny"), preferSentencePiece: true)
        XCTAssertTrue(hf is HuggingFaceTokenizer)
        XCTAssertTrue(original is SentencePieceTokenizer)
        for c in cases {
            let question = try XCTUnwrap(c["prompt"]?.string)
            let turns = [ChatTurn.user(question, images: 1)]
            for (template, key, tokenizer) in [(PromptTemplate.llavaHF, "llava_hf", hf), (.vicunaV1, "vicuna_v1", original)] {
                let expected = try XCTUnwrap(c[key])
                XCTAssertEqual(template.render(turns), expected["prompt_text"]?.string, "\(key) \(show(question))")
                let ids = try XCTUnwrap(expected["input_ids"]?.array?.compactMap(\.int))
                let p = try template.tokenize(turns, tokenizer: tokenizer)
                // One placeholder per image in the golden, 576 in ours.
                let span = try XCTUnwrap(p.imageSpans.first)
                let collapsed = Array(p.ids[..<span.start]) + [p.imageTokenID] + Array(p.ids[span.range.upperBound...])
                XCTAssertEqual(collapsed, ids, "\(key) \(show(question))")
                if let positions = expected["image_token_positions"]?.array?.compactMap(\.int) {
                    XCTAssertEqual([span.start], positions)
                }
            }
        }
    }
}
