import Foundation
import YOPOCore

/// CLIP ViT vision tower (pre-LN transformer), follows transformers `CLIPVisionTransformer`.
/// Only the layers up to the LLaVA feature layer are loaded and computed; `post_layernorm` is never
/// used by LLaVA and is skipped.
///
/// Canonical tensor names (prefix `vision.`): `embeddings.class_embedding` `[hidden]`,
/// `embeddings.patch_embedding.weight` `[hidden, 3, patch, patch]` (conv, no bias),
/// `embeddings.position_embedding.weight` `[grid² + 1, hidden]`, `pre_layrnorm.{weight,bias}`,
/// `encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, layer_norm2, mlp.fc1, mlp.fc2}.{weight,bias}`.
public final class CLIPVisionTower {
    public let config: CLIPVisionConfiguration
    /// Number of encoder layers computed: `hidden_states[layersComputed]` is the feature layer.
    public let layersComputed: Int

    struct Layer {
        let norm1Weight, norm1Bias, norm2Weight, norm2Bias: Tensor
        let qWeight, kWeight, vWeight, outWeight, fc1Weight, fc2Weight: WeightMatrix
        let qBias, kBias, vBias, outBias, fc1Bias, fc2Bias: Tensor
    }

    let classEmbedding: Tensor
    let patchWeight: WeightMatrix  // [hidden, 3·patch·patch]
    let positionEmbedding: Tensor
    let preNormWeight, preNormBias: Tensor
    let layers: [Layer]

    /// Loads the tower from `weights` (canonical names above).
    /// - Parameter featureLayer: LLaVA's `vision_feature_layer` (−2 = output of the penultimate layer,
    ///   as an index into transformers' `hidden_states`, where 0 is the embedding output).
    /// Throws `ModelError` naming a missing or mis-shaped tensor, or an out-of-range feature layer.
    public init(config: CLIPVisionConfiguration, featureLayer: Int, weights: WeightStore) throws {
        try config.validate()
        self.config = config
        let total = config.numHiddenLayers
        let index = featureLayer < 0 ? total + 1 + featureLayer : featureLayer
        guard index >= 0, index <= total else {
            throw ModelError.invalidConfiguration("vision_feature_layer \(featureLayer) is outside the \(total)-layer vision tower")
        }
        layersComputed = index
        let d = config.hiddenSize, p = config.patchSize, g = config.gridSize, m = config.intermediateSize
        classEmbedding = try weights.take("vision.embeddings.class_embedding", shape: [d])
        patchWeight = try weights.takeMatrix("vision.embeddings.patch_embedding.weight", shape: [d, 3, p, p])
        positionEmbedding = try weights.take("vision.embeddings.position_embedding.weight", shape: [g * g + 1, d])
        preNormWeight = try weights.take("vision.pre_layrnorm.weight", shape: [d])
        preNormBias = try weights.take("vision.pre_layrnorm.bias", shape: [d])
        var layers: [Layer] = []
        for i in 0..<index {
            let pre = "vision.encoder.layers.\(i)."
            func w(_ n: String, _ s: [Int]) throws -> Tensor { try weights.take(pre + n, shape: s) }
            func matrix(_ n: String, _ s: [Int]) throws -> WeightMatrix { try weights.takeMatrix(pre + n, shape: s) }
            layers.append(
                Layer(
                    norm1Weight: try w("layer_norm1.weight", [d]), norm1Bias: try w("layer_norm1.bias", [d]),
                    norm2Weight: try w("layer_norm2.weight", [d]), norm2Bias: try w("layer_norm2.bias", [d]),
                    qWeight: try matrix("self_attn.q_proj.weight", [d, d]), kWeight: try matrix("self_attn.k_proj.weight", [d, d]),
                    vWeight: try matrix("self_attn.v_proj.weight", [d, d]), outWeight: try matrix("self_attn.out_proj.weight", [d, d]),
                    fc1Weight: try matrix("mlp.fc1.weight", [m, d]), fc2Weight: try matrix("mlp.fc2.weight", [d, m]),
                    qBias: try w("self_attn.q_proj.bias", [d]), kBias: try w("self_attn.k_proj.bias", [d]),
                    vBias: try w("self_attn.v_proj.bias", [d]), outBias: try w("self_attn.out_proj.bias", [d]),
                    fc1Bias: try w("mlp.fc1.bias", [m]), fc2Bias: try w("mlp.fc2.bias", [d])))
        }
        self.layers = layers
        // Layers after the feature layer are stored but never computed.
        weights.ignore { name in
            guard name.hasPrefix("vision.encoder.layers.") else { return false }
            let rest = name.dropFirst("vision.encoder.layers.".count)
            return rest.firstIndex(of: ".").flatMap { Int(rest[..<$0]) }.map { $0 >= index } ?? false
        }
    }

    /// A tower with random weights of `config`'s dimensions (uniform ±0.02, norms 1, biases 0),
    /// stored as `dtype`, for benchmarks. `featureLayer` as in the loading initializer; throws
    /// `ModelError.invalidConfiguration` for an invalid config or an out-of-range feature layer.
    public init(randomWeightsFor config: CLIPVisionConfiguration, featureLayer: Int, dtype: DType, seed: UInt64 = 100) throws {
        try config.validate()
        self.config = config
        let total = config.numHiddenLayers
        layersComputed = featureLayer < 0 ? total + 1 + featureLayer : featureLayer
        guard layersComputed >= 0, layersComputed <= total else {
            throw ModelError.invalidConfiguration("vision_feature_layer \(featureLayer) is outside the \(total)-layer vision tower")
        }
        let d = config.hiddenSize, p = config.patchSize, g = config.gridSize, m = config.intermediateSize
        var next = seed
        func random(_ rows: Int, _ columns: Int) -> WeightMatrix {
            next &+= 1
            return WeightMatrix(randomRows: rows, columns: columns, dtype: dtype, scale: 0.02, seed: next)
        }
        func filled(_ n: Int, _ value: Float) -> Tensor { Tensor(shape: [n], values: [Float](repeating: value, count: n)) }
        classEmbedding = random(1, d).toTensor().reshaped([d])
        patchWeight = random(d, 3 * p * p)
        positionEmbedding = random(g * g + 1, d).toTensor()
        preNormWeight = filled(d, 1)
        preNormBias = filled(d, 0)
        layers = (0..<layersComputed).map { _ in
            Layer(
                norm1Weight: filled(d, 1), norm1Bias: filled(d, 0), norm2Weight: filled(d, 1), norm2Bias: filled(d, 0),
                qWeight: random(d, d), kWeight: random(d, d), vWeight: random(d, d), outWeight: random(d, d),
                fc1Weight: random(m, d), fc2Weight: random(d, m),
                qBias: filled(d, 0), kBias: filled(d, 0), vBias: filled(d, 0), outBias: filled(d, 0),
                fc1Bias: filled(m, 0), fc2Bias: filled(d, 0))
        }
    }

    /// Hidden states of the feature layer.
    /// - Parameter pixels: `[3, image_size, image_size]`, fp32, normalised.
    /// - Returns: `[grid² + 1, hidden]` (row 0 is CLS), fp32.
    /// - Parameter counter: receives the executed FLOPs (stage set by the caller), if given.
    public func callAsFunction(_ pixels: Tensor, counter: FLOPCounter? = nil) -> Tensor {
        let s = config.imageSize, p = config.patchSize, g = config.gridSize, d = config.hiddenSize
        precondition(pixels.count == 3 * s * s, "pixels must be [3, \(s), \(s)]")
        // Patch embedding as im2col + GEMM: the conv weight [d, 3, p, p] flattened in (c, ky, kx) order.
        let k = 3 * p * p
        let patches = Tensor(zeros: [g * g, k])
        for py in 0..<g {
            for px in 0..<g {
                let row = patches.data + (py * g + px) * k
                for c in 0..<3 {
                    for ky in 0..<p {
                        let src = pixels.data + c * s * s + (py * p + ky) * s + px * p
                        (row + (c * p + ky) * p).update(from: src, count: p)
                    }
                }
            }
        }
        let embedded = linear(patches, patchWeight)
        counter?.addProduct(rows: g * g, k: k, n: d, .visual)
        var h = Tensor(zeros: [g * g + 1, d])
        h.data.update(from: classEmbedding.data, count: d)
        (h.data + d).update(from: embedded.data, count: g * g * d)
        addInPlace(h, positionEmbedding)
        h = layerNorm(h, weight: preNormWeight, bias: preNormBias, eps: config.layerNormEps)
        for layer in layers { h = encoderLayer(layer, h, counter: counter) }
        return h
    }

    private func encoderLayer(_ l: Layer, _ x: Tensor, counter: FLOPCounter?) -> Tensor {
        let eps = config.layerNormEps
        let n = x.rows, d = config.hiddenSize, heads = config.numAttentionHeads, hd = config.headDim
        if let counter {
            let m = config.intermediateSize
            counter.addProduct(rows: n, k: d, n: 4 * d, .visual)
            counter.add(2 * n * n * d * 2, .visual)
            counter.addProduct(rows: n, k: d, n: 2 * m, .visual)
        }
        let normed = layerNorm(x, weight: l.norm1Weight, bias: l.norm1Bias, eps: eps)
        let q = linear(normed, l.qWeight, bias: l.qBias)
        let k = linear(normed, l.kWeight, bias: l.kBias)
        let v = linear(normed, l.vWeight, bias: l.vBias)
        let context = visionAttention(q: q.data, k: k.data, v: v.data, stride: d, rows: n, heads: heads, headDim: hd)
        let attended = linear(context, l.outWeight, bias: l.outBias)
        addInPlace(attended, x)
        let normed2 = layerNorm(attended, weight: l.norm2Weight, bias: l.norm2Bias, eps: eps)
        let hidden = linear(normed2, l.fc1Weight, bias: l.fc1Bias)
        config.hiddenAct.applyInPlace(hidden)
        let out = linear(hidden, l.fc2Weight, bias: l.fc2Bias)
        addInPlace(out, attended)
        return out
    }
}
