import Foundation
import YOPOCore

// The prefill: one loop over the layers, one layer function. Dense, YOPO (simulate and skip) and
// token pruning all run through it; what differs is data: the `LayerPlan` of each layer, the plan's
// execution, and the row hooks.
//
// A layer splits the rows it carries into groups that share projections and a key/value store:
// with the visual rows kept in the sequence (dense, simulate, token pruning) one group holds every
// row; in skip execution the text rows form one group and each new image's visual rows another,
// with the heads, neighbourhood and FFN width its `LayerPlan` gives, stored apart in the cache.
// Costs follow docs/FLOPS.md; each product adds its own.

extension TextDecoder {
    /// Runs the decoder on `inputs` appended after the cache's contents and returns logits.
    /// - Parameters:
    ///   - inputs: `[tokens, hidden_size]` input embeddings; positions continue from `cache.length`.
    ///   - cache: updated in place with the new keys and values.
    ///   - images: images whose tokens are among the new rows (absolute positions); a call holds
    ///     whole images only.
    ///   - plan: what each layer does with visual rows (`DecoderPlan.dense` prunes nothing).
    ///   - counter: receives the executed FLOPs (docs/FLOPS.md), if given.
    ///   - logitRows: which of the new rows need logits (default: the last one only).
    ///   - rotaryPositions: the rotary position of each new row (M-RoPE: the prompt builder's
    ///     `get_rope_index` triples); nil = `index + cache.ropeDelta` (1-D RoPE, text continuing a
    ///     Qwen2-VL sequence). When given, the cache's `ropeDelta` becomes `max + 1 − length` after the call.
    /// - Returns: `[logitRows.count, vocab_size]`, fp32.
    public func forward(
        _ inputs: Tensor, cache: KVCache, images: [ImageLayout] = [], plan: DecoderPlan = .dense,
        counter: FLOPCounter? = nil, logitRows: [Int]? = nil, rotaryPositions: [RotaryPosition]? = nil
    ) -> Tensor {
        let n = inputs.rows
        if let r = rotaryPositions { precondition(r.count == n, "\(r.count) rotary positions for \(n) rows") }
        if n == 1 && images.isEmpty && rotaryPositions == nil && (logitRows == nil || logitRows! == [0]) {
            // A decode step: the allocation-free single-row path (DecodeStep.swift), its logits copied.
            cache.decodeWorkspace(spec).hidden.update(from: inputs.data, count: spec.hiddenSize)
            return decodeStep(cache: cache, plan: plan, counter: counter).copy()
        }
        let rows = logitRows ?? [n - 1]
        let last = prefill(
            inputs, cache: cache, images: images, plan: plan, counter: counter, logitRows: rows, rotaryPositions: rotaryPositions)
        return logits(last, counter: counter)
    }

    /// The layers over a call's rows. Returns the final hidden states of `logitRows` (`[count, hidden]`).
    func prefill(
        _ inputs: Tensor, cache: KVCache, images newImages: [ImageLayout], plan: DecoderPlan, counter: FLOPCounter?,
        logitRows: [Int], rotaryPositions: [RotaryPosition]? = nil
    ) -> Tensor {
        let n = inputs.rows, start = cache.length
        for image in newImages {
            precondition(image.start >= start && image.range.upperBound <= start + n, "an image must lie inside one call")
        }
        cache.images += newImages
        // Row hooks act once, at the prefill of a call with images.
        let hooks = newImages.isEmpty ? nil : plan.hooks
        if let hooks { cache.reindexesPositions = reindexesPositions(hooks) }
        var state = RowState(callStart: start, rows: n, images: newImages)
        if let rotaryPositions {
            state.rotary = rotaryPositions
        } else if cache.ropeDelta != 0 {
            state.rotary = state.positions.map { RotaryPosition($0 + cache.ropeDelta) }
        }
        cache.reserve(plan.separatesVisualRows ? state.visual.filter { !$0 }.count : n)
        hooks?.begin(inputs: inputs, rows: state, counter: counter)
        var h = inputs.copy()
        runLayers(
            0..<layers.count, &h, &state, cache: cache, images: newImages, plan: plan, hooks: hooks, counter: counter,
            logitPositions: logitRows.map { start + $0 })
        cache.advance(total: n)
        if let rotaryPositions, let top = rotaryPositions.map(\.maximum).max() { cache.ropeDelta = top + 1 - cache.length }
        return gather(h, state, positions: logitRows.map { start + $0 })
    }

    /// Runs layers `range` over the rows `state` with hidden states `h` (both updated: rows may be
    /// dropped or inserted by `hooks`). In the decoder's last layer only the rows at
    /// `logitPositions` (absolute; none when empty) attend and go through the FFN.
    func runLayers(
        _ range: Range<Int>, _ h: inout Tensor, _ state: inout RowState, cache: KVCache, images newImages: [ImageLayout],
        plan: DecoderPlan, hooks: RowHook?, counter: FLOPCounter?, logitPositions: [Int]
    ) {
        let separate = plan.separatesVisualRows
        for index in range {
            let lastLayer = index == layers.count - 1
            let past = cache.rows(index)
            let rope = cache.reindexesPositions ? (past..<(past + state.count)).map(RotaryPosition.init) : state.rotary
            // In the last layer only the rows whose logits are wanted attend and go through the FFN.
            let wanted = lastLayer ? Array(Set(logitPositions.map { state.row(at: $0) })).sorted() : nil
            let rowsBefore = state
            let capture = hooks?.captureRows(layer: index, rows: state)
            let afterAttention: ((Tensor?) -> [Int]?)? =
                lastLayer
                ? nil
                : hooks.map { hooks in
                    { captured in hooks.rowsAfterAttention(index, rows: rowsBefore, captured: captured) }
                }
            var step = LayerStep(
                index: index, plan: plan.layer(index), next: lastLayer ? nil : plan.layer(index + 1),
                execution: plan.execution, simulated: plan.simulated, separate: separate, rows: state, rope: rope, newImages: newImages,
                wanted: wanted, capture: capture, afterAttention: afterAttention)
            if let hooks, hooks.observesHeads, capture != nil {
                step.observeHeads = { perHead in hooks.observeHeads(index, rows: rowsBefore, perHead: perHead) }
            }
            let result = layer(step, h, cache: cache, counter: counter)
            h = result.hidden
            if let kept = result.kept { state = state.selecting(kept) }
            // A layer whose rows were dropped after attention has decided for this layer.
            if let hooks, !lastLayer, !result.droppedAfterAttention,
                let decision = hooks.afterLayer(
                    index, hidden: h, rows: state, ropePositions: rope, captured: result.captured,
                    probe: self, counter: counter)
            {
                (h, state) = RowState.applying(decision, to: h, rows: state)
            }
        }
    }

    /// Rows of `h` at absolute `positions`, `[positions.count, hidden]`.
    func gather(_ h: Tensor, _ state: RowState, positions: [Int]) -> Tensor {
        let d = spec.hiddenSize
        let out = Tensor(zeros: [positions.count, d])
        for (i, p) in positions.enumerated() {
            (out.data + i * d).update(from: h.data + state.row(at: p) * d, count: d)
        }
        return out
    }

    /// `[rows, vocab_size]` logits of final hidden states `[rows, hidden]`.
    func logits(_ last: Tensor, counter: FLOPCounter?) -> Tensor {
        let normed = rmsNorm(last, weight: norm, eps: spec.rmsNormEps)
        counter?.addProduct(rows: last.rows, k: spec.hiddenSize, n: spec.vocabSize, .text)
        return linear(normed, lmHead)
    }
}

extension RowState {
    /// The rows of a call: positions `start..<start + rows`, visual where `images` lie.
    init(callStart start: Int, rows n: Int, images: [ImageLayout]) {
        self.init(
            positions: Array(start..<(start + n)),
            visual: (0..<n).map { r in images.contains { $0.range.contains(start + r) } },
            imageIndex: (0..<n).map { r in images.first { $0.range.contains(start + r) }.map { start + r - $0.start } ?? -1 })
    }

    /// The row holding absolute position `p` (a recycled token may share a position; the text row wins).
    func row(at p: Int) -> Int {
        guard
            let row = positions.indices.first(where: { positions[$0] == p && !visual[$0] }) ?? positions.firstIndex(of: p)
        else { preconditionFailure("logits requested for position \(p), which was pruned or left the computation") }
        return row
    }
}

/// What one layer of a prefill is asked to do.
struct LayerStep {
    let index: Int
    let plan: LayerPlan
    /// The next layer's plan (nil in the last layer): visual rows whose next layer drops them only
    /// store keys and values here.
    let next: LayerPlan?
    let execution: PlanExecution
    /// Whose official numerics simulate execution follows.
    let simulated: SimulatedSemantics
    /// Visual rows in groups of their own (skip execution) rather than in the sequence.
    let separate: Bool
    let rows: RowState
    /// Rotary position of each row.
    let rope: [RotaryPosition]
    let newImages: [ImageLayout]
    /// Rows whose output is read (the last layer's logit rows); nil = every row that continues.
    let wanted: [Int]?
    /// Rows whose head-averaged probabilities a hook reads (they must attend).
    let capture: [Int]?
    /// Given the captured probabilities, the rows that continue after attention (nil = all).
    let afterAttention: ((Tensor?) -> [Int]?)?
    /// Receives each query head's probabilities of the captured rows (`[heads][capture, keys]`).
    var observeHeads: (([Tensor]) -> Void)? = nil
}

/// Rows of one layer sharing projections and a key/value store.
struct RowGroup {
    enum Store {
        /// The sequence store, from row `past`, one row per group row in order.
        case sequence
        /// The visual store of new image `newImage` (index into the call's images).
        case visual(newImage: Int)
    }
    /// Indices into the layer's rows, ascending.
    let rows: [Int]
    /// Rows (indices into the layer's rows, ascending, ⊆ rows) that attend and continue.
    let queries: [Int]
    /// Query heads (q and o columns); key/value heads stored.
    let heads: [Int]
    let kvHeads: [Int]
    let store: Store
    /// Intermediate channels computed; with `zeroFrom`, channels ≥ it are zeroed at visual rows
    /// (the official simulated sparse FFN).
    let ffnWidth: Int
    let zeroFrom: Int?
}
