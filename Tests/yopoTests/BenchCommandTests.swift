import Foundation
import XCTest

/// `yopo bench` on the bundled tiny checkpoint: the executed FLOPs it reports equal the analytic
/// `full` count (`yopo flops --convention full`, values below), for dense, a YOPO plan, a baseline
/// and a non-square grid; the JSON carries every field BENCHMARKS.md reads.
final class BenchCommandTests: XCTestCase {
    struct Report: Decodable {
        struct Result: Decodable {
            var spec: String
            var executed_flops: Int
            var prefill_ms: Double
            var runs_ms: [Double]
            var decode_tokens_per_second: Double?
        }
        var layers: Int
        var weights: String
        var compute: String
        var grid: [Int]
        var visual_tokens: Int
        var vision_gflops: Double?
        var vision_encode_ms: Double?
        var decode_weight_bytes: Int
        var peak_rss_bytes: Int
        var results: [Result]
    }

    func bench(_ extra: [String], model: String = "llava-hf-tiny") throws -> Report {
        let run = try runYOPO(["bench", "--model", Paths.model(model), "--runs", "2", "--warmup", "0", "--json"] + extra)
        XCTAssertEqual(run.status, 0, run.stderr)
        return try JSONDecoder().decode(Report.self, from: Data(run.stdout.utf8))
    }

    func testExecutedFLOPsEqualTheAnalyticCount() throws {
        let r = try bench([
            "--decode-tokens", "2", "--prune", "none", "--prune", "yopo:window=3,layers=2,ffn=2",
            "--prune", "fastv:k=1,r=0.5"
        ])
        XCTAssertEqual(r.results.map(\.spec), ["none", "yopo:window=3,layers=2,ffn=2", "fastv:k=1,r=0.5"])
        // yopo flops --model llava-hf-tiny --convention full --prompt-tokens 30 [--prune …]: prefill totals.
        XCTAssertEqual(r.results.map(\.executed_flops), [94_155_168, 18_980_640, 60_421_536])
        XCTAssertEqual(r.vision_gflops.map { Int(($0 * 1e9).rounded()) }, 125_812_992)
        XCTAssertEqual(r.layers, 3)
        XCTAssertEqual(r.weights, "f32")
        XCTAssertEqual(r.compute, "fp32")
        XCTAssertEqual(r.grid, [24, 24])
        // Decode reads every layer's matrices and the LM head, fp32: 4 · (3 · (q 24·24 + k, v 2·12·24 + o 24·24 + 3·64·24) + 32064·24).
        XCTAssertEqual(r.decode_weight_bytes, 3_154_176)
        for x in r.results {
            XCTAssertEqual(x.runs_ms.count, 2)
            XCTAssertNotNil(x.decode_tokens_per_second)
        }
        XCTAssertGreaterThan(r.peak_rss_bytes, 0)
    }

    /// Qwen2.5-VL (windowed tower, M-RoPE decoder) on an 11×16 token grid, 15 system tokens (its
    /// template's): the tower's and the prefill's executed FLOPs equal `yopo flops --model
    /// qwen2.5-vl-tiny --grid 11x16 --prompt-tokens 30 --convention full [--prune …]` (stages vision
    /// and prefill), and the image-prefix cache mode on its M-RoPE decoder.
    func testQwenExecutedFLOPsEqualTheAnalyticCount() throws {
        let r = try bench(
            [
                "--grid", "11x16", "--decode-tokens", "1", "--prune", "none", "--prune", "yopo:window=3,layers=1,ffn=2",
                "--prune", "fastv:k=1,r=0.5"
            ], model: "qwen2.5-vl-tiny")
        XCTAssertEqual(r.results.map(\.executed_flops), [29_396_864, 13_373_312, 22_776_704])
        XCTAssertEqual(r.vision_gflops.map { Int(($0 * 1e9).rounded()) }, 246_841_344)
        XCTAssertEqual(r.visual_tokens, 176)
        // The image-prefix cache mode on the M-RoPE decoder: each question's first token is the one
        // prefill's; dense and YOPO reuse every layer, FastV (K = 1) the one before it.
        let run = try runYOPO([
            "bench", "--model", Paths.model("qwen2-vl-tiny"), "--questions-per-image", "3", "--prune", "none", "--prune",
            "yopo:window=3,layers=1,ffn=2", "--prune", "fastv:k=1,r=0.5", "--decode-tokens", "1", "--compute", "fp32", "--json"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let reuse = try XCTUnwrap(object["prefix_reuse"] as? [[String: Any]])
        XCTAssertEqual(reuse.map { $0["reused_layers"] as? Int }, [3, 3, 0])
        XCTAssertEqual(reuse.map { $0["same_first_token"] as? Int }, [3, 3, 3])
    }

    func testNonSquareGrid() throws {
        let r = try bench(["--grid", "3x5", "--no-vision", "--decode-tokens", "0"])
        XCTAssertEqual(r.grid, [3, 5])
        XCTAssertEqual(r.visual_tokens, 15)
        XCTAssertNil(r.vision_encode_ms)
        // yopo flops … --visual-tokens 15 --grid 3x5: prefill total.
        XCTAssertEqual(r.results.map(\.executed_flops), [4_710_144])
        XCTAssertNil(r.results[0].decode_tokens_per_second)
    }

    /// `--layers 2` on the 3-layer checkpoint: the first two layers, and a YOPO plan resolved against
    /// the full model then cut to them. Values: `yopo flops --convention full --prompt-tokens 30` on the
    /// same config.json with `num_hidden_layers` 2 (dense, then `--prune yopo:window=3,layers=2,ffn=2`).
    func testLayerSlice() throws {
        let r = try bench([
            "--layers", "2", "--no-vision", "--decode-tokens", "1", "--prune", "none",
            "--prune", "yopo:window=3,layers=2,ffn=2"
        ])
        XCTAssertEqual(r.layers, 2)
        XCTAssertEqual(r.results.map(\.executed_flops), [48_252_864, 14_218_560])
    }
}
