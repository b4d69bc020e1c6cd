import Foundation
import YOPOCore

extension TextDecoder: DecoderProbe {
    /// PyramidDrop's ranking row: layer `layer`'s input_layernorm, q_proj (row `query` only) and
    /// k_proj (every row) with their biases, rotary at `ropePositions`, softmax(q·Kᵀ/√head_dim) per
    /// head over the rows up to `query` (causal), averaged over heads. Products counted at
    /// `layer − 1` (the boundary), group text. Scores only: no values are read.
    public func attentionProbabilities(
        layer: Int, hidden: Tensor, ropePositions: [RotaryPosition], query: Int, counter: FLOPCounter?
    ) -> [Float] {
        let l = layers[layer]
        let n = hidden.rows, d = spec.hiddenSize, heads = spec.numAttentionHeads
        let kvWidth = spec.keyValueWidth
        let normed = rmsNorm(hidden, weight: l.inputLayernorm, eps: spec.rmsNormEps)
        let q = linear(normed.rows(query, 1), l.qProj, bias: l.qBias)
        let k = linear(normed, l.kProj, bias: l.kBias)
        applyRotary(q, heads: heads, positions: [ropePositions[query]])
        applyRotary(k, heads: spec.numKeyValueHeads, positions: ropePositions)
        counter?.addProduct(rows: 1, k: d, n: spec.queryWidth, layer: layer - 1, .text)
        counter?.addProduct(rows: n, k: d, n: kvWidth, layer: layer - 1, .text)
        // The prefill's attention primitive, one query row, scores only; probabilities averaged over
        // heads by its observer.
        var problem = AttentionProblem(
            q: q.data, qStride: spec.queryWidth, context: q.data, contextStride: spec.queryWidth,
            heads: Array(0..<heads), rows: 1,
            segments: [
                KeySegment(
                    keys: k.data, values: k.data, stride: kvWidth, count: n, kvHeads: nil, readBy: nil,
                    visibility: .block(extent: { _, _ in query + 1 }, mask: nil))
            ])
        problem.capture = [0: 0]
        problem.captured = Tensor(zeros: [1, n])
        problem.scoresOnly = true
        attend(problem, rows: [0], Cost(counter: counter, layer: layer - 1, groupOf: [.text]))
        return problem.captured!.scalars
    }
}
