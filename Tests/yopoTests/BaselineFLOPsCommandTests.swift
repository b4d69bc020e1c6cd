import Foundation
import XCTest

/// `yopo flops --convention full --prune fastv:…|pdrop:…|sparsevlm:…`: the engine's exact cost of a
/// token-pruning baseline, equal to what `yopo generate` executes for the same prompt.
final class BaselineFLOPsCommandTests: XCTestCase {
    func json(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let run = try runYOPO(arguments + ["--json"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], file: file, line: line)
    }

    /// The count of `yopo flops` equals the FLOPs `yopo generate` executed, stage by stage.
    func testFullEqualsGenerate() throws {
        let specs = ["fastv:k=1,r=0.5", "pdrop:layers=1/2,ratio=0.5", "sparsevlm:layers=0/1,keep=100/50"]
        for spec in specs {
            let generated = try json([
                "generate", "--model", Paths.model("llava-hf-tiny"), "--image", Paths.image("chelsea.png"),
                "--prompt", "What is shown?", "--max-tokens", "4", "--prune", spec
            ])
            // llava-hf template: 5 tokens before the image ("<s>USER: " …), 576 image tokens, 10 after.
            XCTAssertEqual(generated["prompt_tokens"] as? Int, 591, spec)
            let tokens = try XCTUnwrap(generated["generated_tokens"] as? Int, spec)
            // Every generated token but the last is fed back, unless generation stopped at EOS.
            let decodeSteps = tokens == 4 ? 3 : tokens
            let executed = try XCTUnwrap(generated["flops"] as? [String: Any], spec)
            let counted = try json([
                "flops", "--model", Paths.model("llava-hf-tiny"), "--convention", "full", "--prune", spec,
                "--system-tokens", "5", "--prompt-tokens", "10", "--decode-steps", String(decodeSteps)
            ])
            XCTAssertEqual(counted["prune"] as? String, spec)
            XCTAssertTrue(counted["mode"] is NSNull || counted["mode"] == nil, spec)
            XCTAssertEqual(counted["total"] as? Int, executed["total"] as? Int, spec)
            let stages = try XCTUnwrap(counted["stages"] as? [String: Int], spec)
            for stage in ["vision", "projector", "prefill", "decode"] {
                XCTAssertEqual(stages[stage], executed[stage] as? Int, "\(spec) \(stage)")
            }
        }
    }

    /// The report: image rows per layer, the selection component, exact integers.
    func testReport() throws {
        let model = [
            "flops", "--model", Paths.model("llava-hf-tiny"), "--convention", "full", "--system-tokens", "5",
            "--prompt-tokens", "10"
        ]
        let sparse = try json(model + ["--prune", "sparsevlm:layers=0,keep=300"])
        XCTAssertEqual(sparse["visual_rows_per_layer"] as? [Int], [576, 309, 309])
        // Rater product 2·576·24·10 and DPC-kNN distances over 82 tokens 2·82·24·82.
        XCTAssertEqual((sparse["components"] as? [String: Int])?["selection"], 276_480 + 322_752)
        let fastv = try json(model + ["--prune", "fastv:k=1,r=0.5", "--decode-steps", "3"])
        XCTAssertEqual(fastv["visual_rows_per_layer"] as? [Int], [576, 288, 288])
        // Hand-checked (BaselineFLOPsTests.testHandCheckedFastV): prefill 51 817 440, decode 5 077 728.
        XCTAssertEqual(fastv["prefill_total"] as? Int, 125_812_992 + 1_548_288 + 51_817_440)
        XCTAssertEqual(fastv["decode_total"] as? Int, 5_077_728)
        XCTAssertEqual((fastv["components"] as? [String: Int])?["selection"], 0)
        let dense = try json(model + ["--decode-steps", "3"])
        XCTAssertNil(dense["visual_rows_per_layer"])
        XCTAssertNil((dense["components"] as? [String: Int])?["selection"])
        XCTAssertLessThan(try XCTUnwrap(fastv["total"] as? Int), try XCTUnwrap(dense["total"] as? Int))

        let table = try runYOPO(["flops", "--arch", "llava-1.5-7b", "--convention", "full", "--prune", "pdrop:layers=8/16/24,ratio=0.5"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("prune       pdrop:layers=8/16/24,ratio=0.5\n"), table.stdout)
        XCTAssertTrue(table.stdout.contains("image rows"), table.stdout)
        XCTAssertTrue(
            table.stdout.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("selection ") },
            table.stdout)
        let dense7B = try runYOPO(["flops", "--arch", "llava-1.5-7b", "--convention", "full"])
        XCTAssertFalse(dense7B.stdout.contains("selection"), dense7B.stdout)
    }

    /// Settings the engine cannot run give one error line, the one `generate` gives.
    func testErrors() throws {
        for (spec, message) in [
            ("fastv:k=3,r=0.5", "error: invalid prune spec field k: 3 is outside [1, 2] for a 3-layer model\n"),
            (
                "pdrop:layers=3,ratio=0.5",
                "error: invalid prune spec field layers: 3 must increase within [1, 2] for a 3-layer model (a boundary needs a later layer to rank with)\n"
            )
        ] {
            let run = try runYOPO(["flops", "--model", Paths.model("llava-hf-tiny"), "--convention", "full", "--prune", spec])
            XCTAssertNotEqual(run.status, 0, spec)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("error: "), run.stderr)
            XCTAssertTrue(run.stderr.contains(message), run.stderr)
            XCTAssertEqual(run.stdout, "")
        }
    }

    /// `fastv:k=0` (FastV's random dropping, not implemented) is refused by `flops`, under every
    /// convention, with exactly the line `generate` prints on the same model; so is a k at the last
    /// layer, which the published conventions used to count.
    func testFlopsAndGenerateRefuseTheSameFastVSettings() throws {
        let model = Paths.model("llava-hf-tiny")
        for (spec, line) in [
            (
                "fastv:k=0",
                "error: invalid prune spec field k: 0 is outside [1, 2] for a 3-layer model (k=0, dropping before the first layer, is not implemented)\n"
            ),
            ("fastv:k=3", "error: invalid prune spec field k: 3 is outside [1, 2] for a 3-layer model\n")
        ] {
            let generate = try runYOPO([
                "generate", "--model", model, "--image", Paths.image("chelsea.png"), "--prompt", "What is shown?",
                "--max-tokens", "2", "--prune", spec
            ])
            XCTAssertNotEqual(generate.status, 0, spec)
            XCTAssertEqual(generate.stderr, line, spec)
            for convention in ["yopo", "fastv", "pdrop", "sparsevlm", "full"] {
                let flops = try runYOPO(["flops", "--model", model, "--convention", convention, "--prune", spec])
                XCTAssertNotEqual(flops.status, 0, "\(spec) \(convention)")
                XCTAssertEqual(flops.stderr, generate.stderr, "\(spec) \(convention)")
                XCTAssertEqual(flops.stdout, "", "\(spec) \(convention)")
            }
        }
    }
}
