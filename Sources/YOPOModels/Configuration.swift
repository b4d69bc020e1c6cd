import Foundation
import YOPOCore

/// Errors raised while building or running a model. Each message names what is wrong.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case missingTensor(String)
    case unknownTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unsupportedDType(tensor: String, dtype: String)
    case contextOverflow(tokens: Int, limit: Int)
    case imageTokenMismatch(tokens: Int, features: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let s): return "invalid model configuration: \(s)"
        case .missingTensor(let t): return "checkpoint is missing tensor \(t)"
        case .unknownTensor(let t): return "checkpoint has an unknown tensor \(t)"
        case .shapeMismatch(let t, let e, let f):
            return "tensor \(t) has shape \(f), expected \(e)"
        case .unsupportedDType(let t, let d):
            return "tensor \(t) has unsupported dtype \(d) (supported: F32, F16, BF16)"
        case .contextOverflow(let n, let limit):
            return "prompt of \(n) tokens (image included) exceeds the context length \(limit)"
        case .imageTokenMismatch(let t, let f):
            return "image features and image tokens do not match: tokens \(t), features \(f)"
        }
    }
}

/// Decodes `T` from a JSON file, with errors naming the file. Throws `ModelError.invalidConfiguration`.
public func decodeJSONFile<T: Decodable>(_ type: T.Type, path: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ModelError.invalidConfiguration("cannot read \(path)")
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
        throw ModelError.invalidConfiguration("\(path): missing key \(key.stringValue)")
    } catch let DecodingError.typeMismatch(_, ctx) {
        throw ModelError.invalidConfiguration(
            "\(path): wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
    } catch {
        throw ModelError.invalidConfiguration("\(path) is not valid JSON")
    }
}

/// `rope_scaling` / `rope_parameters` (transformers 4.x writes `rope_scaling: {type, factor}` and a
/// top-level `rope_theta`; 5.x writes `rope_parameters: {rope_type, rope_theta, factor}`).
public struct RopeParameters: Codable, Sendable, Equatable {
    public var ropeType: String?
    public var type: String?
    public var ropeTheta: Float?
    public var factor: Float?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
    }

    /// `default` or `linear` (others are rejected at load).
    public var kind: String { ropeType ?? type ?? "default" }
}

/// LLaMA text model configuration, mirroring `LlamaConfig` keys of config.json. Omitted keys take
/// `LlamaConfig`'s defaults (as transformers does when a nested `text_config` omits them).
public struct LlamaConfiguration: Codable, Sendable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var hiddenAct: String
    public var explicitHeadDim: Int?
    public var ropeTheta: Float
    /// Linear RoPE scaling factor (positions divided by it); 1 when absent.
    public var ropeScalingFactor: Float
    public var bosTokenID: Int?
    public var eosTokenID: Int?

    /// `hidden_size / num_attention_heads` unless `head_dim` is given.
    public var headDim: Int { explicitHeadDim ?? hiddenSize / numAttentionHeads }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps", maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings", hiddenAct = "hidden_act"
        case explicitHeadDim = "head_dim", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters", bosTokenID = "bos_token_id", eosTokenID = "eos_token_id"
    }

    public init(
        hiddenSize: Int = 4096, numHiddenLayers: Int = 32, numAttentionHeads: Int = 32,
        numKeyValueHeads: Int? = nil, intermediateSize: Int = 11008, vocabSize: Int = 32000,
        rmsNormEps: Float = 1e-6, maxPositionEmbeddings: Int = 2048, ropeTheta: Float = 10000,
        ropeScalingFactor: Float = 1
    ) {
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = false
        self.hiddenAct = "silu"
        self.ropeTheta = ropeTheta
        self.ropeScalingFactor = ropeScalingFactor
        self.bosTokenID = 1
        self.eosTokenID = 2
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 4096
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 32
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 11008
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 32000
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        explicitHeadDim = try c.decodeIfPresent(Int.self, forKey: .explicitHeadDim)
        bosTokenID = try? c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        eosTokenID = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID)
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10000
        let rope = scaling ?? parameters
        switch rope?.kind ?? "default" {
        case "default": ropeScalingFactor = 1
        case "linear": ropeScalingFactor = rope?.factor ?? 1
        case let other:
            throw ModelError.invalidConfiguration("rope scaling type \(other) is not supported (default, linear)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encodeIfPresent(explicitHeadDim, forKey: .explicitHeadDim)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        if ropeScalingFactor != 1 {
            try c.encode(RopeParameters(ropeType: nil, type: "linear", ropeTheta: nil, factor: ropeScalingFactor),
                         forKey: .ropeScaling)
        }
    }

    /// Checks the numbers are usable. Throws `ModelError.invalidConfiguration` naming the field.
    public func validate() throws {
        func require(_ ok: Bool, _ what: String) throws {
            if !ok { throw ModelError.invalidConfiguration(what) }
        }
        try require(hiddenSize > 0 && numHiddenLayers > 0 && intermediateSize > 0 && vocabSize > 0,
                    "text_config sizes must be positive")
        try require(numAttentionHeads > 0 && numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0,
                    "num_attention_heads \(numAttentionHeads) must be a multiple of num_key_value_heads \(numKeyValueHeads)")
        try require(headDim % 2 == 0, "head_dim \(headDim) must be even for RoPE")
        try require(hiddenAct == "silu", "hidden_act \(hiddenAct) is not supported (silu)")
    }
}

/// CLIP vision tower configuration, mirroring `CLIPVisionConfig` keys; omitted keys take its defaults.
public struct CLIPVisionConfiguration: Codable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: Activation
    public var layerNormEps: Float

    /// Patches per side (24 for 336/14).
    public var gridSize: Int { imageSize / patchSize }
    public var headDim: Int { hiddenSize / numAttentionHeads }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    /// The defaults LLaVA-1.5 uses (`openai/clip-vit-large-patch14-336`), as `LlavaConfig` fills them.
    public static let llavaDefault = CLIPVisionConfiguration(
        hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16,
        numChannels: 3, imageSize: 336, patchSize: 14, hiddenAct: .quickGELU, layerNormEps: 1e-5)

    public init(
        hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
        numChannels: Int, imageSize: Int, patchSize: Int, hiddenAct: Activation, layerNormEps: Float
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 32
        let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        guard let a = Activation(rawValue: act) else {
            throw ModelError.invalidConfiguration("vision hidden_act \(act) is not supported")
        }
        hiddenAct = a
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5
    }

    public func validate() throws {
        guard hiddenSize > 0, numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
            throw ModelError.invalidConfiguration("vision hidden_size \(hiddenSize) must be a multiple of num_attention_heads \(numAttentionHeads)")
        }
        guard patchSize > 0, imageSize >= patchSize, imageSize % patchSize == 0 else {
            throw ModelError.invalidConfiguration("vision image_size \(imageSize) must be a multiple of patch_size \(patchSize)")
        }
        guard numHiddenLayers > 0, numChannels == 3 else {
            throw ModelError.invalidConfiguration("vision num_hidden_layers must be positive and num_channels 3")
        }
    }
}

/// `config.json` of an `openai/clip-vit-*` directory (`model_type: clip`, nested `vision_config`),
/// or of a bare `CLIPVisionModel` (`model_type: clip_vision_model`, keys at the top level).
public struct CLIPDirectoryConfiguration: Decodable, Sendable {
    public var visionConfig: CLIPVisionConfiguration

    enum CodingKeys: String, CodingKey { case visionConfig = "vision_config", modelType = "model_type" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let v = try c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .visionConfig) {
            visionConfig = v
        } else {
            visionConfig = try CLIPVisionConfiguration(from: decoder)
        }
    }
}
