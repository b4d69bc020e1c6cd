import Foundation
import XCTest
import YOPOPruning

/// One grammar and one validation per method, whoever reads the spec (`generate`'s pruner and plan,
/// `flops`' conventions and exact count, `compare`'s budget solver); presets and official masks keyed
/// by model identity.
final class SpecAgreementTests: XCTestCase {
    let b7 = try! FLOPsModel(.llava15_7B)
    let layout = PromptLayout(systemTokens: 35, grid: .square(24), textTokens: 83)

    /// Every field of every method, given twice, is refused by the one reader with the same message,
    /// through `PruningSpec(parsing:)` and `BaselineSpec.parse`.
    func testDuplicateFieldsRejectedForEveryMethod() throws {
        let fields: [(method: String, field: String, first: String, second: String)] = [
            ("yopo", "window", "3", "5"), ("yopo", "layers", "1", "2"), ("yopo", "heads", "a.npy", "b.npy"),
            ("yopo", "heads-keep", "16", "8"), ("yopo", "ffn", "2", "4"),
            ("fastv", "k", "1", "2"), ("fastv", "r", "0.5", "0.25"), ("fastv", "keep", "10", "20"),
            ("pdrop", "layers", "8/16", "2/4"), ("pdrop", "ratio", "0.5", "0.25"), ("pdrop", "keep", "10/5", "20/5"),
            ("sparsevlm", "tokens", "192", "64"), ("sparsevlm", "layers", "2/6", "1/2"), ("sparsevlm", "keep", "10/5", "3/2")
        ]
        XCTAssertEqual(Set(fields.map(\.method)), Set(PruningSpec.methods))
        for (method, field, first, second) in fields {
            let expected = PruningSpecError.invalidField(
                field: field, reason: "given twice (\(field)=\(first) and \(field)=\(second)); give each field once")
            // Repeated next to each other, and with another field in between.
            let other = [
                "yopo": field == "window" ? "ffn=2" : "window=3", "fastv": field == "k" ? "keep=1" : "k=1",
                "pdrop": field == "layers" ? "ratio=0.5" : "layers=1/2", "sparsevlm": field == "tokens" ? "layers=1/2" : "tokens=192"
            ][method]!
            for text in ["\(method):\(field)=\(first),\(field)=\(second)", "\(method):\(field)=\(first),\(other),\(field)=\(second)"] {
                XCTAssertThrowsError(try PruningSpec(parsing: text), text) {
                    XCTAssertEqual($0 as? PruningSpecError, expected, text)
                }
                if method != "yopo" {
                    XCTAssertThrowsError(try BaselineSpec.parse(text), text) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
                }
            }
        }
    }

    /// `fastv:k=0` (and k = L) fail with the same `PruningSpecError` whether the pruner is built
    /// (`generate`), the spec is counted under any convention or under `full` (`flops`), or the budget
    /// solver prices it (`compare`).
    func testFastVBoundsAgreeAcrossGenerateFlopsAndCompare() throws {
        let solver = try BudgetSolver(dimensions: .llava15_7B, layout: layout)
        for (text, message) in [
            ("fastv:k=0", "0 is outside [1, 31] for a 32-layer model (k=0, dropping before the first layer, is not implemented)"),
            ("fastv:k=32,r=0.75", "32 is outside [1, 31] for a 32-layer model")
        ] {
            let expected = PruningSpecError.invalidField(field: "k", reason: message)
            let spec = try PruningSpec(parsing: text)
            guard case .baseline(let baseline) = spec else { return XCTFail(text) }
            var paths: [(String, () throws -> Void)] = [
                ("generate (pruner)", { _ = try spec.makePruner(for: .llava15_7B) }),
                ("validate", { try baseline.validate(layers: 32) }),
                ("flops full", { _ = try self.b7.full(self.layout, baseline: baseline) }),
                ("compare (solver)", { _ = try solver.cost(spec) })
            ]
            for convention in FLOPsConvention.allCases where convention != .full {
                paths.append(("flops \(convention.rawValue)", { _ = try self.b7.count(convention, spec: spec, layout: self.layout) }))
            }
            for (path, run) in paths {
                XCTAssertThrowsError(try run(), "\(text) via \(path)") {
                    XCTAssertEqual($0 as? PruningSpecError, expected, "\(text) via \(path)")
                    XCTAssertEqual("\($0)", "invalid prune spec field k: \(message)", "\(text) via \(path)")
                }
            }
        }
        // What the pruner accepts, every count accepts: k = 1 and k = L − 1.
        for k in [1, 31] {
            let spec = try PruningSpec(parsing: "fastv:k=\(k)")
            XCTAssertNotNil(try spec.makePruner(for: .llava15_7B))
            _ = try b7.count(.fastv, spec: spec, layout: layout)
            guard case .baseline(let b) = spec else { return XCTFail() }
            _ = try b7.full(layout, baseline: b)
        }
    }

    /// PyramidDrop and SparseVLM: the layers the pruner refuses are refused by the counts too.
    func testBaselineLayerBoundsAgree() throws {
        for (text, expected) in [
            (
                "pdrop:layers=8/16/32",
                PruningSpecError.invalidField(
                    field: "layers",
                    reason: "8/16/32 must increase within [1, 31] for a 32-layer model (a boundary needs a later layer to rank with)")
            ),
            (
                "sparsevlm:layers=2/31,keep=100/50",
                PruningSpecError.invalidField(
                    field: "layers", reason: "2/31 must increase within [0, 30] for a 32-layer model (a pruning layer needs a later layer)")
            )
        ] {
            let spec = try PruningSpec(parsing: text)
            guard case .baseline(let baseline) = spec else { return XCTFail(text) }
            XCTAssertThrowsError(try spec.makePruner(for: .llava15_7B)) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
            XCTAssertThrowsError(try b7.count(.pdrop, spec: spec, layout: layout)) {
                XCTAssertEqual($0 as? PruningSpecError, expected, text)
            }
            XCTAssertThrowsError(try b7.full(layout, baseline: baseline)) { XCTAssertEqual($0 as? PruningSpecError, expected, text) }
        }
    }

    /// The v1.5 schedules are one table: `tokens=N` builds them, the pruner's spec names them back,
    /// the budget solver offers them.
    func testSparseVLMScheduleIsOneTable() throws {
        XCTAssertEqual(SparseVLMSettings.v15Layers, [2, 6, 15])
        XCTAssertEqual(SparseVLMSettings.v15Schedules.map(\.tokens), [192, 128, 64])
        for (tokens, keep) in SparseVLMSettings.v15Schedules {
            let settings = try SparseVLMSettings(tokens: tokens)
            XCTAssertEqual(settings, SparseVLMSettings(layers: [2, 6, 15], keep: keep))
            XCTAssertEqual(settings.v15Tokens, tokens)
            XCTAssertEqual(try SparseVLM(settings: settings, layers: 32).spec, "sparsevlm:tokens=\(tokens)")
        }
        XCTAssertNil(SparseVLMSettings(layers: [2, 6, 15], keep: [300, 200, 111]).v15Tokens)
        let solution = try BudgetSolver(dimensions: .llava15_7B, layout: layout, convention: .sparsevlm).solve(FLOPsBudget(fraction: 1))
        XCTAssertEqual(solution.choice(.sparsevlm)?.spec, .baseline(.sparseVLM(try SparseVLMSettings(tokens: 192))))
    }

    // MARK: presets and masks by model identity

    static let qwen2VL7B = ModelIdentity(
        family: "qwen2_vl", name: "Qwen2-VL-7B", shape: DecoderShape(numHiddenLayers: 28, numAttentionHeads: 28, intermediateSize: 18944))

    /// A preset on a model the official release does not fit fails with one line naming the models it
    /// fits, instead of silently resolving to nothing.
    func testPresetOnA28x28ModelNamesTheModelsItFits() {
        let fits = "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads)"
        for (name, layers) in [("yopo-25", 14), ("yopo-12", 7)] {
            XCTAssertThrowsError(try PruningSpec(parsing: name).resolve(for: Self.qwen2VL7B), name) {
                XCTAssertEqual(
                    $0 as? PruningSpecError,
                    .doesNotFit(
                        spec: name,
                        reason:
                            "\(fits), and this model (qwen2_vl family, Qwen2-VL-7B) has 28 layers × 28 heads; the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=\(layers),ffn=2"
                    ))
                XCTAssertFalse("\($0)".contains("\n"))
            }
        }
        // A LLaVA of that shape: the same, without the family.
        XCTAssertThrowsError(try PruningSpec(parsing: "yopo-25").resolve(for: .llava(Self.qwen2VL7B.shape))) {
            XCTAssertEqual(
                "\($0)",
                "prune spec yopo-25 does not fit this model: \(fits), and this model has 28 layers × 28 heads; the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=14,ffn=2"
            )
        }
        XCTAssertThrowsError(try PruningSpec(parsing: "yopo:heads-keep=16").resolve(for: Self.qwen2VL7B)) {
            XCTAssertEqual(
                $0 as? PruningSpecError,
                .invalidField(
                    field: "heads-keep",
                    reason:
                        "official masks exist for LLaVA-1.5-7B (32 layers × 32 heads: heads-keep 8, 16 or 24) and LLaVA-1.5-13B (40 layers × 40 heads: 5, 10, 20 or 30), and this model (qwen2_vl family, Qwen2-VL-7B) has 28 layers × 28 heads; give heads=PATH.npy, a [28, 28] mask, instead"
                ))
        }
        // The fields that work on any model do.
        XCTAssertEqual(try PruningSpec(parsing: "yopo:window=5,layers=14,ffn=2").resolve(for: Self.qwen2VL7B)?.keptLayers, 14)
    }

    /// Identity is family and dimensions: a non-LLaVA model of 7B's 32 × 32 gets no LLaVA mask; a LLaVA
    /// of 32 × 32 of any size (the tiny fixture `llava-hf-tiny-32x32`) gets the 7B ones, by any name.
    func testIdentityIsFamilyAndDimensions() throws {
        let shape32 = DecoderShape(numHiddenLayers: 32, numAttentionHeads: 32, intermediateSize: 128)
        XCTAssertNil(OfficialYOPOModel.matching(ModelIdentity(family: "qwen2_vl", name: "x", shape: .llava15_7B)))
        XCTAssertThrowsError(try PruningSpec(parsing: "yopo-12").resolve(for: ModelIdentity(family: "qwen2_vl", shape: .llava15_7B))) {
            XCTAssertTrue("\($0)".contains("and this model (qwen2_vl family) has 32 layers × 32 heads"), "\($0)")
        }
        let tiny = ModelIdentity.llava(shape32, name: "llava-hf-tiny-32x32")
        XCTAssertEqual(OfficialYOPOModel.matching(tiny)?.name, "LLaVA-1.5-7B")
        XCTAssertEqual(OfficialYOPOModel.matching(.llava(.llava15_13B))?.name, "LLaVA-1.5-13B")
        let plan = try XCTUnwrap(try PruningSpec(parsing: "yopo-25").resolve(for: tiny))
        XCTAssertEqual(plan.headMask, try YOPOSpec.officialMask("headmask_7b_16"))
        XCTAssertEqual([plan.window, plan.keptLayers, plan.visualFFNWidth], [5, 16, 64])
        XCTAssertEqual(plan.spec.headsPath, "official:headmask_7b_16")
        XCTAssertEqual(try PruningSpec(parsing: "yopo-12").resolve(for: tiny)?.keptLayers, 8)
        // Shape-only callers mean LLaVA and get what they always got.
        XCTAssertEqual(try PruningSpec(parsing: "yopo-25").resolve(for: shape32), plan)
        XCTAssertEqual(OfficialYOPOModel.all.map(\.halfHeadsKeep), [16, 20])
        XCTAssertEqual(OfficialYOPOModel.all.map(\.headsKeep), [[8, 16, 24], [5, 10, 20, 30]])
        XCTAssertEqual(ModelDimensions.llava15_7B.identity, ModelIdentity(family: "llava", name: "llava-1.5-7b", shape: .llava15_7B))
    }

    /// Everything downstream of the table follows the identity: the budget solver's YOPO mask and the
    /// scaling table.
    func testBudgetAndScalingFollowTheIdentity() throws {
        var qwen = ModelDimensions.llava15_7B
        qwen.family = "qwen2_vl"
        qwen.name = "qwen-like"
        let solver = try BudgetSolver(dimensions: qwen, layout: layout)
        let choice = try XCTUnwrap(try solver.solve(FLOPsBudget(fraction: 0.25)).choice(.yopo))
        guard case .yopo(let spec) = choice.spec else { return XCTFail("\(choice.spec)") }
        XCTAssertNil(spec.headsKeep)
        XCTAssertTrue(choice.detail.contains("no official mask for this model"), choice.detail)
        let llava = try XCTUnwrap(
            try BudgetSolver(dimensions: .llava15_7B, layout: layout).solve(FLOPsBudget(fraction: 0.25)).choice(.yopo))
        guard case .yopo(let llavaSpec) = llava.spec else { return XCTFail("\(llava.spec)") }
        XCTAssertEqual(llavaSpec.headsKeep, 16)
        XCTAssertThrowsError(try FLOPsModel(qwen).scalingTable(systemTokens: 35, textTokens: 83)) {
            guard case .doesNotFit(spec: "yopo-25", _) = $0 as? PruningSpecError else { return XCTFail("\($0)") }
        }
    }
}
