import Foundation
import XCTest
import YOPOPruning

/// The budget solver: exact settings for LLaVA-1.5-7B and the bundled 3-layer fixture, and that each
/// is the largest setting within the target (the next one up exceeds it).
final class BudgetTests: XCTestCase {
    /// LLaVA-1.5 prompt: 35 system tokens, 24 × 24 image, 83 text tokens.
    let layout7B = PromptLayout(systemTokens: 35, grid: .square(24), textTokens: 83)

    /// `Tests/Fixtures/models/llava-hf-tiny/config.json`: d 24, 3 layers, 4 heads (2 kv) × 6, I 64,
    /// V 32064; CLIP d 32, I 64, 3 layers (2 computed), 336 px / 14.
    static let tiny = ModelDimensions(
        name: "llava-hf-tiny",
        text: .init(
            hiddenSize: 24, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 6,
            intermediateSize: 64, vocabSize: 32064),
        vision: .init(hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 3, layersComputed: 2, patchSize: 14, imageSize: 336))
    /// "What is shown?" through the fixture's llava-hf template: 5 tokens before the image, 10 after.
    static let tinyLayout = PromptLayout(systemTokens: 5, grid: .square(24), textTokens: 10)

    func specs(_ s: BudgetSolution) -> [BudgetMethod: String] {
        Dictionary(uniqueKeysWithValues: s.choices.map { ($0.method, $0.spec.description) })
    }

    /// The largest count within `target` over λ = 0.001 … 1 (`spec(i)` for λ = i / 1000), computed here
    /// by brute force.
    func bestWithin(_ solver: BudgetSolver, _ target: Double, _ spec: (Int) -> String) throws -> Double {
        try (1...1000).map { try solver.cost(PruningSpec(parsing: spec($0))) }.filter { $0 <= target }.max() ?? -1
    }

    func percent(_ c: BudgetChoice?) -> String { String(format: "%.2f%%", 100 * (c?.fraction ?? .nan)) }

    // MARK: parsing

    func testBudgetParsing() throws {
        XCTAssertEqual(try FLOPsBudget(parsing: "25%").fraction, 0.25)
        XCTAssertEqual(try FLOPsBudget(parsing: "0.25").fraction, 0.25)
        XCTAssertEqual(try FLOPsBudget(parsing: " 12.5 % ").fraction, 0.125)
        XCTAssertEqual(try FLOPsBudget(parsing: "100%").fraction, 1)
        XCTAssertEqual(try FLOPsBudget(parsing: "1").fraction, 1)
        XCTAssertEqual(try FLOPsBudget(parsing: "25%").description, "25%")
        XCTAssertEqual(try FLOPsBudget(parsing: "0.125").description, "12.5%")
        for (bad, message) in [
            ("150%", "'150%' is outside (0%, 100%]"), ("-5%", "'-5%' is outside (0%, 100%]"), ("0%", "outside (0%, 100%]"),
            ("0", "'0' is outside (0, 1]"), ("25", "write 25% for a percentage"), ("abc", "not a percentage (25%) or a fraction"),
            ("x%", "'x%' is not a percentage"), ("", "not a percentage"), ("nan", "not a percentage")
        ] {
            XCTAssertThrowsError(try FLOPsBudget(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".hasPrefix("invalid budget: "), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(error) does not contain \(message)")
            }
        }
        XCTAssertThrowsError(try FLOPsBudget(fraction: 1.5))
    }

    // MARK: LLaVA-1.5-7B

    /// Yopo convention, 25%: YOPO K 15 (K 16 = the yopo-25 preset is 25.06%), FastV keeps 117 (BASELINES.md §5's
    /// "≈117"), PyramidDrop cannot reach 25% from [8, 16, 24] and takes the derived [2, 4, 10] at λ 0.534,
    /// SparseVLM retains 128.
    func testLLaVA7BAt25Percent() throws {
        let solver = try BudgetSolver(dimensions: .llava15_7B, layout: layout7B)
        let s = try solver.solve(try FLOPsBudget(parsing: "25%"))
        XCTAssertEqual(s.dense, 7_634_304_368_640)
        XCTAssertEqual(
            specs(s),
            [
                .yopo: "yopo:window=5,layers=15,heads-keep=16,ffn=2",
                .fastv: "fastv:k=2,keep=117",
                .pdrop: "pdrop:layers=2/4/10,ratio=0.534",
                .sparsevlm: "sparsevlm:layers=2/6/15,keep=303/110/36"
            ])
        XCTAssertEqual(s.choices.map(percent), ["23.31%", "24.95%", "24.98%", "24.21%"])
        XCTAssertTrue(s.choices.allSatisfy(\.feasible))
        XCTAssertTrue(s.unsupported.isEmpty)
        XCTAssertEqual(s.choice(.pdrop)?.detail, "boundaries 2/4/10 (BASELINES.md §2.2, derived); λ searched on a 0.001 grid")

        // The next setting up exceeds the target.
        let target = 0.25 * s.dense
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "yopo:window=5,layers=16,heads-keep=16,ffn=2")), target)
        XCTAssertEqual(try solver.cost(PruningSpec(parsing: "yopo-25")) / s.dense, 0.2506, accuracy: 5e-5)
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "fastv:k=2,keep=118")), target)
        // No λ of any boundary set lands between the choice and the target.
        let chosen = s.choice(.pdrop)!.flops
        for layers in ["2/4/10", "3/11/19", "2/6/12"] {
            let closest = try bestWithin(solver, target) { "pdrop:layers=\(layers),ratio=\(Double($0) / 1000)" }
            if layers == "2/4/10" { XCTAssertEqual(closest, chosen) } else { XCTAssertLessThan(closest, chosen) }
        }
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "pdrop:layers=2/4/10,ratio=0.535")), target)
        // [8, 16, 24] with the smallest λ that leaves a token in the last stage (576 · 0.121³ = 1.02) is above 25%.
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "pdrop:layers=8/16/24,ratio=0.121")), target)
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "sparsevlm:tokens=192")), target)
    }

    /// Yopo convention, 12%: YOPO K 8 (= yopo-12), FastV keeps 36 (BASELINES.md §5's "≈36"), PyramidDrop
    /// [2, 4, 10] λ 0.313; SparseVLM's cheapest schedule (retain 64) is 13.65%: flagged infeasible.
    func testLLaVA7BAt12Percent() throws {
        let solver = try BudgetSolver(dimensions: .llava15_7B, layout: layout7B)
        let s = try solver.solve(try FLOPsBudget(parsing: "12%"))
        XCTAssertEqual(
            specs(s),
            [
                .yopo: "yopo:window=5,layers=8,heads-keep=16,ffn=2",
                .fastv: "fastv:k=2,keep=36",
                .pdrop: "pdrop:layers=2/4/10,ratio=0.313",
                .sparsevlm: "sparsevlm:layers=2/6/15,keep=66/30/17"
            ])
        XCTAssertEqual(s.choices.map(percent), ["11.72%", "11.98%", "11.94%", "13.65%"])
        XCTAssertEqual(s.choices.map(\.feasible), [true, true, true, false])
        XCTAssertEqual(try solver.cost(PruningSpec(parsing: "yopo-12")), s.choice(.yopo)!.flops)
        let target = 0.12 * s.dense
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "yopo:window=5,layers=9,heads-keep=16,ffn=2")), target)
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "fastv:k=2,keep=37")), target)
        XCTAssertEqual(try bestWithin(solver, target) { "pdrop:layers=2/4/10,ratio=\(Double($0) / 1000)" }, s.choice(.pdrop)!.flops)
    }

    /// The same model at 25% under the other conventions: baselines are re-solved; YOPO has no count under
    /// fastv / sparsevlm and is reported unsupported.
    func testOtherConventions() throws {
        let pdrop = try BudgetSolver(dimensions: .llava15_7B, layout: layout7B, convention: .pdrop).solve(try FLOPsBudget(fraction: 0.25))
        // pdrop = yopo / 2 for every method: the same settings.
        XCTAssertEqual(specs(pdrop)[.fastv], "fastv:k=2,keep=117")
        XCTAssertEqual(specs(pdrop)[.yopo], "yopo:window=5,layers=15,heads-keep=16,ffn=2")
        let fastv = try BudgetSolver(dimensions: .llava15_7B, layout: layout7B, convention: .fastv).solve(try FLOPsBudget(fraction: 0.25))
        XCTAssertNil(fastv.choice(.yopo))
        XCTAssertEqual(fastv.unsupported[.yopo], "YOPO has no count under the fastv convention (it counts tokens, not heads or windows)")
        XCTAssertEqual(specs(fastv)[.fastv], "fastv:k=2,keep=90")
        XCTAssertEqual(specs(fastv)[.sparsevlm], "sparsevlm:layers=2/6/15,keep=66/30/17")
        XCTAssertThrowsError(try BudgetSolver(dimensions: .llava15_7B, layout: layout7B, convention: .full)) {
            XCTAssertEqual("\($0)", "not supported: the budget solver works in the yopo, fastv, pdrop or sparsevlm convention, not full")
        }
        XCTAssertThrowsError(
            try BudgetSolver(
                dimensions: .llava15_7B, layout: PromptLayout(segments: [.text(40)], grid: .square(24))))
    }

    /// 13B: the half-heads official mask is heads-keep 20; boundaries [10, 20, 30]; SparseVLM layers scaled to 3/8/19.
    func testLLaVA13BAt25Percent() throws {
        let s = try BudgetSolver(dimensions: .llava15_13B, layout: layout7B).solve(try FLOPsBudget(fraction: 0.25))
        XCTAssertEqual(
            specs(s),
            [
                .yopo: "yopo:window=5,layers=19,heads-keep=20,ffn=2",
                .fastv: "fastv:k=2,keep=123",
                .pdrop: "pdrop:layers=4/14/24,ratio=0.379",
                .sparsevlm: "sparsevlm:layers=3/8/19,keep=303/110/36"
            ])
    }

    // MARK: the bundled 3-layer fixture

    /// 75% is the tightest round budget all four meet on 3 layers: FastV with K = 2 keeps every image token
    /// in 2 of 3 layers (≥ 66.7%). No official mask fits 3 × 4, so YOPO uses every head, and w 5, r 2 at
    /// K = 3 is already 15.05%. Boundaries [L/4, L/2, 3L/4] = [1, 2]; SparseVLM's 2/6/15 collapse to 0/1.
    func testTinyFixtureAt75Percent() throws {
        let solver = try BudgetSolver(dimensions: Self.tiny, layout: Self.tinyLayout)
        let s = try solver.solve(try FLOPsBudget(parsing: "75%"))
        XCTAssertEqual(s.dense, 117_448_704)
        XCTAssertEqual(
            specs(s),
            [
                .yopo: "yopo:window=5,layers=3,ffn=2",
                .fastv: "fastv:k=2,keep=260",
                .pdrop: "pdrop:layers=1/2,ratio=0.836",
                .sparsevlm: "sparsevlm:layers=0/1,keep=300/110"
            ])
        XCTAssertEqual(s.choices.map(percent), ["15.05%", "75.00%", "74.98%", "46.10%"])
        XCTAssertTrue(s.choices.allSatisfy(\.feasible))
        let target = 0.75 * s.dense
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "fastv:k=2,keep=261")), target)
        XCTAssertGreaterThan(try solver.cost(PruningSpec(parsing: "pdrop:layers=1/2,ratio=0.837")), target)
    }

    /// At 50% FastV cannot get below 2/3 on 3 layers: its cheapest setting (keep 0) is returned, flagged;
    /// at 25% PyramidDrop and SparseVLM cannot either.
    func testTinyFixtureInfeasibleBudgets() throws {
        let solver = try BudgetSolver(dimensions: Self.tiny, layout: Self.tinyLayout)
        let half = try solver.solve(try FLOPsBudget(fraction: 0.5))
        XCTAssertEqual(half.choice(.fastv)?.spec.description, "fastv:k=2,keep=0")
        XCTAssertEqual(half.choice(.fastv)?.feasible, false)
        XCTAssertEqual(percent(half.choice(.fastv)), "66.67%")
        XCTAssertEqual(half.choice(.pdrop)?.spec.description, "pdrop:layers=1/2,ratio=0.561")
        XCTAssertEqual(half.choice(.pdrop)?.feasible, true)
        let quarter = try solver.solve(try FLOPsBudget(fraction: 0.25))
        XCTAssertEqual(
            specs(quarter),
            [
                .yopo: "yopo:window=5,layers=3,ffn=2",
                .fastv: "fastv:k=2,keep=0",
                .pdrop: "pdrop:layers=1,ratio=0.002",
                .sparsevlm: "sparsevlm:layers=0/1,keep=66/17"
            ])
        XCTAssertEqual(quarter.choices.map(\.feasible), [true, false, false, false])
    }

    /// A 2-layer decoder takes FastV K = 1; a 1-layer one has no baseline.
    func testShallowDecoders() throws {
        var two = Self.tiny
        two.text.numHiddenLayers = 2
        let s = try BudgetSolver(dimensions: two, layout: Self.tinyLayout).solve(try FLOPsBudget(fraction: 0.75))
        XCTAssertTrue(s.choice(.fastv)!.spec.description.hasPrefix("fastv:k=1,"))
        XCTAssertEqual(s.choice(.sparsevlm)?.spec.description, "sparsevlm:layers=0,keep=110")
        var one = Self.tiny
        one.text.numHiddenLayers = 1
        let s1 = try BudgetSolver(dimensions: one, layout: Self.tinyLayout).solve(try FLOPsBudget(fraction: 0.75))
        XCTAssertEqual(s1.choices.map(\.method), [.yopo])
        XCTAssertEqual(s1.unsupported[.fastv], "FastV needs a decoder of at least 2 layers")
    }
}
