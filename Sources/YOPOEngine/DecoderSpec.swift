import Foundation
import YOPOCore

/// Everything the engine needs to know about a decoder-only transformer (LLaMA-style: RMSNorm,
/// rotary attention with grouped-query heads, SwiGLU FFN). Families fill it from their config.json
/// (`LlamaConfiguration.decoderSpec`, …); the engine reads nothing else. Names follow the
/// config.json keys of transformers' `LlamaConfig`.
public struct DecoderSpec: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    /// `rope_theta` and the linear `rope_scaling` factor (1 = none): positions are divided by it.
    public var ropeTheta: Float
    public var ropeScalingFactor: Float
    /// M-RoPE sections (Qwen2-VL `mrope_section`, summing to head_dim / 2): rotary positions are
    /// (t, h, w) triples (`RotaryPosition`); nil for 1-D RoPE.
    public var mropeSection: [Int]?

    public init(
        hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int,
        intermediateSize: Int, vocabSize: Int, rmsNormEps: Float = 1e-5, ropeTheta: Float = 10000,
        ropeScalingFactor: Float = 1, mropeSection: [Int]? = nil
    ) {
        self.mropeSection = mropeSection
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScalingFactor = ropeScalingFactor
    }

    /// `num_attention_heads · head_dim`: the width of q and of the attention context.
    public var queryWidth: Int { numAttentionHeads * headDim }
    /// `num_key_value_heads · head_dim`: the width of k, v and of a KV-cache row.
    public var keyValueWidth: Int { numKeyValueHeads * headDim }
    /// Query heads per key/value head (GQA).
    public var groupSize: Int { numAttentionHeads / max(numKeyValueHeads, 1) }
}
