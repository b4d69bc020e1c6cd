import Foundation
import YOPOCore

// A prompt prefix run once and continued by several prompts (an eval's questions about one image,
// llama.cpp's prompt cache for a shared start). With the image before the text and causal attention,
// no later token changes a prefix row in a layer that treats rows as dense does: dense and YOPO plans
// (whose visual work does not depend on the question) reuse every layer; token-pruning hooks rank
// rows by the question, so only the layers before their first pruning layer are reused, and from
// there the prefix rows run again with the question's rows.
//
// A continuation makes the cache rows of one prefill of the whole prompt, and its pruning decisions
// up to near-ties in a ranking; its logits agree with that prefill's to float rounding, not bit for bit, because the attention's query
// blocks (docs/FLOPS.md) restart at the split, which also moves the executed attention FLOPs of the
// rows around it. Continuing one prefix again gives the same bits every time.

/// The decoder's work on a prompt's first rows (positions `0..<rows`), computed once.
public final class DecoderPrefix: @unchecked Sendable {
    /// Prompt rows it covers.
    public let rows: Int
    /// Layers whose keys and values of the rows it holds (`DecoderPlan.reusableLayers`).
    public let layers: Int
    /// The images among the rows (absolute positions).
    public let images: [ImageLayout]
    /// Keys and values of layers `0..<layers` (never written after the prefix; copied per use).
    let cache: KVCache
    /// `[rows, hidden_size]` layer-0 inputs (what the hooks' `begin` reads), when `layers` < the decoder's.
    let inputs: Tensor?
    /// `[rows, hidden_size]` hidden states entering layer `layers`, when `layers` < the decoder's.
    let hidden: Tensor?
    /// The rows' M-RoPE positions when the prompt builder gave them (Qwen2-VL); nil for 1-D RoPE.
    /// The continuation's rows take `index + cache.ropeDelta`, as text after the image does in one prefill.
    let rotary: [RotaryPosition]?

    init(
        rows: Int, layers: Int, images: [ImageLayout], cache: KVCache, inputs: Tensor?, hidden: Tensor?, rotary: [RotaryPosition]?
    ) {
        self.rows = rows
        self.layers = layers
        self.images = images
        self.cache = cache
        self.inputs = inputs
        self.hidden = hidden
        self.rotary = rotary
    }

    /// Bytes held (keys, values and hidden states, fp32).
    public var bytesUsed: Int {
        cache.bytesUsed + ((inputs?.count ?? 0) + (hidden?.count ?? 0)) * MemoryLayout<Float>.size
    }
}

extension DecoderPlan {
    /// Layers whose work on a prompt's rows no later row changes: all of them without row hooks,
    /// else those before the hooks' `firstPruningLayer`.
    public func reusableLayers(of layerCount: Int) -> Int {
        hooks.map { min(max($0.firstPruningLayer, 0), layerCount) } ?? layerCount
    }
}

extension TextDecoder {
    /// Runs the first `inputs.rows` rows of a prompt (positions from 0; `images` among them) through
    /// the layers `plan` lets later prompts reuse. Adds the executed FLOPs to `counter`.
    /// - Parameters:
    ///   - inputs: `[rows, hidden_size]` input embeddings.
    ///   - rotaryPositions: the rows' rotary positions, as for `forward(_:cache:images:plan:counter:logitRows:rotaryPositions:)`
    ///     (M-RoPE: the whole prompt's `get_rope_index` triples of these rows); nil for 1-D positions.
    public func prefillPrefix(
        _ inputs: Tensor, images: [ImageLayout], plan: DecoderPlan, counter: FLOPCounter? = nil, rotaryPositions: [RotaryPosition]? = nil
    ) -> DecoderPrefix {
        let n = inputs.rows
        if let r = rotaryPositions { precondition(r.count == n, "\(r.count) rotary positions for \(n) rows") }
        let reusable = plan.reusableLayers(of: layers.count)
        let cache = makeCache(capacity: n)
        for image in images { precondition(image.start >= 0 && image.range.upperBound <= n, "an image must lie inside the prefix") }
        cache.images = images
        var state = RowState(callStart: 0, rows: n, images: images)
        if let rotaryPositions { state.rotary = rotaryPositions }
        cache.reserve(plan.separatesVisualRows ? state.visual.filter { !$0 }.count : n)
        var h = inputs.copy()
        // No hooks: they act from `reusable` on, in the continuation. No logits: no row of the
        // prefix is read in the last layer.
        runLayers(
            0..<reusable, &h, &state, cache: cache, images: images, plan: plan, hooks: nil, counter: counter, logitPositions: [])
        cache.advance(total: n)
        if let top = rotaryPositions?.map(\.maximum).max() { cache.ropeDelta = top + 1 - n }
        let partial = reusable < layers.count
        return DecoderPrefix(
            rows: n, layers: reusable, images: images, cache: cache, inputs: partial ? inputs.copy() : nil,
            hidden: partial ? h : nil, rotary: rotaryPositions)
    }

    /// Continues `prefix` with the rest of its prompt: `inputs` (`[tokens, hidden_size]`, positions
    /// from `prefix.rows`, no images) under the plan the prefix was made with. Returns the logits of
    /// `logitRows` (indices into `inputs`; default the last), `[count, vocab_size]` fp32, and the
    /// whole prompt's KV cache (room for `capacity` positions), ready for decode steps. The prefix
    /// is not changed and may be continued again. Adds the continuation's FLOPs to `counter`.
    public func forward(
        continuing prefix: DecoderPrefix, _ inputs: Tensor, plan: DecoderPlan, capacity: Int = 0, counter: FLOPCounter? = nil,
        logitRows: [Int]? = nil
    ) -> (logits: Tensor, cache: KVCache) {
        let n = inputs.rows, total = prefix.rows + n
        precondition(n > 0, "a continuation has rows")
        precondition(plan.reusableLayers(of: layers.count) == prefix.layers, "the plan is not the one the prefix was made with")
        let cache = prefix.cache.copy(capacity: max(capacity, total))
        let rows = logitRows ?? [n - 1]
        guard let prefixHidden = prefix.hidden, let prefixInputs = prefix.inputs, let hooks = plan.hooks else {
            // Every layer reused: the rest runs as a call after the prefix (no images, no hooks).
            return (forward(inputs, cache: cache, images: [], plan: plan, counter: counter, logitRows: rows), cache)
        }
        let reusable = prefix.layers, positions = rows.map { prefix.rows + $0 }
        // The continuation's own rows through the reused layers.
        var state = RowState(callStart: prefix.rows, rows: n, images: [])
        let delta = cache.ropeDelta
        if delta != 0 { state.rotary = state.positions.map { RotaryPosition($0 + delta) } }
        // Reused layers hold the prefix's rows and get n more; later layers get every row, total.
        cache.reserve(n)
        var h = inputs.copy()
        runLayers(0..<reusable, &h, &state, cache: cache, images: [], plan: plan, hooks: nil, counter: counter, logitPositions: positions)
        // Then every row, as the whole prompt's prefill from there: the hooks begin with the whole
        // prompt's inputs and decide after the layer before `reusable` as they would have there.
        var joined = concatenateRows(prefixHidden, h)
        state = RowState(callStart: 0, rows: total, images: prefix.images)
        if let rotary = prefix.rotary { state.rotary = rotary + (prefix.rows..<total).map { RotaryPosition($0 + delta) } }
        cache.reindexesPositions = reindexesPositions(hooks)
        hooks.begin(inputs: concatenateRows(prefixInputs, inputs), rows: state, counter: counter)
        if reusable > 0 {
            let rope = cache.reindexesPositions ? (0..<state.count).map(RotaryPosition.init) : state.rotary
            if let decision = hooks.afterLayer(
                reusable - 1, hidden: joined, rows: state, ropePositions: rope, captured: nil, probe: self, counter: counter)
            {
                (joined, state) = RowState.applying(decision, to: joined, rows: state)
            }
        }
        runLayers(
            reusable..<layers.count, &joined, &state, cache: cache, images: prefix.images, plan: plan, hooks: hooks,
            counter: counter, logitPositions: positions)
        cache.advance(total: n)
        return (logits(gather(joined, state, positions: positions), counter: counter), cache)
    }
}

/// `[a.rows + b.rows, columns]`: `a`'s rows then `b`'s.
public func concatenateRows(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.columns == b.columns, "row widths differ")
    let out = Tensor(zeros: [a.rows + b.rows, a.columns])
    out.data.update(from: a.data, count: a.count)
    (out.data + a.count).update(from: b.data, count: b.count)
    return out
}
