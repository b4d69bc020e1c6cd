import Foundation
import YOPOCore

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
    /// Attention scores, `[parts, scoresCapacity]` (one row per thread); grows with the keys.
    private(set) var scores: UnsafeMutablePointer<Float>
    private(set) var scoresCapacity: Int
    private(set) var scoreParts: Int
    /// The attention of the step's row, reused every layer.
    let attention: DecodeAttention
    /// `[1, vocab_size]`.
    let logits: Tensor
    private let blocks: [UnsafeMutablePointer<Float>]

    init(_ config: DecoderSpec, keys: Int) {
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
        scoreParts = 1
        scores = buffer(scoresCapacity)
        logits = Tensor(zeros: [1, config.vocabSize])
        attention = DecodeAttention(config, q: q, context: context)
        blocks = [hidden, normed, attended, down, q, context, gate, up, cosines, sines]
    }

    /// Makes room for `keys` scores in each of `parts` rows (doubling, so a growing cache costs an
    /// allocation only now and then).
    func reserveScores(_ keys: Int, parts: Int) {
        guard keys > scoresCapacity || parts > scoreParts else { return }
        scores.deallocate()
        if keys > scoresCapacity { scoresCapacity = max(keys, 2 * scoresCapacity) }
        scoreParts = max(parts, scoreParts)
        scores = UnsafeMutablePointer<Float>.allocate(capacity: scoresCapacity * scoreParts)
    }

    deinit {
        for p in blocks { p.deallocate() }
        scores.deallocate()
    }
}

extension TextDecoder {
    /// Runs one token through the decoder after the cache's contents (a decode step) and returns its
    /// logits. Buffers live in `cache` and are reused, so once the cache has room for the new
    /// position (see `makeCache(capacity:)`) the step allocates nothing.
    /// - Parameters:
    ///   - token: the token id, in `[0, vocab_size)`; its position is `cache.length`.
    ///   - cache: updated in place with the new keys and values.
    ///   - plan: as for the prefill (skip execution reads the visual keys each layer kept; simulate
    ///     applies the official release's post-softmax visual-key mask; after token pruning each
    ///     layer reads the rows it stored).
    ///   - counter: receives the executed FLOPs (docs/FLOPS.md "decode step"), if given.
    /// - Returns: `[1, vocab_size]` fp32 logits in the cache's workspace: valid until the next decode
    ///   step on this cache (copy them to keep them).
    public func decode(
        token: Int, cache: KVCache, plan: DecoderPlan = .dense, counter: FLOPCounter? = nil
    ) -> Tensor {
        precondition(token >= 0 && token < spec.vocabSize, "token id \(token) outside the vocabulary")
        embedTokens.copyRow(token, to: cache.decodeWorkspace(spec).hidden)
        return decodeStep(cache: cache, plan: plan, counter: counter)
    }

    /// The decode step on the embedding in the cache workspace's `hidden` buffer (`decode`, and
    /// `forward` on a single row).
    func decodeStep(cache: KVCache, plan: DecoderPlan, counter: FLOPCounter?) -> Tensor {
        let d = spec.hiddenSize, hd = spec.headDim, heads = spec.numAttentionHeads
        let kvWidth = spec.numKeyValueHeads * hd, qWidth = heads * hd
        let I = spec.intermediateSize, eps = spec.rmsNormEps
        let position = cache.length
        cache.reserve(1)
        let ws = cache.decodeWorkspace(spec)
        // Skip runs: the sequence store holds text rows only, one row index for every layer.
        let sequenceRow = cache.sequenceCount
        let rowGroup = TextDecoder.group(of: position, images: cache.images)
        let separate = plan.separatesVisualRows
        let context = ExecutionContext.current
        ws.attention.precision = context.precision

        for index in 0..<layers.count {
            let l = layers[index]
            // Row of the layer's sequence store this token takes, and its RoPE position.
            let row = separate ? sequenceRow : cache.rows(index)
            rotaryAngles(position: (cache.reindexesPositions ? row : position) + cache.ropeDelta, cosines: ws.cosines, sines: ws.sines)
            rmsNormRow(ws.hidden, weight: l.inputLayernorm.data, into: ws.normed, count: d, eps: eps)
            let keys = cache.keys[index], values = cache.values[index]
            let k = keys.data + row * kvWidth, v = values.data + row * kvWidth
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.qProj, c: ws.q, ldc: qWidth)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.kProj, c: k, ldc: kvWidth)
            MatMul.linear(m: 1, a: ws.normed, lda: d, weight: l.vProj, c: v, ldc: kvWidth)
            if let b = l.qBias { for i in 0..<qWidth { ws.q[i] += b.data[i] } }
            if let b = l.kBias { for i in 0..<kvWidth { k[i] += b.data[i] } }
            if let b = l.vBias { for i in 0..<kvWidth { v[i] += b.data[i] } }
            rotate(ws.q, heads: heads, cosines: ws.cosines, sines: ws.sines)
            rotate(k, heads: spec.numKeyValueHeads, cosines: ws.cosines, sines: ws.sines)
            counter?.addProduct(rows: 1, k: d, n: 2 * kvWidth, layer: index, rowGroup)
            counter?.addProduct(rows: 1, k: d, n: qWidth, layer: index, rowGroup)

            // Attention (DecodeAttention): the store's rows, plus in skip runs the visual keys kept.
            let job = ws.attention
            job.layer = index
            job.position = position
            job.kvWidth = kvWidth
            job.sequenceKeys = row + 1
            job.keys = UnsafePointer(keys.data)
            job.values = UnsafePointer(values.data)
            job.plan = plan.layer(index)
            job.separate = separate
            job.simulate = plan.execution == .simulate
            job.simulated = plan.simulated
            job.images = cache.images
            job.stores = separate ? cache.visual[index] : []
            var maxKeys = row + 1
            if separate { for i in 0..<min(job.images.count, job.stores.count) { maxKeys += job.images[i].count } }
            // Heads over threads once the work pays for waking them (as the prefill's attention).
            let parts = heads * maxKeys < context.decodeAttentionParallelMinimum ? 1 : min(context.threads, heads)
            ws.reserveScores(maxKeys, parts: parts)
            job.scores = ws.scores
            job.scoresStride = ws.scoresCapacity
            let attentionFLOPs = job.run(parts: parts)
            counter?.add(attentionFLOPs, layer: index, rowGroup)

            // o_proj and the residual, then the SwiGLU FFN and the residual.
            MatMul.linear(m: 1, a: ws.context, lda: qWidth, weight: l.oProj, c: ws.attended, ldc: d)
            if let b = l.oBias { for i in 0..<d { ws.attended[i] += b.data[i] } }
            for i in 0..<d { ws.attended[i] += ws.hidden[i] }
            rmsNormRow(ws.attended, weight: l.postAttentionLayernorm.data, into: ws.normed, count: d, eps: eps)
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
        MatMul.linear(m: 1, a: ws.normed, lda: d, weight: lmHead, c: ws.logits.data, ldc: spec.vocabSize)
        counter?.addProduct(rows: 1, k: d, n: spec.vocabSize, .text)
        return ws.logits
    }
}

/// The attention of a decode step's one query row in one layer, head by head: scores by dot
/// products, softmax, the context as a sum of value rows (no BLAS: OpenBLAS's threaded sgemm
/// allocates). With many keys the heads are shared out over libgomp's pool (`yopo_parallel_for`),
/// which allocates nothing either. Set `layer`'s fields, then `run(parts:)`.
final class DecodeAttention {
    let heads, headDim, group: Int
    let scale: Float
    let q, context: UnsafeMutablePointer<Float>
    /// Attention FLOPs of each head in the last run.
    let headFLOPs: UnsafeMutablePointer<Int>
    /// The products' precision on the thread that runs the step (the libgomp threads read it here).
    var precision = ComputePrecision.fp32
    /// Parts of the current run.
    private(set) var parts = 1
    // Per layer.
    var layer = 0, position = 0, kvWidth = 0
    /// Keys of the sequence store the row reads (its own included).
    var sequenceKeys = 0
    var keys: UnsafePointer<Float>?, values: UnsafePointer<Float>?
    var scores: UnsafeMutablePointer<Float>?, scoresStride = 0
    /// The layer's plan; whether visual keys live in their own stores (skip) or are masked (simulate).
    var plan = LayerPlan.full
    var separate = false, simulate = false
    var simulated = SimulatedSemantics.llava
    var images: [ImageLayout] = []
    var stores: [KVCache.VisualKV] = []

    init(_ config: DecoderSpec, q: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>) {
        heads = config.numAttentionHeads
        headDim = config.headDim
        group = config.numAttentionHeads / config.numKeyValueHeads
        scale = 1 / Float(config.headDim).squareRoot()
        self.q = q
        self.context = context
        headFLOPs = UnsafeMutablePointer<Int>.allocate(capacity: heads)
        headFLOPs.initialize(repeating: 0, count: heads)
    }

    deinit { headFLOPs.deallocate() }

    /// Runs every head, split into `parts` parts (scores row `part` each), and returns the FLOPs.
    func run(parts: Int) -> Int {
        self.parts = parts
        if parts > 1 {
            parallelParts(parts, context: Unmanaged.passUnretained(self).toOpaque(), decodeAttentionPart)
        } else {
            run(part: 0, of: 1)
        }
        var total = 0
        for h in 0..<heads { total += headFLOPs[h] }
        return total
    }

    /// Heads `[heads · part / parts, heads · (part + 1) / parts)`.
    func run(part: Int, of parts: Int) {
        for h in (heads * part / parts)..<(heads * (part + 1) / parts) {
            attend(head: h, scores: scores! + part * scoresStride)
        }
    }

    private func scoreRow(_ h: Int, keys: UnsafePointer<Float>, stride: Int, count: Int, into scores: UnsafeMutablePointer<Float>) {
        let query = q + h * headDim
        for j in 0..<count { scores[j] = scale * dot(query, keys + j * stride, headDim) }
    }

    private func accumulate(_ h: Int, values: UnsafePointer<Float>, stride: Int, count: Int, probabilities: UnsafePointer<Float>) {
        let out = context + h * headDim
        for j in 0..<count { axpy(probabilities[j], values + j * stride, out, headDim) }
    }

    /// One head. Skip runs (YOPOSkipExecution's text attention, one row): the sequence store's keys,
    /// then each earlier image's stored visual keys for heads that keep visual work in this layer.
    /// Otherwise every stored row; simulate runs zero the visual columns after softmax for heads the
    /// mask prunes and in dropped layers (the official post-softmax mask). Index loops throughout:
    /// unoptimised builds allocate in generic iterators.
    private func attend(head h: Int, scores: UnsafeMutablePointer<Float>) {
        let g = h / group, hd = headDim
        let keys = self.keys! + g * hd, values = self.values! + g * hd
        scoreRow(h, keys: keys, stride: kvWidth, count: sequenceKeys, into: scores)
        var total = sequenceKeys
        let keepsVisual = separate && plan.headDoesVisualWork(h)
        let imageCount = min(images.count, stores.count)
        if keepsVisual {
            for i in 0..<imageCount where images[i].start < position {
                guard let column = stores[i].column(of: g, headDim: hd) else { continue }
                scoreRow(
                    h, keys: stores[i].keys.data + column, stride: stores[i].width, count: images[i].count,
                    into: scores + total)
                total += images[i].count
            }
        }
        if simulate && plan.simulateCutsVisualKeys(simulated) {
            for i in 0..<images.count {
                let upper = min(images[i].range.upperBound, total)
                if upper > images[i].start { for c in images[i].start..<upper { scores[c] = -.infinity } }
            }
        }
        softmaxInPlace(scores, count: total, precision: precision)
        if simulate && plan.simulateZeroesVisualColumns(head: h, layer: layer, simulated) {
            for i in 0..<images.count {
                let upper = min(images[i].range.upperBound, total)
                if upper > images[i].start { for c in images[i].start..<upper { scores[c] = 0 } }
            }
        }
        (context + h * hd).update(repeating: 0, count: hd)
        accumulate(h, values: values, stride: kvWidth, count: sequenceKeys, probabilities: scores)
        if keepsVisual {
            var offset = sequenceKeys
            for i in 0..<imageCount where images[i].start < position {
                guard let column = stores[i].column(of: g, headDim: hd) else { continue }
                accumulate(
                    h, values: stores[i].values.data + column, stride: stores[i].width, count: images[i].count,
                    probabilities: scores + offset)
                offset += images[i].count
            }
        }
        // The text-row ablation: a head outside the plan's text heads gives no output here.
        if !plan.headDoesTextWork(h) { (context + h * hd).update(repeating: 0, count: hd) }
        headFLOPs[h] = 2 * total * hd * 2
    }
}

/// `yopo_parallel_for`'s callback: part `part` of the `DecodeAttention` at `context`.
private let decodeAttentionPart: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, part in
    let job = Unmanaged<DecodeAttention>.fromOpaque(context!).takeUnretainedValue()
    job.run(part: Int(part), of: job.parts)
}
