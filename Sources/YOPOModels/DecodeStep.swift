import Foundation
import YOPOCore
import YOPOPruning

// One generated token through the decoder and its KV cache, with buffers allocated once per cache
// and reused: after the first step a decode step makes no heap allocation (the test counts them).
// `forward` on a single new row takes this path too. Attention sums in another order than the
// prefill's blocked products (dot products and value-row sums instead of sgemm).

/// Buffers of one decode step: every intermediate of a single row, the attention scores and the
/// logits. Owned by a `KVCache` (created by its first decode step); fp32.
final class DecodeWorkspace {
    /// `[hidden_size]` each: the residual stream, a norm output, the attention output, the FFN output.
    let hidden, normed, attended, down: UnsafeMutablePointer<Float>
    /// `[num_attention_heads · head_dim]`: queries, then the attention context.
    let q, context: UnsafeMutablePointer<Float>
    /// `[intermediate_size]` each.
    let gate, up: UnsafeMutablePointer<Float>
    /// `[head_dim / 2]` each: RoPE at the step's position.
    let cosines, sines: UnsafeMutablePointer<Float>
    /// Attention scores of one head; grows with the keys (amortised doubling).
    private(set) var scores: UnsafeMutablePointer<Float>
    private(set) var scoresCapacity: Int
    /// `[1, vocab_size]`.
    let logits: Tensor
    private let blocks: [UnsafeMutablePointer<Float>]

    init(_ config: LlamaConfiguration, keys: Int) {
        let d = config.hiddenSize, qWidth = config.numAttentionHeads * config.headDim
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        hidden = buffer(d); normed = buffer(d); attended = buffer(d); down = buffer(d)
        q = buffer(qWidth); context = buffer(qWidth)
        gate = buffer(config.intermediateSize); up = buffer(config.intermediateSize)
        cosines = buffer(config.headDim / 2); sines = buffer(config.headDim / 2)
        scoresCapacity = max(keys, 64)
        scores = buffer(scoresCapacity)
        logits = Tensor(zeros: [1, config.vocabSize])
        blocks = [hidden, normed, attended, down, q, context, gate, up, cosines, sines]
    }

    /// Makes room for `keys` scores.
    func reserveScores(_ keys: Int) {
        guard keys > scoresCapacity else { return }
        scores.deallocate()
        scoresCapacity = max(keys, 2 * scoresCapacity)
        scores = UnsafeMutablePointer<Float>.allocate(capacity: scoresCapacity)
    }

    deinit {
        for p in blocks { p.deallocate() }
        scores.deallocate()
    }
}

extension LlamaDecoder {
    /// Runs one token through the decoder after the cache's contents (a decode step) and returns its
    /// logits. Buffers live in `cache` and are reused, so once the cache has room for the new
    /// position (see `makeCache(capacity:)`) the step allocates nothing.
    /// - Parameters:
    ///   - token: the token id, in `[0, vocab_size)`; its position is `cache.length`.
    ///   - cache: updated in place with the new keys and values.
    ///   - execution: as for the prefill (`.skip` reads the visual keys each layer kept; `.simulate`
    ///     applies the official release's post-softmax visual-key mask; token pruning reads the rows
    ///     each layer stored).
    ///   - counter: receives the executed FLOPs (docs/FLOPS.md "decode step"), if given.
    /// - Returns: `[1, vocab_size]` fp32 logits in the cache's workspace: valid until the next decode
    ///   step on this cache (copy them to keep them).
    public func decode(
        token: Int, cache: KVCache, execution: DecoderExecution = .dense, counter: FLOPCounter? = nil
    ) -> Tensor {
        precondition(token >= 0 && token < config.vocabSize, "token id \(token) outside the vocabulary")
        cache.reserve(1)
        embedTokens.copyRow(token, to: cache.decodeWorkspace(config).hidden)
        return decodeStep(cache: cache, execution: execution, counter: counter)
    }

    /// The decode step on the embedding in the cache workspace's `hidden` buffer (`decode`, and
    /// `forward` on a single row).
    func decodeStep(cache: KVCache, execution: DecoderExecution, counter: FLOPCounter?) -> Tensor {
        let d = config.hiddenSize, hd = config.headDim, heads = config.numAttentionHeads
        let kvWidth = config.numKeyValueHeads * hd, qWidth = heads * hd, group = heads / config.numKeyValueHeads
        let I = config.intermediateSize, eps = config.rmsNormEps
        let position = cache.length
        cache.reserve(1)
        let ws = cache.decodeWorkspace(config)
        // Skip runs: the sequence store holds text rows only, one row index for every layer.
        let sequenceRow = cache.sequenceCount
        let rowGroup = LlamaDecoder.group(of: position, images: cache.images)
        let skipPlan: YOPOPlan? = { if case .skip(let p) = execution { return p } else { return nil } }()
        let simulatePlan: YOPOPlan? = { if case .simulate(let p) = execution { return p } else { return nil } }()
        let scale = 1 / Float(hd).squareRoot()

        for index in 0..<layers.count {
            let l = layers[index]
            // Row of the layer's sequence store this token takes, and its RoPE position.
            let row = skipPlan == nil ? cache.rows(index) : sequenceRow
            ropeAngles(position: cache.reindexesPositions ? row : position, cosines: ws.cosines, sines: ws.sines)
            rmsNormRow(ws.hidden, weight: l.inputNorm.data, into: ws.normed, count: d, eps: eps)
            let keys = cache.keys[index], values = cache.values[index]
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.qProj, c: ws.q, ldc: qWidth)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.kProj, c: keys.data + row * kvWidth, ldc: kvWidth)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.vProj, c: values.data + row * kvWidth, ldc: kvWidth)
            rotate(ws.q, heads: heads, cosines: ws.cosines, sines: ws.sines)
            rotate(keys.data + row * kvWidth, heads: config.numKeyValueHeads, cosines: ws.cosines, sines: ws.sines)
            counter?.addProduct(rows: 1, k: d, n: 2 * kvWidth, layer: index, rowGroup)
            counter?.addProduct(rows: 1, k: d, n: qWidth, layer: index, rowGroup)

            // Attention of the one query row, head by head: scores by dot products, the context as a
            // sum of value rows (OpenBLAS's sgemm allocates on some calls; these loops do not).
            var attentionFLOPs = 0
            func attend(_ h: Int, keys: UnsafePointer<Float>, keyStride: Int, count: Int, scores: UnsafeMutablePointer<Float>) {
                let query = ws.q + h * hd
                for j in 0..<count { scores[j] = scale * dot(query, keys + j * keyStride, hd) }
            }
            func accumulate(_ h: Int, values: UnsafePointer<Float>, valueStride: Int, count: Int,
                            probabilities: UnsafePointer<Float>) {
                let out = ws.context + h * hd
                for j in 0..<count { axpy(probabilities[j], values + j * valueStride, out, hd) }
            }
            if let plan = skipPlan {
                // Text keys of the sequence store, then each earlier image's stored visual keys for
                // heads that keep visual work in this layer (YOPOSkipExecution's text attention, one row).
                let stores = cache.visual[index]
                let textKeys = row + 1
                // (Index loops throughout: unoptimised builds allocate in generic iterators.)
                let images = cache.images
                var maxKeys = textKeys
                for i in 0..<min(images.count, stores.count) { maxKeys += images[i].count }
                ws.reserveScores(maxKeys)
                let scores = ws.scores
                for h in 0..<heads {
                    let g = h / group
                    let keepsVisual = plan.visualAlive(layer: index) && plan.headKept(layer: index, head: h)
                    attend(h, keys: keys.data + g * hd, keyStride: kvWidth, count: textKeys, scores: scores)
                    var total = textKeys
                    if keepsVisual {
                        for i in 0..<min(images.count, stores.count) where images[i].start < position {
                            let image = images[i]
                            guard let column = stores[i].column(of: g, headDim: hd) else { continue }
                            attend(h, keys: stores[i].keys.data + column, keyStride: stores[i].width, count: image.count,
                                   scores: scores + total)
                            total += image.count
                        }
                    }
                    softmaxInPlace(scores, count: total)
                    attentionFLOPs += 2 * total * hd * 2
                    (ws.context + h * hd).update(repeating: 0, count: hd)
                    accumulate(h, values: values.data + g * hd, valueStride: kvWidth, count: textKeys, probabilities: scores)
                    var offset = textKeys
                    if keepsVisual {
                        for i in 0..<min(images.count, stores.count) where images[i].start < position {
                            let image = images[i]
                            guard let column = stores[i].column(of: g, headDim: hd) else { continue }
                            accumulate(h, values: stores[i].values.data + column, valueStride: stores[i].width,
                                       count: image.count, probabilities: scores + offset)
                            offset += image.count
                        }
                    }
                }
            } else {
                // Every stored row of this layer (dense layer, one query row). Simulate: the official
                // post-softmax factor on visual columns (mask row for l < K, 0 after).
                let end = row + 1
                ws.reserveScores(end)
                let scores = ws.scores
                let alive = simulatePlan?.visualAlive(layer: index) ?? true
                for h in 0..<heads {
                    let g = h / group
                    attend(h, keys: keys.data + g * hd, keyStride: kvWidth, count: end, scores: scores)
                    softmaxInPlace(scores, count: end)
                    if let plan = simulatePlan, !(alive && plan.headKept(layer: index, head: h)) {
                        let images = cache.images
                        for i in 0..<images.count {
                            let upper = min(images[i].range.upperBound, end)
                            if upper > images[i].start { for c in images[i].start..<upper { scores[c] = 0 } }
                        }
                    }
                    (ws.context + h * hd).update(repeating: 0, count: hd)
                    accumulate(h, values: values.data + g * hd, valueStride: kvWidth, count: end, probabilities: scores)
                }
                attentionFLOPs = heads * 2 * end * hd * 2
            }
            counter?.add(attentionFLOPs, layer: index, rowGroup)

            // o_proj and the residual, then the SwiGLU FFN and the residual.
            MatMul.linear(m: 1, a: ws.context, lda: qWidth, weight: l.oProj, c: ws.attended, ldc: d)
            for i in 0..<d { ws.attended[i] += ws.hidden[i] }
            rmsNormRow(ws.attended, weight: l.postAttentionNorm.data, into: ws.normed, count: d, eps: eps)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.gateProj, c: ws.gate, ldc: I)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.upProj, c: ws.up, ldc: I)
            siluMultiplyInPlace(ws.gate, ws.up, count: I)
            MatMul.linear(m: 1, a: ws.gate, lda: I, weight: l.downProj, c: ws.down, ldc: d)
            for i in 0..<d { ws.hidden[i] = ws.down[i] + ws.attended[i] }
            counter?.addProduct(rows: 1, k: qWidth, n: d, layer: index, rowGroup)
            counter?.addProduct(rows: 1, k: d, n: 3 * I, layer: index, rowGroup)
            cache.appendRow(position, layer: index)
        }
        cache.advance(total: 1)
        rmsNormRow(ws.hidden, weight: norm.data, into: ws.normed, count: d, eps: eps)
        MatMul.linear(m: 1, a: ws.normed, lda: d, weight: lmHead, c: ws.logits.data, ldc: config.vocabSize)
        counter?.addProduct(rows: 1, k: d, n: config.vocabSize, .text)
        return ws.logits
    }
}
