import Foundation
import YOPOCore
import YOPOFormats
import YOPOImage
import YOPOEngine
import YOPOText

/// Which stack wrote a LLaVA checkpoint (REFERENCE.md §1).
public enum LLaVALayout: String, Sendable, Codable {
    /// `LlavaForConditionalGeneration` (llava-hf): vision tower, projector and LLM in one checkpoint.
    case llavaHF = "llava-hf"
    /// `LlavaLlamaForCausalLM` (liuhaotian/llava-v1.5-*, YOPO checkpoints): LLM + `mm_projector`,
    /// CLIP vision tower in a separate directory.
    case original
}

/// llava-hf `config.json` (`LlavaConfig`). Omitted keys take `LlavaConfig` defaults; a missing
/// `text_config` / `vision_config` is recorded (`textConfigGiven`), since `LlavaConfig`'s defaults
/// (LLaMA-7B, CLIP ViT-L/14-336) only fit a checkpoint whose weights have those sizes.
public struct LlavaHFConfiguration: Decodable, Sendable {
    public var textConfig: LlamaConfiguration
    public var visionConfig: CLIPVisionConfiguration
    /// Whether config.json has `text_config` (else `textConfig` holds LLaMA-7B's defaults).
    public var textConfigGiven: Bool
    /// Whether config.json has `vision_config` (else `visionConfig` is `.llavaDefault`).
    public var visionConfigGiven: Bool
    public var imageTokenIndex: Int
    public var visionFeatureLayer: Int
    public var visionFeatureSelectStrategy: String
    public var projectorHiddenAct: String
    public var multimodalProjectorBias: Bool

    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config", visionConfig = "vision_config", imageTokenIndex = "image_token_index"
        case imageTokenID = "image_token_id"
        case visionFeatureLayer = "vision_feature_layer"
        case visionFeatureSelectStrategy = "vision_feature_select_strategy"
        case projectorHiddenAct = "projector_hidden_act", multimodalProjectorBias = "multimodal_projector_bias"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        textConfigGiven = !c.isAbsent(.textConfig)
        if textConfigGiven {
            try c.requireObject(.textConfig)
            textConfig = try c.decode(LlamaConfiguration.self, forKey: .textConfig)
        } else {
            textConfig = LlamaConfiguration()
        }
        visionConfigGiven = !c.isAbsent(.visionConfig)
        if visionConfigGiven {
            try c.requireObject(.visionConfig)
            visionConfig = try c.decode(CLIPVisionConfiguration.self, forKey: .visionConfig)
        } else {
            visionConfig = .llavaDefault
        }
        imageTokenIndex = try c.integer(.imageTokenIndex) ?? c.integer(.imageTokenID) ?? 32000
        if let list = try? c.decode([Int].self, forKey: .visionFeatureLayer) {
            throw ModelError.invalidConfiguration("vision_feature_layer lists several layers \(list); only one is supported")
        }
        visionFeatureLayer = try c.integer(.visionFeatureLayer) ?? -2
        visionFeatureSelectStrategy = try c.string(.visionFeatureSelectStrategy) ?? "default"
        projectorHiddenAct = try c.string(.projectorHiddenAct) ?? "gelu"
        multimodalProjectorBias = try c.boolean(.multimodalProjectorBias) ?? true
    }
}

/// Original LLaVA `config.json` (`LlavaLlamaForCausalLM`): LLaMA keys at the top level plus `mm_*` keys.
public struct LlavaOriginalConfiguration: Decodable, Sendable {
    public var textConfig: LlamaConfiguration
    public var mmVisionTower: String?
    public var mmVisionSelectLayer: Int
    public var mmVisionSelectFeature: String
    public var mmProjectorType: String
    public var mmHiddenSize: Int?
    public var imageAspectRatio: String?
    public var mmUseImStartEnd: Bool
    public var mmPatchMergeType: String?
    public var tokenizerModelMaxLength: Int?

    enum CodingKeys: String, CodingKey {
        case mmVisionTower = "mm_vision_tower", mmVisionSelectLayer = "mm_vision_select_layer"
        case mmVisionSelectFeature = "mm_vision_select_feature", mmProjectorType = "mm_projector_type"
        case mmHiddenSize = "mm_hidden_size", imageAspectRatio = "image_aspect_ratio"
        case mmUseImStartEnd = "mm_use_im_start_end", mmPatchMergeType = "mm_patch_merge_type"
        case tokenizerModelMaxLength = "tokenizer_model_max_length"
    }

    public init(from decoder: Decoder) throws {
        textConfig = try LlamaConfiguration(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mmVisionTower = try c.string(.mmVisionTower)
        mmVisionSelectLayer = try c.integer(.mmVisionSelectLayer) ?? -2
        mmVisionSelectFeature = try c.string(.mmVisionSelectFeature) ?? "patch"
        mmProjectorType = try c.string(.mmProjectorType) ?? "linear"
        mmHiddenSize = try c.integer(.mmHiddenSize)
        imageAspectRatio = try c.string(.imageAspectRatio)
        mmUseImStartEnd = try c.boolean(.mmUseImStartEnd) ?? false
        mmPatchMergeType = try c.string(.mmPatchMergeType)
        tokenizerModelMaxLength = try c.integer(.tokenizerModelMaxLength)
    }
}

/// Checks `path` names an existing checkpoint directory. `what` names it in messages
/// (`model directory`, `vision tower directory`). Throws `ModelError.invalidConfiguration`:
/// an empty path, a path that does not exist, a regular file or another non-directory.
public func checkModelDirectory(_ path: String, what: String = "model directory") throws {
    guard !path.isEmpty else { throw ModelError.invalidConfiguration("\(what) path is empty") }
    var st = stat()
    guard stat(path, &st) == 0 else { throw ModelError.invalidConfiguration("\(what) \(path) does not exist") }
    switch st.st_mode & S_IFMT {
    case S_IFDIR: return
    case S_IFREG:
        throw ModelError.invalidConfiguration(
            "\(what) \(path) is a file, not a checkpoint directory (a directory with config.json and *.safetensors)")
    default:
        throw ModelError.invalidConfiguration("\(what) \(path) is not a directory")
    }
}

/// Runs `body`, prefixing the message of a `ModelError.invalidConfiguration` with `path: `.
func inFile<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch ModelError.invalidConfiguration(let reason) {
        throw ModelError.invalidConfiguration("\(path): \(reason)")
    }
}

/// The resolved, layout-independent description of a LLaVA-1.5 model.
public struct LLaVAConfiguration: Sendable {
    public var layout: LLaVALayout
    public var text: LlamaConfiguration
    public var vision: CLIPVisionConfiguration
    /// Token id marking image positions in the id stream: 32000 (llava-hf, in the vocabulary) or
    /// −200 (original LLaVA's `IMAGE_TOKEN_INDEX`, outside it).
    public var imageTokenIndex: Int
    /// `vision_feature_layer` / `mm_vision_select_layer`.
    public var visionFeatureLayer: Int
    /// Whether CLS is dropped (`default` / `patch`) or kept (`full` / `cls_patch`).
    public var dropsCLS: Bool
    public var projectorActivation: Activation
    public var projectorBias: Bool
    public var imageAspectMode: SquareMode
    /// Directory of the vision tower weights (the checkpoint itself for llava-hf).
    public var visionTowerDirectory: String
    /// Largest prompt + generation length the model supports.
    public var contextLength: Int
    /// Where the text keys were read, and how they are named in messages (`text_config.` or empty).
    public var configPath: String
    public var textKeyPrefix: String
    /// Where the vision keys were read (the tower's config.json for the original layout), and how
    /// they are named in messages (`vision_config.` or empty).
    public var visionConfigPath: String
    public var visionKeyPrefix: String

    /// Visual tokens per image: grid² (+1 when CLS is kept).
    public var visualTokensPerImage: Int { vision.gridSize * vision.gridSize + (dropsCLS ? 0 : 1) }

    /// Reads `directory/config.json` and resolves the layout, the vision tower and the image mode,
    /// then validates every size (`LlamaConfiguration.validate`, `CLIPVisionConfiguration.validate`,
    /// the feature layer, the context length), so `yopo generate`, `flops --model`
    /// and `bench --model` share one check before anything is allocated or multiplied.
    /// - Parameter visionTower: overrides the vision tower directory (original layout).
    /// Throws `ModelError.invalidConfiguration` naming the file, the key and the problem.
    /// - Parameter layout: reads the file in this layout whatever its `architectures` says (a family
    ///   whose checkpoints are llava-hf-shaped under another name); nil = from the header.
    public static func load(directory: String, visionTower: String? = nil, layout: LLaVALayout? = nil) throws -> LLaVAConfiguration {
        let (header, configPath) = try CheckpointHeader.read(directory: directory)
        var configuration: LLaVAConfiguration
        if let chosen = layout ?? LLaVAFamily.layout(of: header), chosen == .llavaHF {
            let c = try decodeJSONFile(LlavaHFConfiguration.self, path: configPath)
            guard let act = Activation(rawValue: c.projectorHiddenAct) else {
                throw ModelError.invalidConfiguration(
                    "\(configPath): projector_hidden_act \(c.projectorHiddenAct) is not supported (gelu, quick_gelu, silu)")
            }
            let strategy = c.visionFeatureSelectStrategy
            guard strategy == "default" || strategy == "full" else {
                throw ModelError.invalidConfiguration(
                    "\(configPath): vision_feature_select_strategy \(strategy) is not supported (default, full)")
            }
            if let tower = visionTower { try checkModelDirectory(tower, what: "vision tower directory") }
            if !c.textConfigGiven || !c.visionConfigGiven {
                try checkDefaultsMatchWeights(
                    directory: directory, configPath: configPath, text: !c.textConfigGiven,
                    vision: !c.visionConfigGiven)
            }
            configuration = LLaVAConfiguration(
                layout: .llavaHF, text: c.textConfig, vision: c.visionConfig, imageTokenIndex: c.imageTokenIndex,
                visionFeatureLayer: c.visionFeatureLayer, dropsCLS: strategy == "default",
                projectorActivation: act, projectorBias: c.multimodalProjectorBias, imageAspectMode: .crop,
                visionTowerDirectory: visionTower ?? directory,
                contextLength: c.textConfig.maxPositionEmbeddings,
                configPath: configPath, textKeyPrefix: "text_config.",
                visionConfigPath: configPath, visionKeyPrefix: "vision_config.")
        } else if (layout ?? LLaVAFamily.layout(of: header)) == .original {
            let c = try decodeJSONFile(LlavaOriginalConfiguration.self, path: configPath)
            let feature = c.mmVisionSelectFeature
            try inFile(configPath) {
                guard c.mmProjectorType == "mlp2x_gelu" else {
                    throw ModelError.invalidConfiguration("mm_projector_type \(c.mmProjectorType) is not supported (mlp2x_gelu)")
                }
                guard !c.mmUseImStartEnd else {
                    throw ModelError.invalidConfiguration("mm_use_im_start_end is not supported")
                }
                guard feature == "patch" || feature == "cls_patch" else {
                    throw ModelError.invalidConfiguration("mm_vision_select_feature \(feature) is not supported (patch, cls_patch)")
                }
                if let n = c.tokenizerModelMaxLength {
                    try requireInRange(n, 1...ConfigurationLimits.contextLength, "tokenizer_model_max_length")
                }
            }
            let towerDirectory = try resolveVisionTower(
                override: visionTower, configured: c.mmVisionTower, checkpoint: directory)
            let towerConfigPath = (towerDirectory as NSString).appendingPathComponent("config.json")
            let tower = try decodeJSONFile(CLIPDirectoryConfiguration.self, path: towerConfigPath)
            let vision = tower.visionConfig
            try inFile(towerConfigPath) { try vision.validate(keyPrefix: tower.keyPrefix) }
            if let mm = c.mmHiddenSize, mm != vision.hiddenSize {
                throw ModelError.invalidConfiguration(
                    "mm_hidden_size \(mm) does not match the vision tower's hidden_size \(vision.hiddenSize) in \(towerDirectory)")
            }
            configuration = LLaVAConfiguration(
                layout: .original, text: c.textConfig, vision: vision, imageTokenIndex: -200,
                visionFeatureLayer: c.mmVisionSelectLayer, dropsCLS: feature == "patch",
                projectorActivation: .gelu, projectorBias: true,
                imageAspectMode: try aspectMode(c.imageAspectRatio),
                visionTowerDirectory: towerDirectory,
                contextLength: c.tokenizerModelMaxLength ?? c.textConfig.maxPositionEmbeddings,
                configPath: configPath, textKeyPrefix: "",
                visionConfigPath: towerConfigPath, visionKeyPrefix: tower.keyPrefix)
        } else {
            let architecture = header.architecture.isEmpty ? "(none)" : header.architecture
            throw ModelError.invalidConfiguration("\(configPath): architecture \(architecture) is not a LLaVA-1.5 model")
        }
        try configuration.validate()
        return configuration
    }

    /// Every size checked, each message prefixed by the file it comes from.
    func validate() throws {
        try inFile(configPath) { try text.validate(keyPrefix: textKeyPrefix) }
        try inFile(visionConfigPath) { try vision.validate(keyPrefix: visionKeyPrefix) }
        try inFile(configPath) {
            let total = vision.numHiddenLayers
            guard (-(total + 1)...total).contains(visionFeatureLayer) else {
                let key = layout == .llavaHF ? "vision_feature_layer" : "mm_vision_select_layer"
                throw ModelError.invalidConfiguration(
                    "\(key) \(visionFeatureLayer) is outside the \(total)-layer vision tower (allowed: \(-(total + 1)) to \(total))")
            }
        }
    }

    /// The llava-hf image token must be a row of the embedding table (checked once the weights
    /// are known to match the vocabulary, so a wrong vocab_size is named by the tensor first).
    func checkImageToken() throws {
        if layout == .llavaHF, imageTokenIndex < 0 || imageTokenIndex >= text.vocabSize {
            throw ModelError.invalidConfiguration(
                "\(configPath): image_token_index \(imageTokenIndex) is outside the vocabulary of \(text.vocabSize)")
        }
    }

    /// With `text_config` (`vision_config`) absent, `LlavaConfig` assumes LLaMA-7B (CLIP
    /// ViT-L/14-336) sizes. That is kept only when the stored weights have those sizes; otherwise
    /// the missing key is named, instead of silently describing another model.
    static func checkDefaultsMatchWeights(directory: String, configPath: String, text: Bool, vision: Bool) throws {
        let archive = try? SafetensorsArchive(directory: directory)
        func stored(_ names: [String]) -> (String, [Int])? {
            for n in names { if let info = archive?.info(n) { return (n, info.shape) } }
            return nil
        }
        func check(_ key: String, _ defaults: String, _ names: [String], _ expected: [Int]) throws {
            let found = stored(names)
            guard found?.1 != expected else { return }
            let seen = found.map { "\($0.0) has shape \($0.1)" } ?? "no \(names[0]) is stored"
            throw ModelError.invalidConfiguration(
                "\(configPath) has no \(key), so transformers would assume \(defaults), but the weights do not match (\(seen), expected \(expected)); add the checkpoint's \(key)"
            )
        }
        if text {
            try check(
                "text_config", "LLaMA-7B sizes (hidden_size 4096, 32 layers, vocab_size 32000)",
                ["language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight"], [32000, 4096])
        }
        if vision {
            let prefixes = ["vision_tower.vision_model.", "model.vision_tower.vision_model."]
            let defaults = "CLIP ViT-L/14-336 sizes (hidden_size 1024, patch_size 14, image_size 336)"
            try check("vision_config", defaults, prefixes.map { $0 + "embeddings.patch_embedding.weight" }, [1024, 3, 14, 14])
            try check("vision_config", defaults, prefixes.map { $0 + "embeddings.position_embedding.weight" }, [577, 1024])
        }
    }

    /// The decoder and vision layers stored in `weights` must be the ones the config describes: a
    /// `num_hidden_layers` below the stored count would silently run fewer layers. Throws
    /// `ModelError.invalidConfiguration` naming the key and both counts.
    func checkStoredLayers(_ weights: WeightStore) throws {
        func describe(_ indices: Set<Int>, _ kind: String) -> String {
            let top = indices.max() ?? -1
            return indices.count == top + 1 ? "\(indices.count) \(kind) layers" : "\(kind) layers numbered up to \(top)"
        }
        let textLayers = weights.layerIndices(prefix: "layers.")
        if textLayers.count != text.numHiddenLayers || (textLayers.max() ?? -1) != text.numHiddenLayers - 1 {
            throw ModelError.invalidConfiguration(
                "\(configPath): \(textKeyPrefix)num_hidden_layers is \(text.numHiddenLayers) but the checkpoint stores \(describe(textLayers, "decoder"))"
            )
        }
        let visionLayers = weights.layerIndices(prefix: "vision.encoder.layers.")
        if let top = visionLayers.max(), top >= vision.numHiddenLayers {
            throw ModelError.invalidConfiguration(
                "\(visionConfigPath): \(visionKeyPrefix)num_hidden_layers is \(vision.numHiddenLayers) but the checkpoint stores \(describe(visionLayers, "vision"))"
            )
        }
    }

    static func aspectMode(_ value: String?) throws -> SquareMode {
        do {
            return try SquareMode(imageAspectRatio: value)
        } catch {
            throw ModelError.invalidConfiguration("image_aspect_ratio \(value ?? "") is not supported (pad, square)")
        }
    }

    static func resolveVisionTower(override: String?, configured: String?, checkpoint: String) throws -> String {
        let fm = FileManager.default
        func isTower(_ path: String) -> Bool {
            fm.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
        }
        if let override {
            try checkModelDirectory(override, what: "vision tower directory")
            guard isTower(override) else {
                throw ModelError.invalidConfiguration("vision tower directory \(override) has no config.json")
            }
            return override
        }
        guard let configured, !configured.isEmpty else {
            throw ModelError.invalidConfiguration("config.json names no mm_vision_tower; pass --vision-tower DIR")
        }
        let candidate = configured.hasPrefix("/") ? configured : (checkpoint as NSString).appendingPathComponent(configured)
        if isTower(candidate) { return (candidate as NSString).standardizingPath }
        throw ModelError.invalidConfiguration(
            "vision tower \(configured) is not a local directory; pass --vision-tower DIR (a CLIP checkpoint such as openai/clip-vit-large-patch14-336)"
        )
    }
}

/// Tensor-name mapping (`sanitize`) from each checkpoint layout to the canonical names used by
/// `CLIPVisionTower` (`vision.*`), the LLaMA decoder (no prefix) and the projector
/// (`multi_modal_projector.linear_{1,2}.*`). Returns nil for stored tensors LLaVA never reads;
/// throws `ModelError.unknownTensor` for names no layout defines.
public enum LLaVAWeightNames {
    /// llava-hf, both the hub (legacy) names and transformers ≥ 4.52 names.
    public static func llavaHF(_ stored: String) throws -> String? {
        var n = stored
        // transformers ≥ 4.52 module names: model.language_model.*, model.vision_tower.*, model.multi_modal_projector.*
        if n.hasPrefix("model.") { n = String(n.dropFirst("model.".count)) }
        if n == "lm_head.weight" || n == "language_model.lm_head.weight" { return "lm_head.weight" }
        if n.hasPrefix("language_model.model.") { return String(n.dropFirst("language_model.model.".count)) }
        if n.hasPrefix("language_model.") { return String(n.dropFirst("language_model.".count)) }
        if n.hasPrefix("vision_tower.") {
            var rest = String(n.dropFirst("vision_tower.".count))
            if rest.hasPrefix("vision_model.") { rest = String(rest.dropFirst("vision_model.".count)) }
            return try clipVision(rest, stored: stored)
        }
        if n.hasPrefix("multi_modal_projector.linear_1.") || n.hasPrefix("multi_modal_projector.linear_2.") {
            return n
        }
        throw ModelError.unknownTensor(stored)
    }

    /// Original `LlavaLlamaForCausalLM`: `model.*`, `lm_head.weight`, `model.mm_projector.{0,2}.*`.
    public static func original(_ stored: String) throws -> String? {
        if stored == "lm_head.weight" { return stored }
        if stored.hasPrefix("model.mm_projector.0.") {
            return "multi_modal_projector.linear_1." + stored.dropFirst("model.mm_projector.0.".count)
        }
        if stored.hasPrefix("model.mm_projector.2.") {
            return "multi_modal_projector.linear_2." + stored.dropFirst("model.mm_projector.2.".count)
        }
        if stored.hasPrefix("model.vision_tower.vision_tower.vision_model.") {
            return try clipVision(String(stored.dropFirst("model.vision_tower.vision_tower.vision_model.".count)), stored: stored)
        }
        if stored.hasPrefix("model.embed_tokens.") || stored.hasPrefix("model.layers.") || stored.hasPrefix("model.norm.") {
            return String(stored.dropFirst("model.".count))
        }
        if stored.hasSuffix("rotary_emb.inv_freq") { return nil }
        throw ModelError.unknownTensor(stored)
    }

    /// A CLIP directory (`openai/clip-vit-*`): `vision_model.*` kept; the text tower ignored.
    public static func clipDirectory(_ stored: String) throws -> String? {
        if stored.hasPrefix("vision_model.") {
            return try clipVision(String(stored.dropFirst("vision_model.".count)), stored: stored)
        }
        for ignored in ["text_model.", "visual_projection.", "text_projection.", "logit_scale"] where stored.hasPrefix(ignored) {
            return nil
        }
        throw ModelError.unknownTensor(stored)
    }

    static func clipVision(_ rest: String, stored: String) throws -> String? {
        if rest.hasPrefix("post_layernorm.") || rest.hasSuffix("position_ids") { return nil }
        if rest.hasPrefix("embeddings.") || rest.hasPrefix("pre_layrnorm.") || rest.hasPrefix("encoder.layers.") {
            return "vision." + rest
        }
        throw ModelError.unknownTensor(stored)
    }
}

/// The LLaVA-1.5 family: llava-hf `LlavaForConditionalGeneration` and original
/// `LlavaLlamaForCausalLM` checkpoints (REFERENCE.md §1).
public enum LLaVAFamily: ModelFamily {
    public static let name = "LLaVA-1.5"
    public static let id = ModelIdentity.llavaFamily
    public static let architectures = ["LlavaForConditionalGeneration", "LlavaLlamaForCausalLM"]

    /// The layout a header names, or nil when it is not a LLaVA checkpoint.
    static func layout(of header: CheckpointHeader) -> LLaVALayout? {
        let architecture = header.architecture
        if architecture == "LlavaForConditionalGeneration" || (architecture.isEmpty && header.modelType == "llava") {
            return .llavaHF
        }
        if architecture.hasPrefix("LlavaLlama") || header.modelType == "llava_llama" || header.modelType == "llava" {
            return .original
        }
        return nil
    }

    public static func accepts(_ header: CheckpointHeader) -> Bool { layout(of: header) != nil }

    public static func load(directory: String, visionTower: String?, progress: ((Int, Int) -> Void)?) throws -> any VisionLanguageModel {
        try LLaVAModel(directory: directory, visionTower: visionTower, progress: progress)
    }

    public static func costShape(directory: String, visionTower: String?, name: String) throws -> ModelDimensions {
        try ModelDimensions(LLaVAConfiguration.load(directory: directory, visionTower: visionTower), name: name)
    }
}

/// LLaVA-1.5: CLIP vision tower → `mlp2x_gelu` projector → LLaMA decoder.
/// Follows transformers `LlavaForConditionalGeneration` and original LLaVA `LlavaLlamaForCausalLM`.
public final class LLaVAModel: VisionLanguageModel {
    public let configuration: LLaVAConfiguration
    public let visionTower: CLIPVisionTower
    public let decoder: TextDecoder
    /// `ModelFamily.id` of the family that loaded it (`llava`; another id for LLaVA-shaped families).
    public let family: String
    let projector1Weight, projector2Weight: WeightMatrix
    let projector1Bias, projector2Bias: Tensor?
    /// Where the image processor config is looked for, in order (the checkpoint, then its vision tower).
    public var processorDirectories: [String]

    /// Loads a checkpoint directory in either layout.
    /// - Parameters:
    ///   - directory: a llava-hf or original LLaVA checkpoint (config.json + safetensors).
    ///   - visionTower: CLIP directory for the original layout (else `mm_vision_tower` if local).
    /// Throws `ModelError` / `FormatError` naming the file or tensor at fault.
    /// - Parameter progress: called after each tensor with (bytes loaded, bytes in the checkpoint).
    /// - Parameters `layout`, `textLayout`: for families whose checkpoints are LLaVA-shaped under other
    ///   names (see `LLaVAConfiguration.load(layout:)`, `LlamaTensorLayout`).
    public convenience init(
        directory: String, visionTower: String? = nil, progress: ((Int, Int) -> Void)? = nil,
        layout: LLaVALayout? = nil, textLayout: LlamaTensorLayout = .llama,
        family: String = LLaVAFamily.id
    ) throws {
        let config = try LLaVAConfiguration.load(directory: directory, visionTower: visionTower, layout: layout)
        let weights = WeightStore()
        let archive = try SafetensorsArchive(directory: directory)
        switch config.layout {
        case .llavaHF:
            try weights.add(archive, map: LLaVAWeightNames.llavaHF)
            if visionTower != nil {
                try weights.add(try SafetensorsArchive(directory: config.visionTowerDirectory), map: LLaVAWeightNames.clipDirectory)
            }
        case .original:
            try weights.add(archive, map: LLaVAWeightNames.original)
            try weights.add(try SafetensorsArchive(directory: config.visionTowerDirectory), map: LLaVAWeightNames.clipDirectory)
        }
        try config.checkStoredLayers(weights)
        weights.progress = progress
        try self.init(configuration: config, weights: weights, textLayout: textLayout, family: family)
        processorDirectories = [directory, config.visionTowerDirectory]
    }

    /// Builds the model from canonical-named weights. Throws `ModelError` on an invalid configuration
    /// (see `LLaVAConfiguration.load`) or a missing/mis-shaped tensor.
    public init(
        configuration: LLaVAConfiguration, weights: WeightStore, textLayout: LlamaTensorLayout = .llama,
        family: String = LLaVAFamily.id
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.family = family
        processorDirectories = [configuration.visionTowerDirectory]
        let d = configuration.text.hiddenSize, dv = configuration.vision.hiddenSize
        visionTower = try CLIPVisionTower(
            config: configuration.vision, featureLayer: configuration.visionFeatureLayer, weights: weights)
        projector1Weight = try weights.takeMatrix("multi_modal_projector.linear_1.weight", shape: [d, dv])
        projector2Weight = try weights.takeMatrix("multi_modal_projector.linear_2.weight", shape: [d, d])
        if configuration.projectorBias {
            projector1Bias = try weights.take("multi_modal_projector.linear_1.bias", shape: [d])
            projector2Bias = try weights.take("multi_modal_projector.linear_2.bias", shape: [d])
        } else {
            projector1Bias = nil
            projector2Bias = nil
        }
        decoder = try TextDecoder(llama: configuration.text, weights: weights, layout: textLayout)
        try configuration.checkImageToken()
        // Nothing stored may be dropped silently (biases of a layout read as bias-free, …).
        try weights.requireAllTaken()
    }

    public var imageTokenIndex: Int { configuration.imageTokenIndex }

    public func costShape(name: String) throws -> ModelDimensions {
        var dimensions = try ModelDimensions(configuration, name: name)
        dimensions.family = family
        return dimensions
    }
    public var visualTokensPerImage: Int { configuration.visualTokensPerImage }

    /// Vision-tower features of the selected layer.
    /// - Parameter pixels: `[3, S, S]` normalised pixels.
    /// - Returns: `[visual_tokens, vision hidden_size]` (CLS dropped unless the strategy keeps it).
    public func visionFeatures(_ pixels: Tensor, counter: FLOPCounter? = nil) -> Tensor {
        counter?.stage = .vision
        let h = visionTower(pixels, counter: counter)
        return configuration.dropsCLS ? h.rows(1, h.rows - 1).copy() : h
    }

    /// Projector (`mlp2x_gelu`): `linear_2(GELU(linear_1(x)))`.
    /// `features`: `[tokens, vision hidden]` → `[tokens, hidden_size]`.
    public func project(_ features: Tensor, counter: FLOPCounter? = nil) -> Tensor {
        counter?.stage = .projector
        let d = configuration.text.hiddenSize
        counter?.addProduct(rows: features.rows, k: features.columns, n: d, .visual)
        counter?.addProduct(rows: features.rows, k: d, n: d, .visual)
        let h = linear(features, projector1Weight, bias: projector1Bias)
        configuration.projectorActivation.applyInPlace(h)
        return linear(h, projector2Weight, bias: projector2Bias)
    }

    /// Image embeddings ready to splice into the prompt: `[visual_tokens, hidden_size]`.
    public func imageFeatures(_ pixels: Tensor, counter: FLOPCounter? = nil) -> Tensor {
        project(visionFeatures(pixels, counter: counter), counter: counter)
    }

    /// Input embeddings for a prompt: text ids embedded, positions holding `imageTokenIndex`
    /// replaced in order by the rows of `images` (llava-hf `masked_scatter`; original splice).
    /// - Parameters:
    ///   - ids: prompt ids with every visual position set to `configuration.imageTokenIndex`.
    ///   - images: one `[visual_tokens, hidden_size]` tensor per image, in prompt order.
    /// - Returns: `[ids.count, hidden_size]`.
    /// Throws `ModelError.imageTokenMismatch` when position and feature counts differ.
    public func inputEmbeddings(ids: [Int], images: [Tensor]) throws -> Tensor {
        try decoder.embed(ids: ids, imageToken: configuration.imageTokenIndex, images: images)
    }
}

/// LLaVA's cost shape for the FLOPs model.
extension ModelDimensions {
    /// The dimensions of a loaded checkpoint configuration. The vision layers computed follow
    /// `vision_feature_layer` (−2: all but the last). Throws `ModelError.invalidConfiguration` for a
    /// feature layer outside the tower.
    public init(_ c: LLaVAConfiguration, name: String) throws {
        let total = c.vision.numHiddenLayers
        let computed = c.visionFeatureLayer < 0 ? total + 1 + c.visionFeatureLayer : c.visionFeatureLayer
        guard computed >= 0 && computed <= total else {
            throw ModelError.invalidConfiguration("vision_feature_layer \(c.visionFeatureLayer) is outside the \(total)-layer vision tower")
        }
        self.init(
            name: name,
            text: Text(c.text.decoderSpec),
            vision: Vision(
                hiddenSize: c.vision.hiddenSize, intermediateSize: c.vision.intermediateSize,
                numHiddenLayers: total, layersComputed: computed, patchSize: c.vision.patchSize,
                imageSize: c.vision.imageSize, dropsCLS: c.dropsCLS))
    }
}

// MARK: - The pipeline's view of a LLaVA model

/// CLIP preprocessing (`ImagePreprocessor`) in the checkpoint's square mode.
struct CLIPImageFront: ImageFront {
    let preprocessor: ImagePreprocessor
    let mode: SquareMode
    let grid: VisualGrid
    let tokens: Int

    func prepare(_ image: RGBImage, source: String?) throws -> PreparedImage {
        let p = try preprocessor.preprocess(image, mode: mode, source: source)
        return PreparedImage(pixels: Tensor(shape: p.shape, values: p.values), tokenGrid: grid, tokenCount: tokens)
    }
}

extension LLaVAModel {
    public var fixedTokensPerImage: Int? { configuration.visualTokensPerImage }
    public var contextLength: Int { configuration.contextLength }
    public var defaultTemplate: PromptTemplate { configuration.layout == .original ? .vicunaV1 : .llavaHF }
    public var prefersSentencePieceTokenizer: Bool { configuration.layout == .original }
    public var stopTokenIDs: [Int] { [] }
    public var supportsYOPO: Bool { configuration.dropsCLS }
    public var simulatedSemantics: SimulatedSemantics { .llava }

    /// The checkpoint's CLIP processor (`loadPreprocessorConfig`), its crop the vision tower's
    /// image_size, in `options.squareMode` or the config's `image_aspect_ratio`.
    public func imageFront(_ options: ImageFrontOptions) throws -> any ImageFront {
        if options.minPixels != nil || options.maxPixels != nil {
            throw ModelError.invalidConfiguration(
                "a pixel budget (min/max pixels) applies to dynamic-resolution models (Qwen2-VL, Qwen2.5-VL); LLaVA-1.5 resizes every image to \(configuration.vision.imageSize)×\(configuration.vision.imageSize)"
            )
        }
        let config = try Self.loadPreprocessorConfig(processorDirectories)
        guard config.cropHeight == configuration.vision.imageSize, config.cropWidth == configuration.vision.imageSize else {
            throw ModelError.invalidConfiguration(
                "image processor crop size \(config.cropHeight)×\(config.cropWidth) does not match the vision tower's image_size \(configuration.vision.imageSize)"
            )
        }
        let g = configuration.vision.gridSize
        return CLIPImageFront(
            preprocessor: try ImagePreprocessor(config: config), mode: options.squareMode ?? configuration.imageAspectMode,
            grid: VisualGrid(rows: g, columns: g), tokens: configuration.visualTokensPerImage)
    }

    public func imageFeatures(_ image: PreparedImage, counter: FLOPCounter?) -> Tensor {
        imageFeatures(image.pixels, counter: counter)
    }

    public func rotaryPositions(ids: [Int], images: [PreparedImage]) throws -> [RotaryPosition]? { nil }

    /// The image processor settings: `preprocessor_config.json`, else the `image_processor` object of
    /// `processor_config.json` (transformers 5), searched in `directories` in order; CLIP ViT-L/14-336
    /// defaults when none exists (or `image_processor` is absent or null).
    ///
    /// The output must have a fixed size for the vision tower: a config with `do_center_crop` false
    /// and an exact `size` ({"height": h, "width": w}) is returned as the equivalent centre crop to
    /// h × w (a no-op crop, same pixels), so `imageFront`'s crop-size check covers it; one whose output
    /// would follow each image's shape is refused.
    /// - Throws: `ModelError.invalidConfiguration` naming the file and, for a bad value, its key
    ///   (e.g. `image_processor.size.shortest_edge`), the value and what is allowed; also for a file
    ///   that is not a regular file, is larger than 1 MiB or is not a JSON object.
    public static func loadPreprocessorConfig(_ directories: [String]) throws -> ImagePreprocessorConfig {
        /// The file's bytes, nil when there is no such file; bounded (1 MiB), never blocks on a pipe.
        func read(_ path: String) throws -> Data? {
            do {
                return try readSmallFile(path, limit: 1 << 20, kind: "processor config")
            } catch FormatError.fileNotFound {
                return nil
            }
        }
        /// Decodes `data` (a JSON object) as a config; `prefix` is the key path of the config in the file.
        func decode(_ data: Data, path: String, prefix: String) throws -> ImagePreprocessorConfig? {
            guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
                throw ModelError.invalidConfiguration("\(path) is not valid JSON")
            }
            guard let object = json as? [String: Any] else {
                throw ModelError.invalidConfiguration("\(path) must hold a JSON object")
            }
            var config: ImagePreprocessorConfig
            do {
                if prefix.isEmpty {
                    config = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: data)
                } else {
                    guard let inner = object[prefix], !(inner is NSNull) else { return nil }
                    struct Wrapper: Decodable { var image_processor: ImagePreprocessorConfig }
                    config = try JSONDecoder().decode(Wrapper.self, from: data).image_processor
                }
            } catch let ImageError.invalidConfiguration(key, problem) {
                let name = [prefix, key].filter { !$0.isEmpty }.joined(separator: ".")
                throw ModelError.invalidConfiguration("\(path): \(name.isEmpty ? "the config" : name) \(problem)")
            } catch {
                throw ModelError.invalidConfiguration("\(path) is not a usable image processor config")
            }
            guard let output = config.fixedOutputSize else {
                let name = prefix.isEmpty ? "do_center_crop" : "\(prefix).do_center_crop"
                throw ModelError.invalidConfiguration(
                    "\(path): \(name) is false and size is not an exact {\"height\": h, \"width\": w}, so the "
                        + "image size would follow each input; the vision tower needs a fixed size (set do_center_crop "
                        + "to true or give size as height and width)")
            }
            if !config.doCenterCrop {
                config.doCenterCrop = true
                config.cropHeight = output.height
                config.cropWidth = output.width
            }
            return config
        }
        for directory in directories {
            let direct = (directory as NSString).appendingPathComponent("preprocessor_config.json")
            if let data = try read(direct), let config = try decode(data, path: direct, prefix: "") { return config }
            let processor = (directory as NSString).appendingPathComponent("processor_config.json")
            if let data = try read(processor), let config = try decode(data, path: processor, prefix: "image_processor") {
                return config
            }
        }
        return .clipViTLarge336
    }
}
