import Foundation
import YOPOCore
import YOPOEngine

// `full`: what this engine executes, exactly (integers), per docs/FLOPS.md "`full`": vision tower,
// projector, prefill, decode, LM head; keyed like the engine's `FLOPCounter`. Dense and YOPO runs,
// then the token-pruning baselines.

// MARK: - `full`: the engine's exact cost (integers)

/// What a counted product is, within its `FLOPKey`.
public enum FLOPComponent: String, Sendable, Codable, CaseIterable, Comparable {
    /// Vision tower patch embedding.
    case patchEmbedding = "patch_embedding"
    /// q, k, v, o (vision: q, k, v, out).
    case projections
    /// Scores and A·V.
    case attention
    /// SwiGLU gate, up, down (vision: fc1, fc2).
    case ffn
    /// The `mlp2x_gelu` projector.
    case projector
    /// The LM head.
    case lmHead = "lm_head"
    /// A token-pruning baseline's work to choose tokens (docs/FLOPS.md "Token-pruning baselines"):
    /// PyramidDrop's ranking (q of one row, k of every row, one score row per head), SparseVLM's rater
    /// relevance `H_v·H_qᵀ` and its DPC-kNN distances.
    case selection

    public static func < (a: FLOPComponent, b: FLOPComponent) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A `FLOPKey` refined by component.
public struct FLOPCell: Hashable, Sendable, Comparable {
    public var key: FLOPKey
    public var component: FLOPComponent

    public init(_ key: FLOPKey, _ component: FLOPComponent) {
        self.key = key
        self.component = component
    }

    public static func < (a: FLOPCell, b: FLOPCell) -> Bool { (a.key, a.component) < (b.key, b.component) }
}

/// Exact FLOPs (2 × multiply-adds) by stage × layer × token group × component.
public struct FLOPsBreakdown: Sendable, Equatable {
    public private(set) var cells: [FLOPCell: Int] = [:]

    public init() {}

    /// Adds `flops` to a cell (zero is not stored, as in `FLOPCounter`).
    public mutating func add(_ flops: Int, _ stage: FLOPStage, layer: Int? = nil, _ group: TokenGroup, _ component: FLOPComponent) {
        guard flops != 0 else { return }
        cells[FLOPCell(FLOPKey(stage, layer: layer, group), component), default: 0] += flops
    }

    /// Merges another breakdown into this one.
    public mutating func merge(_ other: FLOPsBreakdown) {
        for (cell, v) in other.cells { cells[cell, default: 0] += v }
    }

    /// Keyed exactly like `FLOPCounter.counts` (components summed).
    public var counts: [FLOPKey: Int] {
        var c: [FLOPKey: Int] = [:]
        for (cell, v) in cells { c[cell.key, default: 0] += v }
        return c
    }

    public var total: Int { cells.values.reduce(0, +) }

    /// Sum over the cells matching every given filter (nil = any).
    public func total(stage: FLOPStage? = nil, group: TokenGroup? = nil, component: FLOPComponent? = nil) -> Int {
        cells.reduce(0) { sum, item in
            let (cell, v) = item
            if let stage, cell.key.stage != stage { return sum }
            if let group, cell.key.group != group { return sum }
            if let component, cell.component != component { return sum }
            return sum + v
        }
    }

    /// Sum per decoder layer (cells with a layer only), optionally of one stage, group or component.
    public func perLayer(stage: FLOPStage? = nil, group: TokenGroup? = nil, component: FLOPComponent? = nil) -> [Int: Int] {
        var result: [Int: Int] = [:]
        for (cell, v) in cells {
            guard let layer = cell.key.layer else { continue }
            if let stage, cell.key.stage != stage { continue }
            if let group, cell.key.group != group { continue }
            if let component, cell.component != component { continue }
            result[layer, default: 0] += v
        }
        return result
    }
}

/// The `full` count of one run: prefill (vision, projector, decoder prefill and the LM head of the
/// last prompt row) and each decode step separately.
public struct FullFLOPs: Sendable, Equatable {
    public var layout: PromptLayout
    /// Stages `vision`, `projector`, `prefill`.
    public var prefill: FLOPsBreakdown
    /// Step j (stage `decode`): one text row after prompt + j cached positions, LM head included.
    public var decodeSteps: [FLOPsBreakdown]
    /// Everything merged.
    public var all: FLOPsBreakdown
    /// Token-pruning baselines: image rows (kept image tokens and recycled tokens) each decoder layer
    /// processes at prefill, and so stores for decode. Nil for dense and YOPO runs.
    public var visualRows: [Int]? = nil
    public var total: Int { all.total }
    /// Keyed exactly like the engine's `FLOPCounter.counts` after the whole run.
    public var counts: [FLOPKey: Int] { all.counts }
}

/// The FLOPs model of one architecture: the engine's exact cost (`full`, here) and the published
/// conventions (`count`, FLOPsConventions.swift).
public struct FLOPsModel: Sendable {
    public let dimensions: ModelDimensions

    /// Throws `FLOPsError.invalidDimensions` when the dimensions are unusable.
    public init(_ dimensions: ModelDimensions) throws {
        try dimensions.validate()
        self.dimensions = dimensions
    }

    /// Rows per attention block (docs/FLOPS.md): the engine's `attentionQueryBlock`.
    public static let queryBlock = attentionQueryBlock

    // MARK: full

    /// The engine's exact executed FLOPs for a run (docs/FLOPS.md "`full`"), dense or with a YOPO plan
    /// (token-pruning baselines: `full(_:baseline:)`).
    /// - Parameters:
    ///   - layout: the prompt (text runs, images on `layout.grid`) and the decode steps.
    ///   - plan: a plan resolved for this model's decoder shape; nil = dense.
    ///   - mode: `skip` counts the pruned work (docs/FLOPS.md "Pruned runs"); `simulate` does the dense work.
    /// Throws `FLOPsError.invalidLayout` for bad counts, `.unsupported` for a skip-mode plan over more
    /// than one image or a window with CLS kept, `.invalidSettings` for a plan of another shape.
    public func full(_ layout: PromptLayout, plan: YOPOPlan? = nil, mode: YOPOMode = .skip) throws -> FullFLOPs {
        let skip = try skipPlan(layout, plan: plan, mode: mode)
        var prefill = FLOPsBreakdown()
        for _ in 0..<layout.imageCount { addVision(&prefill, grid: layout.grid) }
        let groups = layout.rowGroups(dimensions)
        if let skip {
            addSkipPrefill(&prefill, layout: layout, plan: skip)
        } else {
            addDenseCall(&prefill, .prefill, groups: groups, cached: 0, images: layout.imageRowRanges(dimensions))
        }
        addLMHead(&prefill, .prefill)
        var steps: [FLOPsBreakdown] = []
        var all = prefill
        for j in 0..<layout.decodeSteps {
            let step = decode(j, layout: layout, plan: skip)
            all.merge(step)
            steps.append(step)
        }
        return FullFLOPs(layout: layout, prefill: prefill, decodeSteps: steps, all: all)
    }

    /// Decode step `j` alone (one text row after prompt + j cached positions, LM head included).
    /// Throws as `full(_:plan:mode:)`; `FLOPsError.invalidLayout` for j < 0.
    public func decodeStep(_ j: Int, layout: PromptLayout, plan: YOPOPlan? = nil, mode: YOPOMode = .skip) throws -> FLOPsBreakdown {
        guard j >= 0 else { throw FLOPsError.invalidLayout("decode step \(j) (must be ≥ 0)") }
        return decode(j, layout: layout, plan: try skipPlan(layout, plan: plan, mode: mode))
    }

    /// Validates and returns the plan when it changes the work (skip mode), nil for dense work.
    private func skipPlan(_ layout: PromptLayout, plan: YOPOPlan?, mode: YOPOMode) throws -> YOPOPlan? {
        try layout.validate(dimensions)
        // An upper bound of the run (all query-key pairs, every row dense) must fit in 64 bits.
        // Evaluated in Double (the validated sizes keep each factor small; their products need not be).
        let t = dimensions.text, v = dimensions.vision
        let merge = Double(v.mergedPatches.map { $0.spatialMergeSize * $0.spatialMergeSize } ?? 1)
        let N = Double(layout.grid.cells) * merge + 1, rows = Double(layout.promptTokens(dimensions)) + Double(layout.decodeSteps)
        let dv = merge * Double(v.hiddenSize), d = Double(t.hiddenSize)
        let patchValues = Double(v.mergedPatches?.patchDimension ?? 3 * v.patchSize * v.patchSize)
        let qWidth = Double(t.numAttentionHeads) * Double(t.headDim), kvWidth = Double(t.numKeyValueHeads) * Double(t.headDim)
        let vision =
            Double(layout.imageCount)
            * (2 * N * patchValues * dv
                + Double(v.layersComputed) * (8 * N * dv * (dv + Double(v.intermediateSize)) + 4 * N * N * dv)
                + 4 * N * (dv + d) * d)
        let rowProjections = 4 * d * qWidth + 4 * d * kvWidth, rowFFN = 6 * d * Double(t.intermediateSize)
        let decoder =
            Double(t.numHiddenLayers) * rows * (rowProjections + rowFFN + 4 * rows * qWidth)
            + 2 * rows * d * Double(t.vocabSize)
        // The baselines' selection work (rankings, SparseVLM's rater and clustering): at most
        // two more projections per row and layer, and 2·rows²·d.
        let selection = Double(t.numHiddenLayers) * rows * (2 * rowProjections + 2 * rows * d)
        guard vision + decoder + selection < 4e18 else {
            throw FLOPsError.invalidLayout("the run's FLOPs would exceed the 64-bit integer range")
        }
        guard let plan else { return nil }
        guard plan.shape == dimensions.decoderShape else {
            let s = plan.shape, m = dimensions.decoderShape
            throw FLOPsError.invalidSettings(
                "the plan is for \(s.numHiddenLayers) layers × \(s.numAttentionHeads) heads, FFN \(s.intermediateSize); the model has \(m.numHiddenLayers) × \(m.numAttentionHeads), FFN \(m.intermediateSize)"
            )
        }
        guard mode == .skip else { return nil }
        guard layout.imageCount <= 1 else {
            throw FLOPsError.unsupported("skip-mode counts cover one image per prompt (this layout has \(layout.imageCount))")
        }
        if plan.window != nil && !dimensions.vision.dropsCLS && layout.imageCount == 1 {
            throw FLOPsError.unsupported("a window needs the visual tokens to be the patch grid (this model keeps CLS)")
        }
        return plan
    }

    /// Vision tower and projector of one image on `grid` (N = cells + 1 tower tokens with CLS; a
    /// merging tower: `addMergingVision`).
    private func addVision(_ b: inout FLOPsBreakdown, grid: VisualGrid) {
        let v = dimensions.vision, d = dimensions.text.hiddenSize
        if let merged = v.mergedPatches { return addMergingVision(&b, grid: grid, merged) }
        let cells = grid.cells, N = cells + 1, dv = v.hiddenSize
        b.add(2 * cells * (3 * v.patchSize * v.patchSize) * dv, .vision, .visual, .patchEmbedding)
        for _ in 0..<v.layersComputed {
            b.add(2 * N * dv * dv * 4, .vision, .visual, .projections)
            b.add(2 * N * N * dv * 2, .vision, .visual, .attention)
            b.add(2 * N * dv * v.intermediateSize * 2, .vision, .visual, .ffn)
        }
        let n = cells + (v.dropsCLS ? 0 : 1)
        b.add(2 * n * dv * d + 2 * n * d * d, .projector, .visual, .projector)
    }

    /// A dynamic-resolution tower (Qwen2-VL, Qwen2.5-VL) on an image of `grid` LLM tokens, as
    /// `Qwen2VLVisionTower` executes it: N = m²·cells patch rows through the patch embedding (one
    /// `[N, patch dimension]·[patch dimension, dv]` product), every block's qkv and out projections,
    /// attention within the image or its windows, and the MLP (two or three matrices); then the merger
    /// `[cells, m²·dv]·[m²·dv, m²·dv]` and `[cells, m²·dv]·[m²·dv, d]`, all in the `vision` stage.
    private func addMergingVision(_ b: inout FLOPsBreakdown, grid: VisualGrid, _ merged: ModelDimensions.MergedPatches) {
        let v = dimensions.vision, d = dimensions.text.hiddenSize, dv = v.hiddenSize
        let unit = merged.spatialMergeSize * merged.spatialMergeSize, N = grid.cells * unit
        b.add(2 * N * merged.patchDimension * dv, .vision, .visual, .patchEmbedding)
        let matrices = merged.swiGLU ? 3 : 2
        for block in 0..<v.layersComputed {
            let pairs = merged.attentionPairs(grid: grid, fullAttention: merged.fullAttentionBlocks.contains(block))
            b.add(2 * N * dv * dv * 4, .vision, .visual, .projections)
            b.add(2 * pairs * dv * 2, .vision, .visual, .attention)
            b.add(2 * N * dv * v.intermediateSize * matrices, .vision, .visual, .ffn)
        }
        let width = unit * dv
        b.add(2 * grid.cells * width * width + 2 * grid.cells * width * d, .vision, .visual, .projector)
    }

    private func addLMHead(_ b: inout FLOPsBreakdown, _ stage: FLOPStage) {
        b.add(2 * dimensions.text.hiddenSize * dimensions.text.vocabSize, stage, .text, .lmHead)
    }

    /// Per-row projection and FFN FLOPs of a dense row.
    private var denseRowProjections: Int {
        let t = dimensions.text, qWidth = t.numAttentionHeads * t.headDim, kvWidth = t.numKeyValueHeads * t.headDim
        return 2 * t.hiddenSize * qWidth + 2 * t.hiddenSize * kvWidth * 2 + 2 * qWidth * t.hiddenSize
    }

    private var denseRowFFN: Int { 2 * dimensions.text.hiddenSize * dimensions.text.intermediateSize * 3 }

    /// Per-row k and v projection FLOPs: all a row costs in a layer after which nothing reads its
    /// hidden state (its keys and values are still cached and read).
    private var keyValueRowProjections: Int {
        let t = dimensions.text
        return 2 * t.hiddenSize * t.numKeyValueHeads * t.headDim * 2
    }

    /// The last layer of a call (docs/FLOPS.md "work nobody reads"): every row of `rows` (token group,
    /// count) computes k and v; only the logits row, in `logitsGroup`, computes q, o and the FFN and
    /// attends, per head to `keys` keys, plus `extraKeys` over all heads (skip mode's stored visual keys).
    private func addLastLayer(
        _ b: inout FLOPsBreakdown, _ stage: FLOPStage, layer: Int, rows: [(TokenGroup, Int)], logitsGroup: TokenGroup,
        keys: Int, extraKeys: Int = 0
    ) {
        let t = dimensions.text
        for (g, count) in rows where count > 0 { b.add(count * keyValueRowProjections, stage, layer: layer, g, .projections) }
        b.add(denseRowProjections - keyValueRowProjections, stage, layer: layer, logitsGroup, .projections)
        b.add(denseRowFFN, stage, layer: layer, logitsGroup, .ffn)
        b.add(2 * (t.numAttentionHeads * keys + extraKeys) * t.headDim * 2, stage, layer: layer, logitsGroup, .attention)
    }

    /// Per-row q projection FLOPs (a row that attends).
    private var queryRowProjection: Int {
        let t = dimensions.text
        return 2 * t.hiddenSize * t.numAttentionHeads * t.headDim
    }

    /// One dense forward call over `groups.count` new rows after `cached` positions: blocks of 64
    /// query rows, a block of b rows at r0 attends to keys [0, cached + r0 + b), extended to the end
    /// of every image (`images`, row ranges of the call) the block's rows intersect. In the last layer
    /// only the call's last row (the one whose logits are wanted) attends and runs o_proj and the FFN;
    /// the other rows compute their keys and values only.
    private func addDenseCall(
        _ b: inout FLOPsBreakdown, _ stage: FLOPStage, groups: [TokenGroup], cached: Int, images: [Range<Int>] = []
    ) {
        let t = dimensions.text, hd = t.headDim, H = t.numAttentionHeads
        guard let lastGroup = groups.last else { return }
        var rows: [TokenGroup: Int] = [:]
        var attention: [TokenGroup: Int] = [:]
        var r0 = 0
        while r0 < groups.count {
            let size = min(Self.queryBlock, groups.count - r0)
            var keys = cached + r0 + size
            for image in images where image.lowerBound < r0 + size && image.upperBound > r0 {
                keys = max(keys, cached + image.upperBound)
            }
            for g in groups[r0..<(r0 + size)] { attention[g, default: 0] += H * 2 * keys * hd * 2 }
            r0 += size
        }
        for g in groups { rows[g, default: 0] += 1 }
        for l in 0..<(t.numHiddenLayers - 1) {
            for (g, count) in rows {
                b.add(count * denseRowProjections, stage, layer: l, g, .projections)
                b.add(count * denseRowFFN, stage, layer: l, g, .ffn)
            }
            for (g, flops) in attention { b.add(flops, stage, layer: l, g, .attention) }
        }
        // Last layer: the last row alone attends (keys [0, cached + rows)).
        addLastLayer(
            &b, stage, layer: t.numHiddenLayers - 1, rows: Array(rows), logitsGroup: lastGroup,
            keys: cached + groups.count)
    }

    /// Skip-mode prefill of `[s text][one image][text]` (or a prompt without an image).
    private func addSkipPrefill(_ b: inout FLOPsBreakdown, layout: PromptLayout, plan: YOPOPlan) {
        let t = dimensions.text, d = t.hiddenSize, hd = t.headDim, H = t.numAttentionHeads
        let hasImage = layout.imageCount == 1
        let s = layout.systemTokens, n = hasImage ? layout.visualTokensPerImage(dimensions) : 0
        let textRows = s + layout.textTokens
        // Text rows in order: indices < s are system rows (before the image), the rest come after it.
        func group(_ i: Int) -> TokenGroup { hasImage && i < s ? .system : .text }
        // Σ_i (s + k_i) over visual queries: the window's pairs, or causal blocks of 64 image rows.
        var visualQueryKeys = 0
        if plan.window != nil {
            visualQueryKeys = n * s + layout.grid.windowPairs(window: plan.window)
        } else {
            var r0 = 0
            while r0 < n {
                let size = min(Self.queryBlock, n - r0)
                visualQueryKeys += size * (s + r0 + size)
                r0 += size
            }
        }
        let headsPerKV = t.numAttentionHeads / t.numKeyValueHeads
        let L = t.numHiddenLayers
        for l in 0..<L {
            let kept = plan.keptHeads(layer: l).count  // 0 in layers ≥ K
            let stored = hasImage ? kept * n : 0  // visual keys stored over all heads of this layer
            let systemRows = hasImage ? s : 0
            if l < L - 1 {
                // Text rows: dense projections and FFN.
                b.add(systemRows * denseRowProjections, .prefill, layer: l, .system, .projections)
                b.add(systemRows * denseRowFFN, .prefill, layer: l, .system, .ffn)
                b.add((textRows - systemRows) * denseRowProjections, .prefill, layer: l, .text, .projections)
                b.add((textRows - systemRows) * denseRowFFN, .prefill, layer: l, .text, .ffn)
                // Text queries in blocks of 64 text rows.
                var r0 = 0
                while r0 < textRows {
                    let size = min(Self.queryBlock, textRows - r0)
                    let textKeys = r0 + size
                    let afterImage = hasImage && r0 + size - 1 >= s
                    let perRow = 2 * (H * textKeys + (afterImage ? stored : 0)) * hd * 2
                    for i in r0..<(r0 + size) { b.add(perRow, .prefill, layer: l, group(i), .attention) }
                    r0 += size
                }
            } else if textRows > 0 {
                // Last layer: the last text row (the logits row) alone attends, to every text key and the
                // stored visual keys when it comes after the image.
                let afterImage = hasImage && textRows - 1 >= s
                addLastLayer(
                    &b, .prefill, layer: l, rows: [(.system, systemRows), (.text, textRows - systemRows)],
                    logitsGroup: group(textRows - 1), keys: textRows, extraKeys: afterImage ? stored : 0)
            }
            guard hasImage && plan.visualAlive(layer: l) else { continue }
            // Visual rows of kept layers: k and v for the key/value heads serving a kept head.
            let kvHeads = Set(plan.keptHeads(layer: l).map { $0 / headsPerKV }).count
            b.add(2 * 2 * n * d * hd * kvHeads, .prefill, layer: l, .visual, .projections)
            // Before the last layer visual rows take part in: kept heads' q and o, sliced FFN, prefix +
            // window attention. In that last layer only their keys and values are read.
            if plan.visualAlive(layer: l + 1) {
                b.add(2 * 2 * n * d * hd * kept, .prefill, layer: l, .visual, .projections)
                b.add(2 * n * d * plan.visualFFNWidth * 3, .prefill, layer: l, .visual, .ffn)
                b.add(kept * 2 * visualQueryKeys * hd * 2, .prefill, layer: l, .visual, .attention)
            }
        }
    }

    /// Decode step j: one text row after prompt + j cached positions; LM head once.
    private func decode(_ j: Int, layout: PromptLayout, plan: YOPOPlan?) -> FLOPsBreakdown {
        var b = FLOPsBreakdown()
        let cached = layout.promptTokens(dimensions) + j
        if let plan {
            let t = dimensions.text, hd = t.headDim, H = t.numAttentionHeads
            let n = layout.imageCount == 1 ? layout.visualTokensPerImage(dimensions) : 0
            let textKeys = cached - n + 1
            for l in 0..<t.numHiddenLayers {
                b.add(denseRowProjections, .decode, layer: l, .text, .projections)
                b.add(denseRowFFN, .decode, layer: l, .text, .ffn)
                let stored = plan.keptHeads(layer: l).count * n
                b.add(2 * (H * textKeys + stored) * hd * 2, .decode, layer: l, .text, .attention)
            }
        } else {
            addDenseCall(&b, .decode, groups: [.text], cached: cached)
        }
        addLMHead(&b, .decode)
        return b
    }
}

// MARK: - `full` for the token-pruning baselines

/// What the engine's prefill does to the rows of a one-image prompt under a token-pruning baseline,
/// as counts (docs/FLOPS.md "Token-pruning baselines"). Filled layer by layer by each method's
/// `countRows` rule (in its own file).
struct BaselineRows {
    /// Image rows (kept image tokens and recycled tokens) each decoder layer processes.
    var visual: [Int]
    /// Per layer: whether its image rows come before the system rows (SparseVLM keeping no image token
    /// but recycling some after a non-empty prefix puts the recycled rows at the front, outside the
    /// image's positions), so no attention block is extended over them.
    var visualFirst: [Bool]
    /// Set by a rule once the image rows go first (`visualFirst` of the later layers).
    var recycledFirst = false
    /// PyramidDrop: boundary layer → rows its ranking covers (every current row).
    var ranking: [Int: Int] = [:]
    /// FastV: ranking layer → image rows dropped inside it, after its attention (no o_proj, no FFN).
    var stopped: [Int: Int] = [:]
    /// SparseVLM: pruning layer → deleted tokens clustered by DPC-kNN (m ≥ 2).
    var clustered: [Int: Int] = [:]
    /// SparseVLM: the rater product `[n, d]·[d, t]` at the start of the prefill (rows n, columns t).
    var rater: (rows: Int, columns: Int)?
}

/// The one-image prompt a baseline's counting rule sees.
struct BaselinePrompt {
    /// Text rows before the image.
    var system: Int
    /// Text rows after the image.
    var text: Int
    /// The image's rows before any pruning (n).
    var imageTokens: Int
}

extension FLOPsModel {
    /// The engine's exact executed FLOPs (docs/FLOPS.md "Token-pruning baselines") when `baseline`
    /// drops visual rows between decoder layers: prefill (vision, projector, the decoder layers on the
    /// rows each one keeps, the baseline's selection work, LM head) and each decode step (one text row
    /// against the rows each layer stored). Keyed exactly like the engine's `FLOPCounter`.
    /// Throws `PruningSpecError` when the baseline does not fit this model (the engine's pruner's own
    /// check and message), `FLOPsError.unsupported` for more than one image, `.invalidLayout` for bad counts.
    public func full(_ layout: PromptLayout, baseline: BaselineSpec) throws -> FullFLOPs {
        let rows = try baselineRows(layout, baseline)
        let t = dimensions.text, d = t.hiddenSize, hd = t.headDim, H = t.numAttentionHeads
        let s = layout.systemTokens, text = layout.textTokens
        var prefill = FLOPsBreakdown()
        for _ in 0..<layout.imageCount { addVision(&prefill, grid: layout.grid) }
        if let rater = rows.rater {
            prefill.add(2 * rater.rows * d * rater.columns, .prefill, .visual, .selection)
        }
        for l in 0..<t.numHiddenLayers {
            let v = rows.visual[l]
            let runs: [(TokenGroup, Int)]
            var span: Range<Int>?
            if layout.imageCount == 0 {
                runs = [(.text, layout.promptTokens(dimensions))]
            } else if rows.visualFirst[l] {
                runs = [(.visual, v), (.system, s), (.text, text)]
            } else {
                runs = [(.system, s), (.visual, v), (.text, text)]
                if v > 0 { span = s..<(s + v) }
            }
            addLayerCall(&prefill, .prefill, layer: l, runs: runs, cached: 0, span: span, stoppedVisual: rows.stopped[l] ?? 0)
            if let ranked = rows.ranking[l] {
                // q_proj of the last prompt row, k_proj of every row, one causal score row per head (up to
                // the last row: all of them).
                let qWidth = H * hd, kvWidth = t.numKeyValueHeads * hd
                prefill.add(2 * d * qWidth + 2 * ranked * d * kvWidth + 2 * ranked * hd * H, .prefill, layer: l, .text, .selection)
            }
            if let m = rows.clustered[l] {
                prefill.add(2 * m * d * m, .prefill, layer: l, .visual, .selection)
            }
        }
        addLMHead(&prefill, .prefill)
        // Decode: layer l stored every row it processed at prefill.
        let stored = (0..<t.numHiddenLayers).map { l in
            layout.imageCount == 0 ? layout.promptTokens(dimensions) : s + rows.visual[l] + text
        }
        var steps: [FLOPsBreakdown] = []
        var all = prefill
        for j in 0..<layout.decodeSteps {
            var step = FLOPsBreakdown()
            for l in 0..<t.numHiddenLayers {
                addLayerCall(&step, .decode, layer: l, runs: [(.text, 1)], cached: stored[l] + j, span: nil)
            }
            addLMHead(&step, .decode)
            all.merge(step)
            steps.append(step)
        }
        return FullFLOPs(layout: layout, prefill: prefill, decodeSteps: steps, all: all, visualRows: rows.visual)
    }

    /// Image rows (kept image tokens and recycled tokens) each decoder layer processes at prefill when
    /// the engine runs `baseline` on `layout` (all zero without an image).
    /// Throws as `full(_:baseline:)`.
    public func baselineVisualRows(_ layout: PromptLayout, baseline: BaselineSpec) throws -> [Int] {
        try baselineRows(layout, baseline).visual
    }

    /// Follows the engine's pruner on counts alone: which rows each layer processes and what selection
    /// work is done where (each method's `countRows`).
    func baselineRows(_ layout: PromptLayout, _ baseline: BaselineSpec) throws -> BaselineRows {
        _ = try skipPlan(layout, plan: nil, mode: .skip)  // validates the layout and the 64-bit bound
        let L = dimensions.text.numHiddenLayers
        try baseline.validate(layers: L)  // the pruners' own check, with their messages
        guard layout.imageCount <= 1 else {
            throw FLOPsError.unsupported("baseline counts under full cover one image per prompt (this layout has \(layout.imageCount))")
        }
        let n = layout.imageCount == 1 ? layout.visualTokensPerImage(dimensions) : 0
        let prompt = BaselinePrompt(system: layout.systemTokens, text: layout.textTokens, imageTokens: n)
        var rows = BaselineRows(visual: [], visualFirst: [])
        var v = n
        for l in 0..<L {
            rows.visual.append(v)
            rows.visualFirst.append(rows.recycledFirst && v > 0)
            guard n > 0 else { continue }
            switch baseline {
            case .fastV(let s): s.countRows(layer: l, visual: &v, rows: &rows, prompt: prompt)
            case .pyramidDrop(let s): s.countRows(layer: l, visual: &v, rows: &rows, prompt: prompt)
            case .sparseVLM(let s): s.countRows(layer: l, visual: &v, rows: &rows, prompt: prompt)
            }
        }
        return rows
    }

    /// One dense layer call over `runs` of rows (token group, count) in order after `cached` stored
    /// rows: k and v projections per row; q, o and FFN per row that attends and continues; attention in
    /// blocks of 64 query rows, a block of b rows at r0 attending to keys [0, cached + r0 + b), extended
    /// to `cached + span.upperBound` when the block meets `span` (the image rows of the call).
    /// `stoppedVisual` image rows attend but stop after attention (FastV's dropped rows: no o, no FFN).
    /// In the last layer only the call's last row (the logits row) attends and continues.
    private func addLayerCall(
        _ b: inout FLOPsBreakdown, _ stage: FLOPStage, layer: Int, runs: [(TokenGroup, Int)], cached: Int, span: Range<Int>?,
        stoppedVisual: Int = 0
    ) {
        let t = dimensions.text, hd = t.headDim, H = t.numAttentionHeads
        let total = runs.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return }
        if layer == t.numHiddenLayers - 1 {
            addLastLayer(&b, stage, layer: layer, rows: runs, logitsGroup: runs.last { $0.1 > 0 }!.0, keys: cached + total)
            return
        }
        var attention = [Int](repeating: 0, count: runs.count)
        var r0 = 0
        while r0 < total {
            let size = min(Self.queryBlock, total - r0)
            var keys = cached + r0 + size
            if let span, span.lowerBound < r0 + size && span.upperBound > r0 { keys = max(keys, cached + span.upperBound) }
            var start = 0
            for (i, run) in runs.enumerated() {
                let overlap = min(start + run.1, r0 + size) - max(start, r0)
                if overlap > 0 { attention[i] += overlap * H * 2 * keys * hd * 2 }
                start += run.1
            }
            r0 += size
        }
        let oProjection = denseRowProjections - keyValueRowProjections - queryRowProjection
        for (i, (group, count)) in runs.enumerated() {
            let continuing = group == .visual ? count - stoppedVisual : count
            b.add(
                count * (keyValueRowProjections + queryRowProjection) + continuing * oProjection, stage, layer: layer,
                group, .projections)
            b.add(continuing * denseRowFFN, stage, layer: layer, group, .ffn)
            b.add(attention[i], stage, layer: layer, group, .attention)
        }
    }
}
