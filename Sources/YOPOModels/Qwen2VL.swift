import Foundation
import YOPOCore
import YOPOEngine
import YOPOFormats
import YOPOImage
import YOPOText

// Qwen2-VL (transformers `Qwen2VLForConditionalGeneration`): a ViT with 2-D rotary over
// dynamic-resolution patch grids, a 2×2 PatchMerger into the LLM's width, and a Qwen2 decoder
// (LLaMA-shaped with q/k/v biases) whose rotary positions are M-RoPE (t, h, w) triples from the
// prompt (`get_rope_index`). Semantics: ../shared/docs/FAMILIES.md; names as transformers 5.24's.

/// `vision_config` of a Qwen2-VL or Qwen2.5-VL config.json (`Qwen2VLVisionConfig`,
/// `Qwen2_5_VLVisionConfig`); absent keys take that class's defaults. The two name the widths
/// differently: Qwen2-VL's ViT width is `embed_dim` and `hidden_size` the merger's output; Qwen2.5-VL's
/// ViT width is `hidden_size`, the output `out_hidden_size`, the MLP width `intermediate_size`.
public struct Qwen2VLVisionConfiguration: Decodable, Sendable, Equatable {
    /// Which vision tower: Qwen2-VL (LayerNorm, fc1/fc2 MLP, full attention) or Qwen2.5-VL
    /// (RMSNorm, SwiGLU MLP with biases, window attention with full-attention blocks).
    public enum Variant: String, Sendable {
        case qwen2VL = "qwen2_vl"
        case qwen25VL = "qwen2_5_vl"
    }
    public var variant = Variant.qwen2VL
    public var depth = 32
    /// Width of the ViT (`embed_dim`).
    public var embedDim = 1280
    /// Width of the merger's output: the LLM's hidden_size (`hidden_size`).
    public var hiddenSize = 3584
    public var numHeads = 16
    public var mlpRatio = 4.0
    public var patchSize = 14
    public var spatialMergeSize = 2
    public var temporalPatchSize = 2
    public var inChannels = 3
    public var hiddenAct: Activation = .quickGELU
    /// The 2-D rotary's base (`rope_parameters.rope_theta`, 10000).
    public var ropeTheta: Float = 10000
    /// Qwen2.5-VL: the MLP width (`intermediate_size`, 3420); Qwen2-VL's is `embed_dim · mlp_ratio`.
    public var explicitIntermediateSize: Int?
    /// Qwen2.5-VL: the attention window's side in pixels (`window_size`, 112 = 4 merged tokens).
    public var windowSize = 112
    /// Qwen2.5-VL: blocks that attend over the whole image (`fullatt_block_indexes`).
    public var fullAttentionBlocks = [7, 15, 23, 31]

    enum CodingKeys: String, CodingKey {
        case depth, embedDim = "embed_dim", hiddenSize = "hidden_size", numHeads = "num_heads", mlpRatio = "mlp_ratio"
        case patchSize = "patch_size", spatialMergeSize = "spatial_merge_size", temporalPatchSize = "temporal_patch_size"
        case inChannels = "in_channels", hiddenAct = "hidden_act", ropeParameters = "rope_parameters"
        case modelType = "model_type", outHiddenSize = "out_hidden_size", intermediateSize = "intermediate_size"
        case windowSize = "window_size", fullAttentionBlocks = "fullatt_block_indexes"
    }

    public init(variant: Variant = .qwen2VL) {
        self.variant = variant
        if variant == .qwen25VL {
            embedDim = 3584
            explicitIntermediateSize = 3420
            hiddenAct = .silu
        }
    }

    /// Decodes with the variant `vision_config.model_type` names (`qwen2_5_vl_vision`), else `variant`.
    public init(from decoder: Decoder) throws { try self.init(from: decoder, variant: .qwen2VL) }

    public init(from decoder: Decoder, variant given: Variant) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.string(.modelType)
        self.init(variant: type == "qwen2_5_vl_vision" ? .qwen25VL : type == "qwen2_vl_vision" ? .qwen2VL : given)
        depth = try c.integer(.depth) ?? depth
        numHeads = try c.integer(.numHeads) ?? numHeads
        if variant == .qwen25VL {
            embedDim = try c.integer(.hiddenSize) ?? embedDim
            hiddenSize = try c.integer(.outHiddenSize) ?? hiddenSize
            explicitIntermediateSize = try c.integer(.intermediateSize) ?? explicitIntermediateSize
            windowSize = try c.integer(.windowSize) ?? windowSize
            fullAttentionBlocks = try c.integers(.fullAttentionBlocks) ?? fullAttentionBlocks
        } else {
            embedDim = try c.integer(.embedDim) ?? embedDim
            hiddenSize = try c.integer(.hiddenSize) ?? hiddenSize
            mlpRatio = try c.float(.mlpRatio).map(Double.init) ?? mlpRatio
        }
        patchSize = try c.integer(.patchSize) ?? patchSize
        spatialMergeSize = try c.integer(.spatialMergeSize) ?? spatialMergeSize
        temporalPatchSize = try c.integer(.temporalPatchSize) ?? temporalPatchSize
        inChannels = try c.integer(.inChannels) ?? inChannels
        if let act = try c.string(.hiddenAct) {
            guard let a = Activation(rawValue: act) else {
                throw ModelError.invalidConfiguration("\(c.keyPath(.hiddenAct)) \(act) is not supported (quick_gelu, gelu, silu)")
            }
            hiddenAct = a
        }
        struct VisionRope: Decodable {
            var rope_type: String?
            var rope_theta: Float?
        }
        let rope: VisionRope?
        do {
            rope = try c.decodeIfPresent(VisionRope.self, forKey: .ropeParameters)
        } catch {
            throw ModelError.invalidConfiguration(
                "\(c.keyPath(.ropeParameters)) must be an object such as {\"rope_type\": \"axial\", \"rope_theta\": 10000}")
        }
        if let type = rope?.rope_type, type != "axial", type != "default" {
            throw ModelError.invalidConfiguration("\(c.keyPath(.ropeParameters)).rope_type \"\(type)\" is not supported (axial)")
        }
        if let theta = rope?.rope_theta {
            guard theta.isFinite, theta > 0 else {
                throw ModelError.invalidConfiguration("\(c.keyPath(.ropeParameters)).rope_theta must be a positive number, found \(theta)")
            }
            ropeTheta = theta
        }
    }

    /// `embed_dim / num_heads`.
    public var headDim: Int { embedDim / max(numHeads, 1) }
    /// The MLP width: `int(embed_dim · mlp_ratio)` (Qwen2-VL) or `intermediate_size` (Qwen2.5-VL);
    /// 0 when the product is not a usable size (`validate` names it).
    public var intermediateSize: Int {
        if let explicitIntermediateSize { return explicitIntermediateSize }
        let width = Double(embedDim) * mlpRatio
        return width.isFinite && width >= 0 && width < Double(Int32.max) ? Int(width) : 0
    }
    /// Qwen2.5-VL's window side in merged tokens (`window_size / merge / patch`, 4).
    public var windowTokens: Int { windowSize / max(spatialMergeSize * patchSize, 1) }
    /// Values per patch: `in_channels · temporal_patch_size · patch_size²` (1176).
    public var patchDimension: Int { inChannels * temporalPatchSize * patchSize * patchSize }

    /// Throws `ModelError.invalidConfiguration` naming the `vision_config` key out of range.
    public func validate() throws {
        let limits = ConfigurationLimits.self
        let v25 = variant == .qwen25VL
        // The two configs name the widths differently (see the type's documentation).
        let width = v25 ? "vision_config.hidden_size" : "vision_config.embed_dim"
        let output = v25 ? "vision_config.out_hidden_size" : "vision_config.hidden_size"
        try requireInRange(depth, 1...limits.layers, "vision_config.depth")
        try requireInRange(embedDim, 1...limits.hiddenSize, width)
        try requireInRange(hiddenSize, 1...limits.hiddenSize, output)
        try requireInRange(numHeads, 1...embedDim, "vision_config.num_heads")
        guard embedDim % numHeads == 0, headDim % 4 == 0 else {
            throw ModelError.invalidConfiguration(
                "\(width) \(embedDim) / num_heads \(numHeads) must give a head_dim that is a multiple of 4 (2-D rotary)")
        }
        if v25 {
            try requireInRange(intermediateSize, 1...limits.intermediateSize, "vision_config.intermediate_size")
        } else {
            guard mlpRatio.isFinite, mlpRatio > 0, (1...limits.intermediateSize).contains(intermediateSize) else {
                throw ModelError.invalidConfiguration(
                    "vision_config.mlp_ratio \(Float(mlpRatio)) must give an MLP width from 1 to \(limits.intermediateSize)")
            }
        }
        try requireInRange(patchSize, 1...64, "vision_config.patch_size")
        try requireInRange(spatialMergeSize, 1...8, "vision_config.spatial_merge_size")
        try requireInRange(temporalPatchSize, 1...4, "vision_config.temporal_patch_size")
        try requireInRange(inChannels, 3...3, "vision_config.in_channels")
        if variant == .qwen25VL {
            guard windowTokens >= 1 else {
                throw ModelError.invalidConfiguration(
                    "vision_config.window_size \(windowSize) must be at least spatial_merge_size · patch_size = \(spatialMergeSize * patchSize)"
                )
            }
            for b in fullAttentionBlocks { try requireInRange(b, 0...(depth - 1), "vision_config.fullatt_block_indexes") }
        }
    }
}

/// A Qwen2-VL config.json: the text keys nested in `text_config` (transformers 5.x) or at the top
/// level (the Hub's 4.x files), `vision_config`, and the special token ids.
public struct Qwen2VLConfiguration: Decodable, Sendable {
    public var text: LlamaConfiguration
    public var vision: Qwen2VLVisionConfiguration
    /// `<|image_pad|>` (151655): one per merged visual token.
    public var imageTokenID = 151655
    public var videoTokenID = 151656
    public var visionStartTokenID = 151652
    public var visionEndTokenID = 151653

    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config", visionConfig = "vision_config", imageTokenID = "image_token_id"
        case videoTokenID = "video_token_id", visionStartTokenID = "vision_start_token_id"
        case visionEndTokenID = "vision_end_token_id", tieWordEmbeddings = "tie_word_embeddings"
        case modelType = "model_type"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        text = try c.decodeIfPresent(LlamaConfiguration.self, forKey: .textConfig) ?? LlamaConfiguration(from: decoder)
        if let tie = try c.boolean(.tieWordEmbeddings), !c.contains(.textConfig) || text.tieWordEmbeddings != tie {
            text.tieWordEmbeddings = tie  // the top-level key is the model's (PreTrainedModel ties on it)
        }
        let variant: Qwen2VLVisionConfiguration.Variant = try c.string(.modelType) == "qwen2_5_vl" ? .qwen25VL : .qwen2VL
        vision =
            c.contains(.visionConfig)
            ? try Qwen2VLVisionConfiguration(from: c.superDecoder(forKey: .visionConfig), variant: variant)
            : Qwen2VLVisionConfiguration(variant: variant)
        imageTokenID = try c.integer(.imageTokenID) ?? imageTokenID
        videoTokenID = try c.integer(.videoTokenID) ?? videoTokenID
        visionStartTokenID = try c.integer(.visionStartTokenID) ?? visionStartTokenID
        visionEndTokenID = try c.integer(.visionEndTokenID) ?? visionEndTokenID
    }

    /// Checks the text and vision sizes, that the merger's width is the LLM's, that M-RoPE is
    /// configured and that the special ids are in the vocabulary. Throws `ModelError.invalidConfiguration`.
    public func validate() throws {
        try text.validate()
        try vision.validate()
        guard vision.hiddenSize == text.hiddenSize else {
            let key = vision.variant == .qwen25VL ? "out_hidden_size" : "hidden_size"
            throw ModelError.invalidConfiguration(
                "vision_config.\(key) \(vision.hiddenSize) must equal the LLM's hidden_size \(text.hiddenSize)")
        }
        guard text.mropeSection != nil else {
            throw ModelError.invalidConfiguration("text_config.rope_parameters has no mrope_section (Qwen2-VL uses M-RoPE)")
        }
        for (key, id) in [
            ("image_token_id", imageTokenID), ("vision_start_token_id", visionStartTokenID), ("vision_end_token_id", visionEndTokenID)
        ] {
            try requireInRange(id, 0...(text.vocabSize - 1), key)
        }
    }
}

/// Qwen2-VL's vision tower (transformers `Qwen2VisionTransformerPretrainedModel`): Conv3d patch
/// embedding as one product, blocks `h += proj(attn(LN₁ h)); h += fc2(act(fc1(LN₂ h)))` with 2-D
/// rotary on q and k and bidirectional attention within each frame, then the PatchMerger
/// (`ln_q`, 2×2 neighbouring patches concatenated, Linear → GELU → Linear).
///
/// Qwen2.5-VL's (`Qwen2_5_VisionTransformerPretrainedModel`) differs in data only: RMSNorm for every
/// norm, a SwiGLU MLP with biases, and window attention: the merged grid cut into windows of
/// `windowTokens²` merged tokens (partial at the right and bottom edges), rows permuted into window
/// order (`get_vision_window_index`), blocks outside `fullatt_block_indexes` attending within their
/// window, the merger's output permuted back.
///
/// Canonical tensor names (prefix `visual.`): `patch_embed.proj.weight` `[embed, 3, T, p, p]`,
/// `blocks.N.{norm1,norm2}.{weight,bias}` (no bias in 2.5-VL), `blocks.N.attn.qkv.{weight,bias}`
/// (rows q | k | v), `blocks.N.attn.proj.{weight,bias}`, `blocks.N.mlp.{fc1,fc2}.{weight,bias}` (2.5-VL:
/// `mlp.{gate,up,down}_proj.{weight,bias}`), `merger.ln_q.{weight,bias}` (2.5-VL: weight only),
/// `merger.mlp.0.{weight,bias}`, `merger.mlp.2.{weight,bias}`.
public final class Qwen2VLVisionTower {
    public let config: Qwen2VLVisionConfiguration
    /// A LayerNorm (with bias) or RMSNorm (without), eps 1e-6.
    struct Norm {
        let weight: Tensor
        let bias: Tensor?
        func callAsFunction(_ x: Tensor) -> Tensor {
            bias.map { layerNorm(x, weight: weight, bias: $0, eps: Qwen2VLVisionTower.layerNormEps) }
                ?? rmsNorm(x, weight: weight, eps: Qwen2VLVisionTower.layerNormEps)
        }
    }
    enum MLP {
        case fc(fc1: WeightMatrix, fc1Bias: Tensor, fc2: WeightMatrix, fc2Bias: Tensor)
        case swiGLU(gate: WeightMatrix, gateBias: Tensor, up: WeightMatrix, upBias: Tensor, down: WeightMatrix, downBias: Tensor)
    }
    struct Block {
        let norm1, norm2: Norm
        let qkv, proj: WeightMatrix
        let qkvBias, projBias: Tensor
        let mlp: MLP
        /// Attends over the whole frame (every Qwen2-VL block; 2.5-VL's `fullatt_block_indexes`).
        let fullAttention: Bool
    }
    let patchWeight: WeightMatrix
    let blocks: [Block]
    let mergerNorm: Norm
    let merger1, merger2: WeightMatrix
    let merger1Bias, merger2Bias: Tensor
    let rotary: RotaryEmbedding
    static let layerNormEps: Float = 1e-6

    /// Throws `ModelError` naming a missing or mis-shaped tensor, or an invalid configuration.
    public convenience init(config: Qwen2VLVisionConfiguration, weights: WeightStore) throws {
        try self.init(config: config, source: weights)
    }

    /// A tower with random weights of `config`'s dimensions (uniform ±0.02, norms 1, biases 0),
    /// matrices stored as `dtype`, for benchmarks. Throws `ModelError.invalidConfiguration` for an
    /// invalid config.
    public convenience init(randomWeightsFor config: Qwen2VLVisionConfiguration, dtype: DType, seed: UInt64 = 200) throws {
        try self.init(config: config, source: RandomVisionWeights(dtype: dtype, seed: seed))
    }

    private init(config: Qwen2VLVisionConfiguration, source weights: some VisionWeightSource) throws {
        try config.validate()
        self.config = config
        let e = config.embedDim, m = config.intermediateSize, p = config.patchSize
        let merged = e * config.spatialMergeSize * config.spatialMergeSize
        patchWeight = try weights.takeMatrix(
            "visual.patch_embed.proj.weight", shape: [e, config.inChannels, config.temporalPatchSize, p, p])
        let v25 = config.variant == .qwen25VL
        func norm(_ name: String) throws -> Norm {
            Norm(weight: try weights.take(name + ".weight", shape: [e]), bias: v25 ? nil : try weights.take(name + ".bias", shape: [e]))
        }
        blocks = try (0..<config.depth).map { i in
            let pre = "visual.blocks.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> Tensor { try weights.take(pre + n, shape: s) }
            func w(_ n: String, _ s: [Int]) throws -> WeightMatrix { try weights.takeMatrix(pre + n, shape: s) }
            let mlp: MLP =
                v25
                ? .swiGLU(
                    gate: try w("mlp.gate_proj.weight", [m, e]), gateBias: try t("mlp.gate_proj.bias", [m]),
                    up: try w("mlp.up_proj.weight", [m, e]), upBias: try t("mlp.up_proj.bias", [m]),
                    down: try w("mlp.down_proj.weight", [e, m]), downBias: try t("mlp.down_proj.bias", [e]))
                : .fc(
                    fc1: try w("mlp.fc1.weight", [m, e]), fc1Bias: try t("mlp.fc1.bias", [m]),
                    fc2: try w("mlp.fc2.weight", [e, m]), fc2Bias: try t("mlp.fc2.bias", [e]))
            return Block(
                norm1: try norm(pre + "norm1"), norm2: try norm(pre + "norm2"),
                qkv: try w("attn.qkv.weight", [3 * e, e]), proj: try w("attn.proj.weight", [e, e]),
                qkvBias: try t("attn.qkv.bias", [3 * e]), projBias: try t("attn.proj.bias", [e]), mlp: mlp,
                fullAttention: !v25 || config.fullAttentionBlocks.contains(i))
        }
        mergerNorm = try norm("visual.merger.ln_q")
        merger1 = try weights.takeMatrix("visual.merger.mlp.0.weight", shape: [merged, merged])
        merger1Bias = try weights.take("visual.merger.mlp.0.bias", shape: [merged])
        merger2 = try weights.takeMatrix("visual.merger.mlp.2.weight", shape: [config.hiddenSize, merged])
        merger2Bias = try weights.take("visual.merger.mlp.2.bias", shape: [config.hiddenSize])
        rotary = try RotaryEmbedding(kind: .vision2D, headDim: config.headDim, theta: config.ropeTheta)
    }

    /// The merged visual tokens of one image.
    /// - Parameter pixels: the processor's output (`[gridT·gridH·gridW, patchDimension]`, merge-block order).
    /// - Returns: `[gridT·gridH·gridW / merge², hidden_size]` fp32, raster order over the merged grid.
    /// - Parameter counter: receives the executed FLOPs (stage set by the caller), if given.
    public func callAsFunction(_ pixels: QwenVLPixels, counter: FLOPCounter? = nil) -> Tensor {
        let e = config.embedDim, heads = config.numHeads, hd = config.headDim, m = config.spatialMergeSize
        let unit = m * m
        let n = pixels.patchCount, frame = pixels.gridH * pixels.gridW
        precondition(pixels.patchDimension == config.patchDimension, "pixels of \(pixels.patchDimension) values per patch")
        precondition(pixels.values.count == n * pixels.patchDimension, "pixels hold \(pixels.values.count) values for \(n) patches")
        precondition(pixels.gridW % m == 0 && pixels.gridH % m == 0, "grid must be a multiple of the merge size")
        // Row order through the blocks: merged tokens (units of m² patch rows) in window order for
        // 2.5-VL, else as given; `segments` are the rows each windowed block attends within.
        let (order, windows) = windowOrder(pixels)
        let input = Tensor(zeros: [n, pixels.patchDimension])
        pixels.values.withUnsafeBufferPointer { src in
            for (j, token) in order.enumerated() {
                (input.data + j * unit * pixels.patchDimension).update(
                    from: src.baseAddress! + token * unit * pixels.patchDimension, count: unit * pixels.patchDimension)
            }
        }
        var h = linear(input, patchWeight)
        counter?.addProduct(rows: n, k: pixels.patchDimension, n: e, .visual)
        // Rotary angles per row from its patch's (row, column) in the unmerged grid.
        let half = hd / 2
        let cosines = Tensor(zeros: [n, half]), sines = Tensor(zeros: [n, half])
        for j in 0..<n {
            let source = order[j / unit] * unit + j % unit
            let (row, column) = RotaryEmbedding.patchPosition(index: source % frame, gridWidth: pixels.gridW, mergeSize: m)
            rotary.angles(row: row, column: column, cosines: cosines.data + j * half, sines: sines.data + j * half)
        }
        let frames = Array(stride(from: 0, to: n, by: frame).map { $0..<($0 + frame) })
        for block in blocks {
            let qkv = linear(block.norm1(h), block.qkv, bias: block.qkvBias)
            for r in 0..<n {
                let row = qkv.data + r * 3 * e
                for part in 0..<2 {  // q, then k
                    RotaryEmbedding.rotate(
                        row + part * e, heads: heads, headDim: hd, cosines: cosines.data + r * half, sines: sines.data + r * half)
                }
            }
            // Bidirectional attention within each frame (`cu_seqlens`) or window (`cu_window_seqlens`).
            let context = Tensor(zeros: [n, e])
            for segment in block.fullAttention ? frames : windows {
                let base = qkv.data + segment.lowerBound * 3 * e
                let c = visionAttention(
                    q: base, k: base + e, v: base + 2 * e, stride: 3 * e, rows: segment.count, heads: heads, headDim: hd)
                (context.data + segment.lowerBound * e).update(from: c.data, count: segment.count * e)
                counter?.add(2 * segment.count * segment.count * e * 2, .visual)
            }
            let attended = linear(context, block.proj, bias: block.projBias)
            addInPlace(attended, h)
            let normed2 = block.norm2(attended)
            let mlpWidth = config.intermediateSize
            switch block.mlp {
            case .fc(let fc1, let fc1Bias, let fc2, let fc2Bias):
                let hidden = linear(normed2, fc1, bias: fc1Bias)
                config.hiddenAct.applyInPlace(hidden)
                h = linear(hidden, fc2, bias: fc2Bias)
                counter?.addProduct(rows: n, k: e, n: 2 * mlpWidth, .visual)
            case .swiGLU(let gate, let gateBias, let up, let upBias, let down, let downBias):
                let g = linear(normed2, gate, bias: gateBias)
                let u = linear(normed2, up, bias: upBias)
                config.hiddenAct.applyInPlace(g)
                for i in 0..<g.count { g.data[i] *= u.data[i] }
                h = linear(g, down, bias: downBias)
                counter?.addProduct(rows: n, k: e, n: 3 * mlpWidth, .visual)
            }
            addInPlace(h, attended)
            counter?.addProduct(rows: n, k: e, n: 4 * e, .visual)
        }
        // PatchMerger: each merged token is m² consecutive rows; then back to raster order.
        let merged = mergerNorm(h).reshaped([n / unit, e * unit])
        let hidden = linear(merged, merger1, bias: merger1Bias)
        Activation.gelu.applyInPlace(hidden)
        let out = linear(hidden, merger2, bias: merger2Bias)
        counter?.addProduct(rows: merged.rows, k: merged.columns, n: merged.columns, .visual)
        counter?.addProduct(rows: merged.rows, k: merged.columns, n: config.hiddenSize, .visual)
        if order.enumerated().allSatisfy({ $0.offset == $0.element }) { return out }
        let d = config.hiddenSize
        let raster = Tensor(zeros: [out.rows, d])
        for (j, token) in order.enumerated() { (raster.data + token * d).update(from: out.data + j * d, count: d) }
        return raster
    }

    /// Qwen2.5-VL's `get_vision_window_index` for one image: the merged tokens in window order
    /// (windows of `windowTokens²` in raster order over the merged grid padded to whole windows,
    /// tokens in raster order inside), and each non-empty window's rows (patch rows, in that order).
    /// Qwen2-VL: the identity order and one segment per frame.
    func windowOrder(_ pixels: QwenVLPixels) -> (order: [Int], windows: [Range<Int>]) {
        let m = config.spatialMergeSize, unit = m * m
        let rows = pixels.gridH / m, columns = pixels.gridW / m, tokens = pixels.patchCount / unit
        guard config.variant == .qwen25VL else { return (Array(0..<tokens), [0..<pixels.patchCount]) }
        let w = config.windowTokens
        var order: [Int] = []
        order.reserveCapacity(tokens)
        var windows: [Range<Int>] = []
        for t in 0..<pixels.gridT {
            for wy in stride(from: 0, to: rows, by: w) {
                for wx in stride(from: 0, to: columns, by: w) {
                    let first = order.count
                    for y in wy..<min(wy + w, rows) {
                        for x in wx..<min(wx + w, columns) { order.append(t * rows * columns + y * columns + x) }
                    }
                    windows.append((first * unit)..<(order.count * unit))
                }
            }
        }
        return (order, windows)
    }
}

extension Qwen2VLVisionConfiguration {
    /// The tower a cost shape describes (`--arch qwen2-vl-7b` / `qwen2.5-vl-7b` for random-weight
    /// benchmarks): its widths, depth, merge, window and full-attention blocks; heads of 80 as in
    /// both Qwen ViTs. Nil for a CLIP cost shape.
    public init?(_ dimensions: ModelDimensions) {
        let v = dimensions.vision
        guard let merged = v.mergedPatches else { return nil }
        self.init(variant: merged.swiGLU ? .qwen25VL : .qwen2VL)
        depth = v.numHiddenLayers
        embedDim = v.hiddenSize
        numHeads = max(v.hiddenSize / 80, 1)
        hiddenSize = dimensions.text.hiddenSize
        patchSize = v.patchSize
        spatialMergeSize = merged.spatialMergeSize
        if merged.swiGLU {
            explicitIntermediateSize = v.intermediateSize
        } else {
            mlpRatio = Double(v.intermediateSize) / Double(v.hiddenSize)
        }
        windowSize = (merged.windowTokens ?? 4) * v.tokenPatchSize
        fullAttentionBlocks = merged.fullAttentionBlocks
    }
}

/// Where the tower's tensors come from: a checkpoint (`WeightStore`) or random values.
protocol VisionWeightSource {
    func take(_ name: String, shape: [Int]) throws -> Tensor
    func takeMatrix(_ name: String, shape: [Int]) throws -> WeightMatrix
}

extension WeightStore: VisionWeightSource {}

/// Random tensors by name for benchmarks: vectors are norm weights (1) or biases (0); matrices
/// (`[out, in…]`, trailing sizes flattened) are uniform ±0.02, each from its own seed.
final class RandomVisionWeights: VisionWeightSource {
    let dtype: DType
    var seed: UInt64

    init(dtype: DType, seed: UInt64) {
        self.dtype = dtype
        self.seed = seed
    }

    func take(_ name: String, shape: [Int]) throws -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, values: [Float](repeating: name.hasSuffix(".weight") ? 1 : 0, count: n))
    }

    func takeMatrix(_ name: String, shape: [Int]) throws -> WeightMatrix {
        seed &+= 1
        return WeightMatrix(randomRows: shape[0], columns: shape.dropFirst().reduce(1, *), dtype: dtype, scale: 0.02, seed: seed)
    }
}

/// Qwen2-VL and Qwen2.5-VL checkpoints (`Qwen2VLForConditionalGeneration`,
/// `Qwen2_5_VLForConditionalGeneration`).
public enum Qwen2VLFamily: ModelFamily {
    public static let name = "Qwen2-VL"
    public static let id = ModelIdentity.qwen2VLFamily
    public static let architectures = ["Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration"]

    public static func accepts(_ header: CheckpointHeader) -> Bool {
        architectures.contains(header.architecture)
            || (header.architecture.isEmpty && ["qwen2_vl", "qwen2_5_vl"].contains(header.modelType ?? ""))
    }

    /// Throws `ModelError.invalidConfiguration` for a separate vision tower (Qwen2-VL's is in the checkpoint).
    public static func load(directory: String, visionTower: String?, progress: ((Int, Int) -> Void)?) throws -> any VisionLanguageModel {
        if let visionTower {
            throw ModelError.invalidConfiguration(
                "a separate vision tower (\(visionTower)) is for original LLaVA checkpoints; Qwen2-VL's is in its checkpoint")
        }
        return try Qwen2VLModel(directory: directory, progress: progress)
    }

    /// The checkpoint's cost shape from its config.json. Throws `ModelError.invalidConfiguration`
    /// (a config that does not validate, a separate vision tower), `FormatError` for unreadable JSON.
    public static func costShape(directory: String, visionTower: String?, name: String) throws -> ModelDimensions {
        if let visionTower {
            throw ModelError.invalidConfiguration(
                "a separate vision tower (\(visionTower)) is for original LLaVA checkpoints; Qwen2-VL's is in its checkpoint")
        }
        let (_, configPath) = try CheckpointHeader.read(directory: directory)
        return try ModelDimensions(try decodeJSONFile(Qwen2VLConfiguration.self, path: configPath), name: name)
    }

    /// The checkpoint's image processor settings (`preprocessor_config.json`; Qwen2-VL-7B's when
    /// the file is absent). Throws `FormatError` / `ImageError` for an unreadable or invalid file.
    public static func processorConfig(directory: String) throws -> QwenVLImageProcessorConfig {
        let path = (directory as NSString).appendingPathComponent("preprocessor_config.json")
        guard FileManager.default.fileExists(atPath: path) else { return .qwen2VL7B }
        return try decodeJSONFile(QwenVLImageProcessorConfig.self, path: path)
    }
}

/// Qwen2-VL's cost shape for the FLOPs model.
extension ModelDimensions {
    /// The dimensions of a Qwen2-VL / Qwen2.5-VL configuration (validated first; throws
    /// `ModelError.invalidConfiguration` as `Qwen2VLConfiguration.validate`). `image_size`, which a
    /// dynamic-resolution model does not have, is set to a 16 × 16-token square for tables.
    public init(_ c: Qwen2VLConfiguration, name: String) throws {
        try c.validate()
        let v = c.vision
        self.init(
            name: name, family: Qwen2VLFamily.id, text: Text(c.text.decoderSpec),
            vision: Vision(
                hiddenSize: v.embedDim, intermediateSize: v.intermediateSize, numHiddenLayers: v.depth, layersComputed: v.depth,
                patchSize: v.patchSize, imageSize: 16 * v.patchSize * v.spatialMergeSize,
                mergedPatches: MergedPatches(
                    spatialMergeSize: v.spatialMergeSize, patchDimension: v.patchDimension, swiGLU: v.variant == .qwen25VL,
                    windowTokens: v.variant == .qwen25VL ? v.windowTokens : nil,
                    fullAttentionBlocks: v.variant == .qwen25VL ? v.fullAttentionBlocks : [])))
    }
}

/// A loaded Qwen2-VL checkpoint: its processor, vision tower and decoder, and the prompt-side rules
/// (image embeddings spliced at `<|image_pad|>`, M-RoPE positions).
public final class Qwen2VLModel: VisionLanguageModel {
    public let configuration: Qwen2VLConfiguration
    public let vision: Qwen2VLVisionTower
    public let decoder: TextDecoder
    /// The checkpoint's image processor (`preprocessor_config.json`, else Qwen2-VL-7B's settings).
    public let processor: QwenVLImageProcessor

    /// Loads a checkpoint directory (config.json, `*.safetensors` single or sharded, in the Hub
    /// names `model.*` / `visual.*` / `lm_head.*` or transformers 5's `model.language_model.*` /
    /// `model.visual.*`). Throws `ModelError` / `FormatError` / `ImageError` naming the file,
    /// key or tensor at fault; every stored tensor must be read.
    public convenience init(directory: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let (_, configPath) = try CheckpointHeader.read(directory: directory)
        let configuration = try decodeJSONFile(Qwen2VLConfiguration.self, path: configPath)
        let weights = WeightStore()
        try weights.add(try SafetensorsArchive(directory: directory), map: Self.canonicalName)
        weights.progress = progress
        let processorConfig = try Qwen2VLFamily.processorConfig(directory: directory)
        try self.init(configuration: configuration, weights: weights, processor: try QwenVLImageProcessor(config: processorConfig))
    }

    /// Builds the model from canonical-named weights (`visual.*` as `Qwen2VLVisionTower`, the decoder's
    /// as `TextDecoder(llama:)` with q/k/v biases).
    public init(configuration: Qwen2VLConfiguration, weights: WeightStore, processor: QwenVLImageProcessor) throws {
        try configuration.validate()
        guard processor.config.patchSize == configuration.vision.patchSize,
            processor.config.mergeSize == configuration.vision.spatialMergeSize,
            processor.config.temporalPatchSize == configuration.vision.temporalPatchSize
        else {
            throw ModelError.invalidConfiguration(
                "preprocessor_config.json patch_size / merge_size / temporal_patch_size (\(processor.config.patchSize), \(processor.config.mergeSize), \(processor.config.temporalPatchSize)) differ from vision_config's (\(configuration.vision.patchSize), \(configuration.vision.spatialMergeSize), \(configuration.vision.temporalPatchSize))"
            )
        }
        self.configuration = configuration
        self.processor = processor
        vision = try Qwen2VLVisionTower(config: configuration.vision, weights: weights)
        decoder = try TextDecoder(llama: configuration.text, weights: weights, layout: LlamaTensorLayout(attentionBias: true))
        try weights.requireAllTaken()
    }

    /// Stored name → canonical name: `model.language_model.X` / `model.X` → `X`, `model.visual.X` /
    /// `visual.X` → `visual.X`, `lm_head.weight` unchanged. Throws `ModelError.unknownTensor` for others.
    public static func canonicalName(_ stored: String) throws -> String? {
        if stored == "lm_head.weight" { return stored }
        for (prefix, replacement) in [
            ("model.visual.", "visual."), ("visual.", "visual."), ("model.language_model.", ""), ("model.", "")
        ] where stored.hasPrefix(prefix) {
            return replacement + stored.dropFirst(prefix.count)
        }
        throw ModelError.unknownTensor(stored)
    }

    /// The merged visual tokens of one preprocessed image, `[tokens, hidden_size]`.
    public func imageFeatures(_ pixels: QwenVLPixels, counter: FLOPCounter? = nil) -> Tensor {
        counter?.stage = .vision
        return vision(pixels, counter: counter)
    }

    /// `[ids.count, hidden_size]`: ids embedded, `<|image_pad|>` rows replaced by the images' tokens in order.
    public func inputEmbeddings(ids: [Int], images: [Tensor]) throws -> Tensor {
        try decoder.embed(ids: ids, imageToken: configuration.imageTokenID, images: images)
    }

    /// M-RoPE positions of a prompt, as transformers' `get_rope_index`: one counter `p`; a text
    /// token gets `(p, p, p)` and `p += 1`; the `rows · columns` image tokens of an image (merged
    /// grid `grids[i]`, in prompt order) get `(p, p + row, p + column)` in raster order, then
    /// `p += max(rows, columns)`. `delta = max(position) + 1 − ids.count`: the decode step at index i
    /// uses `i + delta` on all three axes (`KVCache.ropeDelta`).
    /// Throws `ModelError.imageTokenMismatch` when the image tokens and the grids disagree in number,
    /// `.invalidConfiguration` when an image's tokens are not consecutive.
    public static func ropeIndex(
        ids: [Int], imageToken: Int, grids: [(rows: Int, columns: Int)]
    ) throws
        -> (positions: [RotaryPosition], delta: Int)
    {
        let expected = grids.reduce(0) { $0 + $1.rows * $1.columns }
        let found = ids.filter { $0 == imageToken }.count
        guard found == expected else { throw ModelError.imageTokenMismatch(tokens: found, features: expected) }
        var positions: [RotaryPosition] = []
        positions.reserveCapacity(ids.count)
        var p = 0, i = 0, image = 0
        while i < ids.count {
            if ids[i] == imageToken {
                let (rows, columns) = grids[image]
                guard i + rows * columns <= ids.count, ids[i..<(i + rows * columns)].allSatisfy({ $0 == imageToken }) else {
                    throw ModelError.invalidConfiguration(
                        "image \(image + 1) needs \(rows * columns) consecutive <|image_pad|> tokens at index \(i)")
                }
                for r in 0..<rows {
                    for c in 0..<columns { positions.append(RotaryPosition(t: p, h: p + r, w: p + c)) }
                }
                i += rows * columns
                p += max(rows, columns)
                image += 1
            } else {
                positions.append(RotaryPosition(p))
                p += 1
                i += 1
            }
        }
        let top = positions.map(\.maximum).max() ?? -1
        return (positions, top + 1 - ids.count)
    }
}

/// Qwen2-VL's processor as the pipeline's image front: the merged grid is the image's token grid.
struct QwenImageFront: ImageFront {
    let processor: QwenVLImageProcessor

    func prepare(_ image: RGBImage, source: String?) throws -> PreparedImage {
        let p = try processor.preprocess(image, source: source)
        let m = processor.config.mergeSize
        let grid = VisualGrid(rows: p.gridH / m, columns: p.gridW / m)
        return PreparedImage(
            pixels: Tensor(shape: [p.patchCount, p.patchDimension], values: p.values), patchGrid: p.gridTHW, tokenGrid: grid,
            tokenCount: p.patchCount / (m * m))
    }
}

extension Qwen2VLModel {
    public var imageTokenIndex: Int { configuration.imageTokenID }
    public var fixedTokensPerImage: Int? { nil }
    public var family: String { Qwen2VLFamily.id }
    public var contextLength: Int { configuration.text.maxPositionEmbeddings }
    public var defaultTemplate: PromptTemplate { .qwen2VL }
    public var prefersSentencePieceTokenizer: Bool { false }
    /// `<|im_end|>` (the config's eos) and `<|endoftext|>` (its bos / pad, which Qwen2-VL's
    /// generation config also stops on).
    public var stopTokenIDs: [Int] { Array(Set(configuration.text.eosTokenIDs + [configuration.text.bosTokenID ?? 151643])).sorted() }
    public var supportsYOPO: Bool { true }
    /// The official Qwen2-VL code's numerics (also for Qwen2.5-VL, which it lacks).
    public var simulatedSemantics: SimulatedSemantics { .qwen2VL }

    /// The checkpoint's processor, its pixel budget overridden by `options` (transformers'
    /// `min_pixels` / `max_pixels` processor arguments). Throws `ModelError.invalidConfiguration` for a
    /// square mode (Qwen2-VL keeps the aspect ratio) or a budget outside 1…8192² or with min above max.
    public func imageFront(_ options: ImageFrontOptions) throws -> any ImageFront {
        if options.squareMode != nil {
            throw ModelError.invalidConfiguration(
                "image squaring (pad / crop) is LLaVA's; Qwen2-VL keeps each image's aspect ratio (smart_resize)")
        }
        var config = processor.config
        if let v = options.minPixels { config.minPixels = v }
        if let v = options.maxPixels { config.maxPixels = v }
        do {
            return QwenImageFront(processor: try QwenVLImageProcessor(config: config))
        } catch {
            throw ModelError.invalidConfiguration("\(error)")
        }
    }

    public func imageFeatures(_ image: PreparedImage, counter: FLOPCounter?) -> Tensor {
        let g = image.patchGrid
        precondition(g.count == 3, "a Qwen2-VL image carries its patch grid")
        let pixels = QwenVLPixels(
            gridT: g[0], gridH: g[1], gridW: g[2], patchDimension: image.pixels.columns, values: image.pixels.scalars)
        return imageFeatures(pixels, counter: counter)
    }

    public func rotaryPositions(ids: [Int], images: [PreparedImage]) throws -> [RotaryPosition]? {
        try Self.ropeIndex(ids: ids, imageToken: imageTokenIndex, grids: images.map { ($0.tokenGrid.rows, $0.tokenGrid.columns) }).positions
    }

    public func costShape(name: String) throws -> ModelDimensions {
        try ModelDimensions(configuration, name: name)
    }
}
