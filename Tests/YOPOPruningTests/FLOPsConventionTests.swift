import Foundation
import XCTest
import YOPOPruning

/// Every published FLOPs number the conventions must reproduce, to printed precision
/// (METHOD.md §5, BASELINES.md §0–§5).
final class FLOPsConventionTests: XCTestCase {
    let b7 = try! FLOPsModel(.llava15_7B)
    let b13 = try! FLOPsModel(.llava15_13B)

    /// The LLaVA-1.5 prompt: s system tokens, one 24 × 24 image, t text tokens.
    func layout(system: Int = 35, grid: VisualGrid = .square(24), text: Int = 83) -> PromptLayout {
        PromptLayout(systemTokens: system, grid: grid, textTokens: text)
    }

    func tera(_ x: Double) -> String { String(format: "%.2f", x / 1e12) }
    func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    func plan(_ spec: String, _ model: FLOPsModel) throws -> YOPOPlan {
        try XCTUnwrap(try PruningSpec(parsing: spec).resolve(for: model.dimensions.decoderShape))
    }

    // MARK: yopo (METHOD.md §5.1)

    func testDenseYOPOConventionIsTable2Original() throws {
        let d7 = try b7.count(.yopo, layout: layout()), d13 = try b13.count(.yopo, layout: layout())
        // 32 · (8·576·4096² + 4·576²·4096 + 6·576·4096·11008), exact in Double.
        XCTAssertEqual(d7.total, 7_634_304_368_640)
        XCTAssertEqual(d13.total, 14_888_101_478_400)
        XCTAssertEqual(String(format: "%.2f", d7.reported), "7.63")
        XCTAssertEqual(String(format: "%.2f", d13.reported), "14.89")
        XCTAssertEqual(d7.reportedUnit, "T FLOPs")
        // Per layer: 77.31 G + 5.44 G + 155.83 G = 238.57 G (7B); 120.80 + 6.79 + 244.61 = 372.20 G (13B).
        for (r, printed) in [(d7, ["77.31", "5.44", "155.83", "238.57"]), (d13, ["120.80", "6.79", "244.61", "372.20"])] {
            let l0 = r.layers[0]
            XCTAssertEqual([l0.projections, l0.attention, l0.ffn, l0.total].map { String(format: "%.2f", $0 / 1e9) }, printed)
        }
        // Shares 32.4% / 2.3% / 65.3% (7B). METHOD.md prints 13B's as 32.4% / 1.8% / 65.7%: the
        // projections' 32.45% (32.454…) is truncated there, not rounded.
        func shares(_ r: ConventionFLOPs, _ digits: Int) -> [String] {
            let p = r.layers.reduce(0) { $0 + $1.projections }, a = r.layers.reduce(0) { $0 + $1.attention }
            let f = r.layers.reduce(0) { $0 + $1.ffn }
            return [p, a, f].map { String(format: "%.\(digits)f%%", 100 * $0 / r.total) }
        }
        XCTAssertEqual(shares(d7, 1), ["32.4%", "2.3%", "65.3%"])
        XCTAssertEqual(shares(d13, 2), ["32.45%", "1.83%", "65.72%"])
        // The conventions ignore the text around the image.
        XCTAssertEqual(try b7.count(.yopo, layout: layout(system: 0, text: 500)).total, d7.total)
    }

    /// METHOD.md §5.2 "each strategy alone", as a share of the dense count (n = 576).
    func testEachStrategyAlone() throws {
        for (model, expected) in [
            (b7, ["97.8%", "97.8%", "82.7%", "91.3%", "67.3%", "51.0%", "50.0%", "25.0%"]),
            (b13, ["98.2%", "98.2%", "82.9%", "91.4%", "67.1%", "50.7%", "50.0%", "25.0%"])
        ] {
            let L = model.dimensions.text.numHiddenLayers, H = Double(model.dimensions.text.numAttentionHeads)
            func alone(window: Int? = nil, layers: Int? = nil, heads: Double? = nil, ffn: Double = 1) -> YOPOCostProfile {
                .nominal(model.dimensions, window: window, keptLayers: layers ?? L, headsPerLayer: heads ?? H, ffnRatio: ffn)
            }
            let profiles = [
                alone(window: 5), alone(window: 3), alone(heads: H / 2), alone(heads: H * 0.75),
                alone(ffn: 2), alone(ffn: 4), alone(layers: L / 2), alone(layers: L / 4)
            ]
            let results = try profiles.map { try model.count(.yopo, .yopo($0), layout: layout()) }
            XCTAssertEqual(results.map { percent($0.ratio) }, expected, model.dimensions.name)
            XCTAssertEqual(tera(results[7].total), model.dimensions == b7.dimensions ? "1.91" : "3.72")
        }
    }

    /// The window's mean keys per query on 24 × 24 (METHOD.md §2.1).
    func testWindowMeans() {
        let grid = VisualGrid.square(24)
        XCTAssertEqual(
            [3, 5, 7, 11].map { String(format: "%.2f", Double(grid.windowPairs(window: $0)) / 576) },
            ["8.51", "22.56", "42.25", "95.06"])
        XCTAssertEqual(Double(grid.windowPairs(window: 5)) / 576, 22.5625)
        XCTAssertEqual(grid.windowPairs(window: nil), 576 * 576)
        XCTAssertEqual(grid.windowPairs(window: 1), 576)
        // 4 × 4, w 3: reach per axis 2 + 3 + 3 + 2 = 10.
        XCTAssertEqual(VisualGrid.square(4).windowPairs(window: 3), 100)
        XCTAssertEqual(VisualGrid(rows: 2, columns: 3).windowPairs(window: 3), 4 * 7)
    }

    /// METHOD.md §5.4: nominal and actual-mask columns.
    func testCandidateConfigurationTable() throws {
        let rows: [(FLOPsModel, Int, Int, String, String)] = [
            (b7, 16, 24, "28.5% (2.18 T)", "29.7% (2.27 T)"),
            (b7, 16, 16, "24.5% (1.87 T)", "25.1% (1.91 T)"),
            (b7, 8, 16, "12.2% (0.93 T)", "11.7% (0.89 T)"),
            (b7, 8, 24, "14.3% (1.09 T)", "14.6% (1.12 T)"),
            (b13, 20, 30, "28.6% (4.26 T)", "30.1% (4.47 T)"),
            (b13, 20, 20, "24.6% (3.66 T)", "26.1% (3.89 T)"),
            (b13, 10, 20, "12.3% (1.83 T)", "12.9% (1.92 T)"),
            (b13, 10, 30, "14.3% (2.13 T)", "15.1% (2.25 T)")
        ]
        for (model, K, heads, nominal, actual) in rows {
            let n = try model.count(
                .yopo, .yopo(.nominal(model.dimensions, window: 5, keptLayers: K, headsPerLayer: Double(heads), ffnRatio: 2)),
                layout: layout())
            let a = try model.count(
                .yopo, .yopo(YOPOCostProfile(plan: try plan("yopo:window=5,layers=\(K),heads-keep=\(heads),ffn=2", model))),
                layout: layout())
            XCTAssertEqual("\(percent(n.ratio)) (\(tera(n.total)) T)", nominal, "\(model.dimensions.name) K\(K) h\(heads)")
            XCTAssertEqual("\(percent(a.ratio)) (\(tera(a.total)) T)", actual, "\(model.dimensions.name) K\(K) h\(heads)")
        }
    }

    /// The presets are the §5.4 best reconstruction: 25.1% / 11.7% (7B), 26.1% / 12.9% (13B), and
    /// Table 2's budget labels 1.91 / 0.92 T and 3.72 / 1.79 T (§5.3) are 25% / 12% of the dense count.
    func testPresetsAndBudgetLabels() throws {
        for (model, expected) in [(b7, ["25.1%", "11.7%"]), (b13, ["26.1%", "12.9%"])] {
            let ratios = try ["yopo-25", "yopo-12"].map {
                try model.count(.yopo, .yopo(YOPOCostProfile(plan: try plan($0, model))), layout: layout()).ratio
            }
            XCTAssertEqual(ratios.map(percent), expected)
        }
        let d7 = try b7.count(.yopo, layout: layout()).reported, d13 = try b13.count(.yopo, layout: layout()).reported
        let labels = [0.25 * d7, 0.12 * d7, 0.25 * d13, 0.12 * d13].map { String(format: "%.2f", $0) }
        XCTAssertEqual(labels, ["1.91", "0.92", "3.72", "1.79"])
    }

    /// METHOD.md §5.5: w 5, K = L/2, half the heads (nominal), r 2, for 576 … 9216 tokens. The
    /// non-square counts use the scaling grids (24×48, 48×96); the window mean barely depends on it.
    func testScalingTable() throws {
        let expected: [(Int, String, String, String, String, String, String)] = [
            (576, "7.63", "1.87", "24.5%", "14.89", "3.66", "24.6%"),
            (1152, "15.62", "3.73", "23.9%", "30.32", "7.31", "24.1%"),
            (2304, "32.62", "7.47", "22.9%", "62.81", "14.63", "23.3%"),
            (4608, "70.82", "14.94", "21.1%", "134.33", "29.26", "21.8%"),
            (9216, "163.90", "29.87", "18.2%", "303.44", "58.51", "19.3%")
        ]
        XCTAssertEqual(b7.scalingGrids.map(\.cells), expected.map(\.0))
        XCTAssertEqual(b7.scalingGrids.map(\.description), ["24x24", "24x48", "48x48", "48x96", "96x96"])
        for (grid, row) in zip(b7.scalingGrids, expected) {
            var cells: [String] = []
            for model in [b7, b13] {
                let L = model.dimensions.text.numHiddenLayers
                let profile = YOPOCostProfile.nominal(
                    model.dimensions, window: 5, keptLayers: L / 2, headsPerLayer: Double(L) / 2, ffnRatio: 2)
                let r = try model.count(.yopo, .yopo(profile), layout: layout(grid: grid))
                cells += [tera(r.dense), tera(r.total), percent(r.ratio)]
            }
            XCTAssertEqual(cells, [row.1, row.2, row.3, row.4, row.5, row.6], "n = \(row.0)")
        }
    }

    // MARK: pdrop (BASELINES.md §2.3, §5)

    func testPyramidDropConvention() throws {
        let vanilla = try b7.count(.pdrop, layout: layout())
        XCTAssertEqual(vanilla.total * 2, try b7.count(.yopo, layout: layout()).total)  // exactly half of yopo
        XCTAssertEqual(vanilla.reportedUnit, "T MACs")
        let pdrop = try b7.count(.pdrop, .pyramidDrop(PyramidDropSettings()), layout: layout())
        let fastv = try b7.count(.pdrop, .fastV(FastVSettings(k: 2, removalRatio: 0.5)), layout: layout())
        XCTAssertEqual([vanilla, pdrop, fastv].map { String(format: "%.2f", $0.reported) }, ["3.82", "1.78", "2.01"])
        XCTAssertEqual(pdrop.layers.map(\.visualTokens), [576, 288, 144, 72].flatMap { Array(repeating: Double($0), count: 8) })
        XCTAssertEqual(percent(pdrop.ratio), "46.6%")
        // Budget table (§5), PDrop convention: FastV K 2 keeping 166/98/30 and 192/128/64, the derived
        // PDrop settings and SparseVLM's processed schedule at 192 (clusters included: 309/204/113).
        func t(_ m: FLOPsMethod) throws -> String { String(format: "%.2f", try b7.count(.pdrop, m, layout: layout()).reported) }
        XCTAssertEqual(
            try [166, 98, 30, 192, 128, 64].map { try t(.fastV(FastVSettings(k: 2, keep: $0))) },
            ["1.25", "0.84", "0.42", "1.41", "1.02", "0.63"])
        XCTAssertEqual(
            try [([3, 11, 19], 0.5), ([2, 4, 10], 0.5), ([2, 6, 12], 0.25)].map {
                try t(.pyramidDrop(PyramidDropSettings(layers: $0.0, ratio: $0.1)))
            }, ["1.25", "0.85", "0.44"])
        let sparse = try b7.count(.pdrop, .sparseVLM(SparseVLMSettings(layers: [2, 6, 15], keep: [309, 204, 113])), layout: layout())
        XCTAssertEqual(String(format: "%.2f", sparse.reported), "1.35")
        XCTAssertEqual(sparse.layers.reduce(0) { $0 + $1.visualTokens } / 32, 206.5)
    }

    // MARK: fastv (BASELINES.md §1.4)

    func testFastVConvention() throws {
        // Vanilla 99.3 B counts n = 612 (36 system tokens, FastV's --fast-v-sys-length); the pruned
        // rows use n = 611 (35), with n̂ = n − R·576 fractional.
        let vanilla = try b7.count(.fastv, layout: layout(system: 36))
        XCTAssertEqual(String(format: "%.1f", vanilla.reported), "99.3")
        XCTAssertEqual(String(format: "%.2f", vanilla.reported), "99.33")
        XCTAssertEqual(vanilla.reportedUnit, "B MACs per layer")
        XCTAssertEqual(String(format: "%.2f", try b7.count(.fastv, layout: layout(system: 35)).reported), "99.16")
        let pruned = try [0.5, 0.75, 0.9].map {
            try b7.count(.fastv, .fastV(FastVSettings(k: 2, removalRatio: $0)), layout: layout(system: 35)).reported
        }
        XCTAssertEqual(pruned.map { String(format: "%.1f", $0) }, ["54.6", "32.8", "19.9"])
        XCTAssertEqual(pruned.map { String(format: "%.2f", $0) }, ["54.63", "32.84", "19.92"])
        // The text after the image is not counted; K 2 R 50 at n = 612 gives 54.79.
        let at612 = try b7.count(.fastv, .fastV(FastVSettings()), layout: layout(system: 36, text: 0))
        XCTAssertEqual(String(format: "%.2f", at612.reported), "54.79")
        // 13B: C(612) = 154.6 B, K 2 R 50 = 84.6 B.
        let v13 = try b13.count(.fastv, layout: layout(system: 36))
        let p13 = try b13.count(.fastv, .fastV(FastVSettings()), layout: layout(system: 36))
        XCTAssertEqual([v13.reported, p13.reported].map { String(format: "%.1f", $0) }, ["154.6", "84.6"])
        // Two-matrix FFN: C(612) = 4nd² + 2n²d + 2ndm per layer, exactly.
        let n = 612.0, d = 4096.0, m = 11008.0
        XCTAssertEqual(vanilla.layers[0].total, 4 * n * d * d + 2 * n * n * d + 2 * n * d * m)
    }

    // MARK: sparsevlm (BASELINES.md §3.4)

    func testSparseVLMConvention() throws {
        // The whole sequence: 35 + 576 + 83 = 694 tokens, SparseVLM's mean behind 4.62 T.
        let vanilla = try b7.count(.sparsevlm, layout: layout())
        XCTAssertEqual(vanilla.layers[0].tokens, 694)
        XCTAssertEqual(String(format: "%.2f", vanilla.reported), "4.62")
        XCTAssertEqual(vanilla.reportedUnit, "T MACs")
        let v15 = try b7.count(.sparsevlm, .sparseVLM(try SparseVLMSettings(tokens: 192)), layout: layout())
        XCTAssertEqual(
            v15.layers.map(\.visualTokens),
            Array(repeating: 576.0, count: 3) + Array(repeating: 300, count: 4) + Array(repeating: 200, count: 9)
                + Array(repeating: 110, count: 16))
        XCTAssertEqual(v15.layers.map(\.tokens).last, 35 + 110 + 83)
    }

    // MARK: what the conventions refuse

    func testConventionErrors() throws {
        let yopo = FLOPsMethod.yopo(YOPOCostProfile(plan: try plan("yopo-25", b7)))
        XCTAssertThrowsError(try b7.count(.fastv, yopo, layout: layout())) {
            XCTAssertEqual(
                $0 as? FLOPsError,
                .unsupported(
                    "the fastv convention counts tokens, not heads or windows; count YOPO under yopo, pdrop or full"))
        }
        XCTAssertThrowsError(try b7.count(.sparsevlm, yopo, layout: layout()))
        XCTAssertThrowsError(try b7.count(.full, layout: layout())) {
            XCTAssertEqual($0 as? FLOPsError, .unsupported("the full convention is an exact integer count; use full(_:plan:mode:)"))
        }
        // Baseline settings are checked by each method's validate(layers:), the pruners' own check:
        // the same bounds and messages as `generate` (FastV's k in [1, L − 1], not [0, L]).
        XCTAssertThrowsError(try b7.count(.pdrop, .fastV(FastVSettings(k: 33, removalRatio: 0.5)), layout: layout())) {
            XCTAssertEqual($0 as? PruningSpecError, .invalidField(field: "k", reason: "33 is outside [1, 31] for a 32-layer model"))
        }
        XCTAssertThrowsError(try b7.count(.pdrop, .fastV(FastVSettings(k: 32, removalRatio: 0.5)), layout: layout())) {
            XCTAssertEqual($0 as? PruningSpecError, .invalidField(field: "k", reason: "32 is outside [1, 31] for a 32-layer model"))
        }
        // A keep above the image tokens keeps them all, as the engine's FastV does (min(keep, n)).
        let keepAll = try b7.count(.pdrop, .fastV(FastVSettings(k: 2, keep: 577)), layout: layout())
        XCTAssertEqual(keepAll.total, try b7.count(.pdrop, .fastV(FastVSettings(k: 2, keep: 576)), layout: layout()).total)
        XCTAssertEqual(keepAll.total, keepAll.dense)
        XCTAssertThrowsError(try b7.count(.pdrop, .pyramidDrop(PyramidDropSettings(layers: [16, 8])), layout: layout())) {
            XCTAssertEqual(
                $0 as? PruningSpecError,
                .invalidField(
                    field: "layers",
                    reason:
                        "16/8 does not increase; allowed: increasing integers ≥ 1 below the model's layer count, separated by / (default 8/16/24)"
                ))
        }
        XCTAssertThrowsError(try b7.count(.pdrop, .sparseVLM(SparseVLMSettings(layers: [2, 40], keep: [1, 1])), layout: layout())) {
            XCTAssertEqual(
                $0 as? PruningSpecError,
                .invalidField(
                    field: "layers", reason: "2/40 must increase within [0, 30] for a 32-layer model (a pruning layer needs a later layer)")
            )
        }
        XCTAssertThrowsError(try SparseVLMSettings(tokens: 100)) {
            XCTAssertEqual(
                $0 as? PruningSpecError,
                .invalidField(
                    field: "tokens", reason: "100 has no v1.5 schedule; allowed: 192, 128 or 64 (the v1.5 schedules)"))
        }
        XCTAssertThrowsError(try b7.count(.yopo, layout: layout(system: -1))) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("a text run of -1 tokens (must be ≥ 0)"))
        }
        var bad = ModelDimensions.llava15_7B
        bad.text.numKeyValueHeads = 5
        XCTAssertThrowsError(try FLOPsModel(bad)) {
            XCTAssertEqual(
                $0 as? FLOPsError, .invalidDimensions("num_attention_heads 32 must be a positive multiple of num_key_value_heads 5"))
        }
        bad = .llava15_7B
        bad.vision.imageSize = 300
        XCTAssertThrowsError(try FLOPsModel(bad)) {
            XCTAssertEqual($0 as? FLOPsError, .invalidDimensions("vision image_size 300 must be a positive multiple of patch_size 14"))
        }
    }

    func testBuiltInDimensions() {
        let d = ModelDimensions.llava15_7B
        XCTAssertEqual(d.vision.gridSize, 24)
        XCTAssertEqual(d.vision.tokensPerImage, 576)
        XCTAssertEqual(d.vision.layersComputed, 23)
        XCTAssertEqual(d.text.vocabSize, 32000)
        XCTAssertEqual(d.decoderShape, .llava15_7B)
        XCTAssertEqual(ModelDimensions.llava15_13B.decoderShape, .llava15_13B)
        XCTAssertEqual(
            ModelDimensions.architectures.keys.sorted(), ["llava-1.5-13b", "llava-1.5-7b", "qwen2-vl-7b", "qwen2.5-vl-7b"])
        // Qwen2-VL-7B: 28-pixel tokens, a 448² table image of 16 × 16; the Qwen2-7B decoder with GQA.
        let q = ModelDimensions.qwen2VL_7B
        XCTAssertEqual([q.vision.tokenPatchSize, q.vision.gridSize, q.vision.tokensPerImage], [28, 16, 256])
        XCTAssertEqual([q.text.numAttentionHeads, q.text.numKeyValueHeads, q.text.intermediateSize], [28, 4, 18944])
        XCTAssertEqual(q.family, "qwen2-vl")
        XCTAssertNoThrow(try q.validate())
        XCTAssertNoThrow(try ModelDimensions.qwen25VL_7B.validate())
        var broken = q
        broken.vision.mergedPatches?.fullAttentionBlocks = [32]
        XCTAssertThrowsError(try broken.validate()) { error in
            XCTAssertEqual(
                "\(error)", "invalid model dimensions: fullatt_block_indexes [32] must be blocks of the 32-block tower")
        }
    }
}
