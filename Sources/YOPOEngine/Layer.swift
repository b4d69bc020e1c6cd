import Foundation
import YOPOCore

/// Where a layer's products add their FLOPs: the counter, the layer, and each row's token group
/// (docs/FLOPS.md "Attribution"). Every product calls it itself, next to the product.
struct Cost {
    let counter: FLOPCounter?
    let layer: Int
    let groupOf: [TokenGroup]

    /// A product of `[rows.count, k] · [k, n]` over the layer rows `rows`: `2·k·n` per row, by group.
    func product(_ rows: [Int], k: Int, n: Int) {
        guard let counter, !rows.isEmpty else { return }
        var counts: [TokenGroup: Int] = [:]
        for r in rows { counts[groupOf[r], default: 0] += 1 }
        for (group, count) in counts { counter.addProduct(rows: count, k: k, n: n, layer: layer, group) }
    }

    /// `flops[j]` for layer row `rows[j]`.
    func add(_ flops: [Int], rows: [Int]) {
        guard let counter else { return }
        for (j, r) in rows.enumerated() { counter.add(flops[j], layer: layer, groupOf[r]) }
    }
}

/// What a prefill layer hands back.
struct LayerResult {
    /// Output of the rows that continue, in row order (`[kept, hidden]`).
    let hidden: Tensor
    /// The rows that continue (ascending indices into the layer's rows); nil = every row.
    let kept: [Int]?
    /// The hook's captured probabilities, `[capture.count, keys]`.
    let captured: Tensor?
    /// Whether a hook dropped rows after this layer's attention.
    let droppedAfterAttention: Bool
}

extension TextDecoder {
    /// One decoder layer of a prefill, the math top to bottom for every group of rows:
    /// norm → q/k/v (+ biases) → rotary → keys and values stored → attention → o_proj → residual →
    /// norm → SwiGLU FFN → residual. Every row's keys and values are computed and stored; only a
    /// group's query rows attend, and only the rows that continue go through o_proj and the FFN
    /// (work nobody reads is not done).
    func layer(_ step: LayerStep, _ x: Tensor, cache: KVCache, counter: FLOPCounter?) -> LayerResult {
        let l = layers[step.index], layerIndex = step.index
        let rows = step.rows, n = rows.count
        let d = spec.hiddenSize, hd = spec.headDim, H = spec.numAttentionHeads, I = spec.intermediateSize
        let kvWidth = spec.keyValueWidth
        let images = cache.images
        let past = cache.rows(layerIndex)
        let cost = Cost(
            counter: counter, layer: layerIndex,
            groupOf: rows.positions.indices.map { r in
                rows.visual[r] ? .visual : TextDecoder.group(of: rows.positions[r], images: images)
            })
        let groups = makeGroups(step)

        // Keys, values and queries of every group; the keys and values go to their store.
        var queries: [Tensor?] = []
        var inputs: [Tensor] = []
        var visualStores = [KVCache.VisualKV?](repeating: nil, count: step.newImages.count)
        var sequenceRows: [Int] = []
        for group in groups {
            let xg = group.rows.count == n ? x : gatherRows(x, group.rows)
            inputs.append(xg)
            let normed = rmsNorm(xg, weight: l.inputLayernorm, eps: spec.rmsNormEps)
            let local = localIndices(group)
            let k = project(normed, l.kProj, l.kBias, heads: group.kvHeads, of: spec.numKeyValueHeads, rows: group.rows, cost)
            let v = project(normed, l.vProj, l.vBias, heads: group.kvHeads, of: spec.numKeyValueHeads, rows: group.rows, cost)
            applyRotary(k, heads: group.kvHeads.count, positions: group.rows.map { step.rope[$0] })
            if local.isEmpty {
                queries.append(nil)
            } else {
                let q = project(
                    local.count == group.rows.count ? normed : gatherRows(normed, local), l.qProj, l.qBias,
                    heads: group.heads, of: H, rows: group.queries, cost)
                applyRotary(q, heads: group.heads.count, positions: group.queries.map { step.rope[$0] })
                queries.append(q)
            }
            switch group.store {
            case .sequence:
                precondition(sequenceRows.isEmpty, "one sequence group per layer")
                (cache.keys[layerIndex].data + past * kvWidth).update(from: k.data, count: group.rows.count * kvWidth)
                (cache.values[layerIndex].data + past * kvWidth).update(from: v.data, count: group.rows.count * kvWidth)
                sequenceRows = group.rows
            case .visual(let i):
                visualStores[i] = KVCache.VisualKV(kvHeads: group.kvHeads, keys: k, values: v)
            }
        }
        if step.separate {
            for store in visualStores {
                cache.visual[layerIndex].append(
                    store ?? KVCache.VisualKV(kvHeads: [], keys: Tensor(zeros: [0, 0]), values: Tensor(zeros: [0, 0])))
            }
        }
        let storedPositions = cache.layerPositions[layerIndex] + sequenceRows.map { rows.positions[$0] }

        // Attention, o_proj and the FFN of each group's query rows.
        var outputs: [(rows: [Int], hidden: Tensor)] = []
        var captured: Tensor?
        var dropped = false
        for (gi, group) in groups.enumerated() {
            guard let q = queries[gi] else { continue }
            let m = group.queries.count, width = group.heads.count * hd
            let context = Tensor(zeros: [m, width])
            var problem = AttentionProblem(
                q: q.data, qStride: width, context: context.data, contextStride: width, heads: group.heads, rows: m,
                segments: segments(for: group, step: step, cache: cache, past: past, storedPositions: storedPositions))
            if let capture = step.capture, !capture.isEmpty {
                let slotOfRow = Dictionary(uniqueKeysWithValues: capture.enumerated().map { ($1, $0) })
                for (j, r) in group.queries.enumerated() { if let slot = slotOfRow[r] { problem.capture[j] = slot } }
                precondition(problem.capture.count == capture.count, "captured rows must attend")
                problem.captured = Tensor(zeros: [capture.count, past + group.rows.count])
                if step.observeHeads != nil {
                    problem.perHead = group.heads.map { _ in Tensor(zeros: [capture.count, past + group.rows.count]) }
                }
            }
            if step.execution == .simulate && !step.separate && step.plan != .full {
                let visualColumns = images.map { $0.range }
                problem.zeroAfterSoftmax = { h in
                    step.plan.simulateZeroesVisualColumns(head: h, layer: layerIndex, step.simulated) ? visualColumns : []
                }
            }
            attend(problem, rows: group.queries, cost)
            captured = problem.captured ?? captured
            if let observe = step.observeHeads, let perHead = problem.perHead {
                // Each slot holds its head's probabilities ÷ the head count.
                let scale = Float(group.heads.count)
                for t in perHead { for i in 0..<t.count { t.data[i] *= scale } }
                observe(perHead)
            }
            // Simulate (LLaVA's numerics): heads the mask prunes give no output at visual rows.
            if step.execution == .simulate, step.simulated == .llava, let heads = step.plan.visualHeads {
                for (s, h) in group.heads.enumerated() where !heads.contains(h) {
                    for (j, r) in group.queries.enumerated() where rows.visual[r] {
                        (context.data + j * width + s * hd).update(repeating: 0, count: hd)
                    }
                }
            }
            // The text-row ablation (either execution): heads outside `textHeads` give no output at text rows.
            if step.plan.textHeads != nil {
                for (s, h) in group.heads.enumerated() where !step.plan.headDoesTextWork(h) {
                    for (j, r) in group.queries.enumerated() where !rows.visual[r] {
                        (context.data + j * width + s * hd).update(repeating: 0, count: hd)
                    }
                }
            }
            // Rows a later computation reads continue; the others stop here (their K/V are stored).
            var continuing = group.queries
            if let afterAttention = step.afterAttention, let kept = afterAttention(problem.captured) {
                continuing = kept
                dropped = true
            }
            let slot = Dictionary(uniqueKeysWithValues: group.queries.enumerated().map { ($1, $0) })
            let local = Dictionary(uniqueKeysWithValues: group.rows.enumerated().map { ($1, $0) })
            let attended = continuing == group.queries ? context : gatherRows(context, continuing.map { slot[$0]! })
            let residual = continuing.count == group.rows.count ? inputs[gi] : gatherRows(inputs[gi], continuing.map { local[$0]! })
            let out = outputProjection(attended, l, heads: group.heads, rows: continuing, cost)
            addInPlace(out, residual)
            let zeroRows = group.zeroFrom == nil ? [] : continuing.indices.filter { rows.visual[continuing[$0]] }
            outputs.append(
                (
                    continuing,
                    feedForward(
                        out, l, width: group.ffnWidth, zeroRows: zeroRows, zeroFrom: group.zeroFrom,
                        rows: continuing, cost)
                ))
        }
        cache.appendRows(sequenceRows.map { rows.positions[$0] }, layer: layerIndex)

        // The continuing rows in row order.
        if outputs.count == 1 && outputs[0].rows.count == n {
            return LayerResult(hidden: outputs[0].hidden, kept: nil, captured: captured, droppedAfterAttention: dropped)
        }
        let kept = outputs.flatMap { $0.rows }.sorted()
        let at = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        let hidden = Tensor(zeros: [kept.count, d])
        for output in outputs {
            for (j, r) in output.rows.enumerated() {
                (hidden.data + at[r]! * d).update(from: output.hidden.data + j * d, count: d)
            }
        }
        return LayerResult(hidden: hidden, kept: kept, captured: captured, droppedAfterAttention: dropped)
    }

    /// The groups of a layer: one over every row with the visual rows in the sequence; in skip
    /// execution each new image's alive visual rows apart (the plan's heads and FFN width; queries
    /// only when the next layer still computes them), then the text rows.
    private func makeGroups(_ step: LayerStep) -> [RowGroup] {
        let rows = step.rows, H = spec.numAttentionHeads, I = spec.intermediateSize
        let allHeads = Array(0..<H), allKV = Array(0..<spec.numKeyValueHeads)
        guard step.separate else {
            let all = Array(0..<rows.count)
            let narrow = step.plan.visualFFNWidth.flatMap { $0 < I ? $0 : nil }
            return [
                RowGroup(
                    rows: all, queries: step.wanted ?? all, heads: allHeads, kvHeads: allKV, store: .sequence,
                    ffnWidth: I, zeroFrom: narrow)
            ]
        }
        var groups: [RowGroup] = []
        if step.plan.visualAlive {
            for (i, image) in step.newImages.enumerated() {
                let members = rows.positions.indices.filter { rows.visual[$0] && image.range.contains(rows.positions[$0]) }
                guard !members.isEmpty else { continue }
                let heads = step.plan.visualHeadList(heads: H)
                let kvHeads = Array(Set(heads.map { $0 / spec.groupSize })).sorted()
                let continues = step.next?.visualAlive ?? false
                groups.append(
                    RowGroup(
                        rows: members, queries: continues ? members : [], heads: heads, kvHeads: kvHeads,
                        store: .visual(newImage: i), ffnWidth: step.plan.visualFFNWidth ?? I, zeroFrom: nil))
            }
        }
        let text = rows.positions.indices.filter { !rows.visual[$0] }
        let wanted = step.wanted.map(Set.init)
        groups.append(
            RowGroup(
                rows: text, queries: wanted.map { w in text.filter { w.contains($0) } } ?? text,
                heads: allHeads, kvHeads: allKV, store: .sequence, ffnWidth: I, zeroFrom: nil))
        return groups
    }

    /// Positions of a group's query rows among its rows.
    private func localIndices(_ group: RowGroup) -> [Int] {
        if group.queries.count == group.rows.count { return Array(0..<group.rows.count) }
        let local = Dictionary(uniqueKeysWithValues: group.rows.enumerated().map { ($1, $0) })
        return group.queries.map { local[$0]! }
    }

    /// `x · W[heads]ᵀ + b[heads]`: the rows of a projection weight `[count · head_dim, in]` (and
    /// bias) belonging to `heads`, in order; the whole weight when every head is listed. `rows` are
    /// the layer rows of `x`'s rows, for the cost.
    private func project(
        _ x: Tensor, _ w: WeightMatrix, _ bias: Tensor?, heads: [Int], of count: Int, rows: [Int],
        _ cost: Cost
    ) -> Tensor {
        let hd = spec.headDim
        cost.product(rows, k: x.columns, n: heads.count * hd)
        if heads.count == count { return linear(x, w, bias: bias) }
        let indices = heads.flatMap { h in (h * hd)..<((h + 1) * hd) }
        return linear(x, w.gatherRows(indices), bias: bias.map { b in Tensor(shape: [indices.count], values: indices.map { b.data[$0] }) })
    }

    /// `o_proj` over the columns of `heads` (one GEMM; the columns gathered when not every head
    /// is listed), plus its bias. `[rows, hidden]`.
    private func outputProjection(_ context: Tensor, _ l: LayerWeights, heads: [Int], rows: [Int], _ cost: Cost) -> Tensor {
        let d = spec.hiddenSize, hd = spec.headDim
        cost.product(rows, k: heads.count * hd, n: d)
        let out = Tensor(zeros: [context.rows, d])
        if let bias = l.oBias { for r in 0..<context.rows { (out.data + r * d).update(from: bias.data, count: d) } }
        guard !heads.isEmpty else { return out }
        let weight = heads.count == spec.numAttentionHeads ? l.oProj : l.oProj.gatherColumnBlocks(heads.map { $0 * hd }, width: hd)
        MatMul.linear(
            m: context.rows, a: context.data, lda: heads.count * hd, weight: weight, beta: l.oBias == nil ? 0 : 1,
            c: out.data, ldc: d)
        return out
    }

    /// SwiGLU over the first `width` intermediate channels plus the residual:
    /// `x + down[:, :width] · (silu(gate[:width] · n) ⊙ up[:width] · n)`, n = post_attention_layernorm(x);
    /// with `zeroFrom`, channels ≥ it are zeroed at `zeroRows` before down_proj. `[rows, hidden]`.
    func feedForward(
        _ x: Tensor, _ l: LayerWeights, width: Int, zeroRows: [Int], zeroFrom: Int?, rows layerRows: [Int],
        _ cost: Cost
    ) -> Tensor {
        let rows = x.rows, d = spec.hiddenSize
        for _ in 0..<3 { cost.product(layerRows, k: d, n: width) }  // gate, up, down
        let normed = rmsNorm(x, weight: l.postAttentionLayernorm, eps: spec.rmsNormEps)
        let gate = Tensor(zeros: [rows, width]), up = Tensor(zeros: [rows, width])
        MatMul.linear(m: rows, a: normed.data, lda: d, weight: l.gateProj.rows(0, width), c: gate.data, ldc: width)
        MatMul.linear(m: rows, a: normed.data, lda: d, weight: l.upProj.rows(0, width), c: up.data, ldc: width)
        siluMultiplyInPlace(gate, up)
        if let zeroFrom {
            for r in zeroRows { (gate.data + r * width + zeroFrom).update(repeating: 0, count: width - zeroFrom) }
        }
        let out = x.copy()
        MatMul.linear(m: rows, a: gate.data, lda: width, weight: l.downProj.leadingColumns(width), beta: 1, c: out.data, ldc: d)
        return out
    }
}
