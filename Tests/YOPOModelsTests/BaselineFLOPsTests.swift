import Foundation
import XCTest
import YOPOCore
import YOPOPruning
@testable import YOPOModels

/// The token-pruning baselines (FastV, PyramidDrop, SparseVLM) run in the engine, and the engine's
/// executed-FLOPs counter equals the analytic `full` count (docs/FLOPS.md "Token-pruning baselines")
/// to the integer: vision, projector, every prefill layer on the rows it keeps, the baselines'
/// selection work, decode against each layer's stored rows, LM head.
final class BaselineFLOPsTests: XCTestCase {
    /// Three settings per baseline on the bundled 3-layer fixture, plus edge cases: nothing kept
    /// (FastV keep 0, PyramidDrop int(n·λ) = 0) and SparseVLM keeping no image token, so that its
    /// recycled rows go before the system rows.
    static let specs = [
        "fastv:k=1,r=0.5", "fastv:k=2,keep=98", "fastv:k=2,r=0.75",
        "pdrop:layers=1/2,ratio=0.5", "pdrop:layers=1,ratio=0.25", "pdrop:layers=2,ratio=0.5",
        "sparsevlm:layers=0/1,keep=100/50", "sparsevlm:layers=0,keep=300", "sparsevlm:layers=1,keep=64",
        "fastv:k=1,keep=0", "pdrop:layers=1,ratio=0.001", "sparsevlm:layers=0/1,keep=0/0"
    ]

    let steps = 3

    func setUpModel() throws -> (FLOPsModel, PromptLayout) {
        let model = try loadModel("llava-hf-tiny")
        let dims = try ModelDimensions(model.configuration, name: "llava-hf-tiny")
        let (golden, _) = try GoldenCase.load("hf_chelsea")
        let layout = PromptLayout(
            systemTokens: golden.image_span[0], grid: VisualGrid(rows: 24, columns: 24),
            textTokens: golden.input_ids.count - golden.image_span[0] - 576, decodeSteps: steps)
        return (try FLOPsModel(dims), layout)
    }

    func testExecutedEqualsAnalyticFull() throws {
        let (flops, layout) = try setUpModel()
        XCTAssertEqual(layout.systemTokens, 5)
        XCTAssertEqual(layout.textTokens, 10)
        let dense = try flops.full(layout)
        for spec in Self.specs {
            let baseline = try XCTUnwrap(BaselineSpec.parse(spec), spec)
            let counter = FLOPCounter()
            let run = try runCase(
                "hf_chelsea", execution: { _ in .tokenPruning(try baseline.makePruner(layers: 3)) }, steps: steps,
                counter: counter, countVision: true)
            let expected = try flops.full(layout, baseline: baseline)
            XCTAssertEqual(counter.counts, expected.counts, spec)
            XCTAssertEqual(counter.total, expected.total, spec)
            // Dropping rows always removes decoder work; with its selection work added a baseline can still
            // cost more than dense (SparseVLM pruning before the last layer, where only k and v remain).
            XCTAssertLessThan(expected.total - expected.all.total(component: .selection), dense.total, spec)
            // Each layer stored the rows it processed at prefill, then one row per decode step.
            let visual = try XCTUnwrap(expected.visualRows, spec)
            XCTAssertEqual(visual, try flops.baselineVisualRows(layout, baseline: baseline), spec)
            XCTAssertEqual((0..<3).map { run.cache.rows($0) }, visual.map { 5 + $0 + 10 + steps }, spec)
            // Decode steps and prefill add up; the stage totals are the counter's.
            XCTAssertEqual(expected.prefill.total + expected.decodeSteps.reduce(0) { $0 + $1.total }, expected.total, spec)
            for stage in FLOPStage.allCases {
                XCTAssertEqual(counter.total(stage), expected.all.total(stage: stage), "\(spec) \(stage)")
            }
        }
    }

    /// The image rows each layer processes follow the pruners: FastV round-half-even(n·(1−R)) or keep
    /// after layer K−1; PyramidDrop int(n·λ^i) after boundary i; SparseVLM min(keep, rows) plus
    /// ceil(int(0.3·deleted)/10) recycled when int(0.3·deleted) ≥ 2.
    func testVisualRowsPerLayer() throws {
        let (flops, layout) = try setUpModel()
        let cases: [(String, [Int])] = [
            ("fastv:k=1,r=0.5", [576, 288, 288]),
            ("fastv:k=2,keep=98", [576, 576, 98]),
            ("fastv:k=2,r=0.75", [576, 576, 144]),
            ("pdrop:layers=1/2,ratio=0.5", [576, 288, 144]),
            ("pdrop:layers=1,ratio=0.25", [576, 144, 144]),
            ("pdrop:layers=2,ratio=0.5", [576, 576, 288]),
            // 476 deleted: int(142.8) = 142 clustered, 15 recycled; then 115 − 50 = 65 deleted: 19, 2.
            ("sparsevlm:layers=0/1,keep=100/50", [576, 115, 52]),
            // 276 deleted: 82 clustered, 9 recycled.
            ("sparsevlm:layers=0,keep=300", [576, 309, 309]),
            // 512 deleted: 153 clustered, 16 recycled.
            ("sparsevlm:layers=1,keep=64", [576, 576, 80]),
            ("fastv:k=1,keep=0", [576, 0, 0]),
            ("pdrop:layers=1,ratio=0.001", [576, 0, 0]),
            // All 576 deleted: 172 clustered, 18 recycled (placed first); then 18 deleted: 5, 1.
            ("sparsevlm:layers=0/1,keep=0/0", [576, 18, 1])
        ]
        for (spec, rows) in cases {
            XCTAssertEqual(try flops.baselineVisualRows(layout, baseline: XCTUnwrap(BaselineSpec.parse(spec))), rows, spec)
        }
    }

    /// FastV K = 1, R = 0.5 checked by hand (d 24, 4 heads × 6, 2 kv heads, I 64, V 32064; prompt
    /// 5 system + 576 image + 10 text rows). Per row: projections 2·24·24 + 2·24·12·2 + 2·24·24 = 3456,
    /// FFN 2·24·64·3 = 9216; attention 4 heads × 2·keys·6·2 = 96·keys.
    /// Layer 0, 591 rows, image rows [5, 581): blocks 0–8 (576 rows) reach key 581, the last block of
    /// 15 rows key 591: 591·12672 + 96·(576·581 + 15·591) = 7 489 152 + 32 978 016 = 40 467 168, less
    /// the o_proj (1152) and FFN (9216) of the 288 image rows dropped after this layer's attention:
    /// 40 467 168 − 288·10368 = 37 481 184.
    /// Layer 1, 303 rows (288 image rows [5, 293)): 256 rows reach key 293, the last 47 rows key
    /// 303: 303·12672 + 96·(256·293 + 47·303) = 3 839 616 + 8 567 904 = 12 407 520.
    /// Layer 2, the last: k and v of the 303 rows, 303·1152 = 349 056; the last row alone adds q, o,
    /// FFN (11 520) and attention over 303 keys (96·303 = 29 088): 389 664.
    /// LM head 2·24·32064 = 1 539 072. Decode step j: 12672 + 96·(592 + j) in layer 0 and
    /// 12672 + 96·(304 + j) in layers 1 and 2, plus the LM head: 1 692 288 + 288·j.
    func testHandCheckedFastV() throws {
        let (flops, layout) = try setUpModel()
        let counter = FLOPCounter()
        _ = try runCase(
            "hf_chelsea", execution: { _ in .tokenPruning(try BaselineSpec.parse("fastv:k=1,r=0.5")!.makePruner(layers: 3)) },
            steps: steps, counter: counter, countVision: false)
        let perLayer = { (stage: FLOPStage, layer: Int?) in
            counter.counts.filter { $0.key.stage == stage && $0.key.layer == layer }.values.reduce(0, +)
        }
        XCTAssertEqual(perLayer(.prefill, 0), 37_481_184)
        XCTAssertEqual(perLayer(.prefill, 1), 12_407_520)
        XCTAssertEqual(perLayer(.prefill, 2), 389_664)
        XCTAssertEqual(perLayer(.prefill, nil), 1_539_072)
        XCTAssertEqual(counter.total(.prefill), 51_817_440)
        XCTAssertEqual(counter.total(.decode), (0..<steps).reduce(0) { $0 + 1_692_288 + 288 * $1 })
        XCTAssertEqual(counter.total(.decode), 5_077_728)
        let analytic = try flops.full(layout, baseline: try XCTUnwrap(BaselineSpec.parse("fastv:k=1,r=0.5")))
        XCTAssertEqual(analytic.all.total(stage: .prefill), 51_817_440)
        XCTAssertEqual(analytic.all.total(stage: .decode), 5_077_728)
        XCTAssertEqual(analytic.all.total(component: .selection), 0)
    }

    /// The selection work, by hand: PyramidDrop's ranking at boundary layer 0 over 591 rows is
    /// q 2·24·24 + k 2·591·24·12 + scores 2·591·6·4 = 1152 + 340 416 + 28 368 = 369 936 (group text);
    /// SparseVLM's rater product 2·576·24·10 = 276 480 (layer nil, visual) and, keeping 300 at layer 0,
    /// DPC-kNN over 82 tokens 2·82·24·82 = 322 752 (layer 0, visual).
    func testSelectionWork() throws {
        let (flops, layout) = try setUpModel()
        let pdrop = try flops.full(layout, baseline: XCTUnwrap(BaselineSpec.parse("pdrop:layers=1,ratio=0.25")))
        XCTAssertEqual(pdrop.all.perLayer(component: .selection), [0: 369_936])
        XCTAssertEqual(pdrop.all.total(group: .text, component: .selection), 369_936)
        let sparse = try flops.full(layout, baseline: XCTUnwrap(BaselineSpec.parse("sparsevlm:layers=0,keep=300")))
        XCTAssertEqual(sparse.all.total(component: .selection), 276_480 + 322_752)
        XCTAssertEqual(sparse.all.perLayer(component: .selection), [0: 322_752])
        XCTAssertEqual(sparse.all.cells[FLOPCell(FLOPKey(.prefill, .visual), .selection)], 276_480)
        XCTAssertEqual(
            try flops.full(layout, baseline: XCTUnwrap(BaselineSpec.parse("fastv:k=2,r=0.75"))).all.total(component: .selection), 0)
    }

    /// Settings the engine's pruners refuse are refused here too, with the pruners' own error; a prompt
    /// without an image is dense; SparseVLM without text after the image has no raters and prunes nothing.
    func testLimits() throws {
        let (flops, layout) = try setUpModel()
        for spec in ["fastv:k=3,r=0.5", "pdrop:layers=3,ratio=0.5", "sparsevlm:layers=2,keep=10"] {
            let baseline = try XCTUnwrap(BaselineSpec.parse(spec))
            var refused: PruningSpecError?
            XCTAssertThrowsError(try baseline.makePruner(layers: 3), spec) { refused = $0 as? PruningSpecError }
            XCTAssertNotNil(refused, spec)
            XCTAssertThrowsError(try flops.full(layout, baseline: baseline), spec) {
                XCTAssertEqual($0 as? PruningSpecError, refused, spec)
            }
        }
        let twoImages = PromptLayout(segments: [.text(5), .image, .text(3), .image, .text(4)], grid: .square(24))
        XCTAssertThrowsError(try flops.full(twoImages, baseline: .fastV(FastVSettings(k: 1))))
        let noImage = PromptLayout(segments: [.text(40)], grid: .square(24), decodeSteps: 2)
        XCTAssertEqual(
            try flops.full(noImage, baseline: .pyramidDrop(PyramidDropSettings(layers: [1], ratio: 0.5))).counts,
            try flops.full(noImage).counts)
        let noText = PromptLayout(systemTokens: 5, grid: .square(24), textTokens: 0, decodeSteps: 1)
        XCTAssertEqual(
            try flops.full(noText, baseline: .sparseVLM(SparseVLMSettings(layers: [0], keep: [10]))).counts,
            try flops.full(noText).counts)
    }
}
