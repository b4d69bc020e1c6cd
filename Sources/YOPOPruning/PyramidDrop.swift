import Foundation
import YOPOCore

// PyramidDrop, all of it: settings, spec fields and their validation, the per-layer schedule, the
// budget candidates, the cost rule of the exact count, and the pruner the engine runs.

/// PyramidDrop (BASELINES.md §2): after each boundary layer keep `ratio` of the remaining image tokens.
public struct PyramidDropSettings: Sendable, Equatable {
    /// Boundaries, 1-based "after layer b" (= the 0-based layer where the next stage starts): [8, 16, 24].
    public var layers: [Int]
    /// λ, the fraction kept at each boundary (0.5: 576 → 288 → 144 → 72).
    public var ratio: Double
    /// Explicit image tokens kept after each boundary (instead of λ), e.g. [288, 144, 72].
    public var keep: [Int]?

    /// The paper's boundaries for a 32-layer decoder.
    public static let defaultLayers = [8, 16, 24]

    public init(layers: [Int] = PyramidDropSettings.defaultLayers, ratio: Double = 0.5) {
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

    public var description: String {
        let boundaries = "pdrop:layers=\(slashList(layers))"
        if let keep { return boundaries + ",keep=\(slashList(keep))" }
        return boundaries + ",ratio=\(formatRatio(ratio))"
    }

    // MARK: fields and validation

    /// The fields of `pdrop:` and what each allows.
    static let fields = [
        SpecField("layers", "increasing integers ≥ 1 below the model's layer count, separated by / (default \(slashList(defaultLayers)))"),
        SpecField("ratio", "a number in (0, 1], the fraction kept at each boundary (default 0.5)"),
        SpecField("keep", "integers ≥ 0 separated by /, the image tokens kept after each boundary (instead of ratio)")
    ]

    /// Reads the fields after `pdrop:` (none: the defaults). Throws `PruningSpecError`.
    init(_ fields: SpecFields) throws {
        let layers = try fields.list("layers") ?? Self.defaultLayers
        if let keep = try fields.list("keep") {
            guard fields["ratio"] == nil else {
                throw PruningSpecError.invalidField(field: "ratio", reason: "give ratio or keep, not both")
            }
            self.init(layers: layers, keep: keep)
        } else {
            self.init(layers: layers, ratio: try fields.number("ratio") ?? 0.5)
        }
        try checkFields(fields)
    }

    /// The bounds that hold on any model; `written` (when parsed) shows values as the user wrote them.
    func checkFields(_ written: SpecFields? = nil) throws {
        func fail(_ key: String, _ problem: String) -> PruningSpecError { Self.fields.fail(key, problem) }
        if let first = layers.first, first < 1 { throw fail("layers", "\(slashList(layers)) starts below 1") }
        guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("layers", "\(slashList(layers)) does not increase")
        }
        if let keep {
            if let negative = keep.first(where: { $0 < 0 }) { throw fail("keep", "\(negative) is below 0") }
            guard keep.count == layers.count else {
                throw PruningSpecError.invalidField(
                    field: "keep",
                    reason:
                        "\(keep.count) count\(keep.count == 1 ? "" : "s") (\(slashList(keep))) for \(layers.count) boundar\(layers.count == 1 ? "y" : "ies") (\(slashList(layers))); give one count ≥ 0 per boundary"
                )
            }
        } else if !(ratio > 0 && ratio <= 1) {
            throw fail("ratio", "\(written?["ratio"] ?? formatRatio(ratio)) is outside (0, 1]")
        }
    }

    /// Checks the settings against a decoder of `layers` layers: the one check `generate` (the
    /// pruner), `flops` (every convention and `full`) and `compare` share. Throws `PruningSpecError`
    /// for boundaries that are not increasing within [1, layers − 1] (a boundary needs a next layer to
    /// rank with; `.doesNotFit` for the default 8/16/24 on a shallower model), λ outside (0, 1] or a
    /// keep list of another length.
    public func validate(layers count: Int) throws {
        guard count >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: description,
                reason:
                    "PyramidDrop needs a model of at least 2 layers (a boundary needs a later layer to rank with), and this one has \(count)"
            )
        }
        try checkFields()
        guard let first = layers.first, let last = layers.last, first >= 1, last <= count - 1 else {
            let range = "within [1, \(count - 1)]"
            if layers == Self.defaultLayers {
                let example = Self.scaledBoundaries(Self.defaultLayers.map(Double.init), layers: count)
                throw PruningSpecError.doesNotFit(
                    spec: description,
                    reason:
                        "its boundaries \(slashList(layers)) (the default) need at least \(Self.defaultLayers.last! + 1) layers, and this model has \(count); pass layers= (increasing, \(range)), e.g. pdrop:layers=\(slashList(example)),ratio=0.5"
                )
            }
            throw PruningSpecError.invalidField(
                field: "layers",
                reason:
                    "\(slashList(layers)) must increase \(range) for a \(count)-layer model (a boundary needs a later layer to rank with)")
        }
    }

    // MARK: schedule and cost rules

    /// Image tokens kept after boundary `stage` (0-based) out of the original `n`:
    /// `keep[stage]`, else `int(n · λ^(stage+1))` (the code's `int()`).
    public func keptCount(imageTokens n: Int, boundary stage: Int) -> Int {
        if let keep { return keep[stage] }
        return Int((Double(n) * pow(ratio, Double(stage + 1))).rounded(.down))
    }

    /// Image tokens each decoder layer processes under the published conventions: stage i keeps
    /// `int(n · λ^i)` (the code's `int()`), never more than the stage before.
    /// Throws `PruningSpecError` when the settings do not fit (`validate(layers:)`).
    public func imageTokens(perLayer count: Int, imageTokens n: Int) throws -> [Double] {
        try validate(layers: count)
        // Each stage keeps from the tokens still present.
        var perStage = [Double(n)]
        for stage in 0..<layers.count { perStage.append(min(perStage.last!, Double(keptCount(imageTokens: n, boundary: stage)))) }
        return (0..<count).map { l in perStage[layers.filter { $0 <= l }.count] }
    }

    /// The exact count's rule (docs/FLOPS.md "Token-pruning baselines"): after a boundary layer the
    /// next layer's attention of the last prompt row ranks every current row (`rows.ranking`), and the
    /// image rows drop to the stage's count out of the prompt's `n`.
    func countRows(layer l: Int, visual v: inout Int, rows: inout BaselineRows, prompt: BaselinePrompt) {
        guard let stage = layers.firstIndex(of: l + 1) else { return }
        rows.ranking[l] = prompt.system + v + prompt.text
        v = min(v, max(0, keptCount(imageTokens: prompt.imageTokens, boundary: stage)))
    }

    /// Boundaries `b` (given for 32 layers) scaled to L: round(b·L/32), clamped to [1, L−1], de-duplicated.
    static func scaledBoundaries(_ boundaries: [Double], layers: Int, base: Double = 32) -> [Int] {
        var out: [Int] = []
        for b in boundaries {
            let l = min(max(Int((b * Double(layers) / base).rounded()), 1), layers - 1)
            if out.last != l { out.append(l) }
        }
        return out
    }
}

extension BudgetSolver {
    /// PyramidDrop's settings at a budget: the default boundaries scaled to L ([L/4, L/2, 3L/4],
    /// rounded, de-duplicated, within [1, L−1]) and, after them, the derived sets of BASELINES.md §2.2
    /// ([3, 11, 19], [2, 4, 10], [2, 6, 12], scaled to L); each set with λ on a 0.001 grid, ascending,
    /// limited to values that leave at least one image token in the last stage (with none left the
    /// later stages withdraw the image, VTW, which is no longer a pyramid).
    func pyramidDropCandidates() throws -> (
        defaults: [(spec: PruningSpec, detail: String)], derived: [(spec: PruningSpec, detail: String)]
    ) {
        guard layers >= 2 else { throw BudgetError.unsupported("PyramidDrop needs a decoder of at least 2 layers") }
        let n = Double(layout.visualTokens(model.dimensions))
        func grid(_ boundaries: [Int], _ origin: String) -> [(spec: PruningSpec, detail: String)] {
            let stages = Double(boundaries.count)
            let name = slashList(boundaries)
            return (1...1000).compactMap { i in
                let ratio = Double(i) / 1000
                // At least one image token left in the last stage.
                guard (n * pow(ratio, stages)).rounded(.down) >= 1 else { return nil }
                return (
                    .baseline(.pyramidDrop(PyramidDropSettings(layers: boundaries, ratio: ratio))),
                    "boundaries \(name) (\(origin)); λ searched on a 0.001 grid"
                )
            }
        }
        let defaults = PyramidDropSettings.scaledBoundaries(PyramidDropSettings.defaultLayers.map(Double.init), layers: layers)
        var derived: [[Int]] = []
        for set in [[3.0, 11, 19], [2, 4, 10], [2, 6, 12]] {
            let scaled = PyramidDropSettings.scaledBoundaries(set, layers: layers)
            if scaled != defaults && !derived.contains(scaled) { derived.append(scaled) }
        }
        return (grid(defaults, "L/4, L/2, 3L/4"), derived.flatMap { grid($0, "BASELINES.md §2.2, derived") })
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

    /// Throws `PruningSpecError` when the settings do not fit a `layers`-layer decoder
    /// (`PyramidDropSettings.validate(layers:)`).
    public init(settings: PyramidDropSettings, layers: Int) throws {
        try settings.validate(layers: layers)
        self.settings = settings
    }

    public var spec: String { settings.description }

    /// Image tokens kept at boundary `stage` (0-based) out of the prompt's `n`: `keep[stage]`, else `int(n·λ^(stage+1))`.
    public func keptCount(imageTokens n: Int, boundary stage: Int) -> Int {
        settings.keptCount(imageTokens: n, boundary: stage)
    }

    /// The first boundary: the decision after the layer before it ranks by the boundary layer's attention.
    public var firstPruningLayer: Int { settings.layers.min() ?? Int.max }

    public func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?) {
        keptIndices = []
        imageTokens = rows.visualRows.count
    }

    public func captureRows(layer: Int, rows: RowState) -> [Int]? { nil }

    public func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [RotaryPosition], captured: Tensor?,
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
