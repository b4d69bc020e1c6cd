import Foundation
import YOPOCore
import YOPOPruning

// YOPO compute-skipping execution (METHOD.md §3, right column): visual rows leave the computation
// from layer K on; pruned heads do no visual Q/K/V/O work and store no visual K/V; visual queries
// attend to the keys before their image plus their window; visual FFN rows use the first
// int(I / r) channels (a slice of the weights). Costs follow docs/FLOPS.md "Pruned runs".
extension LlamaDecoder {
    /// The rows of a projection weight `[heads · head_dim, in]` belonging to `heads` (in order), as
    /// one `[heads.count · head_dim, in]` matrix; the weight itself when every head is listed.
    static func gatherHeadRows(_ w: WeightMatrix, heads: [Int], headDim: Int) -> WeightMatrix {
        if heads == Array(0..<(w.rows / headDim)) { return w }
        return w.gatherRows(heads.flatMap { h in (h * headDim)..<((h + 1) * headDim) })
    }

    /// The columns of `o_proj` (`[out, heads · head_dim]`) belonging to `heads`, as one
    /// `[out, heads.count · head_dim]` matrix; the weight itself when every head is listed.
    static func gatherHeadColumns(_ w: WeightMatrix, heads: [Int], headDim: Int) -> WeightMatrix {
        if heads == Array(0..<(w.columns / headDim)) { return w }
        return w.gatherColumnBlocks(heads.map { $0 * headDim }, width: headDim)
    }

    /// Gathers rows `indices` of `x` into a new `[indices.count, columns]` tensor.
    static func gather(_ x: Tensor, _ indices: [Int]) -> Tensor {
        let c = x.columns
        let out = Tensor(zeros: [indices.count, c])
        for (i, r) in indices.enumerated() { (out.data + i * c).update(from: x.data + r * c, count: c) }
        return out
    }

    /// The skip-mode forward over one call. Returns the final hidden states of `logitRows`.
    func skipForward(
        _ inputs: Tensor, cache: KVCache, newImages: [ImageLayout], plan: YOPOPlan, counter: FLOPCounter?,
        logitRows: [Int]
    ) -> Tensor {
        let n = inputs.rows, start = cache.length, d = config.hiddenSize
        let images = cache.images
        let firstNewImage = images.count - newImages.count
        var isVisual = [Bool](repeating: false, count: n)
        for image in newImages { for p in image.range { isVisual[p - start] = true } }
        let textRows = (0..<n).filter { !isVisual[$0] }
        let textPositions = textRows.map { start + $0 }
        let textGroups = textPositions.map { LlamaDecoder.group(of: $0, images: images) }
        var text = LlamaDecoder.gather(inputs, textRows)
        var visual: [Tensor?] = newImages.map { LlamaDecoder.gather(inputs, Array(($0.start - start)..<($0.start - start + $0.count))) }
        cache.reserve(textRows.count)
        let pastText = cache.sequenceCount
        let allTextPositions = cache.sequencePositions + textPositions
        // Text rows (indices into textRows) whose final state is read: the logit rows among them. Only
        // they attend and go through o_proj and the FFN in the last layer.
        let wantedText = Array(Set(logitRows.compactMap { textRows.firstIndex(of: $0) })).sorted()

        for index in 0..<layers.count {
            let l = layers[index]
            let lastLayer = index == layers.count - 1
            // The last layer visual rows take part in: later layers read only their keys and values.
            let visualEnds = !plan.visualAlive(layer: index + 1)
            // Visual K/V first: text rows after an image read them in this layer.
            var visualQueries: [Tensor?] = Array(repeating: nil, count: newImages.count)
            let kept = plan.keptHeads(layer: index)
            let group = config.numAttentionHeads / config.numKeyValueHeads
            let storedKV = Array(Set(kept.map { $0 / group })).sorted()
            for (i, image) in newImages.enumerated() {
                guard plan.visualAlive(layer: index), let h = visual[i] else {
                    cache.visual[index].append(KVCache.VisualKV(kvHeads: [], keys: Tensor(zeros: [0, 0]), values: Tensor(zeros: [0, 0])))
                    continue
                }
                let normed = rmsNorm(h, weight: l.inputNorm, eps: config.rmsNormEps)
                let (q, kv) = visualProjections(l, normed, kept: kept, storedKV: storedKV, image: image, queries: !visualEnds,
                                                layer: index, counter: counter)
                visualQueries[i] = q
                cache.visual[index].append(kv)
            }
            // Text rows: full projections (q only for the rows that attend).
            let queryText = lastLayer ? wantedText : Array(0..<textRows.count)
            let allText = queryText.count == textRows.count
            let normedText = rmsNorm(text, weight: l.inputNorm, eps: config.rmsNormEps)
            let q = linear(allText ? normedText : LlamaDecoder.gather(normedText, queryText), l.qProj)
            let k = linear(normedText, l.kProj), v = linear(normedText, l.vProj)
            applyRoPE(q, heads: config.numAttentionHeads, positions: queryText.map { textPositions[$0] })
            applyRoPE(k, heads: config.numKeyValueHeads, positions: textPositions)
            let kvWidth = cache.width
            (cache.keys[index].data + pastText * kvWidth).update(from: k.data, count: textRows.count * kvWidth)
            (cache.values[index].data + pastText * kvWidth).update(from: v.data, count: textRows.count * kvWidth)
            if let counter {
                let qWidth = config.numAttentionHeads * config.headDim
                for (g, rows) in Dictionary(textGroups.map { ($0, 1) }, uniquingKeysWith: +) {
                    counter.addProduct(rows: rows, k: d, n: 2 * kvWidth, layer: index, g)
                }
                for (g, rows) in Dictionary(queryText.map { (textGroups[$0], 1) }, uniquingKeysWith: +) {
                    counter.addProduct(rows: rows, k: d, n: qWidth, layer: index, g)
                    counter.addProduct(rows: rows, k: qWidth, n: d, layer: index, g)
                    counter.addProduct(rows: rows, k: d, n: 3 * config.intermediateSize, layer: index, g)
                }
            }
            let textContext = skipTextAttention(
                q: q, queryRows: queryText, layer: index, cache: cache, pastText: pastText, textPositions: textPositions,
                images: images, plan: plan, groups: textGroups, counter: counter)
            let attended = linear(textContext, l.oProj)
            addInPlace(attended, allText ? text : LlamaDecoder.gather(text, queryText))
            text = ffn(l, attended, width: config.intermediateSize)

            // Visual rows of kept layers: windowed attention of kept heads, sliced FFN.
            for (i, image) in newImages.enumerated() {
                guard let h = visual[i], plan.visualAlive(layer: index), !visualEnds, let vq = visualQueries[i] else {
                    visual[i] = nil
                    continue
                }
                let imageIndex = firstNewImage + i
                let context = skipVisualAttention(
                    q: vq, kept: kept, layer: index, cache: cache, imageIndex: imageIndex,
                    allTextPositions: allTextPositions, plan: plan, counter: counter)
                // o_proj over the kept heads' input slices only.
                let out = Tensor(zeros: [image.count, d])
                let hd = config.headDim
                // One GEMM over the kept heads' columns of o_proj (gathered when not all heads are kept).
                if !kept.isEmpty {
                    let oColumns = LlamaDecoder.gatherHeadColumns(l.oProj, heads: kept, headDim: hd)
                    MatMul.linear(m: image.count, a: context.data, lda: kept.count * hd, weight: oColumns,
                                  c: out.data, ldc: d)
                }
                counter?.addProduct(rows: image.count, k: hd * kept.count, n: d, layer: index, .visual)
                addInPlace(out, h)
                counter?.addProduct(rows: image.count, k: d, n: 3 * plan.visualFFNWidth, layer: index, .visual)
                visual[i] = ffn(l, out, width: plan.visualFFNWidth)
            }
            if !plan.visualAlive(layer: index + 1) { visual = visual.map { _ in nil } }
        }
        for layer in 0..<layers.count { cache.appendRows(textPositions, layer: layer) }
        cache.advance(total: n)

        let out = Tensor(zeros: [logitRows.count, d])
        for (i, r) in logitRows.enumerated() {
            if let t = textRows.firstIndex(of: r).flatMap({ wantedText.firstIndex(of: $0) }) {
                (out.data + i * d).update(from: text.data + t * d, count: d)
            } else if let imageIndex = newImages.firstIndex(where: { $0.range.contains(start + r) }), let h = visual[imageIndex] {
                let row = start + r - newImages[imageIndex].start
                (out.data + i * d).update(from: h.data + row * d, count: d)
            } else {
                preconditionFailure("logits requested for a visual row that left the computation at layer \(plan.keptLayers)")
            }
        }
        return out
    }

    /// SwiGLU over the first `width` intermediate channels: `down[:, :width] · (silu(gate[:width]·x) ⊙ up[:width]·x)` + x.
    /// `x` is the residual input (post-attention); returns the layer output `[rows, hidden]`.
    private func ffn(_ l: Layer, _ x: Tensor, width: Int) -> Tensor {
        let rows = x.rows, d = config.hiddenSize
        let normed = rmsNorm(x, weight: l.postAttentionNorm, eps: config.rmsNormEps)
        let gate = Tensor(zeros: [rows, width]), up = Tensor(zeros: [rows, width])
        MatMul.linear(m: rows, a: normed.data, lda: d, weight: l.gateProj.rows(0, width), c: gate.data, ldc: width)
        MatMul.linear(m: rows, a: normed.data, lda: d, weight: l.upProj.rows(0, width), c: up.data, ldc: width)
        siluMultiplyInPlace(gate, up)
        let out = x.copy()
        MatMul.linear(m: rows, a: gate.data, lda: width, weight: l.downProj.leadingColumns(width), beta: 1,
                      c: out.data, ldc: d)
        return out
    }

    /// Q of the kept heads (`[n, kept · hd]`, RoPE applied; nil unless `queries`) and the visual K/V
    /// store of the key/value heads they use.
    private func visualProjections(
        _ l: Layer, _ normed: Tensor, kept: [Int], storedKV: [Int], image: ImageLayout, queries: Bool, layer: Int,
        counter: FLOPCounter?
    ) -> (Tensor?, KVCache.VisualKV) {
        let n = image.count, d = config.hiddenSize, hd = config.headDim
        // One GEMM per projection over the kept heads' rows (gathered when not all heads are kept).
        let q = queries ? linear(normed, LlamaDecoder.gatherHeadRows(l.qProj, heads: kept, headDim: hd)) : nil
        let keys = linear(normed, LlamaDecoder.gatherHeadRows(l.kProj, heads: storedKV, headDim: hd))
        let values = linear(normed, LlamaDecoder.gatherHeadRows(l.vProj, heads: storedKV, headDim: hd))
        let positions = Array(image.range)
        if let q {
            applyRoPE(q, heads: kept.count, positions: positions)
            counter?.addProduct(rows: n, k: d, n: hd * kept.count, layer: layer, .visual)
        }
        applyRoPE(keys, heads: storedKV.count, positions: positions)
        counter?.addProduct(rows: n, k: d, n: 2 * hd * storedKV.count, layer: layer, .visual)
        return (q, KVCache.VisualKV(kvHeads: storedKV, keys: keys, values: values))
    }

    /// Attention of the call's text rows `queryRows` (ascending indices into the call's text rows; `q`
    /// holds their queries): text keys causally, plus each image's stored visual keys for heads that
    /// keep visual work in this layer. Softmax over the keys present. Returns `[queryRows.count, H · hd]`.
    private func skipTextAttention(
        q: Tensor, queryRows: [Int], layer: Int, cache: KVCache, pastText: Int, textPositions: [Int],
        images: [ImageLayout], plan: YOPOPlan, groups: [TokenGroup], counter: FLOPCounter?
    ) -> Tensor {
        let t = q.rows, newText = textPositions.count, hd = config.headDim, heads = config.numAttentionHeads
        let qWidth = heads * hd, kvWidth = cache.width, group = heads / config.numKeyValueHeads
        let context = Tensor(zeros: [t, qWidth])
        let keys = cache.keys[layer], values = cache.values[layer]
        let stores = cache.visual[layer]
        let scale = 1 / Float(hd).squareRoot()
        let block = LlamaDecoder.queryBlock
        let maxVisual = images.reduce(0) { $0 + $1.count }
        // Heads in parallel (each writes its own columns of `context`); FLOPs per (head, row), summed after.
        var rowFLOPs = [Int](repeating: 0, count: heads * t)
        rowFLOPs.withUnsafeMutableBufferPointer { rowFLOPs in
            // Few rows (decode): one thread, waking another costs more than the work.
            parallelChunks(heads, minimum: attentionParallelMinimum(
                heads: heads, rows: t, keys: pastText + newText + maxVisual, headDim: hd)) { h0, h1 in
                let scores = Tensor(zeros: [max(1, min(block, t)), pastText + newText + maxVisual])
                for h in h0..<h1 {
                    let g = h / group
                    let headKeepsVisual = plan.visualAlive(layer: layer) && plan.headKept(layer: layer, head: h)
                    var r0 = 0
                    while r0 < t {
                        let b = min(block, t - r0)
                        let lastRow = queryRows[r0 + b - 1]
                        let textKeys = pastText + lastRow + 1
                        let lastPosition = textPositions[lastRow]
                        // Visual segments this block reads: images before its last row, for kept heads.
                        var segments: [(image: ImageLayout, store: KVCache.VisualKV, column: Int)] = []
                        if headKeepsVisual {
                            for (i, image) in images.enumerated() where image.start < lastPosition && i < stores.count {
                                if let column = stores[i].column(of: g, headDim: hd) { segments.append((image, stores[i], column)) }
                            }
                        }
                        let total = textKeys + segments.reduce(0) { $0 + $1.image.count }
                        MatMul.gemmABt(m: b, n: textKeys, k: hd, alpha: scale, a: q.data + r0 * qWidth + h * hd, lda: qWidth,
                                       b: keys.data + g * hd, ldb: kvWidth, c: scores.data, ldc: total)
                        var offset = textKeys
                        for s in segments {
                            MatMul.gemmABt(m: b, n: s.image.count, k: hd, alpha: scale, a: q.data + r0 * qWidth + h * hd, lda: qWidth,
                                           b: s.store.keys.data + s.column, ldb: s.store.width, c: scores.data + offset, ldc: total)
                            offset += s.image.count
                        }
                        for i in 0..<b {
                            let row = scores.data + i * total
                            let textRow = queryRows[r0 + i]
                            let position = textPositions[textRow]
                            // Text keys after this row (later in the block) are masked.
                            for c in (pastText + textRow + 1)..<max(pastText + textRow + 1, textKeys) { row[c] = -.infinity }
                            var o = textKeys
                            for s in segments {
                                if s.image.start > position { for c in o..<(o + s.image.count) { row[c] = -.infinity } }
                                o += s.image.count
                            }
                            softmaxInPlace(row, count: total)
                            rowFLOPs[h * t + r0 + i] = 2 * total * hd * 2
                        }
                        MatMul.gemmAB(m: b, n: hd, k: textKeys, a: scores.data, lda: total, b: values.data + g * hd, ldb: kvWidth,
                                      c: context.data + r0 * qWidth + h * hd, ldc: qWidth)
                        offset = textKeys
                        for s in segments {
                            MatMul.gemmAB(m: b, n: hd, k: s.image.count, a: scores.data + offset, lda: total,
                                          b: s.store.values.data + s.column, ldb: s.store.width, beta: 1,
                                          c: context.data + r0 * qWidth + h * hd, ldc: qWidth)
                            offset += s.image.count
                        }
                        r0 += b
                    }
            }
        }
        }
        if let counter {
            for r in 0..<t { counter.add((0..<heads).reduce(0) { $0 + rowFLOPs[$1 * t + r] }, layer: layer, groups[queryRows[r]]) }
        }
        return context
    }

    /// Attention of one image's visual rows for the kept heads: keys before the image (text keys at
    /// earlier positions and earlier images' stores) plus the window (or causal keys without one).
    /// Returns `[n, kept · hd]`.
    private func skipVisualAttention(
        q: Tensor, kept: [Int], layer: Int, cache: KVCache, imageIndex: Int, allTextPositions: [Int],
        plan: YOPOPlan, counter: FLOPCounter?
    ) -> Tensor {
        let image = cache.images[imageIndex]
        let n = image.count, hd = config.headDim, kvWidth = cache.width
        let group = config.numAttentionHeads / config.numKeyValueHeads
        let width = kept.count * hd
        let context = Tensor(zeros: [n, width])
        let scale = 1 / Float(hd).squareRoot()
        let textBefore = allTextPositions.prefix { $0 < image.start }.count
        let keys = cache.keys[layer], values = cache.values[layer]
        let stores = cache.visual[layer]
        let own = stores[imageIndex]
        // Every query's window holds the whole grid (a radius of at least the longer side − 1): the
        // same keys as one symmetric block, so GEMMs replace the per-key dot products.
        let windowCoversImage = plan.windowRadius.map { $0 >= max(image.gridRows, image.gridColumns) - 1 } ?? false
        // Kept heads in parallel (each writes its own columns of `context`); FLOPs per head, summed after.
        var headFLOPs = [Int](repeating: 0, count: kept.count)
        headFLOPs.withUnsafeMutableBufferPointer { headFLOPs in
            parallelChunks(kept.count, minimum: attentionParallelMinimum(
                heads: kept.count, rows: n, keys: textBefore + n, headDim: hd)) { j0, j1 in
                for j in j0..<j1 {
                    let h = kept[j]
                    let g = h / group
                    guard let column = own.column(of: g, headDim: hd) else { continue }
                    var earlier: [(store: KVCache.VisualKV, column: Int, count: Int)] = []
                    for i in 0..<imageIndex {
                        if let c = stores[i].column(of: g, headDim: hd) { earlier.append((stores[i], c, cache.images[i].count)) }
                    }
                    let before = textBefore + earlier.reduce(0) { $0 + $1.count }
                    let qBase = q.data + j * hd
                    // Scores against the keys before the image: one GEMM for all queries.
                    let prefix = Tensor(zeros: [n, max(before, 1)])
                    MatMul.gemmABt(m: n, n: textBefore, k: hd, alpha: scale, a: qBase, lda: width,
                                   b: keys.data + g * hd, ldb: kvWidth, c: prefix.data, ldc: max(before, 1))
                    var offset = textBefore
                    for e in earlier {
                        MatMul.gemmABt(m: n, n: e.count, k: hd, alpha: scale, a: qBase, lda: width,
                                       b: e.store.keys.data + e.column, ldb: e.store.width, c: prefix.data + offset, ldc: max(before, 1))
                        offset += e.count
                    }
                    let ownKeys = own.keys.data + column, ownValues = own.values.data + column
                    if plan.window != nil && !windowCoversImage {
                        var local = [Float](repeating: 0, count: before + n)
                        for i in 0..<n {
                            let qi = qBase + i * width
                            let runs = plan.windowRuns(query: i, gridRows: image.gridRows, gridColumns: image.gridColumns)
                            var count = 0
                            for r in 0..<before { local[r] = prefix.data[i * max(before, 1) + r] }
                            count = before
                            for (a, b) in runs {
                                for key in a...b {
                                    local[count] = scale * dot(qi, ownKeys + key * own.width, hd)
                                    count += 1
                                }
                            }
                            local.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: count) }
                            let out = context.data + i * width + j * hd
                            // Keys before the image.
                            var r = 0
                            for t in 0..<textBefore {
                                axpy(local[r], values.data + t * kvWidth + g * hd, out, hd)
                                r += 1
                            }
                            for e in earlier {
                                for t in 0..<e.count {
                                    axpy(local[r], e.store.values.data + t * e.store.width + e.column, out, hd)
                                    r += 1
                                }
                            }
                            for (a, b) in runs {
                                for key in a...b {
                                    axpy(local[r], ownValues + key * own.width, out, hd)
                                    r += 1
                                }
                            }
                            headFLOPs[j] += 2 * count * hd * 2
                        }
                    } else {
                        // Causal attention inside the image, in blocks of rows; a window that covers
                        // the whole grid reads every key of the image (symmetric), as GEMMs too.
                        let block = LlamaDecoder.queryBlock
                        let scores = Tensor(zeros: [block, before + n])
                        var r0 = 0
                        while r0 < n {
                            let b = min(block, n - r0)
                            let ownCount = windowCoversImage ? n : r0 + b
                            let total = before + ownCount
                            for i in 0..<b {
                                (scores.data + i * total).update(from: prefix.data + (r0 + i) * max(before, 1), count: before)
                            }
                            MatMul.gemmABt(m: b, n: ownCount, k: hd, alpha: scale, a: qBase + r0 * width, lda: width,
                                           b: ownKeys, ldb: own.width, c: scores.data + before, ldc: total)
                            for i in 0..<b {
                                let row = scores.data + i * total
                                if !windowCoversImage {
                                    for c in (before + r0 + i + 1)..<max(before + r0 + i + 1, total) { row[c] = -.infinity }
                                }
                                softmaxInPlace(row, count: total)
                                headFLOPs[j] += 2 * total * hd * 2
                            }
                            let out = context.data + r0 * width + j * hd
                            MatMul.gemmAB(m: b, n: hd, k: textBefore, a: scores.data, lda: total, b: values.data + g * hd,
                                          ldb: kvWidth, c: out, ldc: width)
                            var o = textBefore
                            for e in earlier {
                                MatMul.gemmAB(m: b, n: hd, k: e.count, a: scores.data + o, lda: total, b: e.store.values.data + e.column,
                                              ldb: e.store.width, beta: 1, c: out, ldc: width)
                                o += e.count
                            }
                            MatMul.gemmAB(m: b, n: hd, k: ownCount, a: scores.data + before, lda: total, b: ownValues,
                                          ldb: own.width, beta: 1, c: out, ldc: width)
                            r0 += b
                        }
                    }
            }
        }
        }
        counter?.add(headFLOPs.reduce(0, +), layer: layer, .visual)
        return context
    }
}
