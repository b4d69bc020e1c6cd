import Foundation
import YOPOCore

// FastV, all of it: settings, spec fields and their validation, the per-layer schedule, the budget
// candidates, the cost rule of the exact count, and the pruner the engine runs.

/// FastV (BASELINES.md §1): after layer K keep all text and `n − R·n` image tokens.
public struct FastVSettings: Sendable, Equatable {
    /// K, the filtering layer (1-based): layers `0..<K` see every token, layer K−1 ranks. 1 … L−1.
    public var k: Int
    /// R, the fraction of image tokens removed (FastV Eq. 5; n̂ = n − R·n may be fractional, as in its table).
    public var removalRatio: Double?
    /// Image tokens kept after layer K (instead of R).
    public var keep: Int?

    /// FastV's default K = 2, R = 50%.
    public init(k: Int = 2, removalRatio: Double = 0.5) {
        self.k = k
        self.removalRatio = removalRatio
        self.keep = nil
    }

    /// Keep `keep` image tokens after layer K (166 / 98 / 30 = 192 / 128 / 64 equivalent tokens for K = 2).
    public init(k: Int, keep: Int) {
        self.k = k
        self.removalRatio = nil
        self.keep = keep
    }

    public var description: String {
        if let keep { return "fastv:k=\(k),keep=\(keep)" }
        return "fastv:k=\(k),r=\(formatRatio(removalRatio ?? 0.5))"
    }

    // MARK: fields and validation

    /// The fields of `fastv:` and what each allows.
    static let fields = [
        SpecField("k", "an integer ≥ 1 below the model's layer count (default 2)"),
        SpecField("r", "a number in [0, 1], the fraction of image tokens removed (default 0.5)"),
        SpecField("keep", "an integer ≥ 0, the image tokens kept (instead of r)")
    ]

    /// Reads the fields after `fastv:` (none: the defaults). Throws `PruningSpecError`.
    init(_ fields: SpecFields) throws {
        let k = try fields.integer("k") ?? 2
        if fields["r"] != nil && fields["keep"] != nil {
            throw PruningSpecError.invalidField(field: "r", reason: "give r or keep, not both")
        }
        if let keep = try fields.integer("keep") {
            self.init(k: k, keep: keep)
        } else {
            self.init(k: k, removalRatio: try fields.number("r") ?? 0.5)
        }
        try checkFields(fields)
    }

    /// The bounds that hold on any model; `written` (when parsed) shows values as the user wrote them.
    func checkFields(_ written: SpecFields? = nil) throws {
        func fail(_ key: String, _ problem: String) -> PruningSpecError { Self.fields.fail(key, problem) }
        if k < 0 { throw fail("k", "\(k) is negative") }
        if let keep, keep < 0 { throw fail("keep", "\(keep) is below 0") }
        if let r = removalRatio, !(r >= 0 && r <= 1) {
            throw fail("r", "\(written?["r"] ?? formatRatio(r)) is outside [0, 1]")
        }
    }

    /// Checks the settings against a decoder of `layers` layers: the one check `generate` (the
    /// pruner), `flops` (every convention and `full`) and `compare` share. Throws `PruningSpecError`
    /// for a model of fewer than 2 layers, K outside [1, layers − 1] (K = 0, random dropping, is not
    /// implemented), R outside [0, 1] or a negative keep.
    public func validate(layers: Int) throws {
        guard layers >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: description,
                reason: "FastV needs a model of at least 2 layers (it prunes after layer k and before the last), and this one has \(layers)"
            )
        }
        try checkFields()
        guard k >= 1 && k < layers else {
            let zero = k == 0 ? " (k=0, dropping before the first layer, is not implemented)" : ""
            throw PruningSpecError.invalidField(field: "k", reason: "\(k) is outside [1, \(layers - 1)] for a \(layers)-layer model\(zero)")
        }
    }

    // MARK: schedule and cost rules

    /// Image tokens kept out of `n` after layer K, as the engine keeps them: `keep` (at most n), else
    /// `round(n·(1 − R))`.
    public func keptCount(imageTokens n: Int) -> Int {
        if let keep { return min(keep, n) }
        return Int((Double(n) * (1 - (removalRatio ?? 0.5))).rounded(.toNearestOrEven))
    }

    /// Image tokens each decoder layer processes under the published conventions, for n image tokens
    /// and L layers: n before layer K, then `keep` (at most n) or n − R·n (fractional, as FastV's table).
    /// Throws `PruningSpecError` when the settings do not fit (`validate(layers:)`).
    public func imageTokens(perLayer layers: Int, imageTokens n: Int) throws -> [Double] {
        try validate(layers: layers)
        let after = keep.map { Double(min($0, n)) } ?? Double(n) - (removalRatio ?? 0.5) * Double(n)
        return (0..<layers).map { $0 < k ? Double(n) : after }
    }

    /// The exact count's rule (docs/FLOPS.md "Token-pruning baselines"): layer K−1 ranks the `v` image
    /// rows it sees; the ones it drops attend there but stop before o_proj and the FFN.
    func countRows(layer l: Int, visual v: inout Int, rows: inout BaselineRows, prompt: BaselinePrompt) {
        guard l == k - 1 else { return }
        let kept = min(v, keptCount(imageTokens: v))
        rows.stopped[l] = v - kept
        v = kept
    }
}

extension BudgetSolver {
    /// FastV's settings at a budget: K = 2 (K = 1 for a 2-layer decoder); the image tokens kept
    /// after layer K, 0…n.
    func fastVCandidates() throws -> [(spec: PruningSpec, detail: String)] {
        guard layers >= 2 else { throw BudgetError.unsupported("FastV needs a decoder of at least 2 layers") }
        let k = layers > 2 ? 2 : 1
        let n = layout.visualTokens(model.dimensions)
        return (0...n).map { keep in
            (.baseline(.fastV(FastVSettings(k: k, keep: keep))), "K \(k); image tokens kept searched 0…\(n)")
        }
    }
}

/// FastV ("An Image is Worth 1/2 Tokens After Layer 2", BASELINES.md §1), as its HF LLaVA port
/// runs it: layers `0..<K` see every token; layer K−1's attention of the last prompt row, averaged
/// over heads, ranks the image tokens; layers `K...` run on all text and the top `round(n·(1−R))`
/// (or `keep`) image tokens, in their original order, with their ORIGINAL position ids. Pruned
/// once at prefill; later layers cache only the rows they process. The ranking row is read from the
/// attention the layer computes anyway; no full attention matrix is materialised. The dropped rows stop
/// right after layer K−1's attention (`rowsAfterAttention`): their o_proj and FFN there are never read.
public final class FastV: TokenPruner {
    public let settings: FastVSettings
    public let reindexesPositions = false
    public private(set) var keptIndices: [[Int]] = []
    /// Absolute position of the ranking query ("the last prompt token"); nil = the call's last row.
    /// Fixing it lets a recomputation over prompt + generated tokens make the same decision.
    public var queryPosition: Int?

    /// Throws `PruningSpecError` when the settings do not fit a `layers`-layer decoder
    /// (`FastVSettings.validate(layers:)`).
    public init(settings: FastVSettings, layers: Int) throws {
        try settings.validate(layers: layers)
        self.settings = settings
    }

    public var spec: String { settings.description }

    /// Image tokens kept out of `n` (`FastVSettings.keptCount(imageTokens:)`).
    public func keptCount(imageTokens n: Int) -> Int { settings.keptCount(imageTokens: n) }

    /// Layer K−1: its attention ranks the image rows and the rest stop inside it.
    public var firstPruningLayer: Int { settings.k - 1 }

    public func begin(inputs: Tensor, rows: RowState, counter: FLOPCounter?) { keptIndices = [] }

    public func captureRows(layer: Int, rows: RowState) -> [Int]? {
        layer == settings.k - 1 ? [queryPosition.flatMap { rows.positions.firstIndex(of: $0) } ?? rows.count - 1] : nil
    }

    /// Layer K−1's ranking: the last prompt row's head-averaged attention (captured) ranks the image
    /// rows; the rest of the image rows stop after this layer's attention (their K/V stay cached).
    public func rowsAfterAttention(_ layer: Int, rows: RowState, captured: Tensor?) -> [Int]? {
        guard layer == settings.k - 1, let captured else { return nil }
        let visualRows = rows.visualRows
        let scores = visualRows.map { captured[0, $0] }
        let chosen = topIndices(scores, count: keptCount(imageTokens: visualRows.count)).map { visualRows[$0] }
        keptIndices.append(chosen.map { rows.imageIndex[$0] })
        let kept = Set(chosen)
        return rows.positions.indices.filter { !rows.visual[$0] || kept.contains($0) }
    }

    /// FastV decides inside layer K−1 (`rowsAfterAttention`).
    public func afterLayer(
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [RotaryPosition], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision? { nil }
}
