import Foundation
import XCTest

/// `yopo flops`: the published numbers through the CLI, the exact `full` JSON, the scaling table, and
/// one `error:` line with a non-zero exit for every bad argument.
final class FLOPsCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-flops-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func flops(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let run = try runYOPO(["flops"] + arguments, timeout: 60)
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
        XCTAssertEqual(run.stderr, "", file: file, line: line)
        return run.stdout
    }

    func json(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let out = try flops(arguments + ["--json"], file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], file: file, line: line)
    }

    /// The `reported` line of a table.
    func reported(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let out = try flops(arguments, file: file, line: line)
        let found = out.split(separator: "\n").first { $0.hasPrefix("reported") }
        return String(try XCTUnwrap(found, file: file, line: line))
    }

    func assertFails(_ arguments: [String], with message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runYOPO(["flops"] + arguments, timeout: 60)
        XCTAssertNotEqual(run.status, 0, "expected failure, got success", file: file, line: line)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: "), run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.contains(message), "\(run.stderr) does not contain \(message)", file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
    }

    let b7 = ["--arch", "llava-1.5-7b"], b13 = ["--arch", "llava-1.5-13b"]

    func testPublishedNumbers() throws {
        XCTAssertEqual(try reported(b7), "reported  7.63 T FLOPs  (as the paper prints it)")
        XCTAssertEqual(try reported(b13), "reported  14.89 T FLOPs  (as the paper prints it)")
        XCTAssertEqual(try reported(b7 + ["--prune", "yopo-25"]), "reported  1.91 T FLOPs  (as the paper prints it)")
        XCTAssertEqual(try reported(b7 + ["--prune", "yopo-12"]), "reported  0.89 T FLOPs  (as the paper prints it)")
        XCTAssertEqual(try reported(b7 + ["--convention", "pdrop"]), "reported  3.82 T MACs  (as the paper prints it)")
        XCTAssertEqual(
            try reported(b7 + ["--convention", "pdrop", "--prune", "pdrop:layers=8/16/24,ratio=0.5"]),
            "reported  1.78 T MACs  (as the paper prints it)")
        XCTAssertEqual(
            try reported(b7 + ["--convention", "pdrop", "--prune", "fastv:k=2,r=0.5"]),
            "reported  2.01 T MACs  (as the paper prints it)")
        XCTAssertEqual(
            try reported(b7 + ["--convention", "fastv", "--system-tokens", "36"]),
            "reported  99.3 B MACs per layer  (as the paper prints it)")
        for (r, value) in [("0.5", "54.6"), ("0.75", "32.8"), ("0.9", "19.9")] {
            XCTAssertEqual(
                try reported(b7 + ["--convention", "fastv", "--prune", "fastv:k=2,r=\(r)"]),
                "reported  \(value) B MACs per layer  (as the paper prints it)")
        }
        XCTAssertEqual(try reported(b7 + ["--convention", "sparsevlm"]), "reported  4.62 T MACs  (as the paper prints it)")
        // The counted line carries the ratio.
        XCTAssertTrue(try flops(b7 + ["--prune", "yopo-25"]).contains("(25.06% of dense)"))
    }

    func testConventionJSON() throws {
        let object = try json(b7 + ["--prune", "yopo:window=5,layers=16,heads-keep=16,ffn=2"])
        XCTAssertEqual(object["convention"] as? String, "yopo")
        XCTAssertEqual(object["unit"] as? String, "FLOPs")
        XCTAssertEqual(object["dense"] as? Double, 7_634_304_368_640)
        XCTAssertEqual(String(format: "%.2f", try XCTUnwrap(object["reported"] as? Double)), "1.91")
        let layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 32)
        XCTAssertEqual(layers[2]["visual_heads"] as? Double, 9)
        XCTAssertEqual(layers[16]["total"] as? Double, 0)
        let layout = try XCTUnwrap(object["layout"] as? [String: Any])
        XCTAssertEqual(layout["grid"] as? String, "24x24")
        XCTAssertEqual(layout["visual_tokens"] as? Int, 576)
    }

    /// `full` on the bundled checkpoint: dimensions from config.json, exact integers keyed like `FLOPCounter`.
    func testFullFromCheckpoint() throws {
        let object = try json(["--model", Paths.model("llava-hf-tiny"), "--convention", "full"])
        XCTAssertEqual(object["total"] as? Int, 229_998_144)
        let model = try XCTUnwrap(object["model"] as? [String: Any])
        let text = try XCTUnwrap(model["text"] as? [String: Any]), vision = try XCTUnwrap(model["vision"] as? [String: Any])
        XCTAssertEqual(text["num_key_value_heads"] as? Int, 2)
        XCTAssertEqual(text["vocab_size"] as? Int, 32064)
        XCTAssertEqual(vision["layers_computed"] as? Int, 2)
        let stages = try XCTUnwrap(object["stages"] as? [String: Int])
        XCTAssertEqual(stages["vision"], 125_812_992)
        XCTAssertEqual(stages["projector"], 1_548_288)
        XCTAssertEqual(stages["decode"], 0)
        let cells = try XCTUnwrap(object["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.reduce(0) { $0 + ($1["flops"] as? Int ?? 0) }, 229_998_144)
        XCTAssertTrue(
            cells.contains { $0["stage"] as? String == "prefill" && $0["layer"] is NSNull && $0["component"] as? String == "lm_head" })

        // Skip mode with 3 decode steps (the FullFLOPsTests fixture prompt, all heads kept). Literals from
        // Tools/reference/full_flops_rules.py.
        let skip = try json([
            "--model", Paths.model("llava-hf-tiny"), "--convention", "full", "--prune", "yopo:window=5,layers=2,ffn=2",
            "--system-tokens", "5", "--prompt-tokens", "70", "--decode-steps", "3"
        ])
        XCTAssertEqual(skip["mode"] as? String, "skip")
        let steps = try XCTUnwrap(skip["decode_steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["cached_positions"] as? Int }, [651, 652, 653])
        XCTAssertEqual(skip["total"] as? Int, 152_107_584)
        // Simulate mode counts the dense work.
        let simulate = try json([
            "--model", Paths.model("llava-hf-tiny"), "--convention", "full", "--prune", "yopo:window=5,layers=2,ffn=2",
            "--system-tokens", "5", "--prompt-tokens", "70", "--decode-steps", "3", "--mode", "simulate"
        ])
        let dense = try json([
            "--model", Paths.model("llava-hf-tiny"), "--convention", "full",
            "--system-tokens", "5", "--prompt-tokens", "70", "--decode-steps", "3"
        ])
        XCTAssertEqual(simulate["total"] as? Int, 225_011_904)
        XCTAssertEqual(dense["total"] as? Int, 225_011_904)
    }

    /// Qwen2-VL / Qwen2.5-VL: `--image-size` gives the token grid as smart_resize does (1920×1080 →
    /// 39×69 = 2691 tokens; 10×10 → the 56×56 minimum, 2×2), the checkpoint's tower is counted on its
    /// 2×2 patches per token, and the image size is refused where it means nothing.
    func testDynamicResolutionImageSizes() throws {
        let q2 = ["--arch", "qwen2-vl-7b"], q25 = ["--arch", "qwen2.5-vl-7b"]
        // yopo convention, dense: 28 · 2 · (n·d·(2·3584 + 2·512) + 2n²·3584 + 3·n·d·18944) at n = 2691.
        XCTAssertEqual(try reported(q2 + ["--image-size", "1920x1080"]), "reported  38.03 T FLOPs  (as the paper prints it)")
        XCTAssertEqual(try reported(q25 + ["--image-size", "1920x1080"]), "reported  38.03 T FLOPs  (as the paper prints it)")
        let pruned = try flops(q25 + ["--image-size", "1920x1080", "--prune", "yopo:window=5,layers=14,ffn=2"])
        XCTAssertTrue(pruned.contains("counted   9.8987 T FLOPs  (26.03% of dense)"), pruned)
        XCTAssertTrue(pruned.contains("layout      15 system + 2691 visual (grid 39x69) + 83 text tokens"), pruned)
        let tiny = try json(["--arch", "qwen2-vl-7b", "--image-size", "10x10", "--convention", "full"])
        XCTAssertEqual((tiny["layout"] as? [String: Any])?["grid"] as? String, "2x2")
        // The tiny checkpoint on the wide image (451×300 → 11×16): vision = patch embedding 2·704·1176·32
        // + 2 blocks · (8·704·32² + 4·704²·32 + 4·704·32·64) + merger 2·176·128² + 2·176·128·32.
        let object = try json(["--model", Paths.model("qwen2-vl-tiny"), "--image-size", "451x300", "--convention", "full"])
        let stages = try XCTUnwrap(object["stages"] as? [String: Int])
        XCTAssertEqual(
            stages["vision"],
            2 * 704 * 1176 * 32 + 2 * (8 * 704 * 32 * 32 + 4 * 704 * 704 * 32 + 4 * 704 * 32 * 64) + 2 * 176 * 128 * 128 + 2 * 176 * 128
                * 32)
        XCTAssertEqual(stages["vision"], 210_141_184)
        XCTAssertEqual(stages["projector"], 0)
        let model = try XCTUnwrap(object["model"] as? [String: Any])
        XCTAssertEqual(model["family"] as? String, "qwen2-vl")
        try assertFails(b7 + ["--image-size", "640x480"], with: "--image-size is for dynamic-resolution models")
        try assertFails(
            q2 + ["--image-size", "640x480", "--grid", "4x4"], with: "give --image-size, --grid or --visual-tokens, not several")
        try assertFails(q2 + ["--image-size", "3000x10"], with: "--image-size 3000x10: image 3000x10 has aspect ratio 300.0")
        try assertFails(q2 + ["--image-size", "0x10"], with: "--image-size '0x10' is not WIDTHxHEIGHT in pixels")
        try assertFails(q2 + ["--scaling", "--image-size", "640x480"], with: "--scaling prints a fixed table; drop --image-size")
    }

    func testFullTable() throws {
        let out = try flops(b7 + ["--convention", "full", "--prune", "yopo-25", "--decode-steps", "8"])
        XCTAssertTrue(out.contains("prune       yopo-25 (skip)"), out)
        XCTAssertTrue(out.contains("layout      35 system + 576 visual (grid 24x24) + 83 text tokens; 8 decode steps"), out)
        XCTAssertTrue(out.contains("  step 7 (701 cached positions): "), out)
        XCTAssertTrue(out.contains("  …"), out)
        XCTAssertTrue(out.contains("\ntotal     "), out)
    }

    func testOriginalLayoutCheckpoint() throws {
        let object = try json([
            "--model", Paths.model("llava-v1.5-tiny"), "--vision-tower", Paths.model("clip-vit-tiny"), "--convention", "full"
        ])
        let stages = try XCTUnwrap(object["stages"] as? [String: Int])
        XCTAssertEqual(stages["vision"], 125_812_992)
    }

    func testVisualTokenCounts() throws {
        // Non-square counts are fine without a window, and need --grid with one.
        let plain = try json(b7 + ["--visual-tokens", "1000"])
        XCTAssertEqual((plain["layout"] as? [String: Any])?["visual_tokens"] as? Int, 1000)
        let gridded = try json(b7 + ["--visual-tokens", "1152", "--grid", "24x48", "--prune", "yopo-25"])
        XCTAssertEqual(String(format: "%.1f%%", 100 * (gridded["ratio"] as? Double ?? 0)), "24.5%")
        let square = try json(b7 + ["--visual-tokens", "2304"])
        XCTAssertEqual((square["layout"] as? [String: Any])?["grid"] as? String, "48x48")
        // No image at all.
        let none = try json(b7 + ["--visual-tokens", "0", "--convention", "full"])
        XCTAssertEqual((none["stages"] as? [String: Int])?["vision"], 0)
    }

    func testScalingTable() throws {
        let out = try flops(b7 + ["--scaling"])
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 7)
        XCTAssertTrue(lines[2].hasPrefix("| 576 | 24x24 | 7.63 T | 1.91 T (25.1%) | 0.89 T (11.7%) | "), String(lines[2]))
        XCTAssertTrue(lines[6].hasPrefix("| 9216 | 96x96 | 163.90 T | "), String(lines[6]))
        let out13 = try flops(b13 + ["--scaling"])
        XCTAssertTrue(out13.contains("| 576 | 24x24 | 14.89 T | 3.89 T (26.1%) | 1.92 T (12.9%) | "), out13)
        // Qwen: 448², 896², 1932×1092 images; plans at window 5, FFN / 2, L/2 and L/4 layers.
        let qwen = try flops(["--arch", "qwen2-vl-7b", "--scaling"]), qwen25 = try flops(["--arch", "qwen2.5-vl-7b", "--scaling"])
        let qwenLines = qwen.split(separator: "\n")
        XCTAssertEqual(qwenLines.count, 5)
        XCTAssertTrue(
            qwenLines[0].contains("| yopo: yopo:window=5,layers=14,ffn=2 | yopo: yopo:window=5,layers=7,ffn=2 |"), String(qwenLines[0]))
        XCTAssertTrue(
            qwenLines[4].hasPrefix("| 2691 | 39x69 | 38.03 T | 9.90 T (26.0%) | 4.95 T (13.0%) | 70.84 T | "), String(qwenLines[4]))
        // docs/FLOPS.md holds exactly what the tool prints.
        let doc = try String(contentsOf: Paths.tests.deletingLastPathComponent().appendingPathComponent("docs/FLOPS.md"), encoding: .utf8)
        XCTAssertTrue(
            doc.contains("LLaVA-1.5-7B:\n\n" + out + "\nLLaVA-1.5-13B:\n\n" + out13 + "\n"),
            "docs/FLOPS.md is out of date: regenerate the scaling tables")
        XCTAssertTrue(
            doc.contains("Qwen2-VL-7B:\n\n" + qwen + "\nQwen2.5-VL-7B:\n\n" + qwen25 + "\n"),
            "docs/FLOPS.md is out of date: regenerate the Qwen scaling tables")
    }

    func testBadArguments() throws {
        try assertFails(
            ["--arch", "gpt-5"], with: "unknown --arch gpt-5 (choose from llava-1.5-13b, llava-1.5-7b, qwen2-vl-7b, qwen2.5-vl-7b)")
        try assertFails([], with: "give --arch (llava-1.5-13b, llava-1.5-7b, qwen2-vl-7b, qwen2.5-vl-7b) or --model DIR")
        try assertFails(b7 + ["--model", Paths.model("llava-hf-tiny")], with: "give --arch or --model, not both")
        try assertFails(b7 + ["--visual-tokens", "-5"], with: "--visual-tokens must be at least 0 (got -5)")
        try assertFails(b7 + ["--system-tokens", "-1"], with: "--system-tokens must be at least 0 (got -1)")
        try assertFails(b7 + ["--prompt-tokens", "-2"], with: "--prompt-tokens must be at least 0 (got -2)")
        try assertFails(b7 + ["--decode-steps", "many"], with: "--decode-steps 'many' is not an integer (allowed: 0 to 65536)")
        try assertFails(
            b7 + ["--convention", "bogus"], with: "unknown --convention bogus (choose from yopo, fastv, pdrop, sparsevlm, full)")
        try assertFails(b7 + ["--convention", "full", "--mode", "fast"], with: "unknown --mode fast (choose from skip, simulate)")
        try assertFails(
            ["--model", Paths.model("llava-hf-tiny"), "--prune", "yopo-25"],
            with:
                "prune spec yopo-25 does not fit this model: the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads), and this model has 3 layers × 4 heads"
        )
        try assertFails(b7 + ["--prune", "yopo:layers=33"], with: "invalid prune spec field layers: 33 is outside [0, 32]")
        try assertFails(
            b7 + ["--prune", "yopo:window=4"], with: "invalid prune spec field window: 4 is even; allowed: an odd integer in [1, 999]")
        try assertFails(
            b7 + ["--prune", "yopo:ffn=0.5"],
            with: "invalid prune spec field ffn: 0.5 is below 1; allowed: a number ≥ 1, at most the model's FFN width")
        try assertFails(b7 + ["--prune", "yopo:speed=9"], with: "invalid prune spec field speed: unknown field")
        try assertFails(b7 + ["--prune", "fastv:r=2"], with: "invalid prune spec field r: 2 is outside [0, 1]; allowed: a number in [0, 1]")
        // A mask of the wrong shape.
        var header = "{'descr': '|b1', 'fortran_order': False, 'shape': (3, 4), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let mask = scratch.appendingPathComponent("mask.npy")
        try (Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0]) + Data(header.utf8) + Data(repeating: 1, count: 12))
            .write(to: mask)
        try assertFails(
            b7 + ["--prune", "yopo:heads=\(mask.path)"],
            with: "mask shape [3, 4] does not match the model's [32, 32] (layers, heads)")
        try assertFails(
            b7 + ["--visual-tokens", "1152", "--prune", "yopo-25"],
            with: "a window (5) needs the image grid, and 1152 visual tokens are not a square: give --grid ROWSxCOLUMNS")
        try assertFails(b7 + ["--grid", "24x0"], with: "grid '24x0' is not ROWSxCOLUMNS")
        try assertFails(
            b7 + ["--grid", "24x48", "--visual-tokens", "576"], with: "--visual-tokens 576 does not match --grid 24x48 (1152 tokens)")
        try assertFails(
            b7 + ["--convention", "fastv", "--prune", "yopo-25"], with: "the fastv convention counts tokens, not heads or windows")
        try assertFails(b7 + ["--scaling", "--json"], with: "--scaling prints Markdown; drop --json")
        try assertFails(["--model", scratch.path], with: "no config.json in \(scratch.path)")
    }
}
