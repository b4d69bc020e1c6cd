import Foundation
import YOPOCore

// The cost shape: the facts about a model and a prompt that FLOPs depend on (decoder and vision
// sizes, the patch grid of an image, where the prompt's tokens are). Nothing here knows a pruning
// method; the conventions (FLOPsConventions.swift) and the exact count (FullFLOPs.swift) read it.

// MARK: - Errors

/// Errors of the FLOPs model. Each message names what is wrong.
public enum FLOPsError: Error, CustomStringConvertible, Equatable {
    /// Model dimensions that cannot describe a model (non-positive sizes, a grid the patch does not divide, …).
    case invalidDimensions(String)
    /// A prompt layout the count cannot use (negative token counts, an empty prompt, a grid mismatch).
    case invalidLayout(String)
    /// Settings the model cannot count: cost parameters out of range, a per-layer plan for another decoder.
    case invalidSettings(String)
    /// A combination this model does not count (a YOPO plan under the FastV convention, a skip-mode
    /// plan or a baseline under `full` over several images, …).
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidDimensions(let s): return "invalid model dimensions: \(s)"
        case .invalidLayout(let s): return "invalid prompt layout: \(s)"
        case .invalidSettings(let s): return "invalid settings: \(s)"
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
        /// A dynamic-resolution tower (Qwen2-VL, Qwen2.5-VL): no CLS, patches merged into LLM tokens,
        /// the merger as projector. Nil for a CLIP tower (one token per patch, plus CLS in the tower).
        public var mergedPatches: MergedPatches?

        public init(
            hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, layersComputed: Int, patchSize: Int,
            imageSize: Int, dropsCLS: Bool = true, mergedPatches: MergedPatches? = nil
        ) {
            self.hiddenSize = hiddenSize
            self.intermediateSize = intermediateSize
            self.numHiddenLayers = numHiddenLayers
            self.layersComputed = layersComputed
            self.patchSize = patchSize
            self.imageSize = imageSize
            self.dropsCLS = dropsCLS
            self.mergedPatches = mergedPatches
        }

        /// Pixels per LLM token per side: `patch_size`, times `spatial_merge_size` for a merging tower (28 for Qwen2-VL).
        public var tokenPatchSize: Int { patchSize * (mergedPatches?.spatialMergeSize ?? 1) }
        /// LLM tokens per side at `image_size`: 24 for CLIP 336 / 14; 16 for Qwen2-VL at 448 / 28.
        public var gridSize: Int { imageSize / tokenPatchSize }
        /// The token grid of one `image_size` square image.
        public var grid: VisualGrid { VisualGrid(rows: gridSize, columns: gridSize) }
        /// LLM tokens per image at that grid: G² (+ 1 when CLS is kept).
        public var tokensPerImage: Int { gridSize * gridSize + (dropsCLS ? 0 : 1) }

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
            case numHiddenLayers = "num_hidden_layers", layersComputed = "layers_computed"
            case patchSize = "patch_size", imageSize = "image_size", dropsCLS = "drops_cls"
            case mergedPatches = "merged_patches"
        }
    }

    /// How a dynamic-resolution tower (transformers `Qwen2VisionTransformerPretrainedModel`,
    /// `Qwen2_5_VisionTransformerPretrainedModel`) turns an image into LLM tokens: each token is
    /// `spatial_merge_size`² patches; the blocks attend within the image (Qwen2.5-VL: within windows
    /// of `window_size` pixels except in `fullatt_block_indexes`); the merger (LayerNorm, then
    /// `[m²·dv → m²·dv → d]` with GELU) plays the projector's part, counted in the `vision` stage.
    public struct MergedPatches: Sendable, Equatable, Codable {
        /// `spatial_merge_size` (m, 2): patches per LLM token per side.
        public var spatialMergeSize: Int
        /// Values per patch: `in_channels · temporal_patch_size · patch_size²` (1176), the Conv3d as one product.
        public var patchDimension: Int
        /// Whether the MLP is SwiGLU (gate, up, down; Qwen2.5-VL) rather than fc1 / fc2 (Qwen2-VL).
        public var swiGLU: Bool
        /// Window side in LLM tokens (`window_size / (patch_size · spatial_merge_size)`, 4 for
        /// Qwen2.5-VL); nil when every block attends over the whole image (Qwen2-VL).
        public var windowTokens: Int?
        /// Blocks that attend over the whole image although the tower is windowed (`fullatt_block_indexes`).
        public var fullAttentionBlocks: [Int]

        public init(spatialMergeSize: Int, patchDimension: Int, swiGLU: Bool, windowTokens: Int?, fullAttentionBlocks: [Int]) {
            self.spatialMergeSize = spatialMergeSize
            self.patchDimension = patchDimension
            self.swiGLU = swiGLU
            self.windowTokens = windowTokens
            self.fullAttentionBlocks = fullAttentionBlocks
        }

        enum CodingKeys: String, CodingKey {
            case spatialMergeSize = "spatial_merge_size", patchDimension = "patch_dimension", swiGLU = "swiglu"
            case windowTokens = "window_tokens", fullAttentionBlocks = "fullatt_block_indexes"
        }

        /// Σ over attention segments of (patch rows)² for one image on `grid` (tokens): the whole
        /// image for a full-attention block, else each window of `windowTokens`² tokens clipped at
        /// the grid's edge. The tower's attention does 4 · this · dv FLOPs per block.
        public func attentionPairs(grid: VisualGrid, fullAttention: Bool) -> Int {
            let unit = spatialMergeSize * spatialMergeSize
            guard let w = windowTokens, !fullAttention else { return (grid.cells * unit) * (grid.cells * unit) }
            func squares(_ side: Int) -> Int {
                Swift.stride(from: 0, to: side, by: w).reduce(0) { $0 + min(w, side - $1) * min(w, side - $1) }
            }
            return unit * unit * squares(grid.rows) * squares(grid.columns)
        }
    }

    /// A label for tables (`llava-1.5-7b`, or the checkpoint directory).
    public var name: String
    /// The model family (`ModelIdentity.family`): `llava` for both LLaVA layouts.
    public var family: String
    public var text: Text
    public var vision: Vision

    public init(name: String, family: String = ModelIdentity.llavaFamily, text: Text, vision: Vision) {
        self.name = name
        self.family = family
        self.text = text
        self.vision = vision
    }

    /// Who the model is: family, name and decoder shape.
    public var identity: ModelIdentity { ModelIdentity(family: family, name: name, shape: decoderShape) }

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

    /// The Qwen2 decoder of Qwen2-VL-7B and Qwen2.5-VL-7B: d 3584, 28 layers, 28 query heads and 4
    /// key-value heads × 128, I 18944, vocabulary 152064 (untied LM head).
    public static let qwen2_7BText = Text(
        hiddenSize: 3584, numHiddenLayers: 28, numAttentionHeads: 28, numKeyValueHeads: 4, headDim: 128,
        intermediateSize: 18944, vocabSize: 152064)

    /// Qwen2-VL-7B (`Qwen2VLForConditionalGeneration`): ViT of 32 LayerNorm blocks, width 1280, MLP
    /// 5120 (fc1 / fc2), full attention per image, patch 14 merged 2 × 2; tables default to a 448²
    /// image (16 × 16 = 256 tokens); `yopo flops --image-size` gives any other.
    public static let qwen2VL_7B = ModelDimensions(
        name: "qwen2-vl-7b", family: ModelIdentity.qwen2VLFamily, text: qwen2_7BText,
        vision: Vision(
            hiddenSize: 1280, intermediateSize: 5120, numHiddenLayers: 32, layersComputed: 32, patchSize: 14, imageSize: 448,
            mergedPatches: MergedPatches(
                spatialMergeSize: 2, patchDimension: 1176, swiGLU: false, windowTokens: nil, fullAttentionBlocks: [])))

    /// Qwen2.5-VL-7B (`Qwen2_5_VLForConditionalGeneration`): ViT of 32 RMSNorm blocks, width 1280,
    /// SwiGLU MLP 3420, attention in 112-pixel windows (4 × 4 tokens) except blocks 7, 15, 23, 31;
    /// patch 14 merged 2 × 2; the Qwen2-VL-7B decoder.
    public static let qwen25VL_7B = ModelDimensions(
        name: "qwen2.5-vl-7b", family: ModelIdentity.qwen2VLFamily, text: qwen2_7BText,
        vision: Vision(
            hiddenSize: 1280, intermediateSize: 3420, numHiddenLayers: 32, layersComputed: 32, patchSize: 14, imageSize: 448,
            mergedPatches: MergedPatches(
                spatialMergeSize: 2, patchDimension: 1176, swiGLU: true, windowTokens: 4, fullAttentionBlocks: [7, 15, 23, 31])))

    /// The built-in architectures by `--arch` name.
    public static let architectures: [String: ModelDimensions] = [
        llava15_7B.name: llava15_7B, llava15_13B.name: llava15_13B, qwen2VL_7B.name: qwen2VL_7B, qwen25VL_7B.name: qwen25VL_7B
    ]

    /// The decoder's shape (layers, heads, FFN width).
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
            "text sizes must be positive (hidden_size \(t.hiddenSize), num_hidden_layers \(t.numHiddenLayers), head_dim \(t.headDim), intermediate_size \(t.intermediateSize), vocab_size \(t.vocabSize))"
        )
        try require(
            t.numAttentionHeads > 0 && t.numKeyValueHeads > 0 && t.numAttentionHeads % t.numKeyValueHeads == 0,
            "num_attention_heads \(t.numAttentionHeads) must be a positive multiple of num_key_value_heads \(t.numKeyValueHeads)")
        try require(
            v.hiddenSize > 0 && v.intermediateSize > 0 && v.numHiddenLayers > 0,
            "vision sizes must be positive (hidden_size \(v.hiddenSize), intermediate_size \(v.intermediateSize), num_hidden_layers \(v.numHiddenLayers))"
        )
        try require(
            v.layersComputed >= 0 && v.layersComputed <= v.numHiddenLayers,
            "vision layers computed \(v.layersComputed) is outside [0, \(v.numHiddenLayers)]")
        try require(
            v.patchSize > 0 && v.imageSize >= v.patchSize && v.imageSize % v.patchSize == 0,
            "vision image_size \(v.imageSize) must be a positive multiple of patch_size \(v.patchSize)")
        var unit = 1.0  // patches per LLM token
        var patchValues = 3 * Double(v.patchSize) * Double(v.patchSize)
        if let merged = v.mergedPatches {
            let m = merged.spatialMergeSize
            try require(m >= 1 && m <= 64, "spatial_merge_size \(m) must be from 1 to 64")
            try require(
                v.imageSize % v.tokenPatchSize == 0,
                "vision image_size \(v.imageSize) must be a multiple of patch_size × spatial_merge_size (\(v.tokenPatchSize))")
            try require(
                merged.patchDimension >= 1 && merged.patchDimension <= ModelDimensions.maxSize,
                "patch dimension \(merged.patchDimension) must be from 1 to \(ModelDimensions.maxSize)")
            if let w = merged.windowTokens { try require(w >= 1 && w <= PromptLayout.maxTokens, "window of \(w) tokens must be ≥ 1") }
            try require(
                merged.fullAttentionBlocks.allSatisfy { $0 >= 0 && $0 < v.numHiddenLayers },
                "fullatt_block_indexes \(merged.fullAttentionBlocks) must be blocks of the \(v.numHiddenLayers)-block tower")
            try require(v.dropsCLS, "a merging tower has no CLS token to keep")
            unit = Double(m * m)
            patchValues = Double(merged.patchDimension)
        }
        // Bounds that keep every per-token product the counts form (d·H·hd, d·I, d·V, p²·dv, …)
        // inside 64-bit integers; the layout's bound (`FLOPsModel.full`) covers the token counts.
        let size = ModelDimensions.maxSize, count = ModelDimensions.maxCount
        for (value, field) in [
            (t.hiddenSize, "hidden_size"), (t.headDim, "head_dim"), (t.intermediateSize, "intermediate_size"),
            (t.vocabSize, "vocab_size"), (v.hiddenSize, "vision hidden_size"),
            (v.intermediateSize, "vision intermediate_size"), (v.imageSize, "vision image_size")
        ] {
            try require(value <= size, "\(field) \(value) is above \(size)")
        }
        for (value, field) in [
            (t.numHiddenLayers, "num_hidden_layers"), (t.numAttentionHeads, "num_attention_heads"),
            (v.numHiddenLayers, "vision num_hidden_layers")
        ] {
            try require(value <= count, "\(field) \(value) is above \(count)")
        }
        let d = Double(t.hiddenSize), q = Double(t.numAttentionHeads) * Double(t.headDim)
        let kv = Double(t.numKeyValueHeads) * Double(t.headDim), dv = Double(v.hiddenSize)
        let perToken =
            4 * d * q + 4 * d * kv + 6 * d * Double(t.intermediateSize) + 2 * d * Double(t.vocabSize)
            + unit * (8 * dv * (dv + Double(v.intermediateSize)) + 2 * patchValues * dv)
            + 4 * (unit * dv + d) * unit * dv + 4 * (dv + d) * d
        try require(
            perToken < 1e15,
            "one token's FLOPs would exceed 10¹⁵ (hidden_size \(t.hiddenSize), attention width \(t.numAttentionHeads) × \(t.headDim), intermediate_size \(t.intermediateSize), vocab_size \(t.vocabSize))"
        )
    }

    /// Largest `hidden_size`, `head_dim`, `intermediate_size`, `vocab_size` and vision sizes (2²⁴).
    public static let maxSize = 1 << 24
    /// Most layers and heads (2¹⁶).
    public static let maxCount = 1 << 16
}

// MARK: - Decoder shape

/// The decoder facts a per-layer plan is checked against (a decoder's `num_hidden_layers`,
/// `num_attention_heads`, `intermediate_size`).
public struct DecoderShape: Sendable, Equatable, Codable {
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int

    public init(numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int) {
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
    }

    /// LLaVA-1.5-7B (Vicuna-7B): 32 layers, 32 heads, FFN 11008.
    public static let llava15_7B = DecoderShape(numHiddenLayers: 32, numAttentionHeads: 32, intermediateSize: 11008)
    /// LLaVA-1.5-13B (Vicuna-13B): 40 layers, 40 heads, FFN 13824.
    public static let llava15_13B = DecoderShape(numHiddenLayers: 40, numAttentionHeads: 40, intermediateSize: 13824)
}

// MARK: - Model identity

/// Which model this is beyond its sizes: its family (`llava` for both LLaVA layouts; `qwen2_vl`,
/// `internvl_chat`, … as the family registry names them), a display name (`llava-1.5-7b`, a
/// checkpoint directory; for messages) and its decoder's shape. What belongs to trained weights
/// rather than to sizes (YOPO's presets and official head masks) is chosen by family and shape.
public struct ModelIdentity: Sendable, Equatable, CustomStringConvertible {
    public var family: String
    public var name: String
    public var shape: DecoderShape

    public init(family: String, name: String = "", shape: DecoderShape) {
        self.family = family
        self.name = name
        self.shape = shape
    }

    /// The LLaVA family (llava-hf `LlavaForConditionalGeneration` and original `LlavaLlamaForCausalLM`).
    public static let llavaFamily = "llava"
    /// Qwen2-VL and Qwen2.5-VL (`Qwen2VLForConditionalGeneration`, `Qwen2_5_VLForConditionalGeneration`).
    public static let qwen2VLFamily = "qwen2-vl"

    /// A LLaVA-family model of `shape`: what a caller that knows only the decoder's shape means
    /// (every checkpoint yopo loads today is LLaVA).
    public static func llava(_ shape: DecoderShape, name: String = "") -> ModelIdentity {
        ModelIdentity(family: llavaFamily, name: name, shape: shape)
    }

    /// `llava-1.5-7b (llava, 32 layers × 32 heads)`.
    public var description: String {
        (name.isEmpty ? "" : name + " ") + "(\(family), \(shape.numHiddenLayers) layers × \(shape.numAttentionHeads) heads)"
    }
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
    public func imageRowRanges(_ dimensions: ModelDimensions) -> [Range<Int>] {
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
    public func rowGroups(_ dimensions: ModelDimensions) -> [TokenGroup] {
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

// MARK: - From the engine's decoder description

extension DecoderSpec {
    /// What a pruning plan is resolved against: layers, heads, FFN width.
    public var shape: DecoderShape {
        DecoderShape(numHiddenLayers: numHiddenLayers, numAttentionHeads: numAttentionHeads, intermediateSize: intermediateSize)
    }
}

extension ModelDimensions.Text {
    /// The decoder sizes the FLOPs model reads, from the engine's description.
    public init(_ spec: DecoderSpec) {
        self.init(
            hiddenSize: spec.hiddenSize, numHiddenLayers: spec.numHiddenLayers, numAttentionHeads: spec.numAttentionHeads,
            numKeyValueHeads: spec.numKeyValueHeads, headDim: spec.headDim, intermediateSize: spec.intermediateSize,
            vocabSize: spec.vocabSize)
    }
}
