import Foundation
import YOPOCore

// The interface between the decoder and the token-pruning baselines (FastV, PyramidDrop,
// SparseVLM; BASELINES.md). The decoder owns the rows; a pruner looks at them between layers and
// says which to keep. Methods: FastV.swift, PyramidDrop.swift, SparseVLM.swift.

/// The rows a decoder layer processes in one call, in order.
public struct RowState: Sendable, Equatable {
    /// Absolute position of each row in the prompt (recycled tokens take the position of the last
    /// kept image row before them); order and causality follow the row order.
    public var positions: [Int]
    /// Whether each row is an image token (recycled cluster tokens included).
    public var visual: [Bool]
    /// Image-relative index of each visual row in the original image (−1 for a recycled token, and
    /// for text rows).
    public var imageIndex: [Int]

    public init(positions: [Int], visual: [Bool], imageIndex: [Int]) {
        self.positions = positions
        self.visual = visual
        self.imageIndex = imageIndex
    }

    public var count: Int { positions.count }
    /// Row indices of the visual rows, in order.
    public var visualRows: [Int] { visual.indices.filter { visual[$0] } }

    /// The state of rows `indices` (ascending indices into these rows).
    public func selecting(_ indices: [Int]) -> RowState {
        RowState(positions: indices.map { positions[$0] }, visual: indices.map { visual[$0] },
                 imageIndex: indices.map { imageIndex[$0] })
    }
}

/// A pruner's decision after a layer.
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

/// What the decoder can compute for a pruner on request.
public protocol DecoderProbe {
    /// Head-averaged attention probabilities of row `query` over every current row, as layer
    /// `layer` would compute them on `hidden` (its input_layernorm, q_proj, k_proj and RoPE at
    /// `ropePositions`): PyramidDrop's ranking. Adds the products to `counter`.
    func attentionProbabilities(layer: Int, hidden: Tensor, ropePositions: [Int], query: Int, counter: FLOPCounter?) -> [Float]
}

/// A method that drops visual tokens between decoder layers, once, at prefill.
public protocol TokenPruner: AnyObject {
    /// The spec it was built from (`fastv:k=2,r=0.5`).
    var spec: String { get }
    /// Whether RoPE positions are re-indexed contiguously after a drop (PyramidDrop, SparseVLM ≤ v1.5)
    /// rather than kept (FastV).
    var reindexesPositions: Bool { get }
    /// Called at the start of a prefill with the input embeddings and rows.
    func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?)
    /// Rows (indices into `rows`) whose head-averaged attention probabilities layer `layer` should
    /// capture for the pruner, or nil.
    func captureRows(layer: Int, rows: RowState) -> [Int]?
    /// Called inside `layer` once its attention is computed, with the captured probabilities
    /// (`[captureRows.count, rows.count]`); returns the rows (ascending indices into `rows`) that
    /// continue, or nil to keep everything. The rows left out skip the layer's o_proj and FFN (their
    /// keys and values are cached), so a pruner that ranks on attention alone (FastV) drops them here.
    /// `afterLayer` is not called for a layer that dropped rows here. Default: nil.
    func rowsAfterAttention(_ layer: Int, rows: RowState, captured: Tensor?) -> [Int]?
    /// Called after `layer` with its output; returns what to keep, or nil to keep everything.
    /// `captured` is `[captureRows.count, rows.count]` when rows were requested.
    func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [Int], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision?
    /// Image-relative indices kept at each pruning point (−1 = recycled token), for reports and tests.
    var keptIndices: [[Int]] { get }
}

extension TokenPruner {
    public func rowsAfterAttention(_ layer: Int, rows: RowState, captured: Tensor?) -> [Int]? { nil }
}

/// Indices of the `count` largest `scores`, ties to the lower index, returned ascending.
public func topIndices(_ scores: [Float], count: Int) -> [Int] {
    let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    return Array(order.prefix(max(0, min(count, scores.count)))).sorted()
}

extension BaselineSpec {
    /// A fresh pruner for one sequence (pruners record what they kept).
    /// Throws `PruningSpecError` when the settings do not fit a `layers`-layer decoder.
    public func makePruner(layers: Int) throws -> TokenPruner {
        switch self {
        case .fastV(let s): return try FastV(settings: s, layers: layers)
        case .pyramidDrop(let s): return try PyramidDrop(settings: s, layers: layers)
        case .sparseVLM(let s): return try SparseVLM(settings: s, layers: layers)
        }
    }
}
