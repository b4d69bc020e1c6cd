import Foundation
import YOPOCore

/// FastV (BASELINES.md §1): after layer K keep all text and `n − R·n` image tokens.
public struct FastVSettings: Sendable, Equatable {
    /// K, the filtering layer (1-based): layers `0..<K` see every token. 0 = prune before layer 0.
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

    /// Image tokens each decoder layer processes, for n image tokens and L layers.
    /// Throws `FLOPsError.invalidSettings` when K, R or the kept count is out of range.
    public func imageTokens(perLayer layers: Int, imageTokens n: Int) throws -> [Double] {
        guard k >= 0 && k <= layers else { throw FLOPsError.invalidSettings("fastv k=\(k) is outside [0, \(layers)]") }
        let after: Double
        if let keep {
            guard keep >= 0 && keep <= n else { throw FLOPsError.invalidSettings("fastv keep=\(keep) is outside [0, \(n)]") }
            after = Double(keep)
        } else {
            let r = removalRatio ?? 0.5
            guard r >= 0 && r <= 1 else { throw FLOPsError.invalidSettings("fastv r=\(r) is outside [0, 1]") }
            after = Double(n) - r * Double(n)
        }
        return (0..<layers).map { $0 < k ? Double(n) : after }
    }

    public var description: String {
        if let keep { return "fastv:k=\(k),keep=\(keep)" }
        return "fastv:k=\(k),r=\(formatRatio(removalRatio ?? 0.5))"
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

    /// Throws `PruningSpecError` for a model of fewer than 2 layers, K outside [1, layers − 1]
    /// (K = 0, random dropping, is not implemented), R outside [0, 1] or a negative keep.
    public init(settings: FastVSettings, layers: Int) throws {
        guard layers >= 2 else {
            throw PruningSpecError.doesNotFit(
                spec: settings.description, reason: "FastV needs a model of at least 2 layers (it prunes after layer k and before the last), and this one has \(layers)")
        }
        guard settings.k >= 1 && settings.k < layers else {
            let zero = settings.k == 0 ? " (k=0, dropping before the first layer, is not implemented)" : ""
            throw PruningSpecError.invalidField(
                field: "k", reason: "\(settings.k) is outside [1, \(layers - 1)] for a \(layers)-layer model\(zero)")
        }
        if let r = settings.removalRatio, !(r >= 0 && r <= 1) {
            throw PruningSpecError.invalidField(field: "r", reason: "\(formatRatio(r)) is outside [0, 1]")
        }
        if let keep = settings.keep, keep < 0 {
            throw PruningSpecError.invalidField(field: "keep", reason: "\(keep) is negative; allowed: an integer ≥ 0")
        }
        self.settings = settings
    }

    public var spec: String { settings.description }

    /// Image tokens kept out of `n`.
    public func keptCount(imageTokens n: Int) -> Int {
        if let keep = settings.keep { return min(keep, n) }
        return Int((Double(n) * (1 - (settings.removalRatio ?? 0.5))).rounded(.toNearestOrEven))
    }

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
        _ layer: Int, hidden: Tensor, rows: RowState, ropePositions: [Int], captured: Tensor?,
        probe: DecoderProbe, counter: FLOPCounter?
    ) -> PruneDecision? { nil }
}
