import Foundation
import XCTest
import YOPO

/// What a run reports about itself (issue 11): why it stopped, a timing line that does not read as
/// broken for a one-token run, and the token ids `make run` prints.
final class GenerationReportTests: XCTestCase {
    let prompt = "What is shown?"
    var chelsea: [String] { [Paths.image("chelsea.png")] }

    /// One token comes from the prefill: no decode step, and the line says so instead of "0.00 tok/s".
    func testOneTokenRunHasNoDecodeStep() throws {
        let pipeline = try Session(modelDirectory: Paths.model("llava-hf-tiny"))
        let result = try pipeline.generate(GenerationRequest(prompt: prompt, imagePaths: chelsea, parameters: .init(maxTokens: 1)))
        XCTAssertEqual(result.tokenIDs, [4748])
        XCTAssertEqual(result.finishReason, .length)
        XCTAssertEqual(result.timingsMS.decode, 0)
        XCTAssertGreaterThan(result.timingsMS.image, 0)
        XCTAssertTrue(result.timingLine.hasSuffix("| 1 token, from the prefill (no decode step)"), result.timingLine)
        XCTAssertTrue(result.timingLine.contains("(591 tokens, 576 visual)"), result.timingLine)
        XCTAssertTrue(result.timingLine.contains(" | image "), result.timingLine)
    }

    /// A generation the context cuts short says so (finish_reason "context"), after exactly the tokens that fit.
    func testContextCutIsReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-context-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let scratch = SweepScratch(directory: dir)
        // 591 prompt tokens; a context of 596 holds 5 more positions, so 6 tokens are generated
        // (the sixth is sampled from the logits of position 595 and never fed back).
        let model = try scratch.editedConfig(of: "llava-hf-tiny") { json in
            var text = json["text_config"] as! [String: Any]
            text["max_position_embeddings"] = 596
            json["text_config"] = text
        }
        let pipeline = try Session(modelDirectory: model)
        let result = try pipeline.generate(GenerationRequest(prompt: prompt, imagePaths: chelsea, parameters: .init(maxTokens: 50)))
        XCTAssertEqual(result.finishReason, .context)
        XCTAssertEqual(result.contextLength, 596)
        XCTAssertEqual(result.tokenIDs, Array(try GoldenIDs.load("hf_chelsea").greedy_ids.prefix(6)))
        XCTAssertTrue(result.timingLine.hasSuffix("| stopped: the context of 596 tokens is full"), result.timingLine)
        let full = try pipeline.generate(GenerationRequest(prompt: prompt, imagePaths: chelsea, parameters: .init(maxTokens: 3)))
        XCTAssertEqual(full.finishReason, .length)
        XCTAssertFalse(full.timingLine.contains("stopped"), full.timingLine)
    }

    /// `make run`'s `--print-token-ids` prints the reference's ids after the text; `--max-tokens`
    /// beyond the context (up to its bound) runs instead of overflowing.
    func testPrintTokenIDsGivesTheGoldenIDs() throws {
        let golden = try GoldenIDs.load("hf_chelsea").greedy_ids
        let run = try runYOPO([
            "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
            "--prompt", prompt, "--max-tokens", "20", "--print-token-ids"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stderr.split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init), "token ids: " + golden.map(String.init).joined(separator: " "))
        XCTAssertTrue(lines.last?.hasPrefix("load ") ?? false, run.stderr)
        XCTAssertTrue(run.stderr.contains("(20 tokens, 19 steps, "), run.stderr)
    }
}
