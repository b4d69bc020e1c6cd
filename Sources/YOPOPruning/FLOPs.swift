import Foundation
import YOPOCore

// The FLOPs model: every counting convention in one place (docs/FLOPS.md).
//
//   yopo       METHOD.md §5: 8nd² + 4n²d + 6ndm FLOPs per layer, LLM prefill, image tokens only.
//   pdrop      PyramidDrop: 4nd² + 2n²d + 3ndm multiply-adds (MACs), image tokens only (= yopo / 2).
//   fastv      FastV: 4nd² + 2n²d + 2ndm MACs (two-matrix FFN), system + image tokens, reported as the
//              per-layer average (total / L).
//   sparsevlm  SparseVLM v1.5/v2.0: 4nd² + 2n²d + 3ndm MACs over the whole sequence (system + image +
//              text).
//   full       What this engine executes, exactly (integers), per docs/FLOPS.md "`full`": vision
//              tower, projector, prefill, decode, LM head; keyed like the engine's `FLOPCounter`.
//
// The four published conventions are real-valued (fractional head counts, window means, FastV's
// fractional token counts) and are evaluated in Double; `full` is integer-exact.

// MARK: - Errors

/// Errors of the FLOPs model. Each message names what is wrong.
public enum FLOPsError: Error, CustomStringConvertible, Equatable {
    /// Model dimensions that cannot describe a model (non-positive sizes, a grid the patch does not divide, …).
    case invalidDimensions(String)
    /// A prompt layout the count cannot use (negative token counts, an empty prompt, a grid mismatch).
    case invalidLayout(String)
    /// Baseline hyper-parameters out of range.
    case invalidSettings(String)
    /// A combination this model does not count (a YOPO plan under the FastV convention, a skip-mode
    /// plan or a baseline under `full` over several images, …).
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidDimensions(let s): return "invalid model dimensions: \(s)"
        case .invalidLayout(let s): return "invalid prompt layout: \(s)"
        case .invalidSettings(let s): return "invalid baseline settings: \(s)"
        case .unsupported(let s): return "not supported: \(s)"
        }
    }
}

// MARK: - Model dimensions

/// The shape facts FLOPs depend on: the LLaMA decoder and the CLIP vision tower.
public struct ModelDimensions: Sendable, Equatable, Codable {
    /// The decoder (`text_config`).
    public struct Text: Sendable, Equatable, Codable {
        /// `hidden_size` (d).
        public var hiddenSize: Int
        /// `num_hidden_layers` (L).
        public var numHiddenLayers: Int
        /// `num_attention_heads` (H, query heads).
        public var numAttentionHeads: Int
        /// `num_key_value_heads` (Hkv; equal to H without GQA).
        public var numKeyValueHeads: Int
        /// `head_dim` (hd).
        public var headDim: Int
        /// `intermediate_size` (I, the SwiGLU width; METHOD.md's m).
        public var intermediateSize: Int
        /// `vocab_size` (V, LM head width).
        public var vocabSize: Int

        public init(
            hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int,
            intermediateSize: Int, vocabSize: Int
        ) {
            self.hiddenSize = hiddenSize
            self.numHiddenLayers = numHiddenLayers
            self.numAttentionHeads = numAttentionHeads
            self.numKeyValueHeads = numKeyValueHeads
            self.headDim = headDim
            self.intermediateSize = intermediateSize
            self.vocabSize = vocabSize
        }

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
            case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
            case headDim = "head_dim", intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        }
    }

    /// The vision tower (`vision_config`) and how LLaVA reads it.
    public struct Vision: Sendable, Equatable, Codable {
        /// `hidden_size` (dv).
        public var hiddenSize: Int
        /// `intermediate_size` (Iv).
        public var intermediateSize: Int
        /// `num_hidden_layers` of the checkpoint's tower.
        public var numHiddenLayers: Int
        /// Layers actually computed, up to the feature layer (Lv; 23 of 24 for `vision_feature_layer` −2).
        public var layersComputed: Int
        /// `patch_size` (p), pixels.
        public var patchSize: Int
        /// `image_size`, pixels per side.
        public var imageSize: Int
        /// Whether the projector drops CLS (`default` / `patch`) or keeps it (`full` / `cls_patch`).
        public var dropsCLS: Bool

        public init(
            hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, layersComputed: Int, patchSize: Int,
            imageSize: Int, dropsCLS: Bool = true
        ) {
            self.hiddenSize = hiddenSize
            self.intermediateSize = intermediateSize
            self.numHiddenLayers = numHiddenLayers
            self.layersComputed = layersComputed
            self.patchSize = patchSize
            self.imageSize = imageSize
            self.dropsCLS = dropsCLS
        }

        /// Patches per side, `image_size / patch_size` (24 for 336 / 14).
        public var gridSize: Int { imageSize / patchSize }
        /// The native patch grid of one image.
        public var grid: VisualGrid { VisualGrid(rows: gridSize, columns: gridSize) }
        /// LLM tokens per image at the native grid: G² (+ 1 when CLS is kept).
        public var tokensPerImage: Int { gridSize * gridSize + (dropsCLS ? 0 : 1) }

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
            case numHiddenLayers = "num_hidden_layers", layersComputed = "layers_computed"
            case patchSize = "patch_size", imageSize = "image_size", dropsCLS = "drops_cls"
        }
    }

    /// A label for tables (`llava-1.5-7b`, or the checkpoint directory).
    public var name: String
    public var text: Text
    public var vision: Vision

    public init(name: String, text: Text, vision: Vision) {
        self.name = name
        self.text = text
        self.vision = vision
    }

    /// CLIP ViT-L/14-336 as LLaVA-1.5 uses it: dv 1024, Iv 4096, 24 layers of which 23 are computed
    /// (feature layer −2), patch 14, 336 px (24 × 24 = 576 tokens), CLS dropped.
    public static let clipViTL14_336 = Vision(
        hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, layersComputed: 23, patchSize: 14,
        imageSize: 336, dropsCLS: true)

    /// LLaVA-1.5-7B (Vicuna-7B + CLIP ViT-L/14-336): d 4096, 32 layers, 32 heads × 128, I 11008.
    /// Vocabulary 32000, the original checkpoint's; llava-hf's `llava-1.5-7b-hf` pads it to 32064
    /// (read it from the checkpoint with `--model` for the exact LM head).
    public static let llava15_7B = ModelDimensions(
        name: "llava-1.5-7b",
        text: Text(
            hiddenSize: 4096, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 32, headDim: 128,
            intermediateSize: 11008, vocabSize: 32000),
        vision: clipViTL14_336)

    /// LLaVA-1.5-13B (Vicuna-13B + CLIP ViT-L/14-336): d 5120, 40 layers, 40 heads × 128, I 13824,
    /// vocabulary 32000 (llava-hf: 32064, as for 7B).
    public static let llava15_13B = ModelDimensions(
        name: "llava-1.5-13b",
        text: Text(
            hiddenSize: 5120, numHiddenLayers: 40, numAttentionHeads: 40, numKeyValueHeads: 40, headDim: 128,
            intermediateSize: 13824, vocabSize: 32000),
        vision: clipViTL14_336)

    /// The built-in architectures by `--arch` name.
    public static let architectures: [String: ModelDimensions] = [
        llava15_7B.name: llava15_7B, llava15_13B.name: llava15_13B,
    ]

    /// The decoder shape a pruning spec resolves against.
    public var decoderShape: DecoderShape {
        DecoderShape(
            numHiddenLayers: text.numHiddenLayers, numAttentionHeads: text.numAttentionHeads,
            intermediateSize: text.intermediateSize)
    }

    /// Checks every size is usable. Throws `FLOPsError.invalidDimensions` naming the field.
    public func validate() throws {
        func require(_ ok: Bool, _ what: String) throws {
            if !ok { throw FLOPsError.invalidDimensions(what) }
        }
        let t = text, v = vision
        try require(
            t.hiddenSize > 0 && t.numHiddenLayers > 0 && t.headDim > 0 && t.intermediateSize > 0 && t.vocabSize > 0,
            "text sizes must be positive (hidden_size \(t.hiddenSize), num_hidden_layers \(t.numHiddenLayers), head_dim \(t.headDim), intermediate_size \(t.intermediateSize), vocab_size \(t.vocabSize))")
        try require(
            t.numAttentionHeads > 0 && t.numKeyValueHeads > 0 && t.numAttentionHeads % t.numKeyValueHeads == 0,
            "num_attention_heads \(t.numAttentionHeads) must be a positive multiple of num_key_value_heads \(t.numKeyValueHeads)")
        try require(
            v.hiddenSize > 0 && v.intermediateSize > 0 && v.numHiddenLayers > 0,
            "vision sizes must be positive (hidden_size \(v.hiddenSize), intermediate_size \(v.intermediateSize), num_hidden_layers \(v.numHiddenLayers))")
        try require(
            v.layersComputed >= 0 && v.layersComputed <= v.numHiddenLayers,
            "vision layers computed \(v.layersComputed) is outside [0, \(v.numHiddenLayers)]")
        try require(
            v.patchSize > 0 && v.imageSize >= v.patchSize && v.imageSize % v.patchSize == 0,
            "vision image_size \(v.imageSize) must be a positive multiple of patch_size \(v.patchSize)")
        // Bounds that keep every per-token product the counts form (d·H·hd, d·I, d·V, p²·dv, …)
        // inside 64-bit integers; the layout's bound (`FLOPsModel.full`) covers the token counts.
        let size = ModelDimensions.maxSize, count = ModelDimensions.maxCount
        for (value, field) in [(t.hiddenSize, "hidden_size"), (t.headDim, "head_dim"), (t.intermediateSize, "intermediate_size"),
                               (t.vocabSize, "vocab_size"), (v.hiddenSize, "vision hidden_size"),
                               (v.intermediateSize, "vision intermediate_size"), (v.imageSize, "vision image_size")] {
            try require(value <= size, "\(field) \(value) is above \(size)")
        }
        for (value, field) in [(t.numHiddenLayers, "num_hidden_layers"), (t.numAttentionHeads, "num_attention_heads"),
                               (v.numHiddenLayers, "vision num_hidden_layers")] {
            try require(value <= count, "\(field) \(value) is above \(count)")
        }
        let d = Double(t.hiddenSize), q = Double(t.numAttentionHeads) * Double(t.headDim)
        let kv = Double(t.numKeyValueHeads) * Double(t.headDim), dv = Double(v.hiddenSize)
        let perToken = 4 * d * q + 4 * d * kv + 6 * d * Double(t.intermediateSize) + 2 * d * Double(t.vocabSize)
            + 8 * dv * (dv + Double(v.intermediateSize)) + 6 * Double(v.patchSize) * Double(v.patchSize) * dv + 4 * (dv + d) * d
        try require(
            perToken < 1e15,
            "one token's FLOPs would exceed 10¹⁵ (hidden_size \(t.hiddenSize), attention width \(t.numAttentionHeads) × \(t.headDim), intermediate_size \(t.intermediateSize), vocab_size \(t.vocabSize))")
    }

    /// Largest `hidden_size`, `head_dim`, `intermediate_size`, `vocab_size` and vision sizes (2²⁴).
    public static let maxSize = 1 << 24
    /// Most layers and heads (2¹⁶).
    public static let maxCount = 1 << 16
}

// MARK: - Prompt layout

/// A rows × columns grid of visual tokens of one image, raster (row-major) order.
public struct VisualGrid: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    /// A `side` × `side` grid.
    public static func square(_ side: Int) -> VisualGrid { VisualGrid(rows: side, columns: side) }

    /// Parses `RxC` (`24x24`, also `24×24`), at most `PromptLayout.maxTokens` cells. Throws
    /// `FLOPsError.invalidLayout`.
    public init(parsing text: String) throws {
        let parts = text.lowercased().replacingOccurrences(of: "×", with: "x").split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let r = Int(parts[0]), let c = Int(parts[1]), r > 0, c > 0 else {
            throw FLOPsError.invalidLayout("grid '\(text)' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)")
        }
        let (cells, overflow) = r.multipliedReportingOverflow(by: c)
        guard !overflow, cells <= PromptLayout.maxTokens else {
            throw FLOPsError.invalidLayout("grid '\(text)' has more than \(PromptLayout.maxTokens) cells")
        }
        self.init(rows: r, columns: c)
    }

    /// Visual tokens of the grid, rows · columns.
    public var cells: Int { rows * columns }

    /// `24x24`.
    public var description: String { "\(rows)x\(columns)" }

    /// Σ over every query cell of the visual keys it attends to: the cells within Chebyshev radius
    /// ⌊(w − 1)/2⌋, clipped at the border (METHOD.md §2.1); `cells²` without a window (nil).
    /// The mean keys per query (METHOD.md's k) is this over `cells`: 22.5625 for w = 5 on 24 × 24.
    public func windowPairs(window: Int?) -> Int {
        guard let window else { return cells * cells }
        let rho = (window - 1) / 2
        func reach(_ side: Int) -> Int {
            (0..<side).reduce(0) { $0 + min(side - 1, $1 + rho) - max(0, $1 - rho) + 1 }
        }
        return reach(rows) * reach(columns)
    }
}

/// Where the tokens of a prompt are: text runs and images, then decode steps.
/// Token groups (docs/FLOPS.md "Attribution"): `system` = rows before the first image, `visual` =
/// image rows, `text` = every other row and every generated token (all rows are `text` without an image).
public struct PromptLayout: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        /// A run of text tokens (≥ 0).
        case text(Int)
        /// One image: `grid.cells` tokens (+ 1 when the model keeps CLS).
        case image
    }

    public var segments: [Segment]
    /// The patch grid of every image.
    public var grid: VisualGrid
    /// Decode steps after the prefill: step j feeds one token after prompt + j cached positions.
    public var decodeSteps: Int

    public init(segments: [Segment], grid: VisualGrid, decodeSteps: Int = 0) {
        self.segments = segments
        self.grid = grid
        self.decodeSteps = decodeSteps
    }

    /// `[systemTokens text][one image on grid][textTokens text]`, the LLaVA-1.5 single-image prompt.
    /// - Parameters:
    ///   - systemTokens: s, tokens before the image (35 for `vicuna_v1`: BOS + system prompt + " USER: ").
    ///   - textTokens: tokens after the image (question + " ASSISTANT:").
    ///   - decodeSteps: generated tokens fed back (each one decode call).
    public init(systemTokens: Int, grid: VisualGrid, textTokens: Int, decodeSteps: Int = 0) {
        self.init(segments: [.text(systemTokens), .image, .text(textTokens)], grid: grid, decodeSteps: decodeSteps)
    }

    /// Images in the prompt.
    public var imageCount: Int { segments.filter { $0 == .image }.count }

    /// Text tokens before the first image (all text tokens when there is no image).
    public var systemTokens: Int {
        var s = 0
        for segment in segments {
            guard case .text(let t) = segment else { break }
            s += t
        }
        return s
    }

    /// Text tokens after the first image.
    public var textTokens: Int {
        guard imageCount > 0 else { return 0 }
        return segments.reduce(0) { if case .text(let t) = $1 { return $0 + t } else { return $0 } } - systemTokens
    }

    /// LLM tokens of one image for `dimensions` (grid cells, + 1 when CLS is kept).
    public func visualTokensPerImage(_ dimensions: ModelDimensions) -> Int {
        grid.cells + (dimensions.vision.dropsCLS ? 0 : 1)
    }

    /// Visual tokens of the whole prompt.
    public func visualTokens(_ dimensions: ModelDimensions) -> Int { imageCount * visualTokensPerImage(dimensions) }

    /// Prompt length in LLM tokens (text + visual).
    public func promptTokens(_ dimensions: ModelDimensions) -> Int {
        segments.reduce(0) {
            if case .text(let t) = $1 { return $0 + t }
            return $0 + visualTokensPerImage(dimensions)
        }
    }

    /// Checks counts. Throws `FLOPsError.invalidLayout` naming the problem.
    public func validate(_ dimensions: ModelDimensions) throws {
        for segment in segments {
            if case .text(let t) = segment, t < 0 {
                throw FLOPsError.invalidLayout("a text run of \(t) tokens (must be ≥ 0)")
            }
        }
        guard grid.rows > 0, grid.columns > 0 else {
            throw FLOPsError.invalidLayout("grid \(grid) must have positive sides")
        }
        guard decodeSteps >= 0 else { throw FLOPsError.invalidLayout("\(decodeSteps) decode steps (must be ≥ 0)") }
        guard decodeSteps <= PromptLayout.maxDecodeSteps else {
            throw FLOPsError.invalidLayout("\(decodeSteps) decode steps (at most \(PromptLayout.maxDecodeSteps))")
        }
        // Bounds that keep every intermediate product (cells², rows², …) inside 64-bit integers.
        let limit = PromptLayout.maxTokens
        guard grid.rows <= limit, grid.columns <= limit, grid.rows * grid.columns <= limit else {
            throw FLOPsError.invalidLayout("grid \(grid) has more than \(limit) cells")
        }
        guard segments.count <= limit, segments.allSatisfy({ if case .text(let t) = $0 { return t <= limit } else { return true } }),
            promptTokens(dimensions) <= limit
        else {
            throw FLOPsError.invalidLayout("the prompt has more than \(limit) tokens")
        }
        guard promptTokens(dimensions) > 0 else { throw FLOPsError.invalidLayout("the prompt has no tokens") }
    }

    /// Most tokens in a prompt and cells in a grid (2²⁴).
    public static let maxTokens = 1 << 24
    /// Most decode steps counted (2¹⁶).
    public static let maxDecodeSteps = 1 << 16

    /// Row ranges of the images in the prompt, in order.
    func imageRowRanges(_ dimensions: ModelDimensions) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var row = 0
        for segment in segments {
            switch segment {
            case .text(let t): row += t
            case .image:
                let n = visualTokensPerImage(dimensions)
                ranges.append(row..<(row + n))
                row += n
            }
        }
        return ranges
    }

    /// Token group of every prompt row, in order.
    func rowGroups(_ dimensions: ModelDimensions) -> [TokenGroup] {
        var groups: [TokenGroup] = []
        var seenImage = false
        let hasImage = imageCount > 0
        for segment in segments {
            switch segment {
            case .text(let t):
                groups += Array(repeating: hasImage && !seenImage ? .system : .text, count: t)
            case .image:
                seenImage = true
                groups += Array(repeating: .visual, count: visualTokensPerImage(dimensions))
            }
        }
        return groups
    }
}

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
        case .fastv: return "FastV: MACs, 4nd² + 2n²d + 2ndm per layer (two-matrix FFN), LLM prefill, system + image tokens, reported per layer (total / L)"
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

/// YOPO's pruning in the terms the published conventions count (METHOD.md §5.2):
/// `Σ_{l<K} [ (h_l/H)·(8·n·d² + 4·n·k·d) + 6·n·d·F ]` FLOPs.
public struct YOPOCostProfile: Sendable, Equatable {
    /// Window side w (nil = full visual attention).
    public var window: Int?
    /// K: layers `0..<K` keep visual computation.
    public var keptLayers: Int
    /// h_l: heads doing visual work in each decoder layer (length L; fractional for a nominal count).
    /// Entries of layers ≥ K are ignored.
    public var keptHeads: [Double]
    /// F: FFN channels visual rows use (`int(I / r)`).
    public var visualFFNWidth: Int

    public init(window: Int?, keptLayers: Int, keptHeads: [Double], visualFFNWidth: Int) {
        self.window = window
        self.keptLayers = keptLayers
        self.keptHeads = keptHeads
        self.visualFFNWidth = visualFFNWidth
    }

    /// The "actual-mask" profile of a resolved plan: h_l = heads its mask keeps in layer l.
    public init(plan: YOPOPlan) {
        let H = plan.shape.numAttentionHeads
        self.init(
            window: plan.window, keptLayers: plan.keptLayers,
            keptHeads: (0..<plan.shape.numHiddenLayers).map { l in
                Double((0..<H).filter { plan.headKept(layer: l, head: $0) }.count)
            },
            visualFFNWidth: plan.visualFFNWidth)
    }

    /// The "nominal" profile (METHOD.md §5.4): `headsPerLayer` heads in every layer (e.g. 16, the
    /// `headcut` of `headmask_7b_16`), F = int(I / ffnRatio).
    public static func nominal(
        _ dimensions: ModelDimensions, window: Int?, keptLayers: Int, headsPerLayer: Double, ffnRatio: Double = 1
    ) -> YOPOCostProfile {
        YOPOCostProfile(
            window: window, keptLayers: keptLayers,
            keptHeads: Array(repeating: headsPerLayer, count: dimensions.text.numHiddenLayers),
            visualFFNWidth: Int(Double(dimensions.text.intermediateSize) / ffnRatio))
    }
}

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
        return "fastv:k=\(k),r=\(formatNumber(removalRatio ?? 0.5))"
    }
}

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
        return boundaries + ",ratio=\(formatNumber(ratio))"
    }
}

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

/// A token-pruning baseline as written on the command line:
/// `fastv:k=2,r=0.5` · `fastv:k=2,keep=166` · `pdrop:layers=8/16/24,ratio=0.5` · `sparsevlm:tokens=192` ·
/// `sparsevlm:layers=2/6/15,keep=300/200/110`. A bare `fastv`, `pdrop` or `sparsevlm` takes the papers'
/// defaults (K 2 R 0.5; [8, 16, 24] λ 0.5; 192). Counted under the published conventions
/// (`FLOPsModel.count`) and, as the engine executes them, under `full` (`FLOPsModel.full(_:baseline:)`).
public enum BaselineSpec: Sendable, Equatable, CustomStringConvertible {
    case fastV(FastVSettings)
    case pyramidDrop(PyramidDropSettings)
    case sparseVLM(SparseVLMSettings)

    // `parse(_:)`, the textual form, is in PruningSpec.swift with the rest of the spec grammar.

    public var description: String {
        switch self {
        case .fastV(let s): return s.description
        case .pyramidDrop(let s): return s.description
        case .sparseVLM(let s): return s.description
        }
    }

    /// The method to count.
    public var method: FLOPsMethod {
        switch self {
        case .fastV(let s): return .fastV(s)
        case .pyramidDrop(let s): return .pyramidDrop(s)
        case .sparseVLM(let s): return .sparseVLM(s)
        }
    }
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

/// The FLOPs model of one architecture. Conventions and the engine's exact cost in one place.
public struct FLOPsModel: Sendable {
    public let dimensions: ModelDimensions

    /// Throws `FLOPsError.invalidDimensions` when the dimensions are unusable.
    public init(_ dimensions: ModelDimensions) throws {
        try dimensions.validate()
        self.dimensions = dimensions
    }

    /// Rows per attention block (docs/FLOPS.md; the engine's `attentionQueryBlock`).
    public static let queryBlock = 64

    // MARK: published conventions

    /// Counts `method` under a published convention (`yopo`, `fastv`, `pdrop`, `sparsevlm`).
    /// Tokens: n = the layout's visual tokens; s = text before the first image; text = the rest
    /// (decode steps are not counted by any of them).
    /// Throws `FLOPsError.unsupported` for `full` (use `full(_:plan:mode:)`) and for a YOPO profile
    /// under `fastv`/`sparsevlm` (they count tokens, not heads); `FLOPsError.invalidSettings` /
    /// `.invalidLayout` for out-of-range inputs.
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
            let pairs = p.window == nil
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
        let N = Double(layout.grid.cells) + 1, rows = Double(layout.promptTokens(dimensions)) + Double(layout.decodeSteps)
        let dv = Double(v.hiddenSize), d = Double(t.hiddenSize)
        let qWidth = Double(t.numAttentionHeads) * Double(t.headDim), kvWidth = Double(t.numKeyValueHeads) * Double(t.headDim)
        let vision = Double(layout.imageCount) * (2 * N * 3 * Double(v.patchSize) * Double(v.patchSize) * dv
            + Double(v.layersComputed) * (8 * N * dv * (dv + Double(v.intermediateSize)) + 4 * N * N * dv)
            + 4 * N * (dv + d) * d)
        let rowProjections = 4 * d * qWidth + 4 * d * kvWidth, rowFFN = 6 * d * Double(t.intermediateSize)
        let decoder = Double(t.numHiddenLayers) * rows * (rowProjections + rowFFN + 4 * rows * qWidth)
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
                "the plan is for \(s.numHiddenLayers) layers × \(s.numAttentionHeads) heads, FFN \(s.intermediateSize); the model has \(m.numHiddenLayers) × \(m.numAttentionHeads), FFN \(m.intermediateSize)")
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

    /// Vision tower and projector of one image on `grid` (N = cells + 1 tower tokens with CLS).
    private func addVision(_ b: inout FLOPsBreakdown, grid: VisualGrid) {
        let v = dimensions.vision, d = dimensions.text.hiddenSize
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
        addLastLayer(&b, stage, layer: t.numHiddenLayers - 1, rows: Array(rows), logitsGroup: lastGroup,
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
                addLastLayer(&b, .prefill, layer: l, rows: [(.system, systemRows), (.text, textRows - systemRows)],
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
/// as counts (docs/FLOPS.md "Token-pruning baselines").
struct BaselineRows {
    /// Image rows (kept image tokens and recycled tokens) each decoder layer processes.
    var visual: [Int]
    /// Per layer: whether its image rows come before the system rows (SparseVLM keeping no image token
    /// but recycling some after a non-empty prefix puts the recycled rows at the front, outside the
    /// image's positions), so no attention block is extended over them.
    var visualFirst: [Bool]
    /// PyramidDrop: boundary layer → rows its ranking covers (every current row).
    var ranking: [Int: Int] = [:]
    /// FastV: ranking layer → image rows dropped inside it, after its attention (no o_proj, no FFN).
    var stopped: [Int: Int] = [:]
    /// SparseVLM: pruning layer → deleted tokens clustered by DPC-kNN (m ≥ 2).
    var clustered: [Int: Int] = [:]
    /// SparseVLM: the rater product `[n, d]·[d, t]` at the start of the prefill (rows n, columns t).
    var rater: (rows: Int, columns: Int)?
}

extension FLOPsModel {
    /// The engine's exact executed FLOPs (docs/FLOPS.md "Token-pruning baselines") when `baseline`
    /// drops visual rows between decoder layers: prefill (vision, projector, the decoder layers on the
    /// rows each one keeps, the baseline's selection work, LM head) and each decode step (one text row
    /// against the rows each layer stored). Keyed exactly like the engine's `FLOPCounter`.
    /// Throws `FLOPsError.invalidSettings` when the baseline does not fit this model (as the engine's
    /// pruner refuses it), `.unsupported` for more than one image, `.invalidLayout` for bad counts.
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
    /// work is done where.
    func baselineRows(_ layout: PromptLayout, _ baseline: BaselineSpec) throws -> BaselineRows {
        _ = try skipPlan(layout, plan: nil, mode: .skip)  // validates the layout and the 64-bit bound
        let L = dimensions.text.numHiddenLayers
        let pruner: TokenPruner
        do {
            pruner = try baseline.makePruner(layers: L)
        } catch {
            throw FLOPsError.invalidSettings("\(baseline) for a \(L)-layer decoder: \(error)")
        }
        guard layout.imageCount <= 1 else {
            throw FLOPsError.unsupported("baseline counts under full cover one image per prompt (this layout has \(layout.imageCount))")
        }
        let s = layout.systemTokens, text = layout.textTokens
        let n = layout.imageCount == 1 ? layout.visualTokensPerImage(dimensions) : 0
        var rows = BaselineRows(visual: [], visualFirst: [])
        var v = n, first = false
        // SparseVLM's raters are the text rows after the image; without them it never prunes.
        let sparseVLMPrunes = n > 0 && text > 0
        if case .sparseVLM = baseline, sparseVLMPrunes { rows.rater = (n, text) }
        for l in 0..<L {
            rows.visual.append(v)
            rows.visualFirst.append(first && v > 0)
            guard n > 0 else { continue }
            switch baseline {
            case .fastV(let settings):
                if l == settings.k - 1, let fastV = pruner as? FastV {
                    let kept = min(v, fastV.keptCount(imageTokens: v))
                    rows.stopped[l] = v - kept
                    v = kept
                }
            case .pyramidDrop(let settings):
                if let stage = settings.layers.firstIndex(of: l + 1), let pdrop = pruner as? PyramidDrop {
                    rows.ranking[l] = s + v + text
                    v = min(v, max(0, pdrop.keptCount(imageTokens: n, boundary: stage)))
                }
            case .sparseVLM(let settings):
                if sparseVLMPrunes, let stage = settings.layers.firstIndex(of: l) {
                    let kept = min(settings.keep[stage], v)
                    let m = SparseVLM.clusteredCount(deleted: v - kept)
                    let recycled = m >= 2 ? SparseVLM.recycledCount(clustered: m) : 0
                    if m >= 2 { rows.clustered[l] = m }
                    // No kept image row to insert after: the recycled rows go first.
                    if kept == 0 && recycled > 0 && s > 0 { first = true }
                    v = kept + recycled
                }
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
            b.add(count * (keyValueRowProjections + queryRowProjection) + continuing * oProjection, stage, layer: layer,
                  group, .projections)
            b.add(continuing * denseRowFFN, stage, layer: layer, group, .ffn)
            b.add(attention[i], stage, layer: layer, group, .attention)
        }
    }
}

/// `0.5`, `2`, `0.125`: shortest form of a setting.
fileprivate func formatNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
}

// MARK: - Reports: text tables and JSON

/// What a report was computed for (its header).
public struct FLOPsReportContext: Sendable, Equatable {
    public var dimensions: ModelDimensions
    public var layout: PromptLayout
    /// The spec as the user wrote it (`none`, `yopo-25`, `fastv:k=2,r=0.5`, …).
    public var prune: String
    /// YOPO execution mode (`full` only; nil for dense and baselines).
    public var mode: YOPOMode?

    public init(dimensions: ModelDimensions, layout: PromptLayout, prune: String, mode: YOPOMode? = nil) {
        self.dimensions = dimensions
        self.layout = layout
        self.prune = prune
        self.mode = mode
    }

    var layoutLine: String {
        let d = dimensions, l = layout
        var parts: [String] = []
        if l.imageCount == 0 {
            parts.append("\(l.systemTokens) text")
        } else {
            parts.append("\(l.systemTokens) system")
            let perImage = l.visualTokensPerImage(d)
            parts.append(l.imageCount == 1
                ? "\(perImage) visual (grid \(l.grid))"
                : "\(l.imageCount) × \(perImage) visual (grid \(l.grid))")
            parts.append("\(l.textTokens) text")
        }
        return parts.joined(separator: " + ") + " tokens; \(l.decodeSteps) decode step\(l.decodeSteps == 1 ? "" : "s")"
    }

    var modelLine: String {
        let t = dimensions.text, v = dimensions.vision
        return "\(dimensions.name) (d \(t.hiddenSize), \(t.numHiddenLayers) layers, \(t.numAttentionHeads) heads"
            + (t.numKeyValueHeads == t.numAttentionHeads ? "" : " / \(t.numKeyValueHeads) kv")
            + " × \(t.headDim), I \(t.intermediateSize), V \(t.vocabSize); vision d \(v.hiddenSize), I \(v.intermediateSize), \(v.layersComputed)/\(v.numHiddenLayers) layers, patch \(v.patchSize), \(v.imageSize) px)"
    }

    var pruneLine: String { prune + (mode.map { " (\($0.rawValue))" } ?? "") }
}

/// The JSON shape of a report's layout.
fileprivate struct LayoutJSON: Encodable {
    var systemTokens: Int, images: Int, grid: String, visualTokens: Int, textTokens: Int, promptTokens: Int, decodeSteps: Int
    enum CodingKeys: String, CodingKey {
        case systemTokens = "system_tokens", images, grid, visualTokens = "visual_tokens", textTokens = "text_tokens"
        case promptTokens = "prompt_tokens", decodeSteps = "decode_steps"
    }

    init(_ c: FLOPsReportContext) {
        let l = c.layout
        systemTokens = l.systemTokens
        images = l.imageCount
        grid = l.grid.description
        visualTokens = l.visualTokens(c.dimensions)
        textTokens = l.textTokens
        promptTokens = l.promptTokens(c.dimensions)
        decodeSteps = l.decodeSteps
    }
}

/// Right-aligned columns.
fileprivate func renderColumns(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in String(repeating: " ", count: widths[i] - cell.count) + cell }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}

fileprivate func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

extension ConventionFLOPs {
    /// A readable table: header, per-layer projections / attention / FFN (in G of the unit), totals,
    /// and the number as the paper prints it.
    public func table(_ context: FLOPsReportContext) -> String {
        let unit = convention.countsMACs ? "MACs" : "FLOPs"
        var out = [
            "convention  \(convention.rawValue): \(convention.summary)",
            "model       \(context.modelLine)",
            "prune       \(context.pruneLine)",
            "layout      \(context.layoutLine)",
            "",
        ]
        let rows = layers.map { l in
            [String(l.layer), fixed(l.tokens, 1), fixed(l.visualTokens, 1), fixed(l.visualHeads, 2),
             fixed(l.projections / 1e9, 3), fixed(l.attention / 1e9, 3), fixed(l.ffn / 1e9, 3), fixed(l.total / 1e9, 3)]
        }
        out.append(renderColumns(
            ["layer", "tokens", "visual", "heads", "proj G\(unit)", "attn G\(unit)", "ffn G\(unit)", "total G\(unit)"], rows))
        out.append("")
        out.append("dense     \(fixed(dense / 1e12, 4)) T \(unit)")
        out.append("counted   \(fixed(total / 1e12, 4)) T \(unit)  (\(fixed(100 * ratio, 2))% of dense)")
        let digits = reportedScale == 1e9 ? 1 : 2
        out.append("reported  \(fixed(reported, digits)) \(reportedUnit)  (as the paper prints it)")
        return out.joined(separator: "\n") + "\n"
    }

    /// JSON: header, totals, the reported number and every layer's components (in the convention's unit).
    public func json(_ context: FLOPsReportContext) throws -> Data {
        struct LayerJSON: Encodable {
            var layer: Int, tokens: Double, visualTokens: Double, visualHeads: Double
            var projections: Double, attention: Double, ffn: Double, total: Double
            enum CodingKeys: String, CodingKey {
                case layer, tokens, visualTokens = "visual_tokens", visualHeads = "visual_heads", projections, attention, ffn, total
            }
        }
        struct Report: Encodable {
            var convention: String, summary: String, model: ModelDimensions, prune: String, layout: LayoutJSON
            var unit: String, total: Double, dense: Double, ratio: Double, reported: Double, reportedUnit: String
            var layers: [LayerJSON]
            enum CodingKeys: String, CodingKey {
                case convention, summary, model, prune, layout, unit, total, dense, ratio, reported
                case reportedUnit = "reported_unit", layers
            }
        }
        let report = Report(
            convention: convention.rawValue, summary: convention.summary, model: context.dimensions, prune: context.prune,
            layout: LayoutJSON(context), unit: convention.countsMACs ? "MACs" : "FLOPs", total: total, dense: dense,
            ratio: ratio, reported: reported, reportedUnit: reportedUnit,
            layers: layers.map {
                LayerJSON(layer: $0.layer, tokens: $0.tokens, visualTokens: $0.visualTokens, visualHeads: $0.visualHeads,
                          projections: $0.projections, attention: $0.attention, ffn: $0.ffn, total: $0.total)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(report)
    }
}

extension FullFLOPs {
    /// Components a report lists: every one, except `selection` when nothing was counted there (only
    /// the baselines choose tokens).
    var shownComponents: [FLOPComponent] {
        FLOPComponent.allCases.filter { $0 != .selection || visualRows != nil || all.total(component: $0) != 0 }
    }

    /// A readable table: stage × token group, components, prefill/decode per decoder layer, decode
    /// steps; exact integers (FLOPs).
    public func table(_ context: FLOPsReportContext) -> String {
        var out = [
            "convention  full: \(FLOPsConvention.full.summary)",
            "model       \(context.modelLine)",
            "prune       \(context.pruneLine)",
            "layout      \(context.layoutLine)",
            "",
        ]
        var stageRows: [[String]] = FLOPStage.allCases.map { stage in
            [stage.rawValue] + TokenGroup.allCases.map { String(all.total(stage: stage, group: $0)) }
                + [String(all.total(stage: stage))]
        }
        stageRows.append(["total"] + TokenGroup.allCases.map { String(all.total(group: $0)) } + [String(total)])
        out.append(renderColumns(["stage"] + TokenGroup.allCases.map(\.rawValue) + ["total"], stageRows))
        out.append("")
        out.append(renderColumns(
            ["component", "FLOPs"],
            shownComponents.map { [$0.rawValue, String(all.total(component: $0))] }))
        out.append("")
        let L = context.dimensions.text.numHiddenLayers
        let proj = all.perLayer(stage: .prefill, component: .projections), attn = all.perLayer(stage: .prefill, component: .attention)
        let ffn = all.perLayer(stage: .prefill, component: .ffn), pre = all.perLayer(stage: .prefill)
        let groups = TokenGroup.allCases.map { all.perLayer(stage: .prefill, group: $0) }
        let dec = all.perLayer(stage: .decode)
        let selection = all.perLayer(stage: .prefill, component: .selection)
        let baselineColumns = visualRows != nil
        out.append("decoder layers (prefill by component and by token group; decode summed over steps"
            + (baselineColumns ? "; image rows each layer processes, the baseline's selection work" : "") + "):")
        var header = ["layer", "projections", "attention", "ffn", "system", "visual", "text", "prefill", "decode"]
        if baselineColumns {
            header.insert("image rows", at: 1)
            header.insert("selection", at: 5)
        }
        let layerRows: [[String]] = (0..<L).map { l in
            var row: [String] = [String(l), String(proj[l] ?? 0), String(attn[l] ?? 0), String(ffn[l] ?? 0)]
            row += groups.map { String($0[l] ?? 0) }
            row += [String(pre[l] ?? 0), String(dec[l] ?? 0)]
            if let visualRows {
                row.insert(String(visualRows[l]), at: 1)
                row.insert(String(selection[l] ?? 0), at: 5)
            }
            return row
        }
        out.append(renderColumns(header, layerRows))
        out.append("")
        let prompt = layout.promptTokens(context.dimensions)
        if !decodeSteps.isEmpty {
            let shown = decodeSteps.count <= 6 ? Array(decodeSteps.indices) : [0, 1, 2, decodeSteps.count - 2, decodeSteps.count - 1]
            var lines: [String] = []
            for (i, j) in shown.enumerated() {
                if i > 0 && j != shown[i - 1] + 1 { lines.append("  …") }
                lines.append("  step \(j) (\(prompt + j) cached positions): \(decodeSteps[j].total) FLOPs")
            }
            out.append("decode steps:")
            out += lines
            out.append("")
        }
        let prefillTotal = prefill.total
        out.append("prefill   \(prefillTotal) FLOPs (\(fixed(Double(prefillTotal) / 1e12, 4)) T), vision + projector + decoder + LM head")
        out.append("decode    \(total - prefillTotal) FLOPs (\(fixed(Double(total - prefillTotal) / 1e12, 4)) T)")
        out.append("total     \(total) FLOPs (\(fixed(Double(total) / 1e12, 4)) T)")
        return out.joined(separator: "\n") + "\n"
    }

    /// JSON: header, totals by stage / group / component, every `FLOPKey` × component cell (exact
    /// integers; `layer` null outside the decoder), per-layer prefill and decode, each decode step.
    public func json(_ context: FLOPsReportContext) throws -> Data {
        struct CellJSON: Encodable {
            var stage: String, layer: Int?, group: String, component: String, flops: Int
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(stage, forKey: .stage)
                if let layer { try c.encode(layer, forKey: .layer) } else { try c.encodeNil(forKey: .layer) }
                try c.encode(group, forKey: .group)
                try c.encode(component, forKey: .component)
                try c.encode(flops, forKey: .flops)
            }
            enum CodingKeys: String, CodingKey { case stage, layer, group, component, flops }
        }
        struct LayerJSON: Encodable {
            var layer: Int
            var prefill: [String: Int]
            var decode: [String: Int]
        }
        struct StepJSON: Encodable {
            var step: Int, cachedPositions: Int, flops: Int
            enum CodingKeys: String, CodingKey { case step, cachedPositions = "cached_positions", flops }
        }
        struct Report: Encodable {
            var convention = "full", summary = FLOPsConvention.full.summary
            var model: ModelDimensions, prune: String, mode: String?, layout: LayoutJSON
            var total: Int, prefillTotal: Int, decodeTotal: Int
            var stages: [String: Int], groups: [String: Int], components: [String: Int]
            var cells: [CellJSON], layers: [LayerJSON], decodeSteps: [StepJSON]
            var visualRows: [Int]?
            enum CodingKeys: String, CodingKey {
                case convention, summary, model, prune, mode, layout, total, prefillTotal = "prefill_total"
                case decodeTotal = "decode_total", stages, groups, components, cells, layers, decodeSteps = "decode_steps"
                case visualRows = "visual_rows_per_layer"
            }
        }
        func split(_ b: FLOPsBreakdown, _ stage: FLOPStage, _ l: Int) -> [String: Int] {
            var r: [String: Int] = [:]
            for c in FLOPComponent.allCases { r[c.rawValue] = b.perLayer(stage: stage, component: c)[l] ?? 0 }
            for g in TokenGroup.allCases { r[g.rawValue] = b.perLayer(stage: stage, group: g)[l] ?? 0 }
            r["total"] = b.perLayer(stage: stage)[l] ?? 0
            return r.filter { $0.value != 0 || $0.key == "total" }
        }
        let prompt = layout.promptTokens(context.dimensions)
        let report = Report(
            model: context.dimensions, prune: context.prune, mode: context.mode?.rawValue, layout: LayoutJSON(context),
            total: total, prefillTotal: prefill.total, decodeTotal: total - prefill.total,
            stages: Dictionary(uniqueKeysWithValues: FLOPStage.allCases.map { ($0.rawValue, all.total(stage: $0)) }),
            groups: Dictionary(uniqueKeysWithValues: TokenGroup.allCases.map { ($0.rawValue, all.total(group: $0)) }),
            components: Dictionary(uniqueKeysWithValues: shownComponents.map { ($0.rawValue, all.total(component: $0)) }),
            cells: all.cells.sorted { $0.key < $1.key }.map {
                CellJSON(stage: $0.key.key.stage.rawValue, layer: $0.key.key.layer, group: $0.key.key.group.rawValue,
                         component: $0.key.component.rawValue, flops: $0.value)
            },
            layers: (0..<context.dimensions.text.numHiddenLayers).map {
                LayerJSON(layer: $0, prefill: split(all, .prefill, $0), decode: split(all, .decode, $0))
            },
            decodeSteps: decodeSteps.enumerated().map { StepJSON(step: $0.offset, cachedPositions: prompt + $0.offset, flops: $0.element.total) },
            visualRows: visualRows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(report)
    }
}

// MARK: - Scaling table

extension FLOPsModel {
    /// The grids of the scaling table: the native G × G, then doubling the columns and the rows in
    /// turn (24×24, 24×48, 48×48, 48×96, 96×96 = 576 … 9216 tokens for LLaVA-1.5).
    public var scalingGrids: [VisualGrid] {
        let g = dimensions.vision.gridSize
        return [VisualGrid(rows: g, columns: g), VisualGrid(rows: g, columns: 2 * g), VisualGrid(rows: 2 * g, columns: 2 * g),
                VisualGrid(rows: 2 * g, columns: 4 * g), VisualGrid(rows: 4 * g, columns: 4 * g)]
    }

    /// A Markdown table: dense vs the `yopo-25` and `yopo-12` presets, under the yopo convention and
    /// under `full` (skip mode; whole run and the decoder's prefill stage alone), for each grid.
    /// Throws `PruningSpecError` when the presets do not fit this model (they need LLaVA-1.5 7B or 13B).
    public func scalingTable(grids: [VisualGrid]? = nil, systemTokens: Int, textTokens: Int) throws -> String {
        let presets = try ["yopo-25", "yopo-12"].map { try PruningSpec(parsing: $0).resolve(for: dimensions.decoderShape)! }
        func t(_ x: Double) -> String { fixed(x / 1e12, 2) + " T" }
        func pct(_ x: Double, _ dense: Double) -> String { "\(t(x)) (\(fixed(100 * x / dense, 1))%)" }
        var lines = [
            "| visual tokens | grid | yopo: dense | yopo: yopo-25 | yopo: yopo-12 | full: dense | full: yopo-25 | full: yopo-12 | full prefill stage: dense | yopo-25 | yopo-12 |",
            "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for grid in grids ?? scalingGrids {
            let layout = PromptLayout(systemTokens: systemTokens, grid: grid, textTokens: textTokens)
            let conv = try presets.map { try count(.yopo, .yopo(YOPOCostProfile(plan: $0)), layout: layout) }
            let dense = conv[0].dense
            let fullDense = try full(layout)
            let fulls = try presets.map { try full(layout, plan: $0, mode: .skip) }
            let fd = Double(fullDense.total), pd = Double(fullDense.all.total(stage: .prefill))
            var cells = ["\(layout.visualTokens(dimensions))", "\(grid)", t(dense)]
            cells += conv.map { pct($0.total, dense) }
            cells.append(t(fd))
            cells += fulls.map { pct(Double($0.total), fd) }
            cells.append(t(pd))
            cells += fulls.map { pct(Double($0.all.total(stage: .prefill)), pd) }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
