import Foundation
import YOPOCore

/// A row hook that prunes nothing and records, for `yopo calibrate`, the attention mass each layer's
/// heads pay from query rows to the system keys (before the first image), the visual keys and the
/// text keys (after the image) — the statistics of the official `gen_mask_llava.py` (METHOD.md §4.2).
/// Two query sets are kept: the text rows after the last image (the question) and the image rows.
/// For one dense prefill of a fresh cache, with every row attending in the last layer (ask logits of
/// every row); each head's probabilities come through the engine's attention observer.
public final class AttentionMassRecorder: RowHook {
    public let spec = "calibration"
    public let reindexesPositions = false
    /// Captures from layer 0: nothing of a prompt is reusable under it.
    public let firstPruningLayer = 0
    public let keptIndices: [[Int]] = []
    public let observesHeads = true
    let layers: Int, heads: Int
    /// `[layers][heads]`: the question rows' masses, summed over those rows.
    public private(set) var textQueries: [[VisualAttentionMass]]
    /// `[layers][heads]`: the image rows' masses, summed over those rows.
    public private(set) var visualQueries: [[VisualAttentionMass]]
    /// Columns of the image's patch grid (the distances below need it; 0: not recorded).
    public let gridColumns: Int
    /// `[layers][d]`: the mass image rows pay to image keys at grid distance d (Chebyshev: the
    /// neighbour window's measure, `max(|Δrow|, |Δcolumn|)`), summed over heads and rows.
    public private(set) var visualDistance: [[Double]]

    public init(layers: Int, heads: Int, gridRows: Int = 0, gridColumns: Int = 0) {
        self.layers = layers
        self.heads = heads
        self.gridColumns = gridColumns
        visualDistance = Array(repeating: Array(repeating: 0, count: max(gridRows, gridColumns)), count: layers)
        let zero = Array(repeating: Array(repeating: VisualAttentionMass(visual: 0, text: 0, system: 0), count: heads), count: layers)
        textQueries = zero
        visualQueries = zero
    }

    public func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?) {}

    /// Every image row and every text row after the last image.
    public func captureRows(layer: Int, rows: RowState) -> [Int]? {
        guard let lastVisual = rows.visual.lastIndex(of: true) else { return nil }
        return rows.positions.indices.filter { rows.visual[$0] || $0 > lastVisual }
    }

    public func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [RotaryPosition], captured: Tensor?, probe: DecoderProbe,
        counter: FLOPCounter?
    ) -> PruneDecision? { nil }

    public func observeHeads(_ layer: Int, rows: RowState, perHead: [Tensor]) {
        guard let captureRows = captureRows(layer: layer, rows: rows), let firstVisual = rows.visual.firstIndex(of: true),
            layer < layers
        else { return }
        // Keys: the call's rows (a fresh prefill), each system, visual or text.
        enum Group { case system, visual, text }
        let keyGroup: [Group] = rows.positions.indices.map { j in rows.visual[j] ? .visual : j < firstVisual ? .system : .text }
        for (h, probabilities) in perHead.enumerated() where h < heads {
            let keys = probabilities.columns
            for (slot, r) in captureRows.enumerated() {
                var m = VisualAttentionMass(visual: 0, text: 0, system: 0)
                let row = probabilities.data + slot * keys
                for j in 0..<min(keys, keyGroup.count) {
                    let p = Double(row[j])
                    switch keyGroup[j] {
                    case .system: m.system += p
                    case .visual: m.visual += p
                    case .text: m.text += p
                    }
                }
                if rows.visual[r] {
                    visualQueries[layer][h].add(m)
                    if gridColumns > 0 { addDistances(layer, query: r, row: row, keys: min(keys, keyGroup.count), rows: rows) }
                } else {
                    textQueries[layer][h].add(m)
                }
            }
        }
    }
}

extension AttentionMassRecorder {
    /// Adds image row `query`'s probabilities on image keys to `visualDistance[layer]` by distance.
    func addDistances(_ layer: Int, query: Int, row: UnsafeMutablePointer<Float>, keys: Int, rows: RowState) {
        let qi = rows.imageIndex[query]
        guard qi >= 0 else { return }
        let (qr, qc) = (qi / gridColumns, qi % gridColumns)
        for j in 0..<keys where rows.visual[j] && rows.imageIndex[j] >= 0 {
            let ki = rows.imageIndex[j]
            let d = max(abs(ki / gridColumns - qr), abs(ki % gridColumns - qc))
            if d < visualDistance[layer].count { visualDistance[layer][d] += Double(row[j]) }
        }
    }
}

extension VisualAttentionMass {
    mutating func add(_ other: VisualAttentionMass) {
        visual += other.visual
        text += other.text
        system += other.system
    }
}
