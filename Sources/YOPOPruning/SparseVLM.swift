import Foundation
import YOPOCore

// SparseVLM, all of it: settings, spec fields and their validation, the v1.5 schedules (written
// once, here), the per-layer schedule, the budget candidates, the cost rule of the exact count, and
// the pruner the engine runs.

/// SparseVLM (BASELINES.md §3): image tokens kept after each pruning layer (v1.5 fixed schedules).
/// Recycled cluster tokens are not added (give them in `keep` if wanted).
public struct SparseVLMSettings: Sendable, Equatable {
    /// Pruning layers, 0-based, on that layer's output: [2, 6, 15].
    public var layers: [Int]
    /// Image tokens kept after each pruning layer.
    public var keep: [Int]

    public init(layers: [Int], keep: [Int]) {
        self.layers = layers
        self.keep = keep
    }

    /// The v1.5 code's pruning layers, for a 32-layer decoder.
    public static let v15Layers = [2, 6, 15]
    /// The v1.5 code's schedules, "Retain N" → image tokens kept at `v15Layers`, by N descending.
    public static let v15Schedules: [(tokens: Int, keep: [Int])] = [
        (192, [300, 200, 110]), (128, [303, 110, 36]), (64, [66, 30, 17])
    ]

    /// The v1.5 code's schedule for "Retain N" (`v15Schedules`): 192 → [300, 200, 110],
    /// 128 → [303, 110, 36], 64 → [66, 30, 17], at layers [2, 6, 15].
    /// Throws `PruningSpecError.invalidField` (tokens) for other N.
    public init(tokens: Int) throws {
        guard let schedule = Self.v15Schedules.first(where: { $0.tokens == tokens }) else {
            throw Self.fields.fail("tokens", "\(tokens) has no v1.5 schedule")
        }
        self.init(layers: Self.v15Layers, keep: schedule.keep)
    }

    /// N when these settings are the v1.5 schedule "Retain N", else nil.
    public var v15Tokens: Int? {
        guard layers == Self.v15Layers else { return nil }
        return Self.v15Schedules.first { $0.keep == keep }?.tokens
    }

    public var description: String { "sparsevlm:layers=\(slashList(layers)),keep=\(slashList(keep))" }

    /// `sparsevlm:tokens=192` for a v1.5 schedule, else `description`.
    public var shortDescription: String { v15Tokens.map { "sparsevlm:tokens=\($0)" } ?? description }

    /// `192, 128 or 64`.
    static var v15TokensText: String { orList(v15Schedules.map(\.tokens)) }

    // MARK: fields and validation

    /// The fields of `sparsevlm:` and what each allows.
    static let fields = [
        SpecField("tokens", "\(v15TokensText) (the v1.5 schedules)"),
        SpecField("layers", "increasing integers ≥ 0 separated by /, at most the model's layer count − 2, with keep="),
        SpecField("keep", "integers ≥ 0 separated by /, one per pruning layer, with layers=")
    ]

    /// Reads the fields after `sparsevlm:` (none: `tokens=192`). Throws `PruningSpecError`.
    init(_ fields: SpecFields) throws {
        if let tokens = try fields.integer("tokens") {
            guard fields["layers"] == nil && fields["keep"] == nil else {
                throw PruningSpecError.invalidField(field: "tokens", reason: "give tokens or layers + keep, not both")
            }
            try self.init(tokens: tokens)
            return
        }
        let example = "e.g. sparsevlm:layers=\(slashList(Self.v15Layers)),keep=\(slashList(Self.v15Schedules[0].keep))"
        switch (try fields.list("layers"), try fields.list("keep")) {
        case (nil, nil): try self.init(tokens: Self.v15Schedules[0].tokens)
        case (_?, nil):
            throw PruningSpecError.invalidField(
                field: "keep", reason: "missing: layers= needs keep= with one count per pruning layer (\(example))")
        case (nil, _?):
            throw PruningSpecError.invalidField(
                field: "layers", reason: "missing: keep= needs layers= with one pruning layer per count (\(example))")
        case (let layers?, let keep?):
            self.init(layers: layers, keep: keep)
            try checkFields()
        }
    }

    /// The bounds that hold on any model.
    func checkFields() throws {
        func fail(_ key: String, _ problem: String) -> PruningSpecError { Self.fields.fail(key, problem) }
        guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("layers", "\(slashList(layers)) does not increase")
        }
        if let negative = layers.first(where: { $0 < 0 }) { throw fail("layers", "\(negative) is below 0") }
        if let negative = keep.first(where: { $0 < 0 }) { throw fail("keep", "\(negative) is below 0") }
        guard layers.count == keep.count else {
            throw PruningSpecError.invalidField(
                field: "keep",
                reason:
                    "\(keep.count) count\(keep.count == 1 ? "" : "s") (\(slashList(keep))) for \(layers.count) pruning layer\(layers.count == 1 ? "" : "s") (\(slashList(layers))); give one count ≥ 0 per layer"
            )
        }
    }

    /// Checks the settings against a decoder of `layers` layers: the one check `generate` (the
    /// pruner), `flops` (every convention and `full`) and `compare` share. Throws `PruningSpecError`
    /// for layers outside [0, layers − 2] (`.doesNotFit` for a v1.5 schedule's 2/6/15 on a shallower
    /// model, naming the fields to pass), unordered layers, keep lists of another length or negative
    /// counts.
    public func validate(layers count: Int) throws {
        guard count >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: shortDescription,
                reason: "SparseVLM needs a model of at least 2 layers (a pruning layer needs a later layer), and this one has \(count)")
        }
        try checkFields()
        guard let first = layers.first, let last = layers.last, first >= 0, last <= count - 2 else {
            let range = "within [0, \(count - 2)]"
            if v15Tokens != nil {
                let example = Self.scaledV15Schedule(keep: keep, layers: count)
                throw PruningSpecError.doesNotFit(
                    spec: shortDescription,
                    reason:
                        "it prunes after layers \(slashList(layers)) (the v1.5 schedule), which needs at least \(layers.last! + 2) layers, and this model has \(count); pass layers= (increasing, \(range)) and keep= (one count per layer) instead, e.g. sparsevlm:layers=\(slashList(example.layers)),keep=\(slashList(example.keep))"
                )
            }
            throw PruningSpecError.invalidField(
                field: "layers",
                reason: "\(slashList(layers)) must increase \(range) for a \(count)-layer model (a pruning layer needs a later layer)")
        }
    }

    // MARK: schedule and cost rules

    /// Image tokens each decoder layer processes under the published conventions (a kept count above
    /// the tokens left is clamped). Throws `PruningSpecError` when the settings do not fit
    /// (`validate(layers:)`).
    public func imageTokens(perLayer count: Int, imageTokens n: Int) throws -> [Double] {
        try validate(layers: count)
        var result: [Double] = []
        var current = n
        for l in 0..<count {
            result.append(Double(current))
            if let i = layers.firstIndex(of: l) { current = min(current, keep[i]) }
        }
        return result
    }

    /// The exact count's rule (docs/FLOPS.md "Token-pruning baselines"). The raters are the text rows
    /// after the image; without them SparseVLM never prunes. With them: the rater product
    /// `[n, d]·[d, t]` at the start; at each pruning layer the image rows drop to `keep` (at most the
    /// rows left), the top 30% of the deleted ones are clustered (when at least 2) and their centres
    /// recycled. Recycled rows with no kept image row to follow go first, before the system rows.
    func countRows(layer l: Int, visual v: inout Int, rows: inout BaselineRows, prompt: BaselinePrompt) {
        guard prompt.imageTokens > 0 && prompt.text > 0 else { return }
        if l == 0 { rows.rater = (prompt.imageTokens, prompt.text) }
        guard let stage = layers.firstIndex(of: l) else { return }
        let kept = min(keep[stage], v)
        let m = SparseVLM.clusteredCount(deleted: v - kept)
        let recycled = m >= 2 ? SparseVLM.recycledCount(clustered: m) : 0
        if m >= 2 { rows.clustered[l] = m }
        // No kept image row to insert after: the recycled rows go first.
        if kept == 0 && recycled > 0 && prompt.system > 0 { rows.recycledFirst = true }
        v = kept + recycled
    }

    /// The v1.5 pruning layers [2, 6, 15] and a schedule's keep counts scaled to L: round(l·L/32),
    /// clamped to [0, L−2]; layers that collide merge into one pruning point keeping the later,
    /// smaller count.
    static func scaledV15Schedule(keep: [Int], layers: Int) -> (layers: [Int], keep: [Int]) {
        var outLayers: [Int] = [], outKeep: [Int] = []
        for (l, k) in zip(v15Layers, keep) {
            let scaled = min(max(Int((Double(l) * Double(layers) / 32).rounded()), 0), layers - 2)
            if outLayers.last == scaled {
                outKeep[outKeep.count - 1] = k
            } else {
                outLayers.append(scaled)
                outKeep.append(k)
            }
        }
        return (outLayers, outKeep)
    }
}

extension BudgetSolver {
    /// SparseVLM's settings at a budget: its v1.5 schedules "retain 64 / 128 / 192", scaled to L
    /// (`SparseVLMSettings.scaledV15Schedule`).
    func sparseVLMCandidates() throws -> [(spec: PruningSpec, detail: String)] {
        guard layers >= 2 else { throw BudgetError.unsupported("SparseVLM needs a decoder of at least 2 layers") }
        return SparseVLMSettings.v15Schedules.sorted { $0.tokens < $1.tokens }.map { tokens, keep in
            let s = SparseVLMSettings.scaledV15Schedule(keep: keep, layers: layers)
            return (
                .baseline(.sparseVLM(SparseVLMSettings(layers: s.layers, keep: s.keep))),
                "v1.5 schedule retain \(tokens)"
            )
        }
    }
}

/// SparseVLM v1.5 (BASELINES.md §3), text-guided: raters are the text tokens after the image whose
/// relevance to the image (softmax over text of `H_v·H_qᵀ` from the input embeddings, averaged over
/// visual rows) is at least the mean. On the output of 0-based layers [2, 6, 15] the image tokens are
/// scored by the raters' head-averaged attention and the top `keep[i]` kept (v1.5 fixed schedules:
/// 192 → 300/200/110, 128 → 303/110/36, 64 → 66/30/17). Recycling: the top 30% of the deleted tokens
/// by score are clustered by DPC-kNN (k = min(5, m − 1); ρ = exp(−mean squared kNN distance);
/// δ = distance to the nearest denser token; ceil(m/10) centres by ρ·δ; nearest-centre assignment)
/// and each cluster's MEAN joins the sequence right after the kept image tokens. Positions are
/// re-indexed contiguously after each prune. Where the paper and the code differ we follow the code
/// (keep counts instead of rank-based deletion; mean, L2 assignment instead of sum, cosine).
public final class SparseVLM: TokenPruner {
    public let settings: SparseVLMSettings
    public let reindexesPositions = true
    public private(set) var keptIndices: [[Int]] = []
    /// Recycled tokens added at each prune.
    public private(set) var recycledCounts: [Int] = []
    /// Absolute positions of the rater tokens (chosen at `begin`).
    public private(set) var raterPositions: [Int] = []
    /// When set, `begin` uses these raters instead of choosing them (a recomputation over prompt +
    /// generated tokens then makes the same decisions).
    public var fixedRaterPositions: [Int]?

    /// Throws `PruningSpecError` when the settings do not fit a `layers`-layer decoder
    /// (`SparseVLMSettings.validate(layers:)`).
    public init(settings: SparseVLMSettings, layers: Int) throws {
        try settings.validate(layers: layers)
        self.settings = settings
    }

    /// `sparsevlm:tokens=192` for a v1.5 schedule, else `sparsevlm:layers=…,keep=…`.
    public var spec: String { settings.shortDescription }

    /// The first pruning layer: its raters' attention is captured there.
    public var firstPruningLayer: Int { settings.layers.min() ?? Int.max }

    public func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?) {
        keptIndices = []
        recycledCounts = []
        if let fixedRaterPositions {
            raterPositions = fixedRaterPositions
            return
        }
        let visualRows = rows.visualRows
        guard let lastImage = visualRows.last else {
            raterPositions = []
            return
        }
        let questionRows = Array((lastImage + 1)..<rows.count).filter { !rows.visual[$0] }
        guard !questionRows.isEmpty else {
            raterPositions = []
            return
        }
        let d = inputs.columns
        let hv = Tensor(zeros: [visualRows.count, d]), hq = Tensor(zeros: [questionRows.count, d])
        for (i, r) in visualRows.enumerated() { (hv.data + i * d).update(from: inputs.data + r * d, count: d) }
        for (i, r) in questionRows.enumerated() { (hq.data + i * d).update(from: inputs.data + r * d, count: d) }
        let relevance = linear(hv, hq)  // [n, Tq] = H_v · H_qᵀ
        counter?.addProduct(rows: visualRows.count, k: d, n: questionRows.count, .visual)
        var mean = [Float](repeating: 0, count: questionRows.count)
        for i in 0..<visualRows.count {
            let row = relevance.data + i * questionRows.count
            softmaxInPlace(row, count: questionRows.count)
            for j in 0..<questionRows.count { mean[j] += row[j] / Float(visualRows.count) }
        }
        let average = mean.reduce(0, +) / Float(mean.count)
        raterPositions = questionRows.indices.filter { mean[$0] >= average }.map { rows.positions[questionRows[$0]] }
    }

    public func captureRows(layer: Int, rows: RowState) -> [Int]? {
        guard settings.layers.contains(layer), !raterPositions.isEmpty else { return nil }
        let raters = Set(raterPositions)
        return rows.positions.indices.filter { !rows.visual[$0] && raters.contains(rows.positions[$0]) }
    }

    public func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [RotaryPosition], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision? {
        guard let stage = settings.layers.firstIndex(of: layer), let captured else { return nil }
        let visualRows = rows.visualRows
        let raterCount = captured.rows
        let scores = visualRows.map { r -> Float in
            var s: Float = 0
            for i in 0..<raterCount { s += captured[i, r] }
            return s / Float(raterCount)
        }
        let keepCount = min(settings.keep[stage], visualRows.count)
        let chosenLocal = topIndices(scores, count: keepCount)
        let chosen = chosenLocal.map { visualRows[$0] }
        let chosenSet = Set(chosenLocal)
        // Recycling: the top 30% of the deleted tokens by score, clustered.
        let deleted = visualRows.indices.filter { !chosenSet.contains($0) }
        let m = SparseVLM.clusteredCount(deleted: deleted.count)
        let selected = topIndices(deleted.map { scores[$0] }, count: m).map { visualRows[deleted[$0]] }
        let inserted = selected.count >= 2 ? SparseVLM.clusterMeans(hidden, rows: selected, layer: layer, counter: counter) : nil
        keptIndices.append(chosen.map { rows.imageIndex[$0] } + Array(repeating: -1, count: inserted?.rows ?? 0))
        recycledCounts.append(inserted?.rows ?? 0)
        let kept = Set(chosen)
        return PruneDecision(keep: rows.positions.indices.filter { !rows.visual[$0] || kept.contains($0) }, inserted: inserted)
    }

    /// Deleted tokens that are clustered for recycling: the top 30%, `int(0.3·deleted)` (none are
    /// recycled when this is below 2).
    public static func clusteredCount(deleted: Int) -> Int { Int(0.3 * Double(deleted)) }

    /// Recycled tokens (cluster centres) made from `m` clustered tokens: `ceil(m/10)`.
    public static func recycledCount(clustered m: Int) -> Int { Int((Double(m) / 10).rounded(.up)) }

    /// DPC-kNN clustering of `rows` of `hidden`; returns one mean row per cluster, ordered by the
    /// centre's row. `[ceil(m/10), hidden]`.
    static func clusterMeans(_ hidden: Tensor, rows: [Int], layer: Int, counter: FLOPCounter?) -> Tensor {
        let m = rows.count, d = hidden.columns
        var distance = [[Float]](repeating: [Float](repeating: 0, count: m), count: m)
        for i in 0..<m {
            for j in (i + 1)..<max(i + 1, m) {
                let a = hidden.data + rows[i] * d, b = hidden.data + rows[j] * d
                var s: Float = 0
                for c in 0..<d {
                    let t = a[c] - b[c]
                    s += t * t
                }
                distance[i][j] = s.squareRoot()
                distance[j][i] = distance[i][j]
            }
        }
        counter?.addProduct(rows: m, k: d, n: m, layer: layer, .visual)
        let k = min(5, m - 1)
        let density = (0..<m).map { i -> Float in
            let nearest = (0..<m).filter { $0 != i }.map { distance[i][$0] }.sorted().prefix(k)
            return exp(-nearest.reduce(0) { $0 + $1 * $1 } / Float(k))
        }
        func denser(_ j: Int, than i: Int) -> Bool { density[j] > density[i] || (density[j] == density[i] && j < i) }
        let delta = (0..<m).map { i -> Float in
            let higher = (0..<m).filter { denser($0, than: i) }
            if higher.isEmpty { return distance[i].max() ?? 0 }
            return higher.map { distance[i][$0] }.min()!
        }
        let centreCount = SparseVLM.recycledCount(clustered: m)
        let centres = topIndices((0..<m).map { density[$0] * delta[$0] }, count: centreCount)
        var members = [[Int]](repeating: [], count: centres.count)
        for i in 0..<m {
            var best = 0
            for c in 1..<centres.count where distance[i][centres[c]] < distance[i][centres[best]] { best = c }
            members[best].append(i)
        }
        let out = Tensor(zeros: [centres.count, d])
        for (c, group) in members.enumerated() {
            let dst = out.data + c * d
            for i in group {
                let src = hidden.data + rows[i] * d
                for x in 0..<d { dst[x] += src[x] }
            }
            for x in 0..<d { dst[x] /= Float(max(group.count, 1)) }
        }
        return out
    }
}
