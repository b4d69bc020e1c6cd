import Foundation
import YOPOCore
import YOPOEngine

// The LLaMA decoder as the engine runs it (transformers `LlamaModel` + `lm_head`): the
// configuration's `DecoderSpec` and the checkpoint's tensors mapped onto the canonical weights.
// Reused by every family whose LLM is LLaMA-shaped (LLaVA-1.5's Vicuna; Qwen2 adds q/k/v biases).

extension LlamaConfiguration {
    /// The engine's description of this decoder.
    public var decoderSpec: DecoderSpec {
        DecoderSpec(
            hiddenSize: hiddenSize, numHiddenLayers: numHiddenLayers, numAttentionHeads: numAttentionHeads,
            numKeyValueHeads: numKeyValueHeads, headDim: headDim, intermediateSize: intermediateSize, vocabSize: vocabSize,
            rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, ropeScalingFactor: ropeScalingFactor, mropeSection: mropeSection)
    }
}

/// Where a LLaMA-shaped checkpoint keeps each canonical layer tensor (names after the family's
/// `sanitize`, relative to `layers.N.`): separate q/k/v and gate/up matrices, or fused ones that
/// become zero-copy row views.
public struct LlamaTensorLayout: Sendable {
    /// `self_attn.qkv_proj` (rows q, k, v) instead of `self_attn.{q,k,v}_proj`.
    public var fusedQKV: Bool
    /// `mlp.gate_up_proj` (rows gate, up) instead of `mlp.{gate,up}_proj`.
    public var fusedGateUp: Bool
    /// Whether q/k/v carry biases (`*.bias`, Qwen2).
    public var attentionBias: Bool

    public init(fusedQKV: Bool = false, fusedGateUp: Bool = false, attentionBias: Bool = false) {
        self.fusedQKV = fusedQKV
        self.fusedGateUp = fusedGateUp
        self.attentionBias = attentionBias
    }

    /// transformers' `LlamaModel` names.
    public static let llama = LlamaTensorLayout()
}

extension TextDecoder {
    /// Loads a LLaMA-shaped decoder from `weights` under canonical names: `embed_tokens.weight`,
    /// `layers.N.self_attn.{q,k,v,o}_proj.weight` (or `qkv_proj`), `layers.N.mlp.{gate,up,down}_proj.weight`
    /// (or `gate_up_proj`), `layers.N.{input_layernorm,post_attention_layernorm}.weight`, `norm.weight`,
    /// `lm_head.weight` (absent with tied embeddings). Throws `ModelError.missingTensor` /
    /// `.shapeMismatch` naming the stored tensor, or `.invalidConfiguration` for bad sizes.
    public convenience init(llama config: LlamaConfiguration, weights: WeightStore, layout: LlamaTensorLayout = .llama) throws {
        try config.validate()
        let spec = config.decoderSpec
        let d = spec.hiddenSize, m = spec.intermediateSize, q = spec.queryWidth, kv = spec.keyValueWidth
        let embedTokens = try weights.takeMatrix("embed_tokens.weight", shape: [spec.vocabSize, d])
        var layers: [LayerWeights] = []
        for i in 0..<spec.numHiddenLayers {
            let p = "layers.\(i)."
            func w(_ n: String, _ s: [Int]) throws -> WeightMatrix { try weights.takeMatrix(p + n, shape: s) }
            func b(_ n: String, _ count: Int) throws -> Tensor { try weights.take(p + n, shape: [count]) }
            let qProj, kProj, vProj: WeightMatrix
            var qBias, kBias, vBias: Tensor?
            if layout.fusedQKV {
                let qkv = try w("self_attn.qkv_proj.weight", [q + 2 * kv, d])
                (qProj, kProj, vProj) = (qkv.rows(0, q), qkv.rows(q, kv), qkv.rows(q + kv, kv))
                if layout.attentionBias {
                    let bias = try b("self_attn.qkv_proj.bias", q + 2 * kv)
                    (qBias, kBias, vBias) = (bias.rows(0, q), bias.rows(q, kv), bias.rows(q + kv, kv))
                }
            } else {
                (qProj, kProj, vProj) = (
                    try w("self_attn.q_proj.weight", [q, d]), try w("self_attn.k_proj.weight", [kv, d]),
                    try w("self_attn.v_proj.weight", [kv, d])
                )
                if layout.attentionBias {
                    (qBias, kBias, vBias) = (
                        try b("self_attn.q_proj.bias", q), try b("self_attn.k_proj.bias", kv),
                        try b("self_attn.v_proj.bias", kv)
                    )
                }
            }
            let gateProj, upProj: WeightMatrix
            if layout.fusedGateUp {
                let gateUp = try w("mlp.gate_up_proj.weight", [2 * m, d])
                (gateProj, upProj) = (gateUp.rows(0, m), gateUp.rows(m, m))
            } else {
                (gateProj, upProj) = (try w("mlp.gate_proj.weight", [m, d]), try w("mlp.up_proj.weight", [m, d]))
            }
            layers.append(
                LayerWeights(
                    inputLayernorm: try weights.take(p + "input_layernorm.weight", shape: [d]),
                    postAttentionLayernorm: try weights.take(p + "post_attention_layernorm.weight", shape: [d]),
                    qProj: qProj, kProj: kProj, vProj: vProj, oProj: try w("self_attn.o_proj.weight", [d, q]),
                    qBias: qBias, kBias: kBias, vBias: vBias,
                    gateProj: gateProj, upProj: upProj, downProj: try w("mlp.down_proj.weight", [d, m])))
        }
        let norm = try weights.take("norm.weight", shape: [d])
        let lmHead =
            config.tieWordEmbeddings && !weights.contains("lm_head.weight")
            ? embedTokens : try weights.takeMatrix("lm_head.weight", shape: [spec.vocabSize, d])
        try self.init(spec: spec, embedTokens: embedTokens, layers: layers, norm: norm, lmHead: lmHead)
    }

    /// A LLaMA decoder with random weights of `config`'s dimensions, for benchmarks (see
    /// `init(randomWeightsFor:dtype:sharedLayers:seed:)`).
    public convenience init(
        randomWeightsFor config: LlamaConfiguration, dtype: DType = .f32, sharedLayers: Bool = true,
        attentionBias: Bool = false, seed: UInt64 = 0
    ) throws {
        try config.validate()
        try self.init(
            randomWeightsFor: config.decoderSpec, dtype: dtype, sharedLayers: sharedLayers, attentionBias: attentionBias, seed: seed)
    }
}
