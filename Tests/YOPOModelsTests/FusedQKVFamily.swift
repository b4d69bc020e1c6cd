import Foundation
import YOPOCore
import YOPOEngine
@testable import YOPOModels

/// A test-only second family, the proof that a family is one file plus one registry line: a
/// LLaVA-shaped checkpoint (llava-hf config, CLIP tower, `mlp2x_gelu` projector) whose LLM is Qwen2
/// (q/k/v biases) stored with fused `self_attn.qkv_proj` (rows q, k, v, and its bias) and
/// `mlp.gate_up_proj` (rows gate, up) matrices, under its own architecture name. Made by
/// Tools/reference/make_family_fixtures.py (`Tests/Fixtures/models/llava-qwen2-fused-tiny`), with
/// goldens from transformers on the unfused model. Nothing in the engine or the pruning code knows it.
enum FusedQKVLlavaFamily: ModelFamily {
    static let name = "YOPO test fused-QKV LLaVA"
    static let id = "yopo_test_fused_llava"
    static let architectures = ["YOPOTestFusedLlavaForConditionalGeneration"]

    static func accepts(_ header: CheckpointHeader) -> Bool { header.architecture == architectures[0] }

    static func load(directory: String, visionTower: String?, progress: ((Int, Int) -> Void)?) throws -> any VisionLanguageModel {
        try LLaVAModel(
            directory: directory, visionTower: visionTower, progress: progress, layout: .llavaHF,
            textLayout: LlamaTensorLayout(fusedQKV: true, fusedGateUp: true, attentionBias: true), family: id)
    }

    static func costShape(directory: String, visionTower: String?, name: String) throws -> ModelDimensions {
        var dimensions = try ModelDimensions(
            LLaVAConfiguration.load(directory: directory, visionTower: visionTower, layout: .llavaHF), name: name)
        dimensions.family = id
        return dimensions
    }
}

/// Loads a fixture checkpoint through the family registry (the test family registered), as every
/// golden test does: the goldens run per family with one code path.
func loadModel(_ checkpoint: String, visionTower: String? = nil) throws -> LLaVAModel {
    ModelRegistry.register(FusedQKVLlavaFamily.self)  // the registry line
    let model = try ModelRegistry.load(directory: Fixtures.models(checkpoint), visionTower: visionTower.map { Fixtures.models($0) })
    guard let llava = model as? LLaVAModel else { throw ModelError.invalidConfiguration("\(checkpoint) is not LLaVA-shaped") }
    return llava
}
