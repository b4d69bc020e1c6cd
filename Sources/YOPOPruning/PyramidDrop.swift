import Foundation
import YOPOCore

/// PyramidDrop (BASELINES.md §2): after 1-based layers `layers` (default 8, 16, 24) keep
/// `int(n·λ^i)` of the image tokens (576 → 288 → 144 → 72 for λ = 0.5). The ranking at a boundary
/// recomputes the NEXT layer's attention of the last prompt row over every current row (its
/// input_layernorm, q_proj, k_proj, RoPE at the current positions), averaged over heads. Positions
/// are re-indexed contiguously after each drop; later layers cache only their rows.
public final class PyramidDrop: TokenPruner {
    public let settings: PyramidDropSettings
    public let reindexesPositions = true
    public private(set) var keptIndices: [[Int]] = []
    private var imageTokens = 0
    /// Absolute position of the ranking query ("the last instruction token"); nil = the call's last row.
    public var queryPosition: Int?

    /// Throws `PruningSpecError` for boundaries that are not increasing within [1, layers − 1]
    /// (a boundary needs a next layer to rank with) or λ outside (0, 1].
    public init(settings: PyramidDropSettings, layers: Int) throws {
        guard !settings.layers.isEmpty, zip(settings.layers, settings.layers.dropFirst()).allSatisfy({ $0 < $1 }),
            settings.layers.first! >= 1, settings.layers.last! <= layers - 1
        else {
            throw PruningSpecError.invalidField(
                field: "layers", reason: "\(settings.layers.map(String.init).joined(separator: "/")) must increase within [1, \(layers - 1)]")
        }
        guard settings.ratio > 0 && settings.ratio <= 1 else {
            throw PruningSpecError.invalidField(field: "ratio", reason: "\(settings.ratio) is outside (0, 1]")
        }
        self.settings = settings
    }

    public var spec: String { settings.description }

    /// Image tokens kept at boundary `stage` (0-based) out of the prompt's `n`: `keep[stage]`, else `int(n·λ^(stage+1))`.
    public func keptCount(imageTokens n: Int, boundary stage: Int) -> Int {
        settings.keptCount(imageTokens: n, boundary: stage)
    }

    public func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?) {
        keptIndices = []
        imageTokens = rows.visualRows.count
    }

    public func captureRows(layer: Int, rows: RowState) -> [Int]? { nil }

    public func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [Int], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision? {
        guard let stage = settings.layers.firstIndex(of: layer + 1) else { return nil }
        let target = keptCount(imageTokens: imageTokens, boundary: stage)
        let probabilities = probe.attentionProbabilities(
            layer: layer + 1, hidden: hidden, ropePositions: ropePositions,
            query: queryPosition.flatMap { rows.positions.firstIndex(of: $0) } ?? rows.count - 1, counter: counter)
        let visualRows = rows.visualRows
        let chosen = topIndices(visualRows.map { probabilities[$0] }, count: target).map { visualRows[$0] }
        keptIndices.append(chosen.map { rows.imageIndex[$0] })
        let kept = Set(chosen)
        return PruneDecision(keep: rows.positions.indices.filter { !rows.visual[$0] || kept.contains($0) })
    }
}
