import Foundation
import YOPOCore
import YOPOEngine

/// Bidirectional multi-head attention of a vision tower (CLIP, Qwen2-VL's ViT): for each head,
/// `softmax(q·kᵀ · scale) · v` over `rows` rows, fp32. `q`, `k`, `v` point at row 0 of head 0, rows
/// `stride` floats apart, heads `headDim` floats apart within a row (separate `[rows, heads·headDim]`
/// tensors, or the q / k / v thirds of a fused `[rows, 3·heads·headDim]` one).
/// Queries go in blocks of `queryBlock` rows, so the scores held at once are `queryBlock × rows` per
/// head in flight (a 12.8-megapixel Qwen2-VL image has ~65k patches: a full score matrix would be 17 GB).
/// - Returns: `[rows, heads · headDim]` context, head h in columns `h·headDim ..< (h+1)·headDim`.
func visionAttention(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int, rows n: Int, heads: Int,
    headDim hd: Int, queryBlock: Int = 1024
) -> Tensor {
    let width = heads * hd
    let context = Tensor(zeros: [n, width])
    let scale = 1 / Float(hd).squareRoot()
    // Heads in parallel, each writing its own columns of `context`.
    let block = min(n, queryBlock)
    parallelChunks(heads, minimum: attentionParallelMinimum(heads: heads, rows: n, keys: n, headDim: hd)) { h0, h1 in
        let scores = Tensor(zeros: [block, n])
        for h in h0..<h1 {
            for r0 in Swift.stride(from: 0, to: n, by: block) {
                let m = min(block, n - r0)
                MatMul.gemmABt(
                    m: m, n: n, k: hd, alpha: scale, a: q + r0 * stride + h * hd, lda: stride, b: k + h * hd, ldb: stride,
                    c: scores.data, ldc: n)
                for r in 0..<m { softmaxInPlace(scores.data + r * n, count: n) }
                MatMul.gemmAB(
                    m: m, n: hd, k: n, a: scores.data, lda: n, b: v + h * hd, ldb: stride,
                    c: context.data + r0 * width + h * hd, ldc: width)
            }
        }
    }
    return context
}

extension TextDecoder {
    /// `[ids.count, hidden_size]`: the text ids embedded, the positions holding `imageToken` replaced
    /// in order by the rows of `images` (each `[tokens, hidden_size]`), as every family's
    /// `get_placeholder_mask` + `masked_scatter` does.
    /// Throws `ModelError.imageTokenMismatch` when the counts differ, `.invalidConfiguration` for an id
    /// outside the vocabulary.
    public func embed(ids: [Int], imageToken: Int, images: [Tensor]) throws -> Tensor {
        let d = spec.hiddenSize
        let imagePositions = ids.indices.filter { ids[$0] == imageToken }
        let featureRows = images.reduce(0) { $0 + $1.rows }
        guard imagePositions.count == featureRows else {
            throw ModelError.imageTokenMismatch(tokens: imagePositions.count, features: featureRows)
        }
        let textIDs = ids.map { $0 == imageToken ? 0 : $0 }
        if let bad = textIDs.first(where: { $0 < 0 || $0 >= spec.vocabSize }) {
            throw ModelError.invalidConfiguration("token id \(bad) is outside the vocabulary of \(spec.vocabSize)")
        }
        let out = embed(textIDs)
        var next = 0
        for image in images {
            precondition(image.columns == d, "image features must be [tokens, \(d)]")
            for r in 0..<image.rows {
                (out.data + imagePositions[next] * d).update(from: image.data + r * d, count: d)
                next += 1
            }
        }
        return out
    }
}
