import Foundation
import YOPOCore

// The published FLOPs conventions (docs/FLOPS.md): the papers' own ways of counting.
//
//   yopo       METHOD.md §5: 8nd² + 4n²d + 6ndm FLOPs per layer, LLM prefill, image tokens only.
//   pdrop      PyramidDrop: 4nd² + 2n²d + 3ndm multiply-adds (MACs), image tokens only (= yopo / 2).
//   fastv      FastV: 4nd² + 2n²d + 2ndm MACs (two-matrix FFN), system + image tokens, reported as the
//              per-layer average (total / L).
//   sparsevlm  SparseVLM v1.5/v2.0: 4nd² + 2n²d + 3ndm MACs over the whole sequence (system + image +
//              text).
//
// They are real-valued (fractional head counts, window means, FastV's fractional token counts) and
// are evaluated in Double. `full`, the engine's exact integer count, is in FullFLOPs.swift; the
// reports of both in FLOPsReports.swift.

// MARK: - Conventions and methods

/// How FLOPs are counted. The first four reproduce published tables; `full` is this engine's cost.
public enum FLOPsConvention: String, Sendable, Codable, CaseIterable {
    /// METHOD.md §5 (YOPO Table 2): 8nd² + 4n²d + 6ndm FLOPs per layer over image tokens, prefill.
    case yopo
    /// FastV Table 1: 4nd² + 2n²d + 2ndm MACs per layer over system + image tokens, reported per layer (total / L).
    case fastv
    /// PyramidDrop: 4nd² + 2n²d + 3ndm MACs per layer over image tokens, total.
    case pdrop
    /// SparseVLM (v1.5 / v2.0 code): 4nd² + 2n²d + 3ndm MACs per layer over the whole sequence, total.
    case sparsevlm
    /// This engine's executed FLOPs (docs/FLOPS.md): every matrix and attention product of the run.
    case full

    /// One line saying what is counted.
    public var summary: String {
        switch self {
        case .yopo: return "YOPO (METHOD.md §5): FLOPs = 2·MACs, 8nd² + 4n²d + 6ndm per layer, LLM prefill, image tokens only"
        case .fastv:
            return
                "FastV: MACs, 4nd² + 2n²d + 2ndm per layer (two-matrix FFN), LLM prefill, system + image tokens, reported per layer (total / L)"
        case .pdrop: return "PyramidDrop: MACs, 4nd² + 2n²d + 3ndm per layer, LLM prefill, image tokens only"
        case .sparsevlm: return "SparseVLM: MACs, 4nd² + 2n²d + 3ndm per layer, LLM prefill, whole sequence (system + image + text)"
        case .full: return "full (docs/FLOPS.md): FLOPs = 2·MACs of every matrix and attention product this engine executes"
        }
    }

    /// Whether the unit is multiply-adds (true) or FLOPs = 2 · MACs (false).
    public var countsMACs: Bool { self == .fastv || self == .pdrop || self == .sparsevlm }
    /// Matrices of the FFN the convention counts (FastV counts two).
    var ffnMatrices: Double { self == .fastv ? 2 : 3 }
    /// Whether tokens before the image are counted.
    var countsSystem: Bool { self == .fastv || self == .sparsevlm }
    /// Whether tokens after the image are counted.
    var countsText: Bool { self == .sparsevlm }
    /// Whether the published number is the per-layer average (FastV) rather than the total.
    public var reportsPerLayerAverage: Bool { self == .fastv }
}

/// What a published convention counts: the dense model, YOPO, or a token-pruning baseline.
public enum FLOPsMethod: Sendable, Equatable {
    case dense
    case yopo(YOPOCostProfile)
    case fastV(FastVSettings)
    case pyramidDrop(PyramidDropSettings)
    case sparseVLM(SparseVLMSettings)
}

// MARK: - Published conventions (real-valued)

/// A count under one of the published conventions (`yopo`, `fastv`, `pdrop`, `sparsevlm`).
/// Values are in the convention's unit: FLOPs for `yopo`, multiply-adds (MACs) for the others.
public struct ConventionFLOPs: Sendable, Equatable {
    /// One decoder layer's prefill work as the convention counts it.
    public struct Layer: Sendable, Equatable {
        public var layer: Int
        /// Tokens counted in this layer (image tokens, plus system/text tokens where the convention counts them).
        public var tokens: Double
        /// Image tokens among them.
        public var visualTokens: Double
        /// Heads doing visual work (YOPO; H otherwise, 0 in dropped layers).
        public var visualHeads: Double
        /// q, k, v, o.
        public var projections: Double
        /// QKᵀ and A·V.
        public var attention: Double
        /// The FFN (three matrices; two under FastV).
        public var ffn: Double
        public var total: Double { projections + attention + ffn }
    }

    public var convention: FLOPsConvention
    public var layers: [Layer]
    /// Σ over layers, in the convention's unit.
    public var total: Double
    /// The dense model's total under the same convention and layout.
    public var dense: Double
    /// `total / dense`.
    public var ratio: Double { dense == 0 ? 0 : total / dense }
    /// The number the paper prints, in `reportedScale` units: total (yopo, pdrop, sparsevlm) or total / L (fastv).
    public var reported: Double
    /// 1e12 (T) or 1e9 (B, FastV's per-layer average).
    public var reportedScale: Double
    /// `T FLOPs`, `T MACs`, `B MACs per layer`.
    public var reportedUnit: String
}

extension FLOPsModel {
    // MARK: published conventions

    /// Counts `method` under a published convention (`yopo`, `fastv`, `pdrop`, `sparsevlm`).
    /// Tokens: n = the layout's visual tokens; s = text before the first image; text = the rest
    /// (decode steps are not counted by any of them).
    /// Throws `FLOPsError.unsupported` for `full` (use `full(_:plan:mode:)`) and for a YOPO profile
    /// under `fastv`/`sparsevlm` (they count tokens, not heads); `PruningSpecError` for baseline
    /// settings that do not fit the decoder (the pruners' own check, `BaselineSpec.validate(layers:)`);
    /// `FLOPsError.invalidSettings` for an out-of-range YOPO profile, `.invalidLayout` for a bad layout.
    public func count(_ convention: FLOPsConvention, _ method: FLOPsMethod = .dense, layout: PromptLayout) throws -> ConventionFLOPs {
        guard convention != .full else {
            throw FLOPsError.unsupported("the full convention is an exact integer count; use full(_:plan:mode:)")
        }
        try layout.validate(dimensions)
        let dense = try layers(convention, .dense, layout: layout)
        let counted = method == .dense ? dense : try layers(convention, method, layout: layout)
        let total = counted.reduce(0) { $0 + $1.total }
        let L = Double(dimensions.text.numHiddenLayers)
        let scale = convention.reportsPerLayerAverage ? 1e9 : 1e12
        return ConventionFLOPs(
            convention: convention, layers: counted, total: total, dense: dense.reduce(0) { $0 + $1.total },
            reported: (convention.reportsPerLayerAverage ? total / L : total) / scale, reportedScale: scale,
            reportedUnit: convention.reportsPerLayerAverage ? "B MACs per layer" : (convention.countsMACs ? "T MACs" : "T FLOPs"))
    }

    private func layers(_ convention: FLOPsConvention, _ method: FLOPsMethod, layout: PromptLayout) throws -> [ConventionFLOPs.Layer] {
        let t = dimensions.text
        let L = t.numHiddenLayers, H = Double(t.numAttentionHeads)
        let d = Double(t.hiddenSize), qWidth = Double(t.numAttentionHeads * t.headDim)
        let kvWidth = Double(t.numKeyValueHeads * t.headDim), m = Double(t.intermediateSize)
        let n = layout.visualTokens(dimensions)
        let other = (convention.countsSystem ? Double(layout.systemTokens) : 0) + (convention.countsText ? Double(layout.textTokens) : 0)
        let unit: Double = convention.countsMACs ? 1 : 2
        let f = convention.ffnMatrices
        // MACs of N rows through q, k, v, o (4·N·d² without GQA) and of attention over `pairs` query-key pairs.
        func projections(_ rows: Double) -> Double { rows * (d * qWidth + 2 * d * kvWidth + qWidth * d) }
        func attention(_ pairs: Double) -> Double { 2 * pairs * qWidth }

        let schedule: [Double]
        switch method {
        case .dense: schedule = Array(repeating: Double(n), count: L)
        case .fastV(let s): schedule = try s.imageTokens(perLayer: L, imageTokens: n)
        case .pyramidDrop(let s): schedule = try s.imageTokens(perLayer: L, imageTokens: n)
        case .sparseVLM(let s): schedule = try s.imageTokens(perLayer: L, imageTokens: n)
        case .yopo(let p):
            guard convention == .yopo || convention == .pdrop else {
                throw FLOPsError.unsupported(
                    "the \(convention.rawValue) convention counts tokens, not heads or windows; count YOPO under yopo, pdrop or full")
            }
            guard p.keptLayers >= 0 && p.keptLayers <= L else {
                throw FLOPsError.invalidSettings("kept layers \(p.keptLayers) is outside [0, \(L)]")
            }
            guard p.keptHeads.count == L, p.keptHeads.allSatisfy({ $0 >= 0 && $0 <= H }) else {
                throw FLOPsError.invalidSettings("kept heads need \(L) entries within [0, \(t.numAttentionHeads)]")
            }
            guard p.visualFFNWidth >= 1 && p.visualFFNWidth <= t.intermediateSize else {
                throw FLOPsError.invalidSettings("visual FFN width \(p.visualFFNWidth) is outside [1, \(t.intermediateSize)]")
            }
            if let w = p.window {
                guard w >= 1 && w % 2 == 1 else { throw FLOPsError.invalidSettings("window \(w) must be odd and ≥ 1") }
                guard dimensions.vision.dropsCLS else {
                    throw FLOPsError.unsupported("a window needs the visual tokens to be the patch grid (this model keeps CLS)")
                }
            }
            // Σ_i k_i: in-window pairs of every image; n² (all visual pairs) without a window.
            let pairs =
                p.window == nil
                ? Double(n) * Double(n) : Double(layout.imageCount) * Double(layout.grid.windowPairs(window: p.window))
            return (0..<L).map { l in
                guard l < p.keptLayers else {
                    return .init(layer: l, tokens: 0, visualTokens: 0, visualHeads: 0, projections: 0, attention: 0, ffn: 0)
                }
                let share = p.keptHeads[l] / H
                return .init(
                    layer: l, tokens: Double(n), visualTokens: Double(n), visualHeads: p.keptHeads[l],
                    projections: unit * share * projections(Double(n)), attention: unit * share * attention(pairs),
                    ffn: unit * f * Double(n) * d * Double(p.visualFFNWidth))
            }
        }
        return schedule.enumerated().map { l, v in
            let tokens = v + other
            return .init(
                layer: l, tokens: tokens, visualTokens: v, visualHeads: H,
                projections: unit * projections(tokens), attention: unit * attention(tokens * tokens),
                ffn: unit * f * tokens * d * m)
        }
    }
}

extension FLOPsModel {
    /// Counts a pruning spec under a published convention (`yopo`, `fastv`, `pdrop`, `sparsevlm`):
    /// `none` is the dense count, a YOPO spec or preset is resolved against this model (its identity
    /// picks official masks; "actual-mask" profile), a baseline is counted by its schedule.
    /// Throws `PruningSpecError` when the spec does not fit the model, `FLOPsError.unsupported` for
    /// `full` and for YOPO under `fastv` / `sparsevlm` (they count tokens, not heads or windows).
    public func count(_ convention: FLOPsConvention, spec: PruningSpec, layout: PromptLayout) throws -> ConventionFLOPs {
        switch spec {
        case .none: return try count(convention, .dense, layout: layout)
        case .baseline(let b): return try count(convention, b.method, layout: layout)
        case .yopo, .preset:
            let plan = try spec.resolve(for: dimensions.identity)!
            return try count(convention, .yopo(YOPOCostProfile(plan: plan)), layout: layout)
        }
    }
}
