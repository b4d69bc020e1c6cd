import Foundation
import XCTest
import YOPO
import YOPOPruning

final class PruningPipelineTests: XCTestCase {
    let plan = "yopo:window=3,layers=2,heads=models/golden/headmask_tiny_3x4.npy,ffn=4"

    /// A batch of two different prompts (and photos) gives exactly what each gives alone, in both modes.
    func testBatchEqualsEachAlone() throws {
        let pipeline = try Session(modelDirectory: Paths.model("llava-hf-tiny"))
        let spec = try PruningSpec(parsing: plan, baseDirectory: Paths.fixtures.path)
        for mode in YOPOMode.allCases {
            let requests = [
                GenerationRequest(
                    prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")],
                    parameters: .init(maxTokens: 12), prune: spec, yopoMode: mode),
                GenerationRequest(
                    prompt: "Describe the image.", imagePaths: [Paths.image("rocket.jpg")],
                    parameters: .init(maxTokens: 7), prune: spec, yopoMode: mode)
            ]
            let batch = try pipeline.generate(batch: requests)
            let alone = try requests.map { try pipeline.generate($0) }
            XCTAssertEqual(batch.map(\.tokenIDs), alone.map(\.tokenIDs), "\(mode)")
            XCTAssertEqual(batch.map(\.text), alone.map(\.text), "\(mode)")
            XCTAssertEqual(batch.map(\.flops), alone.map(\.flops), "\(mode)")
            XCTAssertEqual(batch.map(\.generatedTokens), [12, 7])
            XCTAssertNotEqual(batch[0].tokenIDs, Array(batch[1].tokenIDs.prefix(12)))
        }
    }

    /// `--prune` and `--yopo-mode` reach the engine and the JSON report names what ran.
    func testCLIReportsPlanFLOPsAndVisualCache() throws {
        func run(_ extra: [String]) throws -> [String: Any] {
            let r = try runYOPO(
                [
                    "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
                    "--prompt", "What is shown?", "--max-tokens", "20", "--json"
                ] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let maskPath = Paths.fixtures.appendingPathComponent("models/golden/headmask_tiny_3x4.npy").path
        let spec = "yopo:window=3,layers=2,heads=\(maskPath),ffn=4"
        let dense = try run([])
        let skip = try run(["--prune", spec])
        let simulate = try run(["--prune", spec, "--yopo-mode", "simulate"])
        let golden = { (name: String) in
            try JSONSerialization.jsonObject(with: Data(contentsOf: Paths.fixtures.appendingPathComponent("models/golden/\(name).json")))
                as! [String: Any]
        }
        XCTAssertEqual(skip["token_ids"] as? [Int], try golden("prune_llava-hf-tiny_all_skip")["greedy_ids"] as? [Int])
        XCTAssertEqual(simulate["token_ids"] as? [Int], try golden("prune_llava-hf-tiny_all_simulate")["greedy_ids"] as? [Int])
        let prune = try XCTUnwrap(skip["prune"] as? [String: Any])
        XCTAssertEqual(prune["mode"] as? String, "skip")
        XCTAssertEqual(prune["kept_layers"] as? Int, 2)
        XCTAssertEqual(prune["kept_heads_per_layer"] as? [Int], [4, 2, 0])
        XCTAssertEqual(prune["visual_ffn_width"] as? Int, 16)
        let flops = { (o: [String: Any]) in (o["flops"] as? [String: Any])?["prefill"] as? Int ?? 0 }
        XCTAssertLessThan(flops(skip), flops(dense))
        XCTAssertEqual(flops(simulate), flops(dense))
        let kv = { (o: [String: Any]) in (o["visual_kv_cache"] as? [String: Int]) ?? [:] }
        XCTAssertEqual(kv(skip)["visual_bytes"], 2 * 2 * 576 * 12 * 4)
        XCTAssertEqual(kv(skip)["saved_bytes"], 2 * 576 * 12 * 4)
        XCTAssertEqual(kv(dense)["saved_bytes"], 0)
    }

    func testInvalidPruneSpecsNameTheField() throws {
        let base = [
            "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
            "--prompt", "What is shown?", "--max-tokens", "1"
        ]
        let cases: [(String, String)] = [
            ("yopo:window=4", "invalid prune spec field window: 4 is even; allowed: an odd integer in [1, 999]"),
            ("yopo:window=0", "invalid prune spec field window: 0 is below 1; allowed: an odd integer in [1, 999]"),
            ("yopo:layers=4", "invalid prune spec field layers: 4 is outside [0, 3] (this model has 3 layers)"),
            ("yopo:ffn=0.5", "invalid prune spec field ffn: 0.5 is below 1; allowed: a number ≥ 1, at most the model's FFN width"),
            (
                "yopo:heads-keep=16",
                "invalid prune spec field heads-keep: official masks exist for LLaVA-1.5-7B (32 layers × 32 heads: heads-keep 8, 16 or 24) and LLaVA-1.5-13B (40 layers × 40 heads: 5, 10, 20 or 30), and this model has 3 layers × 4 heads; give heads=PATH.npy, a [3, 4] mask, instead"
            ),
            (
                "yopo-25",
                "prune spec yopo-25 does not fit this model: the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads), and this model has 3 layers × 4 heads; the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=2,ffn=2"
            ),
            ("yopo:colour=red", "invalid prune spec field colour: unknown field (window, layers, heads, heads-keep, ffn, heads-scope)"),
            (
                "fastest",
                "invalid prune spec: 'fastest' is not none, a preset (yopo-25, yopo-12) or method:key=value (methods: yopo, fastv, pdrop, sparsevlm)"
            )
        ]
        for (spec, message) in cases {
            let r = try runYOPO(base + ["--prune", spec])
            XCTAssertNotEqual(r.status, 0, spec)
            XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)
            XCTAssertTrue(r.stderr.contains(message), "\(spec): \(r.stderr)")
        }
        let mask = Paths.fixtures.appendingPathComponent("headmasks/headmask_7b_16.npy").path
        let r = try runYOPO(base + ["--prune", "yopo:heads=\(mask)"])
        XCTAssertTrue(
            r.stderr.contains("invalid prune spec field heads: mask shape [32, 32] does not match the model's [3, 4] (layers, heads)"),
            r.stderr)
        let m = try runYOPO(base + ["--prune", "yopo:ffn=2", "--yopo-mode", "fast"])
        XCTAssertTrue(m.stderr.contains("unknown --yopo-mode fast (choose from skip, simulate)"), m.stderr)
    }
}

final class BaselinePipelineTests: XCTestCase {
    /// Batch of two different prompts equals each alone, for every baseline.
    func testBaselineBatchEqualsEachAlone() throws {
        let pipeline = try Session(modelDirectory: Paths.model("llava-hf-tiny"))
        for text in ["fastv:k=2,r=0.5", "pdrop:layers=1/2,ratio=0.5", "sparsevlm:layers=0/1,keep=100/50"] {
            let spec = try PruningSpec(parsing: text)
            let requests = [
                GenerationRequest(
                    prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")],
                    parameters: .init(maxTokens: 8), prune: spec),
                GenerationRequest(
                    prompt: "Describe the image.", imagePaths: [Paths.image("rocket.jpg")],
                    parameters: .init(maxTokens: 5), prune: spec)
            ]
            let batch = try pipeline.generate(batch: requests)
            let alone = try requests.map { try pipeline.generate($0) }
            XCTAssertEqual(batch.map(\.tokenIDs), alone.map(\.tokenIDs), text)
            XCTAssertEqual(batch.map(\.flops), alone.map(\.flops), text)
            XCTAssertEqual(batch.map(\.prune.keptImageTokens), alone.map(\.prune.keptImageTokens), text)
            XCTAssertLessThan(batch[0].visualKVCache.visualBytes, batch[0].visualKVCache.denseVisualBytes, text)
        }
    }
}
