import Foundation
import YOPOCore
import YOPOEngine
import YOPOFormats
import YOPOImage

// Qwen2-VL (transformers `Qwen2VLForConditionalGeneration`): a ViT with 2-D rotary over
// dynamic-resolution patch grids, a 2×2 PatchMerger into the LLM's width, and a Qwen2 decoder
// (LLaMA-shaped with q/k/v biases) whose rotary positions are M-RoPE (t, h, w) triples from the
// prompt (`get_rope_index`). Semantics: ../shared/docs/FAMILIES.md; names as transformers 5.24's.

/// `vision_config` of a Qwen2-VL config.json (`Qwen2VLVisionConfig`); absent keys take its defaults.
public struct Qwen2VLVisionConfiguration: Decodable, Sendable, Equatable {
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

    enum CodingKeys: String, CodingKey {
        case depth, embedDim = "embed_dim", hiddenSize = "hidden_size", numHeads = "num_heads", mlpRatio = "mlp_ratio"
        case patchSize = "patch_size", spatialMergeSize = "spatial_merge_size", temporalPatchSize = "temporal_patch_size"
        case inChannels = "in_channels", hiddenAct = "hidden_act", ropeParameters = "rope_parameters"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        depth = try c.integer(.depth) ?? depth
        embedDim = try c.integer(.embedDim) ?? embedDim
        hiddenSize = try c.integer(.hiddenSize) ?? hiddenSize
        numHeads = try c.integer(.numHeads) ?? numHeads
        mlpRatio = try c.float(.mlpRatio).map(Double.init) ?? mlpRatio
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
    /// `int(embed_dim · mlp_ratio)`.
    public var intermediateSize: Int { Int(Double(embedDim) * mlpRatio) }
    /// Values per patch: `in_channels · temporal_patch_size · patch_size²` (1176).
    public var patchDimension: Int { inChannels * temporalPatchSize * patchSize * patchSize }

    /// Throws `ModelError.invalidConfiguration` naming the `vision_config` key out of range.
    public func validate() throws {
        let limits = ConfigurationLimits.self
        try requireInRange(depth, 1...limits.layers, "vision_config.depth")
        try requireInRange(embedDim, 1...limits.hiddenSize, "vision_config.embed_dim")
        try requireInRange(hiddenSize, 1...limits.hiddenSize, "vision_config.hidden_size")
        try requireInRange(numHeads, 1...embedDim, "vision_config.num_heads")
        guard embedDim % numHeads == 0, headDim % 4 == 0 else {
            throw ModelError.invalidConfiguration(
                "vision_config.embed_dim \(embedDim) / num_heads \(numHeads) must give a head_dim that is a multiple of 4 (2-D rotary)")
        }
        guard mlpRatio.isFinite, mlpRatio > 0, (1...limits.intermediateSize).contains(intermediateSize) else {
            throw ModelError.invalidConfiguration(
                "vision_config.mlp_ratio \(mlpRatio) must give an MLP width from 1 to \(limits.intermediateSize)")
        }
        try requireInRange(patchSize, 1...64, "vision_config.patch_size")
        try requireInRange(spatialMergeSize, 1...8, "vision_config.spatial_merge_size")
        try requireInRange(temporalPatchSize, 1...4, "vision_config.temporal_patch_size")
        try requireInRange(inChannels, 3...3, "vision_config.in_channels")
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
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        text = try c.decodeIfPresent(LlamaConfiguration.self, forKey: .textConfig) ?? LlamaConfiguration(from: decoder)
        if let tie = try c.boolean(.tieWordEmbeddings), !c.contains(.textConfig) || text.tieWordEmbeddings != tie {
            text.tieWordEmbeddings = tie  // the top-level key is the model's (PreTrainedModel ties on it)
        }
        vision = try c.decodeIfPresent(Qwen2VLVisionConfiguration.self, forKey: .visionConfig) ?? Qwen2VLVisionConfiguration()
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
            throw ModelError.invalidConfiguration(
                "vision_config.hidden_size \(vision.hiddenSize) must equal the LLM's hidden_size \(text.hiddenSize)")
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
/// Canonical tensor names (prefix `visual.`): `patch_embed.proj.weight` `[embed, 3, T, p, p]`,
/// `blocks.N.{norm1,norm2}.{weight,bias}`, `blocks.N.attn.qkv.{weight,bias}` (rows q | k | v),
/// `blocks.N.attn.proj.{weight,bias}`, `blocks.N.mlp.{fc1,fc2}.{weight,bias}`,
/// `merger.ln_q.{weight,bias}`, `merger.mlp.0.{weight,bias}`, `merger.mlp.2.{weight,bias}`.
public final class Qwen2VLVisionTower {
    public let config: Qwen2VLVisionConfiguration
    struct Block {
        let norm1Weight, norm1Bias, norm2Weight, norm2Bias: Tensor
        let qkv, proj, fc1, fc2: WeightMatrix
        let qkvBias, projBias, fc1Bias, fc2Bias: Tensor
    }
    let patchWeight: WeightMatrix
    let blocks: [Block]
    let mergerNormWeight, mergerNormBias: Tensor
    let merger1, merger2: WeightMatrix
    let merger1Bias, merger2Bias: Tensor
    let rotary: RotaryEmbedding
    static let layerNormEps: Float = 1e-6

    /// Throws `ModelError` naming a missing or mis-shaped tensor, or an invalid configuration.
    public init(config: Qwen2VLVisionConfiguration, weights: WeightStore) throws {
        try config.validate()
        self.config = config
        let e = config.embedDim, m = config.intermediateSize, p = config.patchSize
        let merged = e * config.spatialMergeSize * config.spatialMergeSize
        patchWeight = try weights.takeMatrix(
            "visual.patch_embed.proj.weight", shape: [e, config.inChannels, config.temporalPatchSize, p, p])
        blocks = try (0..<config.depth).map { i in
            let pre = "visual.blocks.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> Tensor { try weights.take(pre + n, shape: s) }
            func w(_ n: String, _ s: [Int]) throws -> WeightMatrix { try weights.takeMatrix(pre + n, shape: s) }
            return Block(
                norm1Weight: try t("norm1.weight", [e]), norm1Bias: try t("norm1.bias", [e]),
                norm2Weight: try t("norm2.weight", [e]), norm2Bias: try t("norm2.bias", [e]),
                qkv: try w("attn.qkv.weight", [3 * e, e]), proj: try w("attn.proj.weight", [e, e]),
                fc1: try w("mlp.fc1.weight", [m, e]), fc2: try w("mlp.fc2.weight", [e, m]),
                qkvBias: try t("attn.qkv.bias", [3 * e]), projBias: try t("attn.proj.bias", [e]),
                fc1Bias: try t("mlp.fc1.bias", [m]), fc2Bias: try t("mlp.fc2.bias", [e]))
        }
        mergerNormWeight = try weights.take("visual.merger.ln_q.weight", shape: [e])
        mergerNormBias = try weights.take("visual.merger.ln_q.bias", shape: [e])
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
        let e = config.embedDim, heads = config.numHeads, hd = config.headDim, m2 = config.spatialMergeSize
        let n = pixels.patchCount, frame = pixels.gridH * pixels.gridW
        precondition(pixels.patchDimension == config.patchDimension, "pixels of \(pixels.patchDimension) values per patch")
        precondition(pixels.gridW % m2 == 0 && pixels.gridH % m2 == 0, "grid must be a multiple of the merge size")
        let input = Tensor(shape: [n, pixels.patchDimension], values: pixels.values)
        var h = linear(input, patchWeight)
        counter?.addProduct(rows: n, k: pixels.patchDimension, n: e, .visual)
        // Rotary angles per patch from its (row, column) in the unmerged grid.
        let half = hd / 2
        let cosines = Tensor(zeros: [n, half]), sines = Tensor(zeros: [n, half])
        for i in 0..<n {
            let (row, column) = RotaryEmbedding.patchPosition(index: i % frame, gridWidth: pixels.gridW, mergeSize: m2)
            rotary.angles(row: row, column: column, cosines: cosines.data + i * half, sines: sines.data + i * half)
        }
        for block in blocks {
            let normed = layerNorm(h, weight: block.norm1Weight, bias: block.norm1Bias, eps: Self.layerNormEps)
            let qkv = linear(normed, block.qkv, bias: block.qkvBias)
            for r in 0..<n {
                let row = qkv.data + r * 3 * e
                for part in 0..<2 {  // q, then k
                    RotaryEmbedding.rotate(
                        row + part * e, heads: heads, headDim: hd, cosines: cosines.data + r * half, sines: sines.data + r * half)
                }
            }
            // Bidirectional attention within each frame (`cu_seqlens`).
            let context = Tensor(zeros: [n, e])
            for f0 in stride(from: 0, to: n, by: frame) {
                let base = qkv.data + f0 * 3 * e
                let c = visionAttention(q: base, k: base + e, v: base + 2 * e, stride: 3 * e, rows: frame, heads: heads, headDim: hd)
                (context.data + f0 * e).update(from: c.data, count: frame * e)
            }
            let attended = linear(context, block.proj, bias: block.projBias)
            addInPlace(attended, h)
            let normed2 = layerNorm(attended, weight: block.norm2Weight, bias: block.norm2Bias, eps: Self.layerNormEps)
            let hidden = linear(normed2, block.fc1, bias: block.fc1Bias)
            config.hiddenAct.applyInPlace(hidden)
            h = linear(hidden, block.fc2, bias: block.fc2Bias)
            addInPlace(h, attended)
            if let counter {
                let mlp = config.intermediateSize
                counter.addProduct(rows: n, k: e, n: 4 * e, .visual)
                counter.add(2 * frame * n * e * 2, .visual)
                counter.addProduct(rows: n, k: e, n: 2 * mlp, .visual)
            }
        }
        // PatchMerger: rows are in merge-block order, so each merged token is m² consecutive rows.
        let normed = layerNorm(h, weight: mergerNormWeight, bias: mergerNormBias, eps: Self.layerNormEps)
        let merged = normed.reshaped([n / (m2 * m2), e * m2 * m2])
        let hidden = linear(merged, merger1, bias: merger1Bias)
        Activation.gelu.applyInPlace(hidden)
        counter?.addProduct(rows: merged.rows, k: merged.columns, n: merged.columns, .visual)
        counter?.addProduct(rows: merged.rows, k: merged.columns, n: config.hiddenSize, .visual)
        return linear(hidden, merger2, bias: merger2Bias)
    }
}

/// A loaded Qwen2-VL checkpoint: its processor, vision tower and decoder, and the prompt-side rules
/// (image embeddings spliced at `<|image_pad|>`, M-RoPE positions).
public final class Qwen2VLModel {
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
        let processorPath = (directory as NSString).appendingPathComponent("preprocessor_config.json")
        var processorConfig = QwenVLImageProcessorConfig.qwen2VL7B
        if FileManager.default.fileExists(atPath: processorPath) {
            do {
                processorConfig = try decodeJSONFile(QwenVLImageProcessorConfig.self, path: processorPath)
            } catch let error as ImageError {
                throw ModelError.invalidConfiguration("\(processorPath): \(error)")
            }
        }
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
    /// Throws `ModelError.imageTokenMismatch` when the image tokens and the grids disagree.
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
