import Foundation
import XCTest
import YOPOCore
import YOPOEngine
import YOPOPruning
@testable import YOPOModels

/// Issue 15: on Qwen2-VL (and, in `Qwen25VLFLOPsTests`, Qwen2.5-VL's windowed tower) the engine's
/// executed-FLOPs counter equals the analytic `full` count exactly: vision tower and merger, dense
/// prefill and decode on the square, wide and tall prompts of the goldens, and every golden YOPO
/// plan (skip: the pruned work; simulate: the dense work).
class Qwen2VLFLOPsTests: XCTestCase {
    class var checkpoint: String { "qwen2-vl-tiny" }
    class var goldenName: String { "qwen2vl_tiny" }

    struct Golden: Decodable {
        struct Prompt: Decodable {
            var label: String
            var images: [String]
            var input_ids: [Int]
        }
        struct Yopo: Decodable {
            var plan: String
            var mode: String
        }
        var prompts: [Prompt]
        var yopo: [Yopo]
    }

    /// The cost shape read from config.json agrees with the loaded model's and has the tower's facts.
    func testCostShapeFromTheCheckpoint() throws {
        let directory = Fixtures.models(Self.checkpoint)
        let dims = try ModelRegistry.costShape(directory: directory)
        let model = try Qwen2VLModel(directory: directory)
        XCTAssertEqual(dims, try model.costShape(name: Self.checkpoint))
        XCTAssertEqual(dims.family, "qwen2-vl")
        let v = model.configuration.vision
        let merged = try XCTUnwrap(dims.vision.mergedPatches)
        XCTAssertEqual(
            [
                dims.vision.hiddenSize, dims.vision.intermediateSize, dims.vision.layersComputed, merged.patchDimension,
                merged.spatialMergeSize
            ],
            [v.embedDim, v.intermediateSize, v.depth, 1176, 2])
        XCTAssertEqual(merged.swiGLU, v.variant == .qwen25VL)
        XCTAssertEqual(merged.windowTokens, v.variant == .qwen25VL ? 4 : nil)
        XCTAssertEqual(dims.vision.tokenPatchSize, 28)
        XCTAssertThrowsError(try Qwen2VLFamily.costShape(directory: directory, visionTower: "/tmp/clip", name: "x")) { error in
            XCTAssertTrue("\(error)".contains("separate vision tower"), "\(error)")
        }
    }

    func testExecutedFLOPsEqualTheAnalyticCount() throws {
        let directory = Fixtures.models(Self.checkpoint)
        let model = try Qwen2VLModel(directory: directory)
        let golden = try JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(Self.goldenName).json"))))
        let flops = try FLOPsModel(try model.costShape(name: Self.checkpoint))
        let pad = model.configuration.imageTokenID
        let steps = 3

        /// Vision, prefill and `steps` greedy decode steps under `execution`, counted.
        func run(_ p: Golden.Prompt, _ execution: DecoderExecution) throws -> (FLOPCounter, PromptLayout) {
            let pixels = try model.processor.preprocess(contentsOf: Fixtures.root.appendingPathComponent("images/\(p.images[0])").path)
            let counter = FLOPCounter()
            let features = model.imageFeatures(pixels, counter: counter)
            let grid = VisualGrid(rows: pixels.gridH / 2, columns: pixels.gridW / 2)
            let start = try XCTUnwrap(p.input_ids.firstIndex(of: pad))
            let (positions, _) = try Qwen2VLModel.ropeIndex(ids: p.input_ids, imageToken: pad, grids: [(grid.rows, grid.columns)])
            let embeddings = try model.inputEmbeddings(ids: p.input_ids, images: [features])
            let cache = model.decoder.makeCache(capacity: p.input_ids.count + steps)
            counter.stage = .prefill
            var logits = model.decoder.forward(
                embeddings, cache: cache, images: [ImageLayout(start: start, gridRows: grid.rows, gridColumns: grid.columns)],
                plan: execution, counter: counter, rotaryPositions: positions)
            counter.stage = .decode
            for _ in 0..<steps {
                let s = logits.scalars
                let best = s.indices.max { s[$0] < s[$1] }!
                logits = model.decoder.forward(model.decoder.embed([best]), cache: cache, plan: execution, counter: counter)
            }
            let layout = PromptLayout(
                systemTokens: start, grid: grid, textTokens: p.input_ids.count - start - grid.cells, decodeSteps: steps)
            return (counter, layout)
        }

        let single = golden.prompts.filter { $0.images.count == 1 }
        XCTAssertEqual(single.map(\.label), ["square", "wide", "tall"])
        var dense: [String: Int] = [:]
        for p in single {
            let (counter, layout) = try run(p, .dense)
            let expected = try flops.full(layout)
            XCTAssertEqual(counter.counts, expected.counts, p.label)
            XCTAssertGreaterThan(expected.all.total(stage: .vision), 0, p.label)
            dense[p.label] = counter.total
        }
        let wide = try XCTUnwrap(single.first { $0.label == "wide" })
        XCTAssertEqual(golden.yopo.count, 12)
        for y in golden.yopo {
            let plan = try XCTUnwrap(PruningSpec(parsing: y.plan, baseDirectory: Fixtures.root.path).resolve(for: model.decoder.spec.shape))
            let mode = try XCTUnwrap(YOPOMode(rawValue: y.mode))
            let (counter, layout) = try run(wide, DecoderExecution(plan: plan, mode: mode))
            XCTAssertEqual(counter.counts, try flops.full(layout, plan: plan, mode: mode).counts, "\(y.plan) \(y.mode)")
            if mode == .skip {
                XCTAssertLessThan(counter.total, dense["wide"]!, y.plan)
            } else {
                XCTAssertEqual(counter.total, dense["wide"]!, y.plan)
            }
        }
    }
}

/// The same on Qwen2.5-VL: window attention (partial windows on 18×18, 11×16 and 7×4 grids) with
/// full-attention blocks, SwiGLU MLP.
final class Qwen25VLFLOPsTests: Qwen2VLFLOPsTests {
    override class var checkpoint: String { "qwen2.5-vl-tiny" }
    override class var goldenName: String { "qwen25vl_tiny" }

    /// The fixture's windowed tower: 4 blocks, full attention in blocks 1 and 3, 4 × 4-token windows;
    /// on the wide image's 11 × 16 grid its vision stage does less attention than full blocks would.
    func testWindowedTowerShape() throws {
        let dims = try ModelRegistry.costShape(directory: Fixtures.models(Self.checkpoint))
        let merged = try XCTUnwrap(dims.vision.mergedPatches)
        XCTAssertEqual(merged.fullAttentionBlocks, [1, 3])
        XCTAssertEqual(merged.windowTokens, 4)
        let grid = VisualGrid(rows: 11, columns: 16)
        // Rows 4 + 4 + 3, columns 4 · 4: 16 · (16 + 16 + 9) · (4 · 16) = 41984 pairs per windowed block.
        XCTAssertEqual(merged.attentionPairs(grid: grid, fullAttention: false), 41984)
        XCTAssertEqual(merged.attentionPairs(grid: grid, fullAttention: true), 704 * 704)
    }
}

/// Exact counts of the dynamic-resolution tower's formula, by hand.
final class MergedTowerFLOPsTests: XCTestCase {
    /// Window pairs on a 5 × 6 grid with 4-token windows: rows split 4 + 1, columns 4 + 2, so
    /// Σ (patch rows per window)² = 4² · (4² + 1²) · (4² + 2²) = 16 · 17 · 20 = 5440; full: (30 · 4)².
    func testAttentionPairs() throws {
        let v = ModelDimensions.qwen25VL_7B.vision.mergedPatches!
        let grid = VisualGrid(rows: 5, columns: 6)
        XCTAssertEqual(v.attentionPairs(grid: grid, fullAttention: false), 5440)
        XCTAssertEqual(v.attentionPairs(grid: grid, fullAttention: true), 14400)
        XCTAssertEqual(ModelDimensions.qwen2VL_7B.vision.mergedPatches!.attentionPairs(grid: grid, fullAttention: false), 14400)
    }

    /// Qwen2-VL-7B's vision stage on a 1920 × 1080 photo (39 × 69 = 2691 tokens, 10764 patches):
    /// patch embedding 2·10764·1176·1280; per block 8·N·1280² (qkv + proj), 4·N²·1280 (attention),
    /// 4·N·1280·5120 (fc1, fc2); merger 2·2691·5120² + 2·2691·5120·3584. Qwen2.5-VL-7B: 28 windowed
    /// blocks and 4 full ones, SwiGLU 3420 (6·N·1280·3420).
    func testVisionStageOfA1080pPhoto() throws {
        let grid = VisualGrid(rows: 39, columns: 69)
        let layout = PromptLayout(systemTokens: 15, grid: grid, textTokens: 20)
        let N = 10764, e = 1280
        let merger = 2 * 2691 * 5120 * 5120 + 2 * 2691 * 5120 * 3584
        let qwen2 = try FLOPsModel(.qwen2VL_7B).full(layout).all.total(stage: .vision)
        XCTAssertEqual(qwen2, 2 * N * 1176 * e + 32 * (8 * N * e * e + 4 * N * N * e + 4 * N * e * 5120) + merger)
        XCTAssertEqual(qwen2, 32_799_606_128_640)
        let windowed = ModelDimensions.qwen25VL_7B.vision.mergedPatches!.attentionPairs(grid: grid, fullAttention: false)
        let qwen25 = try FLOPsModel(.qwen25VL_7B).full(layout).all.total(stage: .vision)
        XCTAssertEqual(
            qwen25, 2 * N * 1176 * e + 32 * (8 * N * e * e + 6 * N * e * 3420) + 28 * 4 * windowed * e + 4 * 4 * N * N * e + merger)
        XCTAssertEqual(layout.visualTokens(.qwen2VL_7B), 2691)
    }
}
