import Foundation
import XCTest
import YOPO
import YOPOModels
import YOPOPruning
import YOPOText

/// Qwen2-VL and Qwen2.5-VL through `Session` and `yopo generate`: the family's processor, ChatML
/// template, M-RoPE positions and stop tokens, against the transformers goldens of
/// Tools/reference/make_qwen2vl_fixtures.py (prompt ids, 20 greedy ids, YOPO and FastV ids).
final class QwenSessionTests: XCTestCase {
    struct Golden: Decodable {
        struct Prompt: Decodable {
            var label: String
            var images: [String]
            var question: String
            var input_ids: [Int]
            var greedy_ids: [Int]
        }
        struct Pruned: Decodable {
            var plan: String?
            var spec: String?
            var mode: String?
            var greedy_ids: [Int]
        }
        var prompts: [Prompt]
        var yopo: [Pruned]
        var baselines: [Pruned]
    }

    func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.model("golden/\(name).json"))))
    }

    /// Every golden prompt (one image square, wide, tall; two images): the session's ids are the
    /// processor's and its 20 greedy ids transformers'.
    func testGenerateEqualsTransformers() throws {
        for (checkpoint, name) in [("qwen2-vl-tiny", "qwen2vl_tiny"), ("qwen2.5-vl-tiny", "qwen25vl_tiny")] {
            let session = try Session(modelDirectory: Paths.model(checkpoint), options: SessionOptions(compute: .fp32))
            XCTAssertEqual(session.template, .qwen2VL)
            XCTAssertEqual(session.model.family, "qwen2-vl")
            for p in try golden(name).prompts {
                let request = GenerationRequest(
                    prompt: p.question, imagePaths: p.images.map { Paths.image($0) }, parameters: .init(maxTokens: 20))
                let result = try session.generate(request)
                XCTAssertEqual(result.promptTokens, p.input_ids.count, "\(checkpoint) \(p.label)")
                XCTAssertEqual(result.tokenIDs, p.greedy_ids, "\(checkpoint) \(p.label)")
                XCTAssertEqual(result.visualTokens, p.input_ids.filter { $0 == 151655 }.count)
            }
        }
    }

    /// Every golden YOPO plan in both modes (simulate: the official Qwen2-VL numerics, which the
    /// session picks from the family) and FastV through the session on the wide prompt.
    func testPruningThroughTheSession() throws {
        let session = try Session(modelDirectory: Paths.model("qwen2-vl-tiny"), options: SessionOptions(compute: .fp32))
        let g = try golden("qwen2vl_tiny")
        let wide = try XCTUnwrap(g.prompts.first { $0.label == "wide" })
        var cases: [(String, YOPOMode, [Int])] = g.yopo.map { ($0.plan!, YOPOMode(rawValue: $0.mode!)!, $0.greedy_ids) }
        cases += g.baselines.filter { $0.spec!.hasPrefix("fastv") }.map { ($0.spec!, .skip, $0.greedy_ids) }
        XCTAssertEqual(cases.count, 14)
        for (spec, mode, ids) in cases {
            let request = GenerationRequest(
                prompt: wide.question, imagePaths: wide.images.map { Paths.image($0) }, parameters: .init(maxTokens: 8),
                prune: try PruningSpec(parsing: spec, baseDirectory: Paths.fixtures.path), yopoMode: mode)
            XCTAssertEqual(try session.generate(request).tokenIDs, ids, "\(spec) \(mode)")
        }
    }

    /// The image-prefix cache on M-RoPE prompts: after another question about the same image bytes,
    /// the golden question is a hit (its prefix's rows keep their (t, h, w) positions, the question's
    /// continue at index + rope delta) and still answers transformers' greedy ids, for every golden
    /// prompt of both families (one image of each shape, two images) and, on the wide prompt, every
    /// golden YOPO plan and FastV.
    func testThePrefixCacheServesM_RoPEPromptsWithTheGoldenAnswers() throws {
        func request(
            _ question: String, _ p: Golden.Prompt, maxTokens: Int, spec: String = "none", mode: YOPOMode = .skip
        ) throws
            -> GenerationRequest
        {
            GenerationRequest(
                prompt: question, images: try p.images.map { .data(try Data(contentsOf: URL(fileURLWithPath: Paths.image($0)))) },
                parameters: .init(maxTokens: maxTokens), prune: try PruningSpec(parsing: spec, baseDirectory: Paths.fixtures.path),
                yopoMode: mode)
        }
        for (checkpoint, name) in [("qwen2-vl-tiny", "qwen2vl_tiny"), ("qwen2.5-vl-tiny", "qwen25vl_tiny")] {
            let session = try Session(modelDirectory: Paths.model(checkpoint), options: SessionOptions(compute: .fp32))
            let g = try golden(name)
            let cache = PrefixCache(capacityBytes: 1 << 30)
            for p in g.prompts {
                let first = try session.generate(try request("Something else?", p, maxTokens: 2), prefixCache: cache)
                XCTAssertEqual(first.prefixCache?.hit, false, "\(checkpoint) \(p.label)")
                let second = try session.generate(try request(p.question, p, maxTokens: 20), prefixCache: cache)
                XCTAssertEqual(second.prefixCache?.hit, true, "\(checkpoint) \(p.label)")
                XCTAssertEqual(second.promptTokens, p.input_ids.count, "\(checkpoint) \(p.label)")
                XCTAssertEqual(second.tokenIDs, p.greedy_ids, "\(checkpoint) \(p.label)")
                XCTAssertEqual(second.timingsMS.vision, 0, "\(checkpoint) \(p.label)")
            }
            guard checkpoint == "qwen2-vl-tiny" else { continue }
            let wide = try XCTUnwrap(g.prompts.first { $0.label == "wide" })
            var cases: [(String, YOPOMode, [Int])] = g.yopo.map { ($0.plan!, YOPOMode(rawValue: $0.mode!)!, $0.greedy_ids) }
            cases += g.baselines.filter { $0.spec!.hasPrefix("fastv") }.map { ($0.spec!, .skip, $0.greedy_ids) }
            for (spec, mode, ids) in cases {
                _ = try session.generate(try request("Something else?", wide, maxTokens: 2, spec: spec, mode: mode), prefixCache: cache)
                let hit = try session.generate(try request(wide.question, wide, maxTokens: 8, spec: spec, mode: mode), prefixCache: cache)
                XCTAssertEqual(hit.prefixCache?.hit, true, "\(spec) \(mode)")
                XCTAssertEqual(hit.tokenIDs, ids, "\(spec) \(mode)")
            }
        }
    }

    /// `yopo generate` on Qwen2-VL with two `--image` options: the golden ids, images before the text.
    func testGenerateCommandWithTwoImages() throws {
        let p = try XCTUnwrap(try golden("qwen2vl_tiny").prompts.first { $0.label == "two" })
        let run = try runYOPO(
            ["generate", "--model", Paths.model("qwen2-vl-tiny")] + p.images.flatMap { ["--image", Paths.image($0)] }
                + ["--prompt", p.question, "--max-tokens", "6", "--print-token-ids", "--compute", "fp32"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let first = run.stderr.split(separator: "\n").first.map(String.init)
        XCTAssertEqual(first, "token ids: " + p.greedy_ids.prefix(6).map(String.init).joined(separator: " "))
    }

    /// `yopo compare` on Qwen2-VL: the settings are solved on the image's own token grid (11×16 for
    /// chelsea, 176 tokens), and for every method the engine's executed prefill FLOPs (vision tower
    /// and merger included) equal the analytic `full` count.
    func testCompareCountsOnTheImagesGrid() throws {
        let run = try runYOPO([
            "compare", "--model", Paths.model("qwen2-vl-tiny"), "--image", Paths.image("chelsea.png"), "--prompt", "What is this?",
            "--budget", "25%", "--steps", "4", "--json"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let layout = try XCTUnwrap(object["settings_layout"] as? [String: Int])
        XCTAssertEqual(layout, ["system_tokens": 15, "visual_tokens": 176, "text_tokens": 10])
        let rows = try XCTUnwrap((object["samples"] as? [[String: Any]])?.first?["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 5)
        for row in rows {
            let full = row["full_flops"] as? Int, executed = row["executed_prefill_flops"] as? Int
            XCTAssertNotNil(full, "\(row)")
            XCTAssertEqual(full, executed, "\(row["method"] ?? "")")
        }
    }

    /// `--max-pixels` / `--min-pixels` override the checkpoint's budget (astronaut 512²: 324 tokens at
    /// the default, 256 at 200,704 pixels = 448²); a budget for LLaVA, squaring for Qwen and min above
    /// max are refused in one line.
    func testPixelBudgetOptions() throws {
        func run(_ model: String, _ extra: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            let r = try runYOPO(
                [
                    "generate", "--model", Paths.model(model), "--image", Paths.image("astronaut.png"), "--prompt", "Hi", "--max-tokens",
                    "1",
                    "--json"
                ] + extra)
            return (r.status, r.stdout, r.stderr)
        }
        func visualTokens(_ json: String) throws -> Int? {
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            return object?["visual_tokens"] as? Int
        }
        let plain = try run("qwen2-vl-tiny", [])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(try visualTokens(plain.stdout), 324)
        let small = try run("qwen2-vl-tiny", ["--max-pixels", "200704"])
        XCTAssertEqual(small.status, 0, small.stderr)
        XCTAssertEqual(try visualTokens(small.stdout), 256)
        let big = try run("qwen2-vl-tiny", ["--min-pixels", "401408"])  // 512² is below: upscaled to 644×644
        XCTAssertEqual(try visualTokens(big.stdout), 529)
        let llava = try run("llava-hf-tiny", ["--max-pixels", "200704"])
        XCTAssertEqual(llava.status, 1)
        XCTAssertTrue(
            llava.stderr.hasPrefix(
                "error: invalid model configuration: a pixel budget (min/max pixels) applies to dynamic-resolution models"), llava.stderr)
        let square = try run("qwen2-vl-tiny", ["--image-aspect", "pad"])
        XCTAssertEqual(
            square.stderr,
            "error: invalid model configuration: image squaring (pad / crop) is LLaVA's; Qwen2-VL keeps each image's aspect ratio (smart_resize)\n"
        )
        let inverted = try run("qwen2-vl-tiny", ["--min-pixels", "5000", "--max-pixels", "4000"])
        XCTAssertEqual(
            inverted.stderr,
            "error: invalid model configuration: image processor setting min_pixels is 5000, above max_pixels 4000; allowed: at most max_pixels\n"
        )
    }
}
