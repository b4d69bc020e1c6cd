import Foundation
import YOPOCore

// The rows a prefill carries from layer to layer, and the hooks that may drop or add rows between
// layers (token pruning: FastV, PyramidDrop, SparseVLM live in YOPOPruning and conform to `RowHook`).

/// The rows a decoder layer processes in one call, in order.
public struct RowState: Sendable, Equatable {
    /// Sequence index of each row: its absolute position in the prompt (recycled tokens take the
    /// position of the last kept image row before them); order and causality follow the row order.
    public var positions: [Int]
    /// Rotary position of each row, kept apart from the sequence index (equal for LLaMA's 1-D RoPE;
    /// M-RoPE triples from the prompt builder for Qwen2-VL; methods that re-index positions after a
    /// drop set `KVCache.reindexesPositions` instead).
    public var rotary: [RotaryPosition]
    /// Whether each row is an image token (recycled cluster tokens included).
    public var visual: [Bool]
    /// Image-relative index of each visual row in the original image (−1 for a recycled token, and
    /// for text rows).
    public var imageIndex: [Int]

    public init(positions: [Int], rotary: [RotaryPosition]? = nil, visual: [Bool], imageIndex: [Int]) {
        self.positions = positions
        self.rotary = rotary ?? positions.map(RotaryPosition.init)
        self.visual = visual
        self.imageIndex = imageIndex
    }

    public var count: Int { positions.count }
    /// Row indices of the visual rows, in order.
    public var visualRows: [Int] { visual.indices.filter { visual[$0] } }

    /// The state of rows `indices` (ascending indices into these rows).
    public func selecting(_ indices: [Int]) -> RowState {
        RowState(
            positions: indices.map { positions[$0] }, rotary: indices.map { rotary[$0] },
            visual: indices.map { visual[$0] }, imageIndex: indices.map { imageIndex[$0] })
    }
}

/// A hook's decision after a layer.
public struct PruneDecision {
    /// Row indices to keep, ascending.
    public var keep: [Int]
    /// Rows to insert right after the last kept visual row (`[count, hidden]`), marked visual with
    /// image index −1 (SparseVLM's recycled tokens).
    public var inserted: Tensor?

    public init(keep: [Int], inserted: Tensor? = nil) {
        self.keep = keep
        self.inserted = inserted
    }
}

/// What the decoder can compute for a hook on request.
public protocol DecoderProbe {
    /// Head-averaged attention probabilities of row `query` over every current row, as layer
    /// `layer` would compute them on `hidden` (its input_layernorm, q_proj, k_proj and RoPE at
    /// `ropePositions`): PyramidDrop's ranking. Adds the products to `counter`.
    func attentionProbabilities(layer: Int, hidden: Tensor, ropePositions: [RotaryPosition], query: Int, counter: FLOPCounter?) -> [Float]
}

/// Row hooks at layer boundaries of a prefill: a method that drops visual rows between decoder
/// layers (and may add rows), once, at prefill. It sees attention through the rows it asks the
/// layer to capture (the observer) and the probe.
public protocol RowHook: AnyObject {
    /// The spec it was built from (`fastv:k=2,r=0.5`).
    var spec: String { get }
    /// Whether RoPE positions are re-indexed contiguously after a drop (PyramidDrop, SparseVLM ≤ v1.5)
    /// rather than kept (FastV).
    var reindexesPositions: Bool { get }
    /// Called at the start of a prefill with the input embeddings and rows.
    func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?)
    /// Rows (indices into `rows`) whose head-averaged attention probabilities layer `layer` should
    /// capture for the hook, or nil.
    func captureRows(layer: Int, rows: RowState) -> [Int]?
    /// Called inside `layer` once its attention is computed, with the captured probabilities
    /// (`[captureRows.count, rows.count]`); returns the rows (ascending indices into `rows`) that
    /// continue, or nil to keep everything. The rows left out skip the layer's o_proj and FFN (their
    /// keys and values are cached), so a method that ranks on attention alone (FastV) drops them here.
    /// `afterLayer` is not called for a layer that dropped rows here. Default: nil.
    func rowsAfterAttention(_ layer: Int, rows: RowState, captured: Tensor?) -> [Int]?
    /// Called after `layer` with its output; returns what to keep, or nil to keep everything.
    /// `captured` is `[captureRows.count, rows.count]` when rows were requested.
    func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [RotaryPosition], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision?
    /// The first layer whose work on a row depends on rows after it (it captures a ranking's
    /// attention or drops rows inside it); `afterLayer` may decide after the layer before it, not
    /// earlier. Layers before it treat every row as dense does, so a prompt prefix's work there is
    /// reused across prompts (`DecoderPrefix`).
    var firstPruningLayer: Int { get }
    /// Whether `observeHeads` wants each head's probabilities of the captured rows (calibration).
    var observesHeads: Bool { get }
    /// With `observesHeads`: layer `layer`'s captured rows' probabilities per query head,
    /// `perHead[h]` `[captureRows.count, keys]` (keys: the rows cached before the call, then `rows`).
    func observeHeads(_ layer: Int, rows: RowState, perHead: [Tensor])
    /// Image-relative indices kept at each pruning point (−1 = recycled token), for reports and tests.
    var keptIndices: [[Int]] { get }
}

extension RowHook {
    public func rowsAfterAttention(_ layer: Int, rows: RowState, captured: Tensor?) -> [Int]? { nil }
    public var observesHeads: Bool { false }
    public func observeHeads(_ layer: Int, rows: RowState, perHead: [Tensor]) {}
}

extension RowState {
    /// Keeps `decision.keep` rows of `h` and inserts its new rows after the last kept visual row.
    /// Returns the new hidden states `[rows, hidden]` and their state.
    static func applying(_ decision: PruneDecision, to h: Tensor, rows: RowState) -> (Tensor, RowState) {
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
        var lastPosition = rows.positions.first ?? 0, lastRotary = rows.rotary.first ?? RotaryPosition(0)
        for (i, source) in order.enumerated() {
            if let r = source {
                (out.data + i * d).update(from: h.data + r * d, count: d)
                state.positions.append(rows.positions[r])
                state.rotary.append(rows.rotary[r])
                state.visual.append(rows.visual[r])
                state.imageIndex.append(rows.imageIndex[r])
                lastPosition = rows.positions[r]
                lastRotary = rows.rotary[r]
            } else {
                (out.data + i * d).update(from: decision.inserted!.data + next * d, count: d)
                next += 1
                state.positions.append(lastPosition)
                state.rotary.append(lastRotary)
                state.visual.append(true)
                state.imageIndex.append(-1)
            }
        }
        return (out, state)
    }
}

/// Gathers rows `indices` of `x` into a new `[indices.count, columns]` tensor.
func gatherRows(_ x: Tensor, _ indices: [Int]) -> Tensor {
    let c = x.columns
    let out = Tensor(zeros: [indices.count, c])
    for (i, r) in indices.enumerated() { (out.data + i * c).update(from: x.data + r * c, count: c) }
    return out
}
