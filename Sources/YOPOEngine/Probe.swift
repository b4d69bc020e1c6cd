import Foundation
import YOPOCore

extension TextDecoder: DecoderProbe {
    /// PyramidDrop's ranking row: layer `layer`'s input_layernorm, q_proj (row `query` only) and
    /// k_proj (every row) with their biases, rotary at `ropePositions`, softmax(q·Kᵀ/√head_dim) per
    /// head over the rows up to `query` (causal), averaged over heads. Products counted at
    /// `layer − 1` (the boundary), group text. Scores only: no values are read.
    public func attentionProbabilities(layer: Int, hidden: Tensor, ropePositions: [Int], query: Int, counter: FLOPCounter?) -> [Float] {
        let l = layers[layer]
        let n = hidden.rows, d = spec.hiddenSize, hd = spec.headDim
        let heads = spec.numAttentionHeads, group = spec.groupSize
        let kvWidth = spec.keyValueWidth
        let normed = rmsNorm(hidden, weight: l.inputLayernorm, eps: spec.rmsNormEps)
        let q = linear(normed.rows(query, 1), l.qProj, bias: l.qBias)
        let k = linear(normed, l.kProj, bias: l.kBias)
        applyRotary(q, heads: heads, positions: [ropePositions[query]])
        applyRotary(k, heads: spec.numKeyValueHeads, positions: ropePositions)
        counter?.addProduct(rows: 1, k: d, n: spec.queryWidth, layer: layer - 1, .text)
        counter?.addProduct(rows: n, k: d, n: kvWidth, layer: layer - 1, .text)
        counter?.add(2 * (query + 1) * hd * heads, layer: layer - 1, .text)
        var average = [Float](repeating: 0, count: n)
        var row = [Float](repeating: 0, count: n)
        let scale = 1 / Float(hd).squareRoot()
        for h in 0..<heads {
            let g = h / group
            // Causal: the query sees rows up to itself (every row when it is the last).
            for j in 0...query { row[j] = scale * dot(q.data + h * hd, k.data + j * kvWidth + g * hd, hd) }
            row.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: query + 1) }
            for j in 0...query { average[j] += row[j] / Float(heads) }
        }
        return average
    }
}
