import Foundation
import XCTest
import YOPO
import YOPOFormats
import YOPOPruning

/// `yopo calibrate` on the tiny model: the recorded masses are attention probabilities (each query
/// row's sum over system, visual and text keys is 1, so a head's sums equal the rows counted), the
/// mask is the rule applied to the reported masses, and bad options get one line.
final class CalibrateCommandTests: XCTestCase {
    let tiny = Paths.model("llava-hf-tiny")
    let questions = EvalCommandTests.popeQuestions

    func images() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-calibrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, photo) in EvalCommandTests.photos {
            try FileManager.default.copyItem(atPath: Paths.image(photo), toPath: dir.appendingPathComponent(name).path)
        }
        return dir
    }

    func testMassesAreProbabilitiesAndTheMaskFollowsTheRule() throws {
        let session = try Session(modelDirectory: tiny)
        let request = GenerationRequest(prompt: "Is there a cat?", images: [.path(Paths.image("chelsea.png"))])
        let tokens = try session.tokenize("Is there a cat?", images: 1)
        let span = tokens.imageSpans[0]
        let textRows = tokens.ids.count - span.range.upperBound
        let sample = try session.attentionMasses(request)
        XCTAssertEqual(sample.textQueries.count, 3)
        XCTAssertEqual(sample.textQueries[0].count, 4)
        for l in 0..<3 {
            for h in 0..<4 {
                let t = sample.textQueries[l][h], v = sample.visualQueries[l][h]
                XCTAssertEqual(t.visual + t.text + t.system, Double(textRows), accuracy: 1e-3, "layer \(l) head \(h)")
                XCTAssertEqual(v.visual + v.text + v.system, Double(span.length), accuracy: 1e-2, "layer \(l) head \(h)")
                // Image rows see no text after the image (causal).
                XCTAssertEqual(v.text, 0)
                XCTAssertGreaterThan(t.text, 0)
                XCTAssertGreaterThan(t.system, 0)
            }
        }
        // The same request again: the same numbers.
        XCTAssertEqual(try session.attentionMasses(request), sample)

        // Through the command: the mask equals the rule applied to the report's masses.
        let dir = try images()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mask = dir.appendingPathComponent("mask.npy").path, report = dir.appendingPathComponent("report.json").path
        let run = try runYOPO([
            "calibrate", "--model", tiny, "--benchmark", "pope", "--questions", questions, "--images", dir.path, "--samples", "4",
            "--keep", "0.5", "--out", mask, "--report", report
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("6 of 12 heads kept (per layer: "), run.stdout)
        let written = try NPYArray(path: mask)
        XCTAssertEqual(written.shape, [3, 4])
        XCTAssertEqual(written.descr, "|b1")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let dumped = try XCTUnwrap(json["masses_visual_text_system"] as? [[[[Double]]]])
        XCTAssertEqual(dumped.count, 4)
        let samples = dumped.map { s in s.map { l in l.map { VisualAttentionMass(visual: $0[0], text: $0[1], system: $0[2]) } } }
        XCTAssertEqual(try HeadCalibration.mask(samples, rule: .keepFraction(0.5)).flatMap { $0 }, written.bools)
        // The report draws: one heatmap cell per layer and head, one point per layer, distances.
        let charts = dir.appendingPathComponent("charts").path
        let analyze = try runYOPO(["analyze", "--calibration", report, "--out", charts])
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertEqual(
            analyze.stdout.split(separator: "\n").map { String($0) },
            ["visual_attention_per_layer.svg", "head_activity.svg", "attention_distance.svg"].map { "\(charts)/\($0)" })
        let heatmap = try String(contentsOfFile: "\(charts)/head_activity.svg", encoding: .utf8)
        XCTAssertTrue(heatmap.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertEqual(heatmap.components(separatedBy: "<title>").count - 1, 12)
        let perLayer = try String(contentsOfFile: "\(charts)/visual_attention_per_layer.svg", encoding: .utf8)
        XCTAssertEqual(perLayer.components(separatedBy: "<circle").count - 1, 3)
        // A file that is not a report, and no input at all: one line each.
        let notReport = try runYOPO(["analyze", "--calibration", mask, "--out", charts])
        XCTAssertNotEqual(notReport.status, 0)
        XCTAssertTrue(notReport.stderr.hasPrefix("error: \(mask): "), notReport.stderr)
        let nothing = try runYOPO(["analyze", "--out", charts])
        XCTAssertEqual(nothing.stderr, "error: give --calibration REPORT.json and/or --eval SUMMARY.json\n")

        // The mask runs as a YOPO plan.
        let generate = try runYOPO([
            "generate", "--model", tiny, "--image", Paths.image("chelsea.png"), "--prompt", "Is there a cat?", "--max-tokens", "2",
            "--prune", "yopo:heads=\(mask)"
        ])
        XCTAssertEqual(generate.status, 0, generate.stderr)
    }

    /// Accuracy against FLOPs: one labelled point per scored plan of the summaries, at the YOPO
    /// convention's FLOPs.
    func testAccuracyChartFromEvalSummaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-analyze-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let summary = dir.appendingPathComponent("summary.json")
        try Data(
            """
            {"benchmark": "pope", "plans": [
             {"method": "dense", "prune": "none", "convention_flops_per_question": {"yopo": 7.63e12}, "score": {"primary": {"name": "f1", "value": 85.9}}},
             {"method": "YOPO", "prune": "yopo-25", "convention_flops_per_question": {"yopo": 1.91e12}, "score": {"primary": {"name": "f1", "value": 86.8}}},
             {"method": "FastV", "prune": "fastv:k=2,r=0.75", "convention_flops_per_question": {"yopo": 1.9e12}, "score": null}]}
            """.utf8
        ).write(to: summary)
        let (name, svg) = try Analysis.accuracyChart(summaries: [summary.path])
        XCTAssertEqual(name, "accuracy_vs_flops.svg")
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2, "the unscored plan has no point")
        XCTAssertTrue(svg.contains(">dense none</text>") && svg.contains(">YOPO yopo-25</text>"), svg)
        XCTAssertTrue(svg.contains("f1 against visual FLOPs per question"))
        XCTAssertTrue(svg.contains("YOPO-convention TFLOPs per question"))
    }

    func testBadOptionsFailWithOneLine() throws {
        let dir = try images()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = [
            "calibrate", "--model", tiny, "--benchmark", "pope", "--questions", questions, "--images", dir.path, "--out", "/tmp/x.npy"
        ]
        for (extra, message) in [
            ([String](), "give --alpha A (the official rule) or --keep F (a fraction of the heads)"),
            (["--alpha", "0.1", "--keep", "0.5"], "give --alpha or --keep, not both"),
            (["--keep", "0.5", "--votes", "3"], "--votes goes with --alpha, not --keep"),
            (["--keep", "1.5"], "--keep"),
            (["--alpha", "0.1", "--samples", "7"], "has 6 question(s) with an image; --samples 7 needs at least that many")
        ] {
            let run = try runYOPO(base + extra)
            XCTAssertNotEqual(run.status, 0, "\(extra)")
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("error: ") && run.stderr.contains(message), "\(extra): \(run.stderr)")
        }
    }
}
