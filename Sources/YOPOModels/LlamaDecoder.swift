import Foundation
import YOPOCore

/// Keys and values of every decoder layer for one sequence, grown as tokens are appended.
/// Layout per layer: `[capacity, num_key_value_heads · head_dim]`, fp32, rows = positions.
public final class KVCache {
    public let layerCount: Int
    public let width: Int
    public private(set) var capacity: Int
    /// Number of positions stored (the next token's position).
    public private(set) var length: Int = 0
    var keys: [Tensor]
    var values: [Tensor]

    public init(layers: Int, width: Int, capacity: Int = 256) {
        layerCount = layers
        self.width = width
        self.capacity = max(capacity, 1)
        keys = (0..<layers).map { _ in Tensor(zeros: [max(capacity, 1), width]) }
        values = (0..<layers).map { _ in Tensor(zeros: [max(capacity, 1), width]) }
    }

    /// Makes room for `count` more positions (amortised doubling; copies the stored rows).
    func reserve(_ count: Int) {
        guard length + count > capacity else { return }
        let newCapacity = max(length + count, capacity * 2)
        for l in 0..<layerCount {
            let k = Tensor(zeros: [newCapacity, width]), v = Tensor(zeros: [newCapacity, width])
            k.data.update(from: keys[l].data, count: length * width)
            v.data.update(from: values[l].data, count: length * width)
            keys[l] = k
            values[l] = v
        }
        capacity = newCapacity
    }

    /// Marks `count` positions appended (after every layer wrote its rows).
    func advance(_ count: Int) { length += count }

    /// Bytes held for stored positions (keys + values, all layers, fp32).
    public var bytesUsed: Int { 2 * layerCount * length * width * MemoryLayout<Float>.size }
}

/// LLaMA decoder (transformers `LlamaModel` + `lm_head`): RMSNorm, RoPE (`rope_theta`, linear
/// scaling), grouped-query attention, SwiGLU FFN. Canonical tensor names: `embed_tokens.weight`,
/// `layers.N.self_attn.{q,k,v,o}_proj.weight`, `layers.N.mlp.{gate,up,down}_proj.weight`,
/// `layers.N.{input_layernorm,post_attention_layernorm}.weight`, `norm.weight`, `lm_head.weight`.
public final class LlamaDecoder {
    public let config: LlamaConfiguration

    struct Layer {
        let inputNorm, postAttentionNorm: Tensor
        let qProj, kProj, vProj, oProj: Tensor
        let gateProj, upProj, downProj: Tensor
    }

    /// `[vocab_size, hidden_size]`
    public let embedTokens: Tensor
    let layers: [Layer]
    let norm: Tensor
    /// `[vocab_size, hidden_size]`
    public let lmHead: Tensor
    /// `1 / (rope_theta^(2i/head_dim) · factor)`, `[head_dim / 2]`, computed in fp32 as transformers does.
    let inverseFrequencies: [Float]

    /// Loads the decoder from `weights`. Throws `ModelError` naming a missing/mis-shaped tensor.
    public init(config: LlamaConfiguration, weights: WeightStore) throws {
        try config.validate()
        self.config = config
        let d = config.hiddenSize, hd = config.headDim, m = config.intermediateSize
        let qWidth = config.numAttentionHeads * hd, kvWidth = config.numKeyValueHeads * hd
        embedTokens = try weights.take("embed_tokens.weight", shape: [config.vocabSize, d])
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let pre = "layers.\(i)."
            func w(_ n: String, _ s: [Int]) throws -> Tensor { try weights.take(pre + n, shape: s) }
            layers.append(Layer(
                inputNorm: try w("input_layernorm.weight", [d]),
                postAttentionNorm: try w("post_attention_layernorm.weight", [d]),
                qProj: try w("self_attn.q_proj.weight", [qWidth, d]),
                kProj: try w("self_attn.k_proj.weight", [kvWidth, d]),
                vProj: try w("self_attn.v_proj.weight", [kvWidth, d]),
                oProj: try w("self_attn.o_proj.weight", [d, qWidth]),
                gateProj: try w("mlp.gate_proj.weight", [m, d]),
                upProj: try w("mlp.up_proj.weight", [m, d]),
                downProj: try w("mlp.down_proj.weight", [d, m])))
        }
        self.layers = layers
        norm = try weights.take("norm.weight", shape: [d])
        if config.tieWordEmbeddings && !weights.contains("lm_head.weight") {
            lmHead = embedTokens
        } else {
            lmHead = try weights.take("lm_head.weight", shape: [config.vocabSize, d])
        }
        let theta = config.ropeTheta, factor = config.ropeScalingFactor
        inverseFrequencies = (0..<(hd / 2)).map { i in
            (1 / powf(theta, Float(2 * i) / Float(hd))) / factor
        }
    }

    /// A cache sized for this model.
    public func makeCache(capacity: Int = 256) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.numKeyValueHeads * config.headDim, capacity: capacity)
    }

    /// Embedding rows for `ids` (`[ids.count, hidden_size]`). Ids must be in `[0, vocab_size)`.
    public func embed(_ ids: [Int]) -> Tensor {
        let d = config.hiddenSize
        let out = Tensor(zeros: [ids.count, d])
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && id < config.vocabSize, "token id \(id) outside the vocabulary")
            (out.data + r * d).update(from: embedTokens.data + id * d, count: d)
        }
        return out
    }

    /// Runs the decoder on `inputs` appended after the cache's contents and returns logits.
    /// - Parameters:
    ///   - inputs: `[tokens, hidden_size]` input embeddings; positions continue from `cache.length`.
    ///   - cache: updated in place with the new keys and values.
    ///   - logitRows: which of the new rows need logits (default: the last one only).
    /// - Returns: `[logitRows.count, vocab_size]`, fp32.
    public func forward(_ inputs: Tensor, cache: KVCache, logitRows: [Int]? = nil) -> Tensor {
        let n = inputs.rows
        cache.reserve(n)
        var h = inputs.copy()
        for (index, layer) in layers.enumerated() {
            h = decoderLayer(layer, index: index, h, cache: cache)
        }
        cache.advance(n)
        let rows = logitRows ?? [n - 1]
        let selected = Tensor(zeros: [rows.count, config.hiddenSize])
        for (i, r) in rows.enumerated() {
            (selected.data + i * config.hiddenSize).update(from: h.data + r * config.hiddenSize, count: config.hiddenSize)
        }
        let normed = rmsNorm(selected, weight: norm, eps: config.rmsNormEps)
        return linear(normed, lmHead)
    }

    /// Rotates `heads` head vectors of each row in place (transformers `apply_rotary_pos_emb`,
    /// rotate-half layout). `x`: `[rows, heads · head_dim]`; row r has position `start + r`.
    func applyRoPE(_ x: Tensor, heads: Int, start: Int) {
        let hd = config.headDim, half = hd / 2, width = heads * hd
        var cosines = [Float](repeating: 0, count: half), sines = cosines
        for r in 0..<x.rows {
            let position = Float(start + r)
            for i in 0..<half {
                let angle = position * inverseFrequencies[i]
                cosines[i] = cos(angle)
                sines[i] = sin(angle)
            }
            for h in 0..<heads {
                let v = x.data + r * width + h * hd
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    v[i] = a * cosines[i] - b * sines[i]
                    v[i + half] = b * cosines[i] + a * sines[i]
                }
            }
        }
    }

    private func decoderLayer(_ l: Layer, index: Int, _ x: Tensor, cache: KVCache) -> Tensor {
        let n = x.rows, hd = config.headDim
        let heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads
        let qWidth = heads * hd, kvWidth = kvHeads * hd, group = heads / kvHeads
        let past = cache.length, total = past + n

        let normed = rmsNorm(x, weight: l.inputNorm, eps: config.rmsNormEps)
        let q = linear(normed, l.qProj)
        let k = linear(normed, l.kProj)
        let v = linear(normed, l.vProj)
        applyRoPE(q, heads: heads, start: past)
        applyRoPE(k, heads: kvHeads, start: past)
        let keys = cache.keys[index], values = cache.values[index]
        (keys.data + past * kvWidth).update(from: k.data, count: n * kvWidth)
        (values.data + past * kvWidth).update(from: v.data, count: n * kvWidth)

        // Causal attention per head: query r (position past + r) sees keys [0, past + r].
        let context = Tensor(zeros: [n, qWidth])
        let scores = Tensor(zeros: [n, total])
        let scale = 1 / Float(hd).squareRoot()
        for h in 0..<heads {
            let g = h / group
            MatMul.gemmABt(m: n, n: total, k: hd, alpha: scale, a: q.data + h * hd, lda: qWidth,
                           b: keys.data + g * hd, ldb: kvWidth, c: scores.data, ldc: total)
            for r in 0..<n {
                let row = scores.data + r * total
                let visible = past + r + 1
                for c in visible..<total { row[c] = -.infinity }
                softmaxInPlace(row, count: visible)
                for c in visible..<total { row[c] = 0 }
            }
            MatMul.gemmAB(m: n, n: hd, k: total, a: scores.data, lda: total, b: values.data + g * hd,
                          ldb: kvWidth, c: context.data + h * hd, ldc: qWidth)
        }
        let attended = linear(context, l.oProj)
        addInPlace(attended, x)

        let normed2 = rmsNorm(attended, weight: l.postAttentionNorm, eps: config.rmsNormEps)
        let gate = linear(normed2, l.gateProj)
        let up = linear(normed2, l.upProj)
        let gp = gate.data, upp = up.data
        for i in 0..<gate.count { gp[i] = Activation.silu(gp[i]) * upp[i] }
        let down = linear(gate, l.downProj)
        addInPlace(down, attended)
        return down
    }
}
