import Foundation
import YOPOCore

/// PyramidDrop (BASELINES.md §2): after each boundary layer keep `ratio` of the remaining image tokens.
public struct PyramidDropSettings: Sendable, Equatable {
    /// Boundaries, 1-based "after layer b" (= the 0-based layer where the next stage starts): [8, 16, 24].
    public var layers: [Int]
    /// λ, the fraction kept at each boundary (0.5: 576 → 288 → 144 → 72).
    public var ratio: Double
    /// Explicit image tokens kept after each boundary (instead of λ), e.g. [288, 144, 72].
    public var keep: [Int]?

    public init(layers: [Int] = [8, 16, 24], ratio: Double = 0.5) {
        self.layers = layers
        self.ratio = ratio
        self.keep = nil
    }

    /// Keep `keep[i]` image tokens after boundary i (one count per boundary).
    public init(layers: [Int], keep: [Int]) {
        self.layers = layers
        self.ratio = 1
        self.keep = keep
    }

    /// Image tokens kept after boundary `stage` (0-based) out of the original `n`:
    /// `keep[stage]`, else `int(n · λ^(stage+1))` (the code's `int()`).
    public func keptCount(imageTokens n: Int, boundary stage: Int) -> Int {
        if let keep { return keep[stage] }
        return Int((Double(n) * pow(ratio, Double(stage + 1))).rounded(.down))
    }

    /// Image tokens each decoder layer processes: stage i keeps `int(n · λ^i)` (the code's `int()`).
    /// Throws `FLOPsError.invalidSettings` for unordered or out-of-range boundaries or λ outside (0, 1].
    public func imageTokens(perLayer count: Int, imageTokens n: Int) throws -> [Double] {
        guard !layers.isEmpty, zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }),
            let first = layers.first, let last = layers.last, first >= 1, last <= count
        else {
            throw FLOPsError.invalidSettings("pdrop layers \(layers) must increase within [1, \(count)]")
        }
        guard ratio > 0 && ratio <= 1 else { throw FLOPsError.invalidSettings("pdrop ratio \(ratio) is outside (0, 1]") }
        if let keep {
            guard keep.count == layers.count, keep.allSatisfy({ $0 >= 0 }) else {
                throw FLOPsError.invalidSettings("pdrop keep \(keep) needs one count ≥ 0 per boundary \(layers)")
            }
        }
        // Each stage keeps from the tokens still present.
        var perStage = [Double(n)]
        for stage in 0..<layers.count { perStage.append(min(perStage.last!, Double(keptCount(imageTokens: n, boundary: stage)))) }
        return (0..<count).map { l in perStage[layers.filter { $0 <= l }.count] }
    }

    public var description: String {
        let boundaries = "pdrop:layers=\(layers.map(String.init).joined(separator: "/"))"
        if let keep { return boundaries + ",keep=\(keep.map(String.init).joined(separator: "/"))" }
        return boundaries + ",ratio=\(formatRatio(ratio))"
    }
}

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
    /// (a boundary needs a next layer to rank with; `.doesNotFit` for the default 8/16/24 on a
    /// shallower model), λ outside (0, 1] or a keep list of another length.
    public init(settings: PyramidDropSettings, layers: Int) throws {
        guard layers >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: settings.description, reason: "PyramidDrop needs a model of at least 2 layers (a boundary needs a later layer to rank with), and this one has \(layers)")
        }
        let boundaries = settings.layers
        guard !boundaries.isEmpty, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 < $1 }),
            boundaries.first! >= 1, boundaries.last! <= layers - 1
        else {
            let range = "within [1, \(layers - 1)]"
            if boundaries == [8, 16, 24] {
                let example = BudgetSolver.scaledBoundaries([8, 16, 24], layers: layers)
                throw PruningSpecError.doesNotFit(
                    spec: settings.description,
                    reason: "its boundaries 8/16/24 (the default) need at least 25 layers, and this model has \(layers); pass layers= (increasing, \(range)), e.g. pdrop:layers=\(slashList(example)),ratio=0.5")
            }
            throw PruningSpecError.invalidField(
                field: "layers", reason: "\(slashList(boundaries)) must increase \(range) for a \(layers)-layer model (a boundary needs a later layer to rank with)")
        }
        guard settings.ratio > 0 && settings.ratio <= 1 else {
            throw PruningSpecError.invalidField(field: "ratio", reason: "\(formatRatio(settings.ratio)) is outside (0, 1]")
        }
        if let keep = settings.keep, keep.count != boundaries.count || keep.contains(where: { $0 < 0 }) {
            throw PruningSpecError.invalidField(
                field: "keep", reason: "\(slashList(keep)) needs one count ≥ 0 per boundary (\(slashList(boundaries)))")
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
