import Foundation
import XCTest
import YOPOCore
import YOPOEngine
import YOPOPruning
@testable import YOPOModels

/// The test-only second family (`FusedQKVFamily.swift`) runs dense and every pruning method through
/// the unchanged engine and pruning code: its goldens run in the shared golden tests
/// (`LLaVAGoldenTests.testFusedQKVFamilyChelsea`, `YOPOGoldenTests`, `BaselineGoldenTests`); here the
/// registry, the executed FLOPs of every method against the exact count, and the loader's checks.
final class FusedFamilyTests: XCTestCase {
    let checkpoint = "llava-qwen2-fused-tiny"

    func testRegistryPicksTheFamilyByArchitecture() throws {
        ModelRegistry.register(FusedQKVLlavaFamily.self)
        XCTAssertTrue(try ModelRegistry.family(forDirectory: Fixtures.models(checkpoint)) == FusedQKVLlavaFamily.self)
        XCTAssertTrue(try ModelRegistry.family(forDirectory: Fixtures.models("llava-hf-tiny")) == LLaVAFamily.self)
        XCTAssertFalse(
            LLaVAFamily.accepts(
                CheckpointHeader(
                    architectures: FusedQKVLlavaFamily.architectures,
                    modelType: "yopo_test_fused_llava")))
        let model = try loadModel(checkpoint)
        // Fused rows are views into one stored matrix: q, k, v and gate, up share storage.
        let l = model.decoder.layers[0]
        XCTAssertEqual(l.kProj.base, l.qProj.base + 24 * 24 * 4)
        XCTAssertEqual(l.vProj.base, l.kProj.base + 12 * 24 * 4)
        XCTAssertEqual(l.upProj.base, l.gateProj.base + 64 * 24 * 4)
        XCTAssertEqual(l.qBias?.shape, [24])
        XCTAssertEqual(l.kBias?.shape, [12])
        XCTAssertNil(l.oBias)
        // Its identity is its own family's: LLaVA's presets and official masks are not its.
        XCTAssertEqual(try model.costShape(name: checkpoint).identity.family, "yopo_test_fused_llava")
        XCTAssertEqual(try ModelRegistry.costShape(directory: Fixtures.models(checkpoint)), try model.costShape(name: checkpoint))
    }

    /// Read as if it had no biases, the stored q/k/v biases would be dropped: the loader refuses.
    func testBiasesAreNeverDroppedSilently() throws {
        XCTAssertThrowsError(
            try LLaVAModel(
                directory: Fixtures.models(checkpoint), layout: .llavaHF,
                textLayout: LlamaTensorLayout(fusedQKV: true, fusedGateUp: true, attentionBias: false))
        ) { error in
            XCTAssertEqual(
                "\(error)",
                "checkpoint stores language_model.model.layers.0.self_attn.qkv_proj.bias and 2 more tensors, which this model's configuration does not use (a layout the loader does not know, e.g. biases where the config has none)"
            )
        }
    }

    /// Dense, YOPO (skip; simulate executes the dense count) and each baseline: the executed FLOPs
    /// equal `FLOPsModel.full` cell by cell on the fused family, as on LLaVA.
    func testExecutedFLOPsEqualTheExactCountForEveryMethod() throws {
        let model = try loadModel(checkpoint)
        let dims = try ModelDimensions(model.configuration, name: checkpoint)
        let flops = try FLOPsModel(dims)
        let steps = 3
        let (golden, _) = try GoldenCase.load("fused_chelsea")
        let layout = PromptLayout(
            systemTokens: golden.image_span[0], grid: VisualGrid(rows: 24, columns: 24),
            textTokens: golden.input_ids.count - golden.image_span[0] - 576, decodeSteps: steps)
        func executed(_ plan: @escaping (LLaVAModel) throws -> DecoderPlan) throws -> FLOPCounter {
            let counter = FLOPCounter()
            _ = try runCase("fused_chelsea", execution: plan, steps: steps, counter: counter, countVision: true)
            return counter
        }
        let dense = try executed { _ in .dense }
        XCTAssertEqual(dense.counts, try flops.full(layout).counts)
        for spec in ["yopo:ffn=2", "yopo:window=3,layers=2,heads=models/golden/headmask_tiny_3x4.npy,ffn=4", "yopo:layers=1"] {
            let plan = try XCTUnwrap(PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(for: dims.decoderShape))
            XCTAssertEqual(try executed { _ in .skip(plan) }.counts, try flops.full(layout, plan: plan, mode: .skip).counts, spec)
            XCTAssertEqual(try executed { _ in .simulate(plan) }.counts, dense.counts, spec)
        }
        for spec in ["fastv:k=1,r=0.5", "pdrop:layers=1/2,ratio=0.5", "sparsevlm:layers=0/1,keep=100/50"] {
            let baseline = try XCTUnwrap(BaselineSpec.parse(spec), spec)
            let counter = try executed { _ in .tokenPruning(try baseline.makePruner(layers: 3)) }
            XCTAssertEqual(counter.counts, try flops.full(layout, baseline: baseline).counts, spec)
        }
    }
}
