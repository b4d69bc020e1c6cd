import Foundation
import YOPOCore
import YOPOPruning

/// LLaMA decoder (transformers `LlamaModel` + `lm_head`): RMSNorm, RoPE (`rope_theta`, linear
/// scaling), grouped-query attention, SwiGLU FFN. Canonical tensor names: `embed_tokens.weight`,
/// `layers.N.self_attn.{q,k,v,o}_proj.weight`, `layers.N.mlp.{gate,up,down}_proj.weight`,
/// `layers.N.{input_layernorm,post_attention_layernorm}.weight`, `norm.weight`, `lm_head.weight`.
public final class LlamaDecoder {
    public let config: LlamaConfiguration

    struct Layer {
        let inputNorm, postAttentionNorm: Tensor
        let qProj, kProj, vProj, oProj: WeightMatrix
        let gateProj, upProj, downProj: WeightMatrix
    }

    /// `[vocab_size, hidden_size]`, stored dtype
    public let embedTokens: WeightMatrix
    let layers: [Layer]
    let norm: Tensor
    /// `[vocab_size, hidden_size]`, stored dtype
    public let lmHead: WeightMatrix
    /// `1 / (rope_theta^(2i/head_dim) · factor)`, `[head_dim / 2]`, computed in fp32 as transformers does.
    let inverseFrequencies: [Float]

    /// Loads the decoder from `weights`. Throws `ModelError` naming a missing/mis-shaped tensor.
    public init(config: LlamaConfiguration, weights: WeightStore) throws {
        try config.validate()
        self.config = config
        let d = config.hiddenSize, hd = config.headDim, m = config.intermediateSize
        let qWidth = config.numAttentionHeads * hd, kvWidth = config.numKeyValueHeads * hd
        embedTokens = try weights.takeMatrix("embed_tokens.weight", shape: [config.vocabSize, d])
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let pre = "layers.\(i)."
            func w(_ n: String, _ s: [Int]) throws -> WeightMatrix { try weights.takeMatrix(pre + n, shape: s) }
            layers.append(Layer(
                inputNorm: try weights.take(pre + "input_layernorm.weight", shape: [d]),
                postAttentionNorm: try weights.take(pre + "post_attention_layernorm.weight", shape: [d]),
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
            lmHead = try weights.takeMatrix("lm_head.weight", shape: [config.vocabSize, d])
        }
        let theta = config.ropeTheta, factor = config.ropeScalingFactor
        inverseFrequencies = (0..<(hd / 2)).map { i in
            (1 / powf(theta, Float(2 * i) / Float(hd))) / factor
        }
    }

    /// A decoder with random weights of the real dimensions, for benchmarks. Values are uniform in
    /// ±0.02 (norm weights 1), stored as `dtype`. With `sharedLayers` every layer uses one weight set
    /// (times like distinct weights for prefill, holds one layer in memory); without it each layer has
    /// its own, so decode streams the real number of bytes and peak RSS is the real one.
    public init(randomWeightsFor config: LlamaConfiguration, dtype: DType = .f32, sharedLayers: Bool = true,
                seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        var next = seed
        func random(_ rows: Int, _ columns: Int) -> WeightMatrix {
            next &+= 1
            return WeightMatrix(randomRows: rows, columns: columns, dtype: dtype, scale: 0.02, seed: next)
        }
        func ones(_ n: Int) -> Tensor { Tensor(shape: [n], values: [Float](repeating: 1, count: n)) }
        let d = config.hiddenSize, hd = config.headDim, m = config.intermediateSize
        let qWidth = config.numAttentionHeads * hd, kvWidth = config.numKeyValueHeads * hd
        func layer() -> Layer {
            Layer(
                inputNorm: ones(d), postAttentionNorm: ones(d),
                qProj: random(qWidth, d), kProj: random(kvWidth, d), vProj: random(kvWidth, d),
                oProj: random(d, qWidth), gateProj: random(m, d), upProj: random(m, d), downProj: random(d, m))
        }
        if sharedLayers {
            layers = Array(repeating: layer(), count: config.numHiddenLayers)
        } else {
            layers = (0..<config.numHiddenLayers).map { _ in layer() }
        }
        embedTokens = random(config.vocabSize, d)
        norm = ones(d)
        lmHead = random(config.vocabSize, d)
        let theta = config.ropeTheta, factor = config.ropeScalingFactor
        inverseFrequencies = (0..<(hd / 2)).map { i in (1 / powf(theta, Float(2 * i) / Float(hd))) / factor }
    }

    private init(config: LlamaConfiguration, layers: [Layer], embedTokens: WeightMatrix, norm: Tensor,
                 lmHead: WeightMatrix, inverseFrequencies: [Float]) {
        self.config = config
        self.layers = layers
        self.embedTokens = embedTokens
        self.norm = norm
        self.lmHead = lmHead
        self.inverseFrequencies = inverseFrequencies
    }

    /// The first `count` layers with the same embeddings, final norm and head (benchmarks on a slice).
    public func prefix(layers count: Int) -> LlamaDecoder {
        precondition(count >= 1 && count <= layers.count, "layer prefix \(count) outside 1...\(layers.count)")
        var c = config
        c.numHiddenLayers = count
        return LlamaDecoder(config: c, layers: Array(layers.prefix(count)), embedTokens: embedTokens, norm: norm,
                            lmHead: lmHead, inverseFrequencies: inverseFrequencies)
    }

    /// Weight bytes one decode step reads: every layer's matrices and the LM head (the embedding
    /// lookup reads one row). The numerator of the decode bandwidth bound.
    public var decodeWeightBytes: Int { weightBytes - embedTokens.byteCount }

    /// Bytes of every weight matrix (layers counted once each, shared or not).
    public var weightBytes: Int {
        layers.reduce(0) { total, l in
            total + [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj].reduce(0) { $0 + $1.byteCount }
        } + embedTokens.byteCount + lmHead.byteCount
    }

    /// A cache sized for this model.
    public func makeCache(capacity: Int = 256) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.numKeyValueHeads * config.headDim,
                headDim: config.headDim, capacity: capacity)
    }

    /// Embedding rows for `ids` (`[ids.count, hidden_size]`). Ids must be in `[0, vocab_size)`.
    public func embed(_ ids: [Int]) -> Tensor {
        let d = config.hiddenSize
        let out = Tensor(zeros: [ids.count, d])
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && id < config.vocabSize, "token id \(id) outside the vocabulary")
            embedTokens.copyRow(id, to: out.data + r * d)
        }
        return out
    }

    /// Runs the decoder on `inputs` appended after the cache's contents and returns logits.
    /// - Parameters:
    ///   - inputs: `[tokens, hidden_size]` input embeddings; positions continue from `cache.length`.
    ///   - cache: updated in place with the new keys and values.
    ///   - images: images whose tokens are among the new rows (absolute positions); a call holds
    ///     whole images only.
    ///   - execution: dense, or a YOPO plan in skip or simulate mode (METHOD.md §3).
    ///   - counter: receives the executed FLOPs (docs/FLOPS.md), if given.
    ///   - logitRows: which of the new rows need logits (default: the last one only).
    /// - Returns: `[logitRows.count, vocab_size]`, fp32.
    public func forward(
        _ inputs: Tensor, cache: KVCache, images: [ImageLayout] = [], execution: DecoderExecution = .dense,
        counter: FLOPCounter? = nil, logitRows: [Int]? = nil
    ) -> Tensor {
        let n = inputs.rows
        let start = cache.length
        if n == 1 && images.isEmpty && (logitRows == nil || logitRows! == [0]) {
            // A decode step: the allocation-free single-row path (DecodeStep.swift), its logits copied.
            cache.decodeWorkspace(config).hidden.update(from: inputs.data, count: config.hiddenSize)
            return decodeStep(cache: cache, execution: execution, counter: counter).copy()
        }
        for image in images {
            precondition(image.start >= start && image.range.upperBound <= start + n, "an image must lie inside one call")
        }
        cache.images += images
        let rows = logitRows ?? [n - 1]
        let last: Tensor
        switch execution {
        case .dense, .simulate, .tokenPruning:
            cache.reserve(n)
            var h = inputs.copy()
            let plan: YOPOPlan? = { if case .simulate(let p) = execution { return p } else { return nil } }()
            let pruner: TokenPruner? = { if case .tokenPruning(let p) = execution { return p } else { return nil } }()
            let prefill = !images.isEmpty
            if let pruner, prefill { cache.reindexesPositions = pruner.reindexesPositions }
            var state = RowState(
                positions: Array(start..<(start + n)),
                visual: (0..<n).map { r in images.contains { $0.range.contains(start + r) } },
                imageIndex: (0..<n).map { r in images.first { $0.range.contains(start + r) }.map { start + r - $0.start } ?? -1 })
            if let pruner, prefill { pruner.begin(inputs: inputs, rows: state, counter: counter) }
            // The current row holding call row `r` (a recycled token may share its position).
            func stateRow(_ r: Int) -> Int {
                guard let row = state.positions.indices.first(where: { state.positions[$0] == start + r && !state.visual[$0] })
                    ?? state.positions.firstIndex(of: start + r)
                else { preconditionFailure("logits requested for row \(r), which was pruned") }
                return row
            }
            // In the last layer only the rows whose logits are wanted attend and go through the FFN.
            func wantedRows() -> [Int] { Array(Set(rows.map(stateRow))).sorted() }
            for (index, layer) in layers.enumerated() {
                let past = cache.rows(index)
                let rope = cache.reindexesPositions ? Array(past..<(past + state.count)) : state.positions
                let context = DenseContext(rows: state, images: cache.images, newImages: images, plan: plan)
                let capture = prefill ? pruner?.captureRows(layer: index, rows: state) : nil
                let lastLayer = index == layers.count - 1
                let rowsBefore = state
                let afterAttention: ((Tensor?) -> [Int]?)? = prefill && !lastLayer ? pruner.map { pruner in
                    { captured in pruner.rowsAfterAttention(index, rows: rowsBefore, captured: captured) }
                } : nil
                let captured: Tensor?
                let kept: [Int]?
                (h, captured, kept) = denseLayer(layer, index: index, h, cache: cache, context: context, rope: rope,
                                                 capture: capture, queryRows: lastLayer ? wantedRows() : nil,
                                                 afterAttention: afterAttention, counter: counter)
                cache.appendRows(state.positions, layer: index)
                if let kept { state = state.selecting(kept) }
                // A layer whose rows were dropped after attention has decided for this layer.
                if let pruner, prefill, !lastLayer, kept == nil,
                    let decision = pruner.afterLayer(index, hidden: h, rows: state, ropePositions: rope, captured: captured,
                                                     probe: self, counter: counter)
                {
                    (h, state) = LlamaDecoder.apply(decision, to: h, rows: state)
                }
            }
            cache.advance(total: n)
            last = Tensor(zeros: [rows.count, config.hiddenSize])
            for (i, r) in rows.enumerated() {
                let row = stateRow(r)
                (last.data + i * config.hiddenSize).update(from: h.data + row * config.hiddenSize, count: config.hiddenSize)
            }
        case .skip(let plan):
            last = skipForward(inputs, cache: cache, newImages: images, plan: plan, counter: counter, logitRows: rows)
        }
        let normed = rmsNorm(last, weight: norm, eps: config.rmsNormEps)
        counter?.addProduct(rows: rows.count, k: config.hiddenSize, n: config.vocabSize, .text)
        return linear(normed, lmHead)
    }

    /// Token group of absolute position `p` given the sequence's images (docs/FLOPS.md "Attribution").
    /// (Index loops: the decode step calls this and must not allocate, even unoptimised.)
    static func group(of p: Int, images: [ImageLayout]) -> TokenGroup {
        guard !images.isEmpty else { return .text }
        if p < images[0].start { return .system }
        for i in 0..<images.count where images[i].range.contains(p) { return .visual }
        return .text
    }

    /// Rotates the head vectors of each row of `x` (`[rows, heads · head_dim]`) in place at the given
    /// positions (transformers `apply_rotary_pos_emb`, rotate-half layout).
    func applyRoPE(_ x: Tensor, heads: Int, positions: [Int]) {
        precondition(positions.count == x.rows)
        let half = config.headDim / 2, width = heads * config.headDim
        guard heads > 0 else { return }
        let cosines = UnsafeMutablePointer<Float>.allocate(capacity: max(half, 1))
        let sines = UnsafeMutablePointer<Float>.allocate(capacity: max(half, 1))
        defer { cosines.deallocate(); sines.deallocate() }
        for r in 0..<x.rows {
            ropeAngles(position: positions[r], cosines: cosines, sines: sines)
            rotate(x.data + r * width, heads: heads, cosines: cosines, sines: sines)
        }
    }

    /// `cos` and `sin` of `position · inverseFrequencies[i]` for `i < head_dim / 2`.
    func ropeAngles(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        let p = Float(position)
        for i in 0..<(config.headDim / 2) {
            let angle = p * inverseFrequencies[i]
            cosines[i] = cos(angle)
            sines[i] = sin(angle)
        }
    }

    /// Rotates `heads` consecutive head vectors at `v` by the angles `ropeAngles` computed.
    func rotate(_ v: UnsafeMutablePointer<Float>, heads: Int, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>) {
        let hd = config.headDim, half = hd / 2
        for h in 0..<heads {
            let x = v + h * hd
            for i in 0..<half {
                let a = x[i], b = x[i + half]
                x[i] = a * cosines[i] - b * sines[i]
                x[i + half] = b * cosines[i] + a * sines[i]
            }
        }
    }

    /// Facts about the rows of one dense/simulate/token-pruning layer call.
    struct DenseContext {
        let rows: RowState
        /// Every image of the sequence so far (absolute positions).
        let images: [ImageLayout]
        /// Images inside this call (the window applies only to them: prefill).
        let newImages: [ImageLayout]
        let plan: YOPOPlan?
        /// Token group of each row.
        let groups: [TokenGroup]
        /// For each row, the image (index into `images`) it belongs to, or nil.
        let imageOfRow: [Int?]
        /// Row ranges of the new images' rows (contiguous runs of their visual rows).
        let newImageRows: [Range<Int>]

        init(rows: RowState, images: [ImageLayout], newImages: [ImageLayout], plan: YOPOPlan?) {
            self.rows = rows
            self.images = images
            self.newImages = newImages
            self.plan = plan
            groups = rows.positions.indices.map { r in
                rows.visual[r] ? .visual : LlamaDecoder.group(of: rows.positions[r], images: images)
            }
            imageOfRow = rows.positions.indices.map { r in
                rows.visual[r] ? images.firstIndex { $0.range.contains(rows.positions[r]) } : nil
            }
            newImageRows = newImages.compactMap { image in
                let inside = rows.positions.indices.filter { rows.visual[$0] && image.range.contains(rows.positions[$0]) }
                guard let first = inside.first, let last = inside.last else { return nil }
                return first..<(last + 1)
            }
        }

        /// Rows counted per token group, for projection FLOPs.
        func rowCounts() -> [TokenGroup: Int] {
            var c: [TokenGroup: Int] = [:]
            for g in groups { c[g, default: 0] += 1 }
            return c
        }
    }

    /// Keeps `decision.keep` rows of `h` and inserts its new rows after the last kept visual row.
    static func apply(_ decision: PruneDecision, to h: Tensor, rows: RowState) -> (Tensor, RowState) {
        let d = h.columns
        var order: [Int?] = decision.keep.map { $0 }  // nil = an inserted row
        let inserted = decision.inserted?.rows ?? 0
        if inserted > 0 {
            let lastVisual = order.lastIndex { $0.map { rows.visual[$0] } ?? false } ?? -1
            order.insert(contentsOf: Array(repeating: nil, count: inserted), at: lastVisual + 1)
        }
        let out = Tensor(zeros: [order.count, d])
        var state = RowState(positions: [], visual: [], imageIndex: [])
        var next = 0
        var lastPosition = rows.positions.first ?? 0
        for (i, source) in order.enumerated() {
            if let r = source {
                (out.data + i * d).update(from: h.data + r * d, count: d)
                state.positions.append(rows.positions[r])
                state.visual.append(rows.visual[r])
                state.imageIndex.append(rows.imageIndex[r])
                lastPosition = rows.positions[r]
            } else {
                (out.data + i * d).update(from: decision.inserted!.data + next * d, count: d)
                next += 1
                state.positions.append(lastPosition)
                state.visual.append(true)
                state.imageIndex.append(-1)
            }
        }
        return (out, state)
    }

    /// Rows per attention block (docs/FLOPS.md).
    public static let queryBlock = 64

    /// One dense layer; with a simulate plan, the official release's masks (METHOD.md §2).
    /// Every row's keys and values are computed and cached; only `queryRows` attend, and only the rows
    /// `afterAttention` keeps continue through o_proj and the FFN (work nobody reads is not done).
    /// - Parameters:
    ///   - rope: RoPE position of each row.
    ///   - capture: rows whose head-averaged attention probabilities are returned (`[capture.count, past + n]`);
    ///     they must be query rows.
    ///   - queryRows: ascending rows whose attention output is wanted; nil = every row.
    ///   - afterAttention: given the captured probabilities, the query rows whose hidden state a later
    ///     computation reads (ascending), or nil for all of them.
    /// - Returns: the layer output of the kept rows (`[kept, hidden_size]`), the captured probabilities,
    ///   and the kept rows (nil = every row, in order).
    private func denseLayer(
        _ l: Layer, index: Int, _ x: Tensor, cache: KVCache, context: DenseContext, rope: [Int],
        capture: [Int]?, queryRows: [Int]?, afterAttention: ((Tensor?) -> [Int]?)?, counter: FLOPCounter?
    ) -> (Tensor, Tensor?, [Int]?) {
        let n = x.rows, d = config.hiddenSize, hd = config.headDim
        let heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads
        let qWidth = heads * hd, kvWidth = kvHeads * hd, group = heads / kvHeads
        let past = cache.rows(index)
        let plan = context.plan
        let positions = context.rows.positions
        let queries = queryRows ?? Array(0..<n)
        let m = queries.count
        let captured = capture.map { Tensor(zeros: [$0.count, past + n]) }
        let captureSlot: [Int: Int] = Dictionary(uniqueKeysWithValues: (capture ?? []).enumerated().map { ($1, $0) })
        precondition(captureSlot.keys.allSatisfy { queryRows == nil || queries.contains($0) }, "captured rows must attend")

        func countRows(_ rows: [Int]) -> [TokenGroup: Int] {
            var c: [TokenGroup: Int] = [:]
            for r in rows { c[context.groups[r], default: 0] += 1 }
            return c
        }
        if let counter {
            for (g, rows) in context.rowCounts() { counter.addProduct(rows: rows, k: d, n: 2 * kvWidth, layer: index, g) }
            for (g, rows) in countRows(queries) { counter.addProduct(rows: rows, k: d, n: qWidth, layer: index, g) }
        }
        let normed = rmsNorm(x, weight: l.inputNorm, eps: config.rmsNormEps)
        let q = linear(queryRows == nil ? normed : LlamaDecoder.gather(normed, queries), l.qProj)
        let k = linear(normed, l.kProj)
        let v = linear(normed, l.vProj)
        applyRoPE(q, heads: heads, positions: queryRows == nil ? rope : queries.map { rope[$0] })
        applyRoPE(k, heads: kvHeads, positions: rope)
        let keys = cache.keys[index], values = cache.values[index]
        (keys.data + past * kvWidth).update(from: k.data, count: n * kvWidth)
        (values.data + past * kvWidth).update(from: v.data, count: n * kvWidth)

        // Simulate mode: per-head key-side factor on visual columns (mask row for l < K, 0 after).
        let alive = plan?.visualAlive(layer: index) ?? true
        let visualColumns: [Range<Int>] = plan == nil ? [] : context.images.map { $0.range }
        let context2 = Tensor(zeros: [m, qWidth])
        let blockSize = LlamaDecoder.queryBlock
        let scale = 1 / Float(hd).squareRoot()
        let maxKeys = past + n
        // Keys [0, E) of the block of query rows queries[j0 ..< j0 + b]: the causal end of its last row,
        // extended over any image it touches.
        func blockEnd(_ j0: Int, _ b: Int) -> Int {
            let first = queries[j0], last = queries[j0 + b - 1]
            var end = past + last + 1
            for span in context.newImageRows where span.lowerBound <= last && span.upperBound > first {
                if queries[j0..<(j0 + b)].contains(where: { span.contains($0) }) { end = max(end, past + span.upperBound) }
            }
            return end
        }
        if let counter {
            for j0 in stride(from: 0, to: m, by: blockSize) {
                let b = min(blockSize, m - j0), end = blockEnd(j0, b)
                for j in j0..<(j0 + b) { counter.add(heads * 2 * end * hd * 2, layer: index, context.groups[queries[j]]) }
            }
        }
        // Captured probabilities per head, summed in head order afterwards (same rounding as one pass).
        let headCaptures = captured.map { c in (0..<heads).map { _ in Tensor(zeros: c.shape) } }
        // Heads run in parallel; each writes its own columns of context2 and its own capture buffer.
        // Few rows (decode): one thread, waking another costs more than the work.
        parallelChunks(heads, minimum: attentionParallelMinimum(heads: heads, rows: m, keys: maxKeys, headDim: hd)) { h0, h1 in
            let scores = Tensor(zeros: [min(blockSize, max(m, 1)), maxKeys])
            for h in h0..<h1 {
                let g = h / group
                let keyFactor: Float = plan == nil ? 1 : (alive && plan!.headKept(layer: index, head: h) ? 1 : 0)
                var j0 = 0
                while j0 < m {
                    let b = min(blockSize, m - j0)
                    let end = blockEnd(j0, b)
                    MatMul.gemmABt(m: b, n: end, k: hd, alpha: scale, a: q.data + j0 * qWidth + h * hd, lda: qWidth,
                                   b: keys.data + g * hd, ldb: kvWidth, c: scores.data, ldc: end)
                    for i in 0..<b {
                        let r = queries[j0 + i]
                        let row = scores.data + i * end
                        let position = positions[r]
                        // Causal mask; with a simulate window, the V×V block of a new image is overwritten.
                        if let plan, plan.window != nil, let img = context.imageOfRow[r],
                            context.newImages.contains(context.images[img])
                        {
                            let image = context.images[img]
                            // Keys before the image stay; inside it only the window's runs (the same
                            // keys `YOPOPlan.inWindow` admits, a run per grid row); after it none.
                            var next = image.start
                            for (a, b) in plan.windowRuns(query: position - image.start, gridRows: image.gridRows,
                                                          gridColumns: image.gridColumns) {
                                for c in next..<max(next, min(image.start + a, end)) { row[c] = -.infinity }
                                next = image.start + b + 1
                            }
                            for c in next..<max(next, end) { row[c] = -.infinity }
                        } else {
                            for c in (past + r + 1)..<max(past + r + 1, end) { row[c] = -.infinity }
                        }
                        softmaxInPlace(row, count: end)
                        if let slot = captureSlot[r], let headCaptures {
                            let dst = headCaptures[h].data + slot * (past + n), inverse = 1 / Float(heads)
                            for c in 0..<end { dst[c] = row[c] * inverse }
                        }
                        if plan != nil && keyFactor != 1 {
                            for range in visualColumns {
                                for c in range where c < end { row[c] *= keyFactor }
                            }
                        }
                    }
                    MatMul.gemmAB(m: b, n: hd, k: end, a: scores.data, lda: end, b: values.data + g * hd,
                                  ldb: kvWidth, c: context2.data + j0 * qWidth + h * hd, ldc: qWidth)
                    j0 += b
                }
                // Simulate query side: pruned heads' outputs at visual rows zeroed (mask row read afresh).
                if let plan, !plan.headKept(layer: index, head: h) {
                    for j in 0..<m where context.groups[queries[j]] == .visual {
                        (context2.data + j * qWidth + h * hd).update(repeating: 0, count: hd)
                    }
                }
            }
        }
        if let captured, let headCaptures {
            for h in 0..<heads { addInPlace(captured, headCaptures[h]) }
        }

        // Rows a later computation reads continue; the others stop here (their K/V are cached).
        let outputs = afterAttention?(captured) ?? queries
        let slot: [Int: Int] = outputs == queries ? [:] : Dictionary(uniqueKeysWithValues: queries.enumerated().map { ($1, $0) })
        let attendedRows = outputs == queries ? context2 : LlamaDecoder.gather(context2, outputs.map { slot[$0]! })
        if let counter {
            for (g, rows) in countRows(outputs) {
                counter.addProduct(rows: rows, k: qWidth, n: d, layer: index, g)
                counter.addProduct(rows: rows, k: d, n: 3 * config.intermediateSize, layer: index, g)
            }
        }
        let attended = linear(attendedRows, l.oProj)
        addInPlace(attended, outputs.count == n ? x : LlamaDecoder.gather(x, outputs))

        let normed2 = rmsNorm(attended, weight: l.postAttentionNorm, eps: config.rmsNormEps)
        let gate = linear(normed2, l.gateProj)
        let up = linear(normed2, l.upProj)
        let I = config.intermediateSize
        let gp = gate.data
        siluMultiplyInPlace(gate, up)
        if let plan, plan.visualFFNWidth < I {
            // Simulate: gate/up channels ≥ int(I/r) zeroed at visual rows.
            for (j, r) in outputs.enumerated() where context.groups[r] == .visual {
                (gp + j * I + plan.visualFFNWidth).update(repeating: 0, count: I - plan.visualFFNWidth)
            }
        }
        let down = linear(gate, l.downProj)
        addInPlace(down, attended)
        return (down, captured, outputs.count == n ? nil : outputs)
    }
}

/// How the decoder executes visual rows.
public enum DecoderExecution {
    /// Every row through every layer.
    case dense
    /// YOPO, compute-skipping semantics (the work is not done).
    case skip(YOPOPlan)
    /// YOPO, the official release's simulated semantics (dense work, post-softmax masks).
    case simulate(YOPOPlan)
    /// A token-pruning baseline (FastV, PyramidDrop, SparseVLM) dropping visual rows between layers.
    case tokenPruning(TokenPruner)

    public init(plan: YOPOPlan?, mode: YOPOMode) {
        guard let plan else {
            self = .dense
            return
        }
        self = mode == .skip ? .skip(plan) : .simulate(plan)
    }
}

extension LlamaDecoder: DecoderProbe {
    /// PyramidDrop's ranking row: layer `layer`'s input_layernorm, q_proj (row `query` only) and
    /// k_proj (every row), RoPE at `ropePositions`, softmax(q·Kᵀ/√head_dim) per head over the rows
    /// up to `query` (causal), averaged over heads. Products counted at `layer − 1` (the boundary), group text.
    public func attentionProbabilities(layer: Int, hidden: Tensor, ropePositions: [Int], query: Int, counter: FLOPCounter?) -> [Float] {
        let l = layers[layer]
        let n = hidden.rows, d = config.hiddenSize, hd = config.headDim
        let heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads, group = heads / kvHeads
        let qWidth = heads * hd, kvWidth = kvHeads * hd
        let normed = rmsNorm(hidden, weight: l.inputNorm, eps: config.rmsNormEps)
        let q = linear(normed.rows(query, 1), l.qProj)
        let k = linear(normed, l.kProj)
        applyRoPE(q, heads: heads, positions: [ropePositions[query]])
        applyRoPE(k, heads: kvHeads, positions: ropePositions)
        counter?.addProduct(rows: 1, k: d, n: qWidth, layer: layer - 1, .text)
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
