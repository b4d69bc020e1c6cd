import Foundation
import YOPOCore

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

    /// The v1.5 code's schedule for "Retain N": 192 → [300, 200, 110], 128 → [303, 110, 36],
    /// 64 → [66, 30, 17], at layers [2, 6, 15]. Throws `FLOPsError.invalidSettings` for other N.
    public init(tokens: Int) throws {
        let schedules: [Int: [Int]] = [192: [300, 200, 110], 128: [303, 110, 36], 64: [66, 30, 17]]
        guard let keep = schedules[tokens] else {
            throw FLOPsError.invalidSettings("sparsevlm tokens=\(tokens) has no v1.5 schedule (192, 128, 64)")
        }
        self.init(layers: [2, 6, 15], keep: keep)
    }

    /// Image tokens each decoder layer processes (a kept count above the tokens left is clamped).
    /// Throws `FLOPsError.invalidSettings` for unordered or out-of-range layers or mismatched lists.
    public func imageTokens(perLayer count: Int, imageTokens n: Int) throws -> [Double] {
        guard !layers.isEmpty, layers.count == keep.count else {
            throw FLOPsError.invalidSettings("sparsevlm needs one keep count per layer (layers \(layers), keep \(keep))")
        }
        guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }), let first = layers.first, let last = layers.last,
            first >= 0, last < count
        else {
            throw FLOPsError.invalidSettings("sparsevlm layers \(layers) must increase within [0, \(count - 1)]")
        }
        guard keep.allSatisfy({ $0 >= 0 }) else { throw FLOPsError.invalidSettings("sparsevlm keep \(keep) must be ≥ 0") }
        var result: [Double] = []
        var current = n
        for l in 0..<count {
            result.append(Double(current))
            if let i = layers.firstIndex(of: l) { current = min(current, keep[i]) }
        }
        return result
    }

    public var description: String {
        "sparsevlm:layers=\(layers.map(String.init).joined(separator: "/")),keep=\(keep.map(String.init).joined(separator: "/"))"
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

    /// Throws `PruningSpecError` for layers outside [0, layers − 2] (`.doesNotFit` for the v1.5
    /// schedules' 2/6/15 on a shallower model, naming the fields to pass), unordered layers, keep
    /// lists of another length or negative counts.
    public init(settings: SparseVLMSettings, layers: Int) throws {
        let spec = Self.specText(settings)
        guard layers >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: spec, reason: "SparseVLM needs a model of at least 2 layers (a pruning layer needs a later layer), and this one has \(layers)")
        }
        guard !settings.layers.isEmpty, settings.layers.count == settings.keep.count else {
            throw PruningSpecError.invalidField(
                field: "keep", reason: "\(settings.keep.count) counts for \(settings.layers.count) pruning layers (\(slashList(settings.layers))); give one per layer")
        }
        if let negative = settings.keep.first(where: { $0 < 0 }) {
            throw PruningSpecError.invalidField(field: "keep", reason: "\(negative) is negative; allowed: integers ≥ 0")
        }
        guard zip(settings.layers, settings.layers.dropFirst()).allSatisfy({ $0 < $1 }),
            settings.layers.first! >= 0, settings.layers.last! <= layers - 2
        else {
            let range = "within [0, \(layers - 2)]"
            if spec.hasPrefix("sparsevlm:tokens=") {
                let example = BudgetSolver.scaledSchedule(keep: settings.keep, layers: layers)
                throw PruningSpecError.doesNotFit(
                    spec: spec,
                    reason: "it prunes after layers 2/6/15 (the v1.5 schedule), which needs at least 17 layers, and this model has \(layers); pass layers= (increasing, \(range)) and keep= (one count per layer) instead, e.g. sparsevlm:layers=\(slashList(example.layers)),keep=\(slashList(example.keep))")
            }
            throw PruningSpecError.invalidField(
                field: "layers", reason: "\(slashList(settings.layers)) must increase \(range) for a \(layers)-layer model (a pruning layer needs a later layer)")
        }
        self.settings = settings
    }

    public var spec: String { Self.specText(settings) }

    /// `sparsevlm:tokens=192` for a v1.5 schedule, else `sparsevlm:layers=…,keep=…`.
    static func specText(_ settings: SparseVLMSettings) -> String {
        let schedules: [[Int]: Int] = [[300, 200, 110]: 192, [303, 110, 36]: 128, [66, 30, 17]: 64]
        if settings.layers == [2, 6, 15], let tokens = schedules[settings.keep] { return "sparsevlm:tokens=\(tokens)" }
        return "sparsevlm:layers=\(settings.layers.map(String.init).joined(separator: "/")),keep=\(settings.keep.map(String.init).joined(separator: "/"))"
    }

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
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [Int], captured: Tensor?,
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
