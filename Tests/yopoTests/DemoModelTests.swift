import Foundation
import XCTest
import YOPO
import YOPOFormats
import YOPOPruning
import YOPOText

/// The trained demo model (`Tests/Fixtures/models/llava-demo`, issue 14) against transformers, from
/// the goldens `Tools/train/make_demo_goldens.py` writes: prompt ids (the chat template's default
/// system prompt), greedy answers dense, under a YOPO plan in simulate mode and under the head-scope
/// ablation, `make run`'s answer, and `yopo calibrate` on transformers' attention dump.
final class DemoModelTests: XCTestCase {
    static let model = Paths.model("llava-demo")
    static let shapes = Paths.fixtures.appendingPathComponent("shapes")

    struct Question: Decodable {
        var question_id: String
        var image: String
        var text: String
        var answer: String
        var input_ids: [Int]
        var dense_ids: [Int]
        var yopo_ids: [Int]
        var ablation_ids: [Int]
    }

    struct Golden: Decodable {
        var plan: String
        var ablation_plan: String
        var max_new_tokens: Int
        var questions: [Question]
    }

    struct CalibrationGolden: Decodable {
        var samples: Int
        var alpha: Double
        var votes: Int
        var mask: String
    }

    struct RunGolden: Decodable {
        var image: String
        var prompt: String
        var input_ids: [Int]
        var greedy_ids: [Int]
        var text: String
    }

    func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.model("golden/\(name).json"))))
    }

    /// Ids as transformers' greedy loop records them: EOS included when the model stopped.
    func ids(_ r: GenerationResult) -> [Int] { r.tokenIDs + (r.finishReason == .stop ? [2] : []) }

    /// Every golden question: the prompt ids, and the answers dense, under the plan (simulate) and
    /// under the ablation, equal transformers' (fp32 compute), and so does how many are right.
    func testAnswersEqualTransformers() throws {
        let golden = try load(Golden.self, "demo_answers")
        XCTAssertEqual(golden.questions.count, 48)
        let session = try Session(modelDirectory: Self.model, options: SessionOptions(compute: .fp32))
        XCTAssertEqual(session.defaultSystemPrompt, PromptTemplate.vicunaV1.systemPrompt)
        let plan = try PruningSpec(parsing: golden.plan, baseDirectory: Paths.fixtures.path)
        let ablation = try PruningSpec(parsing: golden.ablation_plan, baseDirectory: Paths.fixtures.path)
        var correct = [0, 0, 0]
        for q in golden.questions {
            let image = Self.shapes.appendingPathComponent("images/\(q.image)").path
            XCTAssertEqual(try session.tokenize(q.text, images: 1).ids, q.input_ids, q.question_id)
            func answer(_ prune: PruningSpec) throws -> [Int] {
                ids(
                    try session.generate(
                        GenerationRequest(
                            prompt: q.text, imagePaths: [image], parameters: .init(maxTokens: golden.max_new_tokens), prune: prune,
                            yopoMode: .simulate)))
            }
            XCTAssertEqual(try answer(.none), q.dense_ids, "\(q.question_id) dense")
            XCTAssertEqual(try answer(plan), q.yopo_ids, "\(q.question_id) \(golden.plan)")
            XCTAssertEqual(try answer(ablation), q.ablation_ids, "\(q.question_id) \(golden.ablation_plan)")
            func right(_ ids: [Int]) -> Int {
                session.tokenizer.decode(ids.filter { $0 != 2 }).trimmingCharacters(in: .whitespaces) == q.answer ? 1 : 0
            }
            correct[0] += right(q.dense_ids)
            correct[1] += right(q.yopo_ids)
            correct[2] += right(q.ablation_ids)
        }
        // Right answers of the 48 (6 per type): dense, the training-free plan, the ablation.
        XCTAssertEqual(correct, [32, 16, 10])
    }

    /// `make run`'s defaults (the Makefile's MODEL, IMAGE and PROMPT) print transformers' ids.
    func testMakeRunPrintsTheGoldenAnswer() throws {
        let makefile = try String(contentsOf: Paths.tests.deletingLastPathComponent().appendingPathComponent("Makefile"), encoding: .utf8)
        func variable(_ name: String) throws -> String {
            let line = try XCTUnwrap(makefile.split(separator: "\n").first { $0.hasPrefix("\(name) ?= ") }, name)
            return String(line.dropFirst(name.count + 4))
        }
        let golden = try load(RunGolden.self, "demo_run")
        XCTAssertEqual(try variable("MODEL"), "Tests/Fixtures/models/llava-demo")
        XCTAssertEqual(try variable("IMAGE"), "Tests/Fixtures/images/\(golden.image)")
        XCTAssertEqual(try variable("PROMPT"), golden.prompt)
        XCTAssertEqual(try variable("MAX_TOKENS"), "64")
        let run = try runYOPO([
            "generate", "--model", Self.model, "--image", Paths.image(golden.image), "--prompt", golden.prompt, "--max-tokens", "64",
            "--print-token-ids", "--compute", "fp32"
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines), golden.text.trimmingCharacters(in: .whitespaces))
        let first = run.stderr.split(separator: "\n").first.map(String.init)
        XCTAssertEqual(first, "token ids: " + golden.greedy_ids.filter { $0 != 2 }.map(String.init).joined(separator: " "))
    }

    /// `yopo calibrate` on the 100 calibration questions: its masses equal transformers' attention
    /// dump and its mask is, byte for byte, the one the independent Python rule computes from the dump.
    func testCalibrateReproducesTheOfficialRuleOnTheDump() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-demo-calibrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let mask = dir.appendingPathComponent("mask.npy").path, report = dir.appendingPathComponent("report.json").path
        let calibration = Paths.fixtures.appendingPathComponent("calibration")
        let settings = try JSONDecoder().decode(
            CalibrationGolden.self, from: Data(contentsOf: calibration.appendingPathComponent("demo_calibration.json")))
        XCTAssertEqual(settings.samples, 100)
        let run = try runYOPO([
            "calibrate", "--model", Self.model, "--benchmark", "gqa", "--questions",
            Self.shapes.appendingPathComponent("calib/questions.jsonl").path,
            "--images", Self.shapes.appendingPathComponent("images").path, "--samples", "100", "--alpha", "\(settings.alpha)",
            "--votes", "\(settings.votes)", "--compute", "fp32", "--out", mask, "--report", report
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let dump = try NPYArray(path: calibration.appendingPathComponent("demo_masses.npy").path)
        XCTAssertEqual(dump.shape, [100, 6, 8, 3])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let masses = try XCTUnwrap(json["masses_visual_text_system"] as? [[[[Double]]]])
        XCTAssertEqual(masses.count, 100)
        var worst = 0.0
        for s in 0..<100 {
            for l in 0..<6 {
                for h in 0..<8 {
                    for k in 0..<3 { worst = max(worst, abs(masses[s][l][h][k] - dump.values[((s * 6 + l) * 8 + h) * 3 + k])) }
                }
            }
        }
        XCTAssertLessThan(worst, 1e-4, "largest |engine − transformers| mass")
        let golden = try Data(contentsOf: calibration.appendingPathComponent(settings.mask))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: mask)), golden)
    }
}
