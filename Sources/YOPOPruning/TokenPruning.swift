import Foundation
import YOPOCore
// The engine's plan and row-hook types are part of this module's vocabulary (methods build them).
@_exported import YOPOEngine

// The token-pruning baselines (FastV, PyramidDrop, SparseVLM; BASELINES.md) as the engine's row
// hooks: the engine owns the rows; a pruner looks at them between layers and says which to keep.
// Methods: FastV.swift, PyramidDrop.swift, SparseVLM.swift.

/// A method that drops visual tokens between decoder layers, once, at prefill: the engine's row hooks.
public typealias TokenPruner = RowHook

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
