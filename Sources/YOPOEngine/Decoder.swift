import Foundation
import YOPOCore

/// The canonical weights of one decoder layer, as families fill them at load (fused checkpoint
/// matrices become zero-copy row views, `WeightMatrix.rows`). Linear weights `[out, in]` in their
/// stored dtype; norms and biases fp32.
public struct LayerWeights {
    /// `[hidden_size]` each.
    public var inputLayernorm, postAttentionLayernorm: Tensor
    /// `[heads · head_dim, hidden]`, `[kv_heads · head_dim, hidden]` ×2, `[hidden, heads · head_dim]`.
    public var qProj, kProj, vProj, oProj: WeightMatrix
    /// Optional biases of the projections (Qwen2: q/k/v), `[out]`.
    public var qBias, kBias, vBias, oBias: Tensor?
    /// `[intermediate, hidden]` ×2, `[hidden, intermediate]`.
    public var gateProj, upProj, downProj: WeightMatrix

    public init(
        inputLayernorm: Tensor, postAttentionLayernorm: Tensor, qProj: WeightMatrix, kProj: WeightMatrix,
        vProj: WeightMatrix, oProj: WeightMatrix, qBias: Tensor? = nil, kBias: Tensor? = nil, vBias: Tensor? = nil,
        oBias: Tensor? = nil, gateProj: WeightMatrix, upProj: WeightMatrix, downProj: WeightMatrix
    ) {
        self.inputLayernorm = inputLayernorm
        self.postAttentionLayernorm = postAttentionLayernorm
        self.qProj = qProj
        self.kProj = kProj
        self.vProj = vProj
        self.oProj = oProj
        self.qBias = qBias
        self.kBias = kBias
        self.vBias = vBias
        self.oBias = oBias
        self.gateProj = gateProj
        self.upProj = upProj
        self.downProj = downProj
    }

    /// Bytes of the layer's matrices.
    var byteCount: Int {
        [qProj, kProj, vProj, oProj, gateProj, upProj, downProj].reduce(0) { $0 + $1.byteCount }
    }
}

/// A decoder-only transformer the engine runs (transformers `LlamaModel` + `lm_head` semantics:
/// RMSNorm, rotary attention with GQA, SwiGLU), over canonical weights. It knows no family and no
/// pruning method: prefill (`Prefill.swift`) and the decode step (`DecodeStep.swift`) read a
/// `DecoderPlan`.
public final class TextDecoder {
    public let spec: DecoderSpec
    /// `[vocab_size, hidden_size]`, stored dtype
    public let embedTokens: WeightMatrix
    public let layers: [LayerWeights]
    /// `[hidden_size]`
    public let norm: Tensor
    /// `[vocab_size, hidden_size]`, stored dtype
    public let lmHead: WeightMatrix
    /// The rotary embedding (`rope_theta`, linear scaling), YOPOCore's `RotaryEmbedding`.
    public let rotary: RotaryEmbedding

    /// A decoder over weights a family loaded. Throws `EngineError.shapeMismatch` naming the first
    /// weight whose shape does not fit `spec`, `RotaryConfigurationError` for an odd head_dim or a
    /// non-positive rope_theta / factor.
    public init(spec: DecoderSpec, embedTokens: WeightMatrix, layers: [LayerWeights], norm: Tensor, lmHead: WeightMatrix) throws {
        let d = spec.hiddenSize, m = spec.intermediateSize
        let q = spec.queryWidth, kv = spec.keyValueWidth
        func check(_ name: String, _ found: [Int], _ expected: [Int]) throws {
            guard found == expected else { throw EngineError.shapeMismatch(tensor: name, expected: expected, found: found) }
        }
        try check("embed_tokens", embedTokens.shape, [spec.vocabSize, d])
        try check("lm_head", lmHead.shape, [spec.vocabSize, d])
        try check("norm", norm.shape, [d])
        guard layers.count == spec.numHiddenLayers else {
            throw EngineError.shapeMismatch(tensor: "layers", expected: [spec.numHiddenLayers], found: [layers.count])
        }
        for (i, l) in layers.enumerated() {
            let p = "layers.\(i)."
            try check(p + "input_layernorm", l.inputLayernorm.shape, [d])
            try check(p + "post_attention_layernorm", l.postAttentionLayernorm.shape, [d])
            try check(p + "q_proj", l.qProj.shape, [q, d])
            try check(p + "k_proj", l.kProj.shape, [kv, d])
            try check(p + "v_proj", l.vProj.shape, [kv, d])
            try check(p + "o_proj", l.oProj.shape, [d, q])
            if let b = l.qBias { try check(p + "q_proj.bias", b.shape, [q]) }
            if let b = l.kBias { try check(p + "k_proj.bias", b.shape, [kv]) }
            if let b = l.vBias { try check(p + "v_proj.bias", b.shape, [kv]) }
            if let b = l.oBias { try check(p + "o_proj.bias", b.shape, [d]) }
            try check(p + "gate_proj", l.gateProj.shape, [m, d])
            try check(p + "up_proj", l.upProj.shape, [m, d])
            try check(p + "down_proj", l.downProj.shape, [d, m])
        }
        let kind: RotaryEmbedding.Kind =
            spec.mropeSection.map { .multiAxis(sections: $0) }
            ?? (spec.ropeScalingFactor == 1 ? .default : .linear(factor: spec.ropeScalingFactor))
        rotary = try RotaryEmbedding(kind: kind, headDim: spec.headDim, theta: spec.ropeTheta)
        self.spec = spec
        self.embedTokens = embedTokens
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead
    }

    /// A decoder with random weights of the real dimensions, for benchmarks. Values are uniform in
    /// ±0.02 (norm weights 1), stored as `dtype`. With `sharedLayers` every layer uses one weight set
    /// (times like distinct weights for prefill, holds one layer in memory); without it each layer has
    /// its own, so decode streams the real number of bytes and peak RSS is the real one.
    /// `attentionBias` adds q/k/v biases (fp32, ±0.02; Qwen2).
    public convenience init(
        randomWeightsFor spec: DecoderSpec, dtype: DType = .f32, sharedLayers: Bool = true, attentionBias: Bool = false, seed: UInt64 = 0
    ) throws {
        var next = seed
        func random(_ rows: Int, _ columns: Int) -> WeightMatrix {
            next &+= 1
            return WeightMatrix(randomRows: rows, columns: columns, dtype: dtype, scale: 0.02, seed: next)
        }
        func ones(_ n: Int) -> Tensor { Tensor(shape: [n], values: [Float](repeating: 1, count: n)) }
        let d = spec.hiddenSize, m = spec.intermediateSize, q = spec.queryWidth, kv = spec.keyValueWidth
        func bias(_ n: Int) -> Tensor? { attentionBias ? random(1, n).toTensor().reshaped([n]) : nil }
        func layer() -> LayerWeights {
            LayerWeights(
                inputLayernorm: ones(d), postAttentionLayernorm: ones(d),
                qProj: random(q, d), kProj: random(kv, d), vProj: random(kv, d), oProj: random(d, q),
                qBias: bias(q), kBias: bias(kv), vBias: bias(kv),
                gateProj: random(m, d), upProj: random(m, d), downProj: random(d, m))
        }
        let layers =
            sharedLayers
            ? Array(repeating: layer(), count: spec.numHiddenLayers) : (0..<spec.numHiddenLayers).map { _ in layer() }
        let embed = random(spec.vocabSize, d)
        try self.init(spec: spec, embedTokens: embed, layers: layers, norm: ones(d), lmHead: random(spec.vocabSize, d))
    }

    /// The first `count` layers with the same embeddings, final norm and head (benchmarks on a slice).
    public func prefix(layers count: Int) -> TextDecoder {
        precondition(count >= 1 && count <= layers.count, "layer prefix \(count) outside 1...\(layers.count)")
        var s = spec
        s.numHiddenLayers = count
        return try! TextDecoder(spec: s, embedTokens: embedTokens, layers: Array(layers.prefix(count)), norm: norm, lmHead: lmHead)
    }

    /// Weight bytes one decode step reads: every layer's matrices and the LM head (the embedding
    /// lookup reads one row). The numerator of the decode bandwidth bound.
    public var decodeWeightBytes: Int { weightBytes - embedTokens.byteCount }

    /// Bytes of every weight matrix (layers counted once each, shared or not).
    public var weightBytes: Int {
        layers.reduce(0) { $0 + $1.byteCount } + embedTokens.byteCount + lmHead.byteCount
    }

    /// A cache sized for this model.
    public func makeCache(capacity: Int = 256) -> KVCache {
        KVCache(layers: spec.numHiddenLayers, width: spec.keyValueWidth, headDim: spec.headDim, capacity: capacity)
    }

    /// Embedding rows for `ids` (`[ids.count, hidden_size]`). Ids must be in `[0, vocab_size)`.
    public func embed(_ ids: [Int]) -> Tensor {
        let d = spec.hiddenSize
        let out = Tensor(zeros: [ids.count, d])
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && id < spec.vocabSize, "token id \(id) outside the vocabulary")
            embedTokens.copyRow(id, to: out.data + r * d)
        }
        return out
    }

    /// Token group of absolute position `p` given the sequence's images (docs/FLOPS.md "Attribution").
    /// (Index loops: the decode step calls this and must not allocate, even unoptimised.)
    static func group(of p: Int, images: [ImageLayout]) -> TokenGroup {
        guard !images.isEmpty else { return .text }
        if p < images[0].start { return .system }
        var i = 0
        while i < images.count {
            if images[i].range.contains(p) { return .visual }
            i += 1
        }
        return .text
    }

    // MARK: Rotary (transformers `apply_rotary_pos_emb`, rotate-half layout)

    /// Whether rows get rotary positions from their layer's row count after `hooks` drop tokens: the
    /// hook's choice (PyramidDrop, SparseVLM ≤ v1.5 re-index 1-D RoPE), except under M-RoPE, where
    /// kept tokens keep their (t, h, w) positions (a re-indexed grid would lose its rows and columns).
    func reindexesPositions(_ hooks: RowHook) -> Bool {
        hooks.reindexesPositions && spec.mropeSection == nil
    }

    /// Rotates the head vectors of each row of `x` (`[rows, heads · head_dim]`) in place at the given
    /// rotary positions (M-RoPE triples or 1-D positions).
    func applyRotary(_ x: Tensor, heads: Int, positions: [RotaryPosition]) {
        precondition(positions.count == x.rows)
        let half = spec.headDim / 2, width = heads * spec.headDim
        guard heads > 0 else { return }
        let cosines = UnsafeMutablePointer<Float>.allocate(capacity: max(half, 1))
        let sines = UnsafeMutablePointer<Float>.allocate(capacity: max(half, 1))
        defer { cosines.deallocate(); sines.deallocate() }
        for r in 0..<x.rows {
            rotary.angles(positions[r], cosines: cosines, sines: sines)
            rotate(x.data + r * width, heads: heads, cosines: cosines, sines: sines)
        }
    }

    /// `cos` and `sin` of the rotary angles at `position`, `[head_dim / 2]` each.
    @inline(__always)
    func rotaryAngles(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        rotary.angles(position: position, cosines: cosines, sines: sines)
    }

    /// Rotates `heads` consecutive head vectors at `v` by the angles `rotaryAngles` computed.
    @inline(__always)
    func rotate(_ v: UnsafeMutablePointer<Float>, heads: Int, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>) {
        RotaryEmbedding.rotate(v, heads: heads, headDim: spec.headDim, cosines: cosines, sines: sines)
    }
}

/// Errors of the engine itself (families report their own, naming the checkpoint tensor).
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .shapeMismatch(let t, let e, let f): return "decoder weight \(t) has shape \(f), expected \(e)"
        }
    }
}
