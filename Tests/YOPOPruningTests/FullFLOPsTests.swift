import Foundation
import XCTest
import YOPOCore
import YOPOPruning

/// Writes a bool `.npy` mask (`[rows, columns]`, True = keep) and returns its path.
func writeMask(_ rows: [[Bool]], in directory: URL, name: String = "mask.npy") throws -> String {
    let shape = rows.count == 1 && rows[0].isEmpty ? "()" : "(\(rows.count), \(rows.first?.count ?? 0))"
    var header = "{'descr': '|b1', 'fortran_order': False, 'shape': \(shape), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data += Data(header.utf8)
    data += Data(rows.flatMap { $0.map { $0 ? UInt8(1) : 0 } })
    let url = directory.appendingPathComponent(name)
    try data.write(to: url)
    return url.path
}

/// The `full` convention against hand-computed integers (docs/FLOPS.md "`full`", "Pruned runs",
/// "Attribution"); the literals come from Tools/reference/full_flops_rules.py, an independent row-by-row,
/// head-by-head evaluator of those rules (run it to reproduce them).
/// Shape: the bundled tiny fixture — text d 24, 3 layers, 4 heads / 2 kv heads × 6, I 64, V 32064;
/// vision d 32, I 64, 3 layers of which 2 computed, patch 14, 336 px.
///
/// Per-row constants: projections 2·24·24 + 2·24·12·2 + 2·24·24 = 3456; FFN 2·24·64·3 = 9216
/// (12672 together); LM head 2·24·32064 = 1539072; attention per row and head 2·keys·6·2 = 24·keys.
/// GQA: query head h uses key/value head h / 2.
final class FullFLOPsTests: XCTestCase {
    static let tiny = ModelDimensions(
        name: "tiny",
        text: .init(
            hiddenSize: 24, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 6,
            intermediateSize: 64, vocabSize: 32064),
        vision: .init(
            hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 3, layersComputed: 2, patchSize: 14,
            imageSize: 336))
    let model = try! FLOPsModel(FullFLOPsTests.tiny)
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-flops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Mask rows: layer 0 all heads, layer 1 heads 0 and 2, layer 2 head 3.
    func maskPlan(_ fields: String) throws -> YOPOPlan {
        let path = try writeMask(
            [[true, true, true, true], [true, false, true, false], [false, false, false, true]], in: scratch)
        return try XCTUnwrap(try PruningSpec(parsing: "yopo:heads=\(path),\(fields)").resolve(for: model.dimensions.decoderShape))
    }

    func key(_ stage: FLOPStage, _ layer: Int?, _ group: TokenGroup) -> FLOPKey { FLOPKey(stage, layer: layer, group) }

    /// 3 system + 16 visual (4 × 4) + 5 text = 24 prompt rows, 2 decode steps, dense.
    func testDenseSmallPrompt() throws {
        let layout = PromptLayout(systemTokens: 3, grid: .square(4), textTokens: 5, decodeSteps: 2)
        let r = try model.full(layout)
        // Vision: patch 2·16·588·32 = 602112; per layer (N = 17) 2·17·32·32·4 + 2·17·17·32·2 +
        // 2·17·32·64·2 = 139264 + 36992 + 139264 = 315520, two layers. Projector 2·16·32·24 + 2·16·24·24.
        // Prefill: one block of 24 rows, keys 24 (the image span [3, 19) ends inside the block, so it does
        // not extend them): attention 4·24·24 = 2304 per row → 14976 per row and layer.
        // The last layer: every row's k and v, 2·24·12·2 = 1152; only the last row (text) adds q and o
        // (2304), the FFN (9216) and attention over all 24 keys (2304): 13824 more.
        // Decode step j: keys 25 + j, 4·24·(25 + j) = 2400 / 2496 → 15072 + 15168 per layer.
        var expected: [FLOPKey: Int] = [
            key(.vision, nil, .visual): 602112 + 2 * 315520,
            key(.projector, nil, .visual): 24576 + 18432,
            key(.prefill, nil, .text): 1539072,
            key(.decode, nil, .text): 2 * 1539072
        ]
        for l in 0..<3 {
            expected[key(.prefill, l, .system)] = 3 * (l < 2 ? 14976 : 1152)
            expected[key(.prefill, l, .visual)] = 16 * (l < 2 ? 14976 : 1152)
            expected[key(.prefill, l, .text)] = l < 2 ? 5 * 14976 : 5 * 1152 + 13824
            expected[key(.decode, l, .text)] = 15072 + 15168
        }
        XCTAssertEqual(r.counts, expected)
        XCTAssertEqual(r.total, 6_744_416)
        XCTAssertEqual(r.prefill.total, 6_744_416 - 2 * 1539072 - 3 * 30240)
        XCTAssertEqual(r.decodeSteps.map(\.total), [1539072 + 3 * 15072, 1539072 + 3 * 15168])
        XCTAssertEqual(try model.decodeStep(1, layout: layout), r.decodeSteps[1])
        // Components.
        XCTAssertEqual(r.all.total(component: .patchEmbedding), 602112)
        XCTAssertEqual(r.all.total(stage: .prefill, component: .attention), 2 * 24 * 2304 + 2304)
        XCTAssertEqual(r.all.total(stage: .prefill, component: .projections), 2 * 24 * 3456 + 24 * 1152 + 2304)
        XCTAssertEqual(r.all.total(stage: .prefill, component: .ffn), 2 * 24 * 9216 + 9216)
        XCTAssertEqual(r.all.total(component: .lmHead), 3 * 1539072)
        XCTAssertEqual(r.all.perLayer(stage: .decode)[2], 15072 + 15168)
        // Simulate mode does the dense work.
        let plan = try maskPlan("layers=2,window=3,ffn=3")
        XCTAssertEqual(try model.full(layout, plan: plan, mode: .simulate), r)
    }

    /// The same prompt in skip mode with the mask, K = 2, w = 3, r = 3 (F = int(64/3) = 21).
    func testSkipSmallPrompt() throws {
        let layout = PromptLayout(systemTokens: 3, grid: .square(4), textTokens: 5, decodeSteps: 2)
        let r = try model.full(layout, plan: try maskPlan("layers=2,window=3,ffn=3"), mode: .skip)
        // Text rows: 3 system + 5 text, one block of 8, text keys 8; its last row is after the image,
        // so kept heads add the 16 stored visual keys: per row 24·(4·8 + h_l·16).
        //   layer 0 (h 4): 24·96 = 2304;  layer 1 (h 2): 24·64 = 1536.
        // Layer 2 (dropped, last): text rows k and v only (1152), the last text row also q, o, FFN
        // (2304 + 9216) and attention over the 8 text keys (24·32 = 768).
        // Visual rows, layer 0: projections 2·16·24·6·(2·h_l + 2·g_l) (q and o over the h_l kept heads,
        // k and v over the g_l key/value heads serving them: h 4, g 2); FFN 2·16·24·21·3 = 48384;
        // attention h_l · 24 · Σ_i (3 + k_i) = h_l · 24 · (16·3 + 100) (w 3 on 4 × 4: 10 · 10 in-window
        // pairs): 55296 + 48384 + 14208 = 117888. Layer 1 is the visual rows' last (layer 2 drops them):
        // only k and v over g 2 (heads 0 and 2 → kv heads 0 and 1), 2·16·24·6·2·2 = 18432.
        // Decode step j: text keys 24 + j − 16 + 1 = 9 + j; 24·(4·(9 + j) + h_l·16) + 12672.
        let expected: [FLOPKey: Int] = [
            key(.vision, nil, .visual): 1233152,
            key(.projector, nil, .visual): 43008,
            key(.prefill, nil, .text): 1539072,
            key(.decode, nil, .text): 2 * 1539072,
            key(.prefill, 0, .system): 3 * (12672 + 2304), key(.prefill, 0, .text): 5 * (12672 + 2304),
            key(.prefill, 1, .system): 3 * (12672 + 1536), key(.prefill, 1, .text): 5 * (12672 + 1536),
            key(.prefill, 2, .system): 3 * 1152, key(.prefill, 2, .text): 5 * 1152 + 2304 + 9216 + 768,
            key(.prefill, 0, .visual): 117888,
            key(.prefill, 1, .visual): 18432,
            key(.decode, 0, .text): (12672 + 24 * (36 + 64)) + (12672 + 24 * (40 + 64)),
            key(.decode, 1, .text): (12672 + 24 * (36 + 32)) + (12672 + 24 * (40 + 32)),
            key(.decode, 2, .text): (12672 + 24 * 36) + (12672 + 24 * 40)
        ]
        XCTAssertEqual(r.counts, expected)
        XCTAssertNil(r.counts[key(.prefill, 2, .visual)])  // dropped layer: visual rows cost nothing
        XCTAssertEqual(r.all.total(stage: .prefill, group: .visual, component: .projections), 55296 + 18432)
        XCTAssertEqual(r.all.total(stage: .prefill, group: .visual, component: .ffn), 48384)
        XCTAssertEqual(r.all.total(stage: .prefill, group: .visual, component: .attention), 14208)
        XCTAssertEqual(r.total, 6_370_784)
    }

    /// A text-only prompt of 130 tokens: blocks of 64, 64, 2 with keys 64, 128, 130; in the last layer
    /// only row 129 attends (130 keys). No image, so every row is `text` and a plan changes nothing.
    func testQueryBlocksWithoutImage() throws {
        let layout = PromptLayout(segments: [.text(130)], grid: .square(24), decodeSteps: 1)
        let r = try model.full(layout)
        let attention = 4 * 24 * (64 * 64 + 64 * 128 + 2 * 130)
        XCTAssertEqual(r.all.perLayer(stage: .prefill, component: .attention), [0: attention, 1: attention, 2: 4 * 24 * 130])
        XCTAssertEqual(attention, 1_204_608)
        XCTAssertEqual(r.counts[key(.prefill, 2, .text)], 130 * 1152 + 2304 + 9216 + 4 * 24 * 130)
        XCTAssertEqual(r.counts[key(.prefill, 0, .text)], 130 * 12672 + attention)
        XCTAssertEqual(r.counts[key(.decode, 0, .text)], 12672 + 4 * 24 * 131)
        XCTAssertNil(r.counts[key(.vision, nil, .visual)])
        XCTAssertEqual(Set(r.counts.keys.map(\.group)), [.text])
        XCTAssertEqual(try model.full(layout, plan: try maskPlan("layers=1,window=3"), mode: .skip), r)
    }

    /// Skip mode: 70 system rows, a 2 × 2 image, 60 text rows, K = 1, all heads, no window.
    /// Text blocks: [0, 64) system only, before the image (keys 64); [64, 128) = 6 system + 58 text,
    /// after the image (keys 128 + stored); [128, 130) text (keys 130 + stored). In the last layer only
    /// the last text row attends (130 keys; layer 2 stores no visual keys).
    func testSkipBlocksSpanSystemAndText() throws {
        let layout = PromptLayout(systemTokens: 70, grid: .square(2), textTokens: 60)
        let plan = try XCTUnwrap(try PruningSpec(parsing: "yopo:layers=1").resolve(for: model.dimensions.decoderShape))
        let r = try model.full(layout, plan: plan, mode: .skip)
        // Layer 0 stores 4 heads × 4 visual keys = 16; layer 1 none.
        XCTAssertEqual(
            r.all.total(stage: .prefill, group: .system, component: .attention),
            (64 * 24 * 256 + 6 * 24 * 528) + (64 * 24 * 256 + 6 * 24 * 512))
        XCTAssertEqual(r.all.perLayer(stage: .prefill, group: .system, component: .attention), [0: 469248, 1: 466944])
        XCTAssertEqual(
            r.all.perLayer(stage: .prefill, group: .text, component: .attention),
            [0: 58 * 24 * 528 + 2 * 24 * 536, 1: 58 * 24 * 512 + 2 * 24 * 520, 2: 24 * 4 * 130])
        // Visual rows, layer 0, their last (K = 1): k and v over the 2 kv heads, 2·4·24·6·2·2; no q, o,
        // FFN or attention (nothing reads their output).
        XCTAssertEqual(r.counts[key(.prefill, 0, .visual)], 4608)
        XCTAssertNil(r.counts[key(.prefill, 1, .visual)])
    }

    /// Two images, dense: [1 text][2 × 2 image][2 text][2 × 2 image][3 text], one block of 14 rows.
    func testDenseTwoImages() throws {
        let layout = PromptLayout(segments: [.text(1), .image, .text(2), .image, .text(3)], grid: .square(2))
        let r = try model.full(layout)
        let perRow = 12672 + 4 * 24 * 14
        XCTAssertEqual(r.counts[key(.prefill, 1, .system)], perRow)
        XCTAssertEqual(r.counts[key(.prefill, 1, .visual)], 8 * perRow)
        XCTAssertEqual(r.counts[key(.prefill, 1, .text)], 5 * perRow)
        // Last layer: k and v per row (1152); the last row (text) q, o, FFN and 14 keys.
        XCTAssertEqual(r.counts[key(.prefill, 2, .visual)], 8 * 1152)
        XCTAssertEqual(r.counts[key(.prefill, 2, .text)], 5 * 1152 + 2304 + 9216 + 4 * 24 * 14)
        // Per image: patch 2·4·588·32 = 150528; per layer (N = 5) 40960 + 3200 + 40960; projector 6144 + 4608.
        XCTAssertEqual(r.counts[key(.vision, nil, .visual)], 2 * (150528 + 2 * 85120))
        XCTAssertEqual(r.counts[key(.projector, nil, .visual)], 2 * 10752)
        XCTAssertThrowsError(try model.full(layout, plan: try maskPlan("layers=2"), mode: .skip)) {
            XCTAssertEqual($0 as? FLOPsError, .unsupported("skip-mode counts cover one image per prompt (this layout has 2)"))
        }
    }

    /// The fixture prompt (5 system + 576 visual + 70 text, 3 decode steps): blocks cross the image
    /// and text boundaries. Values from Tools/reference/full_flops_rules.py.
    func testFixturePromptDenseAndSkip() throws {
        let layout = PromptLayout(systemTokens: 5, grid: .square(24), textTokens: 70, decodeSteps: 3)
        let dense = try model.full(layout)
        // Dense blocks 0–8 (rows 0–575) intersect the image span [5, 581), so their keys extend to 581:
        // system rows 5·(12672 + 96·581) = 342240; visual rows 571·(12672 + 96·581) + 5·(12672 + 96·640)
        // (rows 576–580 in block 9, keys 640); text rows 59·(12672 + 96·640) + 11·(12672 + 96·651).
        // Last layer: 1152 per row, the last row 2304 + 9216 + 96·651 more.
        XCTAssertEqual(dense.total, 225_011_904)
        XCTAssertEqual(dense.counts[key(.vision, nil, .visual)], 125_812_992)
        XCTAssertEqual(dense.counts[key(.projector, nil, .visual)], 1_548_288)
        XCTAssertEqual(dense.counts[key(.prefill, 0, .system)], 342_240)
        XCTAssertEqual(dense.counts[key(.prefill, 0, .visual)], 39_454_368)
        XCTAssertEqual(dense.counts[key(.prefill, 0, .text)], 5_199_456)
        XCTAssertEqual(dense.counts[key(.prefill, 2, .system)], 5 * 1152)
        XCTAssertEqual(dense.counts[key(.prefill, 2, .visual)], 576 * 1152)
        XCTAssertEqual(dense.counts[key(.prefill, 2, .text)], 70 * 1152 + 2304 + 9216 + 96 * 651)
        XCTAssertEqual(dense.counts[key(.decode, 0, .text)], 226_080)
        XCTAssertEqual(dense.counts[key(.decode, nil, .text)], 3 * 1_539_072)

        let skip = try model.full(layout, plan: try maskPlan("layers=2,window=5,ffn=2"), mode: .skip)
        XCTAssertEqual(skip.total, 149_951_040)
        let expected: [FLOPKey: Int] = [
            key(.vision, nil, .visual): 125_812_992, key(.projector, nil, .visual): 1_548_288,
            key(.prefill, nil, .text): 1_539_072, key(.decode, nil, .text): 4_617_216,
            key(.prefill, 0, .system): 370_560, key(.prefill, 0, .visual): 6_168_960, key(.prefill, 0, .text): 5_199_456,
            key(.prefill, 1, .system): 232_320, key(.prefill, 1, .visual): 663_552, key(.prefill, 1, .text): 3_264_096,
            key(.prefill, 2, .system): 5760, key(.prefill, 2, .text): 99360,
            key(.decode, 0, .text): 226_080, key(.decode, 1, .text): 143_136, key(.decode, 2, .text): 60192
        ]
        XCTAssertEqual(skip.counts, expected)
        // Decode step j, layer 0: text keys 651 + j − 576 + 1 = 76 + j, all 4 heads read 576 visual keys:
        // 12672 + 24·(4·(76 + j) + 4·576).
        XCTAssertEqual(skip.decodeSteps.map { $0.counts[key(.decode, 0, .text)] }, [75264, 75360, 75456])
        XCTAssertEqual(skip.decodeSteps.map(\.total), [1_681_920, 1_682_208, 1_682_496])
    }

    /// The default CLI prompt on the fixture (35 + 576 + 83, no decode): the number `yopo flops
    /// --model llava-hf-tiny --convention full` prints.
    func testFixtureDefaultPromptTotal() throws {
        XCTAssertEqual(try model.full(PromptLayout(systemTokens: 35, grid: .square(24), textTokens: 83)).total, 229_998_144)
    }

    func testCLSKeptAndErrors() throws {
        var dims = FullFLOPsTests.tiny
        dims.vision.dropsCLS = false
        let cls = try FLOPsModel(dims)
        let layout = PromptLayout(systemTokens: 3, grid: .square(4), textTokens: 5)
        let r = try cls.full(layout)
        XCTAssertEqual(layout.visualTokens(dims), 17)
        XCTAssertEqual(r.counts[key(.projector, nil, .visual)], 2 * 17 * 32 * 24 + 2 * 17 * 24 * 24)
        XCTAssertEqual(r.counts[key(.prefill, 0, .visual)], 17 * (12672 + 4 * 24 * 25))
        XCTAssertThrowsError(try cls.full(layout, plan: try maskPlan("window=3"), mode: .skip)) {
            XCTAssertEqual($0 as? FLOPsError, .unsupported("a window needs the visual tokens to be the patch grid (this model keeps CLS)"))
        }
        // A plan for another shape.
        let big = try XCTUnwrap(try PruningSpec(parsing: "yopo-25").resolve(for: .llava15_7B))
        XCTAssertThrowsError(try model.full(layout, plan: big)) {
            XCTAssertEqual(
                $0 as? FLOPsError,
                .invalidSettings(
                    "the plan is for 32 layers × 32 heads, FFN 11008; the model has 3 × 4, FFN 64"))
        }
        XCTAssertThrowsError(try model.full(PromptLayout(systemTokens: 3, grid: .square(4), textTokens: 5, decodeSteps: -1))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("-1 decode steps (must be ≥ 0)"))
        }
        XCTAssertThrowsError(try model.full(PromptLayout(segments: [.text(0)], grid: .square(4)))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("the prompt has no tokens"))
        }
        XCTAssertThrowsError(try model.decodeStep(-1, layout: layout)) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("decode step -1 (must be ≥ 0)"))
        }
        XCTAssertThrowsError(try VisualGrid(parsing: "24")) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("grid '24' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)"))
        }
        XCTAssertEqual(try VisualGrid(parsing: "24×48"), VisualGrid(rows: 24, columns: 48))
        // Sizes whose products would leave 64-bit integers are refused, not trapped.
        let b13 = try FLOPsModel(.llava15_13B)
        XCTAssertThrowsError(try b13.full(PromptLayout(systemTokens: 0, grid: .square(2000), textTokens: 0))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("the run's FLOPs would exceed the 64-bit integer range"))
        }
        XCTAssertThrowsError(try b13.count(.yopo, layout: PromptLayout(systemTokens: 0, grid: .square(5000), textTokens: 0))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("grid 5000x5000 has more than 16777216 cells"))
        }
        XCTAssertThrowsError(try model.full(PromptLayout(systemTokens: 1, grid: .square(4), textTokens: 1, decodeSteps: 70000))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("70000 decode steps (at most 65536)"))
        }
    }

    /// 7B, yopo-25 in skip mode against the yopo convention: the visual rows' projections and FFN are
    /// exactly the convention's (h_l/H)·8nd² + 6ndF (no GQA, so k and v cover g_l = h_l heads) in layers
    /// 0–14; in layer 15, their last, nothing reads their output, so only k and v ((h/H)·4nd²) are
    /// done. Their attention adds the s prefix keys the convention leaves out (h_l · 4·hd·n·s per layer,
    /// layers 0–14); text rows differ only in the visual keys read.
    func testSevenBillionPresetAgainstYOPOConvention() throws {
        let b7 = try FLOPsModel(.llava15_7B)
        let layout = PromptLayout(systemTokens: 35, grid: .square(24), textTokens: 83)
        let dense = try b7.full(layout)
        // Vision tower: 2·576·588·1024 + 23 · (2·577·1024²·4 + 2·577²·1024·2 + 2·577·1024·4096·2).
        XCTAssertEqual(dense.counts[key(.vision, nil, .visual)], 366_033_858_560)
        XCTAssertEqual(dense.counts[key(.projector, nil, .visual)], 2 * 576 * 1024 * 4096 + 2 * 576 * 4096 * 4096)
        let plan = try XCTUnwrap(try PruningSpec(parsing: "yopo-25").resolve(for: b7.dimensions.decoderShape))
        let skip = try b7.full(layout, plan: plan)
        let convention = try b7.count(.yopo, .yopo(YOPOCostProfile(plan: plan)), layout: layout)
        let keptHeads = (0..<32).map { plan.keptHeads(layer: $0).count }.reduce(0, +)
        // headmask_7b_16, layers 0–15: 32 + 32 + 9 + 5 + 10 + 4 + 5 + 15 + 18 + 13 + 15 + 20 + 23 + 24 + 27 + 23
        XCTAssertEqual(keptHeads, 275)
        let visual = { (c: FLOPComponent) in Double(skip.all.total(stage: .prefill, group: .visual, component: c)) }
        XCTAssertEqual(convention.layers.count, 32)  // layers 16–31 count nothing
        let last = convention.layers[15], keptLast = plan.keptHeads(layer: 15).count
        XCTAssertEqual(keptLast, 23)
        XCTAssertEqual(
            visual(.projections) + visual(.ffn),
            convention.layers.reduce(0) { $0 + $1.projections + $1.ffn } - last.projections / 2 - last.ffn)
        XCTAssertEqual(
            visual(.attention),
            convention.layers.reduce(0) { $0 + $1.attention } - last.attention
                + Double((keptHeads - keptLast) * 4 * 128 * 576 * 35))
        for group in [TokenGroup.system, .text] {
            XCTAssertEqual(
                skip.all.total(stage: .prefill, group: group, component: .projections),
                dense.all.total(stage: .prefill, group: group, component: .projections))
            XCTAssertEqual(
                skip.all.total(stage: .prefill, group: group, component: .ffn),
                dense.all.total(stage: .prefill, group: group, component: .ffn))
        }
        XCTAssertEqual(skip.all.total(stage: .vision), dense.all.total(stage: .vision))
        XCTAssertEqual(skip.all.total(stage: .projector), dense.all.total(stage: .projector))
    }
}
