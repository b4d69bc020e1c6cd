import Foundation
import XCTest
import YOPOCore
import YOPOPruning
@testable import YOPOModels

/// Issue 12: the executed FLOPs of every golden plan are the integers the engine counted before
/// the engine was rebuilt (commit 4c61590), cell by cell (stage × layer × token group). The
/// analytic-count tests compare the engine with `FLOPsModel.full`; this one holds both to the old
/// numbers, so a change to the counter and to the model together cannot slip through.
///
/// The snapshot `Tests/Fixtures/flops/executed_flops.json` was written by this test with
/// `YOPO_WRITE_FLOPS_SNAPSHOT=1` on 4c61590; without the variable the test only reads it.
final class ExecutedFLOPsSnapshotTests: XCTestCase {
    static let snapshotPath = Fixtures.root.appendingPathComponent("flops/executed_flops.json").path

    /// Case name → the runs it covers: prompt + 4 decode steps on the chelsea golden prompt, vision counted.
    func executedCounts() throws -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        func key(_ k: FLOPKey) -> String { "\(k.stage.rawValue)/\(k.layer.map(String.init) ?? "-")/\(k.group.rawValue)" }
        func record(_ name: String, _ counter: FLOPCounter) {
            out[name] = Dictionary(uniqueKeysWithValues: counter.counts.map { (key($0.key), $0.value) })
        }
        let steps = 4
        let dense = FLOPCounter()
        _ = try runCase("hf_chelsea", execution: { _ in .dense }, steps: steps, counter: dense, countVision: true)
        record("llava-hf-tiny/dense", dense)
        for checkpoint in ["llava-hf-tiny", "llava-hf-tiny-32x32"] {
            let model = try loadModel(checkpoint)
            let dims = try ModelDimensions(model.configuration, name: checkpoint)
            let plans = PruningGolden.names.filter { $0.hasPrefix("prune_\(checkpoint)_") && $0.hasSuffix("_skip") }
            XCTAssertEqual(plans.count, checkpoint == "llava-hf-tiny" ? 5 : 2, checkpoint)
            for name in plans {
                let spec = try JSONDecoder().decode(
                    PruningGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json")))
                ).plan
                let plan = try XCTUnwrap(PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(for: dims.decoderShape))
                for mode in YOPOMode.allCases {
                    let counter = FLOPCounter()
                    _ = try runCase(
                        "hf_chelsea", checkpoint: checkpoint, execution: { _ in .init(plan: plan, mode: mode) },
                        steps: steps, counter: counter, countVision: true)
                    record("\(checkpoint)/\(spec)/\(mode.rawValue)", counter)
                }
            }
        }
        for spec in BaselineFLOPsTests.specs {
            let baseline = try XCTUnwrap(BaselineSpec.parse(spec), spec)
            let counter = FLOPCounter()
            _ = try runCase(
                "hf_chelsea", execution: { _ in .tokenPruning(try baseline.makePruner(layers: 3)) }, steps: steps,
                counter: counter, countVision: true)
            record("llava-hf-tiny/\(spec)", counter)
        }
        return out
    }

    func testExecutedFLOPsEqualTheOldEngine() throws {
        let counts = try executedCounts()
        if ProcessInfo.processInfo.environment["YOPO_WRITE_FLOPS_SNAPSHOT"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileManager.default.createDirectory(
                atPath: (Self.snapshotPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try encoder.encode(counts).write(to: URL(fileURLWithPath: Self.snapshotPath))
        }
        let snapshot = try JSONDecoder().decode(
            [String: [String: Int]].self, from: Data(contentsOf: URL(fileURLWithPath: Self.snapshotPath)))
        XCTAssertEqual(Set(counts.keys), Set(snapshot.keys))
        XCTAssertEqual(snapshot.count, 1 + 2 * (5 + 2) + BaselineFLOPsTests.specs.count)
        for (name, cells) in snapshot.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(counts[name], cells, name)
        }
    }
}
