import Foundation
import XCTest
import YOPO
import YOPOPruning

/// `yopo compare` on the bundled default: every number checked against an independent route (the
/// budget solver, `yopo generate --json`, the library's prefill logits, greedy generation).
final class CompareCommandTests: XCTestCase {
    var hf: String { Paths.model("llava-hf-tiny") }
    let question = "What is shown?"
    /// The tightest round budget every method meets on the 3-layer fixture (FastV with K = 2 is ≥ 2/3).
    let budget = "75%"

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func compareArguments(_ extra: [String] = [], model: String? = nil, budget: String? = nil) -> [String] {
        [
            "compare", "--model", model ?? hf, "--image", Paths.image("chelsea.png"), "--prompt", question,
            "--budget", budget ?? self.budget
        ] + extra
    }

    func runJSON(_ arguments: [String]) throws -> [String: Any] {
        let run = try runYOPO(arguments)
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    func rows(_ report: [String: Any], sample: Int = 0) throws -> [[String: Any]] {
        let samples = try XCTUnwrap(report["samples"] as? [[String: Any]])
        return try XCTUnwrap(samples[sample]["rows"] as? [[String: Any]])
    }

    /// KL(P ‖ Q) of two logit vectors, softmax in Double (written out here, apart from the library's).
    func kl(_ p: [Float], _ q: [Float]) -> Double {
        func probabilities(_ x: [Float]) -> [Double] {
            let m = Double(x.max()!)
            let e = x.map { exp(Double($0) - m) }
            let z = e.reduce(0, +)
            return e.map { $0 / z }
        }
        let pp = probabilities(p), qq = probabilities(q)
        return zip(pp, qq).reduce(0.0) { $1.0 > 0 ? $0 + $1.0 * log($1.0 / $1.1) : $0 }
    }

    func argmax(_ x: [Float]) -> Int { x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) }! }

    // MARK: the bundled default

    func testTableOnBundledDefault() throws {
        let run = try runYOPO(compareArguments())
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "model       llava-hf-tiny")
        XCTAssertEqual(lines[1], "budget      75% of the dense FLOPs, yopo convention; YOPO mode skip")
        XCTAssertEqual(lines[3], "prompt      5 system + 576 visual + 10 text tokens (\(Paths.image("chelsea.png")))")
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("method") })
        for column in [
            "settings", "yopo FLOPs", "fastv MACs", "pdrop MACs", "sparsevlm MACs", "full FLOPs", "executed FLOPs",
            "prefill ms", "visual KV", "KL(dense||m)", "top-1"
        ] {
            XCTAssertTrue(header.contains(column), column)
        }
        func row(_ method: String) throws -> String { try XCTUnwrap(lines.first { $0.hasPrefix(method + " ") }, method) }
        let dense = try row("dense")
        XCTAssertTrue(dense.contains("117 M (100.0%)"), dense)  // yopo convention: 117,448,704 FLOPs
        XCTAssertTrue(dense.hasSuffix("0  20/20 (100.0%)"), dense)
        XCTAssertTrue(try row("YOPO").contains("yopo:window=5,layers=3,ffn=2 (skip)  17.7 M (15.1%)"))
        XCTAssertTrue(try row("FastV").contains("fastv:k=2,keep=260"))
        XCTAssertTrue(try row("PDrop").contains("pdrop:layers=1/2,ratio=0.836"))
        XCTAssertTrue(try row("SparseVLM").contains("sparsevlm:layers=0/1,keep=300/110"))
        XCTAssertFalse(run.stdout.contains("note:"), "every method meets 75% on the fixture")
    }

    /// The JSON numbers, each recomputed another way.
    func testNumbersAgainstSolverGenerateAndLibrary() throws {
        let report = try runJSON(compareArguments(["--json"]))
        let rows = try rows(report)
        XCTAssertEqual(rows.map { $0["method"] as? String }, ["dense", "YOPO", "FastV", "PDrop", "SparseVLM"])
        let samples = try XCTUnwrap(report["samples"] as? [[String: Any]])
        let layoutJSON = try XCTUnwrap(samples[0]["layout"] as? [String: Int])
        XCTAssertEqual(layoutJSON, ["system_tokens": 5, "visual_tokens": 576, "text_tokens": 10])
        let reference = try XCTUnwrap(samples[0]["reference_tokens"] as? [Int])
        XCTAssertEqual(reference.count, 20)

        // Dense agrees with itself exactly.
        let dense = rows[0]
        XCTAssertEqual(dense["kl"] as? Double, 0)
        XCTAssertEqual(dense["top1_matches"] as? Int, 20)
        XCTAssertEqual(dense["top1_agreement"] as? Double, 1)
        XCTAssertEqual(dense["argmax"] as? [Int], reference)

        // Settings: the solver's, for the fixture's dimensions and this prompt's layout.
        let solver = try BudgetSolver(
            dimensions: TinyFixtureDimensions.tiny, layout: PromptLayout(systemTokens: 5, grid: .square(24), textTokens: 10))
        let solution = try solver.solve(try FLOPsBudget(parsing: budget))
        XCTAssertEqual(try XCTUnwrap((dense["flops"] as? [String: Any])?["yopo"] as? Double), solution.dense)
        let settings = try XCTUnwrap(report["settings"] as? [[String: Any]])
        for (i, method) in [BudgetMethod.yopo, .fastv, .pdrop, .sparsevlm].enumerated() {
            let choice = try XCTUnwrap(solution.choice(method))
            XCTAssertEqual(rows[i + 1]["spec"] as? String, choice.spec.description)
            XCTAssertEqual(settings[i + 1]["source"] as? String, "solver")
            XCTAssertEqual(settings[i + 1]["flops"] as? Double, choice.flops)
            XCTAssertEqual(settings[i + 1]["within_budget"] as? Bool, true)
            XCTAssertEqual(try XCTUnwrap((rows[i + 1]["flops"] as? [String: Any])?["yopo"] as? Double), choice.flops)
        }
        // YOPO has no fastv / sparsevlm count: null, not absent.
        let yopoFLOPs = try XCTUnwrap(rows[1]["flops"] as? [String: Any])
        XCTAssertTrue(yopoFLOPs["fastv"] is NSNull)
        XCTAssertTrue(yopoFLOPs["sparsevlm"] is NSNull)

        // Executed FLOPs = what `yopo generate --json --prune SPEC` reports for the same settings.
        for row in rows {
            let spec = try XCTUnwrap(row["spec"] as? String)
            let generated = try runJSON([
                "generate", "--model", hf, "--image", Paths.image("chelsea.png"), "--prompt", question,
                "--prune", spec, "--max-tokens", "20", "--json"
            ])
            let flops = try XCTUnwrap(generated["flops"] as? [String: Any])
            let prefillPhase = ["vision", "projector", "prefill"].reduce(0) { $0 + (flops[$1] as? Int ?? -1) }
            XCTAssertEqual(row["executed_prefill_flops"] as? Int, prefillPhase, spec)
            let kv = try XCTUnwrap(generated["visual_kv_cache"] as? [String: Any])
            XCTAssertEqual(row["visual_kv_bytes"] as? Int, kv["visual_bytes"] as? Int, spec)
            let executed = try XCTUnwrap(row["executed_flops"] as? [String: Any])
            if spec == "none" {
                // The dense greedy answer is the reference, and the forced run does the same decode calls.
                XCTAssertEqual(generated["token_ids"] as? [Int], reference)
                XCTAssertEqual(executed["total"] as? Int, flops["total"] as? Int)
            }
            // The analytic `full` prefill equals the executed one for every method.
            XCTAssertEqual(row["full_flops"] as? Int, prefillPhase, spec)
            // The report's kept image tokens are the run's.
            let prune = try XCTUnwrap(generated["prune"] as? [String: Any])
            XCTAssertEqual(row["kept_image_tokens"] as? [Int], prune["kept_image_tokens"] as? [Int], spec)
        }

        // KL and teacher forcing, from the library: prefill logits, and each method's own greedy answer
        // (until it first departs from dense, the forced argmax must be that answer).
        let pipeline = try Session(modelDirectory: hf)
        let base = GenerationRequest(prompt: question, imagePaths: [Paths.image("chelsea.png")])
        let denseLogits = try pipeline.prefillLogits(base)
        XCTAssertEqual(argmax(denseLogits), reference[0])
        for row in rows.dropFirst() {
            let spec = try XCTUnwrap(row["spec"] as? String)
            var request = base
            request.prune = try PruningSpec(parsing: spec)
            let logits = try pipeline.prefillLogits(request)
            let expected = kl(denseLogits, logits)
            XCTAssertGreaterThan(expected, 0, spec)
            XCTAssertEqual(try XCTUnwrap(row["kl"] as? Double), expected, accuracy: 1e-9 * expected, spec)

            let forced = try XCTUnwrap(row["argmax"] as? [Int])
            XCTAssertEqual(forced.count, 20)
            XCTAssertEqual(forced[0], argmax(logits), spec)
            XCTAssertEqual(row["top1_matches"] as? Int, zip(forced, reference).filter { $0 == $1 }.count, spec)
            request.parameters = GenerationParameters(maxTokens: 20)
            let own = try pipeline.generate(request).tokenIDs
            let departure = (0..<min(own.count, reference.count)).first { own[$0] != reference[$0] } ?? min(own.count, reference.count)
            for j in 0..<min(departure + 1, own.count) {
                XCTAssertEqual(forced[j], own[j], "\(spec) step \(j)")
            }
        }
    }

    /// --input: per-sample rows, then each method's mean; the mean KL is the samples' average.
    func testJSONLInput() throws {
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: Paths.image("coffee.png")), to: scratch.appendingPathComponent("coffee.png"))
        let file = scratch.appendingPathComponent("samples.jsonl")
        try """
        {"image": "\(Paths.image("chelsea.png"))", "prompt": "What is shown?"}

        {"image": "coffee.png", "prompt": "Describe the picture."}
        """.write(to: file, atomically: true, encoding: .utf8)
        let arguments = ["compare", "--model", hf, "--input", file.path, "--budget", "0.75", "--steps", "4"]
        let report = try runJSON(arguments + ["--json"])
        let samples = try XCTUnwrap(report["samples"] as? [[String: Any]])
        XCTAssertEqual(samples.count, 2)
        XCTAssertEqual(samples[1]["image"] as? String, scratch.appendingPathComponent("coffee.png").path)
        let mean = try XCTUnwrap(report["mean"] as? [[String: Any]])
        XCTAssertEqual(mean.count, 5)
        for i in 0..<5 {
            let a = try rows(report, sample: 0)[i], b = try rows(report, sample: 1)[i]
            let average = ((a["kl"] as! Double) + (b["kl"] as! Double)) / 2
            XCTAssertEqual(try XCTUnwrap(mean[i]["kl"] as? Double), average, accuracy: 1e-15)
            XCTAssertEqual(mean[i]["top1_matches"] as? Int, (a["top1_matches"] as! Int) + (b["top1_matches"] as! Int))
            XCTAssertEqual(mean[i]["steps"] as? Int, 8)
        }
        XCTAssertEqual(mean[0]["kl"] as? Double, 0)

        let table = try runYOPO(arguments)
        XCTAssertEqual(table.status, 0, table.stderr)
        let lines = table.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("1 ") }.count, 5)
        XCTAssertEqual(lines.filter { $0.hasPrefix("2 ") }.count, 5)
        XCTAssertEqual(lines.filter { $0.hasPrefix("mean ") }.count, 5)
        XCTAssertTrue(lines.contains { $0.hasPrefix("mean    dense ") && $0.hasSuffix("8/8 (100.0%)") }, table.stdout)
    }

    /// The experiment in process (the library type the command prints): the same rows as the command.
    func testComparisonRunsInTheLibrary() throws {
        let session = try Session(modelDirectory: hf)
        let comparison = try Comparison(budget: try FLOPsBudget(parsing: budget), steps: 3)
        let report = try comparison.run(
            on: session, samples: [Comparison.Sample(image: .path(Paths.image("chelsea.png")), prompt: question)])
        XCTAssertEqual(report.samples[0].rows.map(\.method), ["dense", "YOPO", "FastV", "PDrop", "SparseVLM"])
        XCTAssertEqual(report.samples[0].rows[0].kl, 0)
        XCTAssertEqual(report.samples[0].rows[0].top1Matches, 3)
        XCTAssertEqual(report.samples[0].referenceTokens, Array(try GoldenIDs.load("hf_chelsea").greedy_ids.prefix(3)))
        XCTAssertNil(report.mean)
        XCTAssertTrue(report.table().hasPrefix("model       llava-hf-tiny\nbudget      75% of the dense FLOPs"), report.table())
        // Image bytes are the same sample.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Paths.image("chelsea.png")))
        let fromBytes = try comparison.run(on: session, samples: [Comparison.Sample(image: .data(bytes), prompt: question)])
        XCTAssertEqual(fromBytes.samples[0].rows.map(\.argmax), report.samples[0].rows.map(\.argmax))
        XCTAssertEqual(fromBytes.samples[0].image, "<\(bytes.count) bytes>")

        XCTAssertThrowsError(try Comparison(budget: try FLOPsBudget(fraction: 0.5), convention: .full)) {
            XCTAssertTrue("\($0)".contains("the full convention cannot set a budget"), "\($0)")
        }
        XCTAssertThrowsError(try Comparison(budget: try FLOPsBudget(fraction: 0.5), yopo: try PruningSpec(parsing: "fastv:k=2,r=0.5"))) {
            XCTAssertTrue("\($0)".contains("takes a YOPO spec or preset"), "\($0)")
        }
    }

    // MARK: YOPO settings

    /// --yopo overrides the solver; simulate mode does the dense work.
    func testYOPOSpecAndSimulateMode() throws {
        let report = try runJSON(
            compareArguments(["--yopo", "yopo:window=3,layers=2", "--yopo-mode", "simulate", "--steps", "2", "--json"]))
        let rows = try rows(report)
        XCTAssertEqual(rows[1]["spec"] as? String, "yopo:window=3,layers=2")
        XCTAssertEqual(rows[1]["mode"] as? String, "simulate")
        XCTAssertEqual(rows[1]["executed_prefill_flops"] as? Int, rows[0]["executed_prefill_flops"] as? Int)
        XCTAssertEqual(rows[1]["full_flops"] as? Int, rows[0]["full_flops"] as? Int)
        let settings = try XCTUnwrap(report["settings"] as? [[String: Any]])
        XCTAssertEqual(settings[1]["source"] as? String, "--yopo")
    }

    /// A 32 × 32 decoder takes the preset matching the budget: yopo-12 below 20%, yopo-25 from 20%.
    func testPresetForSevenBShapedDecoder() throws {
        let model = Paths.model("llava-hf-tiny-32x32")
        for (budget, preset) in [("12%", "yopo-12"), ("20%", "yopo-25")] {
            let report = try runJSON(compareArguments(["--steps", "1", "--json"], model: model, budget: budget))
            let rows = try rows(report)
            XCTAssertEqual(rows[1]["spec"] as? String, preset)
            let settings = try XCTUnwrap(report["settings"] as? [[String: Any]])
            XCTAssertEqual(settings[1]["source"] as? String, "preset")
            // The baselines' 32-layer settings: K = 2 and the [2, 6, 15] SparseVLM layers.
            XCTAssertTrue((rows[2]["spec"] as? String)?.hasPrefix("fastv:k=2,keep=") == true)
            XCTAssertTrue((rows[4]["spec"] as? String)?.hasPrefix("sparsevlm:layers=2/6/15,") == true)
        }
    }

    // MARK: bad input

    func assertFails(_ arguments: [String], with message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runYOPO(arguments)
        XCTAssertNotEqual(run.status, 0, "expected failure", file: file, line: line)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: "), run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.contains(message), "\(run.stderr) does not contain \(message)", file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
    }

    func testBadInput() throws {
        let image = Paths.image("chelsea.png")
        try assertFails(
            ["compare", "--model", hf, "--image", "/nonexistent/photo.png", "--prompt", "x", "--budget", "25%"],
            with: "cannot read image '/nonexistent/photo.png': no such file")
        try assertFails(compareArguments(budget: "150%"), with: "invalid budget: '150%' is outside (0%, 100%]")
        try assertFails(compareArguments(budget: "-5%"), with: "invalid budget: '-5%' is outside (0%, 100%]")
        try assertFails(compareArguments(budget: "25"), with: "write 25% for a percentage")
        try assertFails(compareArguments(budget: "a lot"), with: "invalid budget: 'a lot' is not a percentage")
        try assertFails(
            compareArguments(["--convention", "flopz"]), with: "unknown --convention flopz (choose from yopo, fastv, pdrop, sparsevlm)")
        try assertFails(
            compareArguments(["--convention", "full"]), with: "unknown --convention full (choose from yopo, fastv, pdrop, sparsevlm)")
        try assertFails(compareArguments(["--yopo-mode", "fast"]), with: "unknown --yopo-mode fast (choose from skip, simulate)")
        try assertFails(compareArguments(["--steps", "0"]), with: "--steps must be at least 1 (got 0)")
        try assertFails(compareArguments(["--yopo", "fastv:k=2"]), with: "--yopo takes a YOPO spec or preset")
        try assertFails(compareArguments(["--yopo", "yopo-25"]), with: "the preset is defined for LLaVA-1.5-7B")
        try assertFails(["compare", "--model", hf, "--image", image, "--prompt", "x"], with: "give --budget")
        try assertFails(["compare", "--image", image, "--prompt", "x", "--budget", "25%"], with: "yopo compare needs --model DIR")
        try assertFails(["compare", "--model", hf, "--image", image, "--budget", "25%"], with: "give --image and --prompt")
        try assertFails(
            ["compare", "--model", scratch.appendingPathComponent("none").path, "--image", image, "--prompt", "x", "--budget", "25%"],
            with: "does not exist")

        let empty = scratch.appendingPathComponent("empty.jsonl")
        try "\n\n".write(to: empty, atomically: true, encoding: .utf8)
        try assertFails(["compare", "--model", hf, "--input", empty.path, "--budget", "25%"], with: "has no samples")
        let noImage = scratch.appendingPathComponent("no-image.jsonl")
        try "{\"image\": \"\(image)\", \"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n".write(to: noImage, atomically: true, encoding: .utf8)
        try assertFails(
            ["compare", "--model", hf, "--input", noImage.path, "--budget", "25%"],
            with: "\(noImage.path) line 2 has no \"image\" string")
        let notJSON = scratch.appendingPathComponent("bad.jsonl")
        try "image=chelsea.png\n".write(to: notJSON, atomically: true, encoding: .utf8)
        try assertFails(["compare", "--model", hf, "--input", notJSON.path, "--budget", "25%"], with: "line 1 is not a JSON object")
        try assertFails(
            ["compare", "--model", hf, "--input", scratch.appendingPathComponent("missing.jsonl").path, "--budget", "25%"],
            with: "cannot read --input")
        try assertFails(
            ["compare", "--model", hf, "--input", noImage.path, "--image", image, "--budget", "25%"],
            with: "give --image and --prompt, or --input, not both")
    }
}

/// The bundled fixture's dimensions (`Tests/Fixtures/models/llava-hf-tiny/config.json`).
enum TinyFixtureDimensions {
    static let tiny = ModelDimensions(
        name: "llava-hf-tiny",
        text: .init(
            hiddenSize: 24, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 6,
            intermediateSize: 64, vocabSize: 32064),
        vision: .init(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 3, layersComputed: 2, patchSize: 14, imageSize: 336))
}
