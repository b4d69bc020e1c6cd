import Foundation
import YOPOCore
import YOPOImage
import YOPOFormats

/// Errors raised while building or running a model. Each message names what is wrong.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case missingTensor(String)
    case unknownTensor(String)
    /// A stored tensor the model does not read (the first of `count`).
    case unusedTensor(String, count: Int)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unsupportedDType(tensor: String, dtype: String)
    case contextOverflow(tokens: Int, limit: Int)
    case imageTokenMismatch(tokens: Int, features: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let s): return "invalid model configuration: \(s)"
        case .missingTensor(let t): return "checkpoint is missing tensor \(t)"
        case .unknownTensor(let t): return "checkpoint has an unknown tensor \(t)"
        case .unusedTensor(let t, let n):
            return
                "checkpoint stores \(t)\(n > 1 ? " and \(n - 1) more tensor\(n > 2 ? "s" : "")" : ""), which this model's configuration does not use (a layout the loader does not know, e.g. biases where the config has none)"
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

/// Largest config.json read, in bytes (a real one is a few kilobytes).
public let maximumConfigFileSize = 16 << 20

/// Decodes `T` from a JSON file, with errors naming the file and the key.
///
/// The file must be a regular file of at most `maximumConfigFileSize` bytes holding a JSON object.
/// Throws `ModelError.invalidConfiguration` with one line: `PATH is a directory…`, `PATH is empty`,
/// `PATH is not valid JSON`, `PATH must be a JSON object, found a list`, `PATH: missing key K`,
/// `PATH: K must be an integer, found 24.5`, or a field's own message prefixed by `PATH: `.
public func decodeJSONFile<T: Decodable>(_ type: T.Type, path: String) throws -> T {
    let data: Data
    do {
        data = try readSmallFile(path, limit: maximumConfigFileSize, kind: "config file")
    } catch let e as FormatError {
        throw ModelError.invalidConfiguration("\(e)")
    }
    guard !data.isEmpty else { throw ModelError.invalidConfiguration("\(path) is empty") }
    guard let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
        throw ModelError.invalidConfiguration("\(path) is not valid JSON")
    }
    guard tree is [String: Any] else {
        throw ModelError.invalidConfiguration("\(path) must be a JSON object, found \(describeJSONKind(tree))")
    }
    func keyPath(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
    func value(at codingPath: [CodingKey]) -> Any? {
        var node: Any? = tree
        for key in codingPath {
            if let index = key.intValue, let list = node as? [Any] {
                node = index < list.count ? list[index] : nil
            } else {
                node = (node as? [String: Any])?[key.stringValue]
            }
        }
        return node
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch ModelError.invalidConfiguration(let reason) {
        throw ModelError.invalidConfiguration("\(path): \(reason)")
    } catch let error as ImageError {  // an image processor config (`QwenVLImageProcessorConfig`) names its key
        throw ModelError.invalidConfiguration("\(path): \(error)")
    } catch DecodingError.keyNotFound(let key, let context) {
        throw ModelError.invalidConfiguration("\(path): missing key \(keyPath(context.codingPath + [key]))")
    } catch DecodingError.typeMismatch(let expected, let context) where !context.codingPath.isEmpty {
        throw ModelError.invalidConfiguration(
            "\(path): \(keyPath(context.codingPath)) must be \(describeExpectedType(expected)), found \(describeJSONValue(value(at: context.codingPath)))"
        )
    } catch DecodingError.valueNotFound(let expected, let context) where !context.codingPath.isEmpty {
        throw ModelError.invalidConfiguration(
            "\(path): \(keyPath(context.codingPath)) must be \(describeExpectedType(expected)), found null")
    } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
        throw ModelError.invalidConfiguration(
            "\(path): \(keyPath(context.codingPath)) has a value that cannot be used: \(describeJSONValue(value(at: context.codingPath)))")
    } catch {
        throw ModelError.invalidConfiguration("\(path) cannot be read as a model configuration")
    }
}

/// A type as a user would name a JSON value of it.
func describeExpectedType(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type: return "an integer"
    case is Float.Type, is Double.Type: return "a number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default:
        let name = String(describing: type)
        if name.hasPrefix("Array") { return "a list" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return "a value of another kind"
    }
}

/// The kind of a `JSONSerialization` value: `a list`, `a string`, …
func describeJSONKind(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull: return "null"
    case is [Any]: return "a list"
    case is [String: Any]: return "an object"
    case is String: return "a string"
    default:
        if String(describing: type(of: value!)).contains("Boolean") { return "true or false" }
        return "a number"
    }
}

/// A short rendering of a `JSONSerialization` value: `24.5`, `"two"`, `[1, 2]`, `an object`.
func describeJSONValue(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull: return "null"
    case let s as String: return s.count > 40 ? "\"\(s.prefix(40))…\"" : "\"\(s)\""
    case let list as [Any]:
        let shown = list.prefix(6).map { describeJSONValue($0) }.joined(separator: ", ")
        return "[" + shown + (list.count > 6 ? ", …]" : "]")
    case is [String: Any]: return "an object"
    default:
        if String(describing: type(of: value!)).contains("Boolean") { return (value as? Bool) == true ? "true" : "false" }
        if let n = value as? NSNumber { return n.stringValue }
        return "a value"
    }
}

/// A JSON value read only to be shown in a message (`24.5`, `"yarn"`, `[1, 2]`, `an object`).
struct JSONSummary: Decodable {
    var text: String

    init(from decoder: Decoder) throws {
        if let c = try? decoder.singleValueContainer() {
            if c.decodeNil() { text = "null"; return }
            if let b = try? c.decode(Bool.self) { text = b ? "true" : "false"; return }
            if let i = try? c.decode(Int.self) { text = "\(i)"; return }
            if let d = try? c.decode(Double.self) { text = "\(d)"; return }
            if let s = try? c.decode(String.self) { text = s.count > 40 ? "\"\(s.prefix(40))…\"" : "\"\(s)\""; return }
        }
        if var list = try? decoder.unkeyedContainer() {
            var items: [String] = []
            while !list.isAtEnd, items.count < 6, let item = try? list.decode(JSONSummary.self) { items.append(item.text) }
            text = "[" + items.joined(separator: ", ") + (list.isAtEnd ? "]" : ", …]")
            return
        }
        text = "an object"
    }
}

/// Typed reads of config.json keys whose failures name the key path and the value found.
/// A key that is absent or `null` takes the default, as transformers does.
extension KeyedDecodingContainer {
    /// `text_config.hidden_size`-style path of `key`.
    func keyPath(_ key: Key) -> String { (codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".") }

    /// The value at `key`, rendered for a message.
    func found(_ key: Key) -> String { (try? decode(JSONSummary.self, forKey: key))?.text ?? "an unreadable value" }

    func isAbsent(_ key: Key) -> Bool { !contains(key) || ((try? decodeNil(forKey: key)) ?? false) }

    func mismatch(_ key: Key, _ expected: String) -> ModelError {
        .invalidConfiguration("\(keyPath(key)) must be \(expected), found \(found(key))")
    }

    func integer(_ key: Key) throws -> Int? {
        if isAbsent(key) { return nil }
        // Booleans are not integers; Int decoding of 5.0 succeeds, of 24.5 or 1e30 fails.
        if (try? decode(Bool.self, forKey: key)) != nil { throw mismatch(key, "an integer") }
        guard let v = try? decode(Int.self, forKey: key) else { throw mismatch(key, "an integer") }
        return v
    }

    func number(_ key: Key) throws -> Double? {
        if isAbsent(key) { return nil }
        if (try? decode(Bool.self, forKey: key)) != nil { throw mismatch(key, "a number") }
        guard let v = try? decode(Double.self, forKey: key), v.isFinite else { throw mismatch(key, "a number") }
        return v
    }

    /// A number stored as fp32, as the model computes with it: finite and within Float's range
    /// (1e300 would silently become infinity).
    func float(_ key: Key) throws -> Float? {
        guard let v = try number(key) else { return nil }
        guard abs(v) <= Double(Float.greatestFiniteMagnitude) else { throw mismatch(key, "a number within fp32's range (±3.4e38)") }
        return Float(v)
    }

    func string(_ key: Key) throws -> String? {
        if isAbsent(key) { return nil }
        guard let v = try? decode(String.self, forKey: key) else { throw mismatch(key, "a string") }
        return v
    }

    func boolean(_ key: Key) throws -> Bool? {
        if isAbsent(key) { return nil }
        guard let v = try? decode(Bool.self, forKey: key) else { throw mismatch(key, "true or false") }
        return v
    }

    /// Throws unless the value at `key` is a JSON object (`text_config`, `vision_config`).
    func requireObject(_ key: Key) throws {
        guard (try? nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)) != nil else { throw mismatch(key, "an object") }
    }

    /// An integer or a list of integers (`eos_token_id`).
    func integers(_ key: Key) throws -> [Int]? {
        if isAbsent(key) { return nil }
        if (try? decode(Bool.self, forKey: key)) != nil { throw mismatch(key, "an integer or a list of integers") }
        if let v = try? decode(Int.self, forKey: key) { return [v] }
        if let v = try? decode([Int].self, forKey: key) { return v }
        throw mismatch(key, "an integer or a list of integers")
    }
}

/// Any key of a JSON object.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Checks `value` lies in `range`; the message names `key` (with its prefix) and the allowed range.
func requireInRange(_ value: Int, _ range: ClosedRange<Int>, _ key: String) throws {
    guard range.contains(value) else {
        throw ModelError.invalidConfiguration(
            "\(key) must be an integer from \(range.lowerBound) to \(range.upperBound), found \(value)")
    }
}

/// The sizes every transformer config has (LLaMA's and CLIP's), each within `ConfigurationLimits`.
/// Throws `ModelError.invalidConfiguration` naming `keyPrefix` + the key.
func requireTransformerSizes(
    hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
    keyPrefix: String
) throws {
    let limits = ConfigurationLimits.self
    try requireInRange(hiddenSize, 1...limits.hiddenSize, keyPrefix + "hidden_size")
    try requireInRange(intermediateSize, 1...limits.intermediateSize, keyPrefix + "intermediate_size")
    try requireInRange(numHiddenLayers, 1...limits.layers, keyPrefix + "num_hidden_layers")
    try requireInRange(numAttentionHeads, 1...limits.attentionHeads, keyPrefix + "num_attention_heads")
}

/// The largest sizes a configuration may give. They are far above any released LLaMA or CLIP
/// (LLaMA-3.1-405B: hidden 16384, intermediate 53248, 126 layers, 128 heads; vocabularies ≤ 262144)
/// and keep every product of sizes — weight counts, KV widths, FLOPs of a prompt of a few thousand
/// tokens — inside 64-bit integers.
public enum ConfigurationLimits {
    public static let hiddenSize = 65536
    public static let intermediateSize = 262_144
    public static let layers = 512
    public static let attentionHeads = 1024
    public static let headDim = 1024
    public static let vocabSize = 1 << 22
    /// `max_position_embeddings`, `tokenizer_model_max_length`.
    public static let contextLength = 1 << 24
    /// CLIP `image_size`, pixels.
    public static let imageSize = 16384
    /// Patches per side of the vision grid (`image_size / patch_size`).
    public static let gridSize = 256
    /// Weights of the decoder, and of the vision tower (each).
    public static let parameters = 1 << 42
}

/// `rope_scaling` / `rope_parameters` (transformers 4.x writes `rope_scaling: {type, factor}` and a
/// top-level `rope_theta`; 5.x writes `rope_parameters: {rope_type, rope_theta, factor}`).
public struct RopeParameters: Codable, Sendable, Equatable {
    public var ropeType: String?
    public var type: String?
    public var ropeTheta: Float?
    public var factor: Float?
    /// Qwen2-VL's M-RoPE sections (`mrope_section`, three sizes summing to head_dim / 2).
    public var mropeSection: [Int]?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor, mropeSection = "mrope_section"
    }

    public init(ropeType: String?, type: String?, ropeTheta: Float?, factor: Float?) {
        self.ropeType = ropeType
        self.type = type
        self.ropeTheta = ropeTheta
        self.factor = factor
    }

    /// Reads the keys with messages naming the key path (`text_config.rope_parameters.rope_type`),
    /// the allowed values and the value found. Throws `ModelError.invalidConfiguration`.
    public init(from decoder: Decoder) throws {
        let c: KeyedDecodingContainer<CodingKeys>
        do {
            c = try decoder.container(keyedBy: CodingKeys.self)
        } catch {
            let path = decoder.codingPath.map(\.stringValue).joined(separator: ".")
            let found = (try? JSONSummary(from: decoder))?.text ?? "another value"
            throw ModelError.invalidConfiguration(
                "\(path) must be an object such as {\"rope_type\": \"linear\", \"factor\": 2}, found \(found)")
        }
        ropeType = try c.string(.ropeType)
        type = try c.string(.type)
        for (key, value) in [(CodingKeys.ropeType, ropeType), (.type, type)] {
            if let value, value != "default", value != "linear", value != "mrope" {
                throw ModelError.invalidConfiguration(
                    "\(c.keyPath(key)) \"\(value)\" is not supported (default, linear, mrope)")
            }
        }
        mropeSection = try c.integers(.mropeSection)
        if [ropeType, type].contains("mrope") && mropeSection == nil {
            throw ModelError.invalidConfiguration(
                "\(c.keyPath(ropeType == "mrope" ? .ropeType : .type)) \"mrope\" needs mrope_section (three sizes)")
        }
        ropeTheta = try c.float(.ropeTheta)
        factor = try c.float(.factor)
        if let ropeTheta, !(ropeTheta.isFinite && ropeTheta > 0) {
            throw ModelError.invalidConfiguration("\(c.keyPath(.ropeTheta)) must be a positive number, found \(c.found(.ropeTheta))")
        }
        if let factor, !(factor.isFinite && factor > 0) {
            throw ModelError.invalidConfiguration("\(c.keyPath(.factor)) must be a positive number, found \(c.found(.factor))")
        }
    }

    /// `default` or `linear` (others are rejected at load); `mrope` reads as `default` with sections.
    public var kind: String {
        let k = ropeType ?? type ?? "default"
        return k == "mrope" ? "default" : k
    }
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
    /// M-RoPE sections from `rope_scaling` / `rope_parameters` (`mrope_section`), nil for 1-D RoPE.
    public var mropeSection: [Int]?
    public var bosTokenID: Int?
    /// `eos_token_id`: one id or a list of ids (transformers accepts both); empty when absent.
    public var eosTokenIDs: [Int]
    /// The first of `eosTokenIDs`.
    public var eosTokenID: Int? { eosTokenIDs.first }

    /// `hidden_size / num_attention_heads` unless `head_dim` is given.
    public var headDim: Int { explicitHeadDim ?? hiddenSize / max(numAttentionHeads, 1) }

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
        self.eosTokenIDs = [2]
    }

    /// Reads the keys; a key of the wrong JSON type throws `ModelError.invalidConfiguration`
    /// naming its path and the value found (sizes are range-checked by `validate`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.integer(.hiddenSize) ?? 4096
        numHiddenLayers = try c.integer(.numHiddenLayers) ?? 32
        numAttentionHeads = try c.integer(.numAttentionHeads) ?? 32
        numKeyValueHeads = try c.integer(.numKeyValueHeads) ?? numAttentionHeads
        intermediateSize = try c.integer(.intermediateSize) ?? 11008
        vocabSize = try c.integer(.vocabSize) ?? 32000
        rmsNormEps = try c.float(.rmsNormEps) ?? 1e-6
        maxPositionEmbeddings = try c.integer(.maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.boolean(.tieWordEmbeddings) ?? false
        hiddenAct = try c.string(.hiddenAct) ?? "silu"
        explicitHeadDim = try c.integer(.explicitHeadDim)
        bosTokenID = try c.integer(.bosTokenID)
        eosTokenIDs = try c.integers(.eosTokenID) ?? []
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let theta = try c.float(.ropeTheta)
        if let theta, !(theta.isFinite && theta > 0) {
            throw ModelError.invalidConfiguration("\(c.keyPath(.ropeTheta)) must be a positive number, found \(c.found(.ropeTheta))")
        }
        ropeTheta = theta ?? parameters?.ropeTheta ?? 10000
        let rope = scaling ?? parameters
        ropeScalingFactor = rope?.kind == "linear" ? rope?.factor ?? 1 : 1
        mropeSection = rope?.mropeSection
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
            try c.encode(
                RopeParameters(ropeType: nil, type: "linear", ropeTheta: nil, factor: ropeScalingFactor),
                forKey: .ropeScaling)
        }
    }

    /// Checks every size against `ConfigurationLimits` and against each other, and the parameter
    /// count with checked arithmetic, before anything is allocated or multiplied.
    /// - Parameter keyPrefix: how the keys are named in messages (`text_config.` for llava-hf, empty
    ///   for original LLaVA, where the LLaMA keys are top-level).
    /// Throws `ModelError.invalidConfiguration` naming the key, the allowed values and the value found.
    public func validate(keyPrefix: String = "text_config.") throws {
        func fail(_ what: String) -> ModelError { .invalidConfiguration(what) }
        let limits = ConfigurationLimits.self
        try requireTransformerSizes(
            hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: numHiddenLayers,
            numAttentionHeads: numAttentionHeads, keyPrefix: keyPrefix)
        try requireInRange(numKeyValueHeads, 1...numAttentionHeads, keyPrefix + "num_key_value_heads")
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("\(keyPrefix)num_attention_heads \(numAttentionHeads) must be a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        if let explicitHeadDim {
            try requireInRange(explicitHeadDim, 2...limits.headDim, keyPrefix + "head_dim")
        } else {
            guard (2...limits.headDim).contains(headDim) else {
                throw fail(
                    "\(keyPrefix)hidden_size / num_attention_heads gives head_dim \(headDim) (\(hiddenSize) / \(numAttentionHeads)); it must be from 2 to \(limits.headDim) (or set head_dim)"
                )
            }
        }
        guard headDim % 2 == 0 else { throw fail("\(keyPrefix)head_dim \(headDim) must be even for RoPE") }
        try requireInRange(vocabSize, 1...limits.vocabSize, keyPrefix + "vocab_size")
        try requireInRange(maxPositionEmbeddings, 1...limits.contextLength, keyPrefix + "max_position_embeddings")
        guard rmsNormEps.isFinite, rmsNormEps >= 0 else {
            throw fail("\(keyPrefix)rms_norm_eps must be a number ≥ 0, found \(rmsNormEps)")
        }
        guard ropeTheta.isFinite, ropeTheta > 0 else {
            throw fail("\(keyPrefix)rope_theta must be a positive number, found \(ropeTheta)")
        }
        guard ropeScalingFactor.isFinite, ropeScalingFactor > 0 else {
            throw fail("\(keyPrefix)rope scaling factor must be a positive number, found \(ropeScalingFactor)")
        }
        if let s = mropeSection {
            guard s.count == 3, s.allSatisfy({ (0...(headDim / 2)).contains($0) }), s.reduce(0, +) == headDim / 2 else {
                throw fail("\(keyPrefix)rope mrope_section \(s) must be three sizes ≥ 0 summing to head_dim / 2 = \(headDim / 2)")
            }
        }
        guard hiddenAct == "silu" else { throw fail("\(keyPrefix)hidden_act \(hiddenAct) is not supported (silu)") }
        if let bos = bosTokenID, !(0..<vocabSize).contains(bos) {
            throw fail("\(keyPrefix)bos_token_id \(bos) is outside the vocabulary (0 to \(vocabSize - 1))")
        }
        for eos in eosTokenIDs where !(0..<vocabSize).contains(eos) {
            throw fail("\(keyPrefix)eos_token_id \(eos) is outside the vocabulary (0 to \(vocabSize - 1))")
        }
        let d = hiddenSize, q = numAttentionHeads * headDim, kv = numKeyValueHeads * headDim
        let perLayer = checkedSum(
            checkedProduct(2, d, q), checkedProduct(2, d, kv), checkedProduct(3, d, intermediateSize),
            checkedProduct(2, d))
        let total = perLayer.flatMap { checkedSum(checkedProduct(numHiddenLayers, $0), checkedProduct(2, vocabSize, d), d) }
        guard let total, total <= limits.parameters else {
            throw fail(
                "\(keyPrefix)hidden_size \(d), intermediate_size \(intermediateSize), num_hidden_layers \(numHiddenLayers) and vocab_size \(vocabSize) give more than \(limits.parameters) weights"
            )
        }
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
    public var gridSize: Int { imageSize / max(patchSize, 1) }
    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }

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

    /// Reads the keys; a key of the wrong JSON type or an unknown `hidden_act` throws
    /// `ModelError.invalidConfiguration` naming its path (sizes are range-checked by `validate`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.integer(.hiddenSize) ?? 768
        intermediateSize = try c.integer(.intermediateSize) ?? 3072
        numHiddenLayers = try c.integer(.numHiddenLayers) ?? 12
        numAttentionHeads = try c.integer(.numAttentionHeads) ?? 12
        numChannels = try c.integer(.numChannels) ?? 3
        imageSize = try c.integer(.imageSize) ?? 224
        patchSize = try c.integer(.patchSize) ?? 32
        let act = try c.string(.hiddenAct) ?? "quick_gelu"
        guard let a = Activation(rawValue: act) else {
            throw ModelError.invalidConfiguration("\(c.keyPath(.hiddenAct)) \(act) is not supported (quick_gelu, gelu)")
        }
        hiddenAct = a
        layerNormEps = try c.float(.layerNormEps) ?? 1e-5
    }

    /// Checks every size against `ConfigurationLimits` and against each other, and the parameter
    /// count with checked arithmetic.
    /// - Parameter keyPrefix: how the keys are named in messages (`vision_config.`, or empty for a
    ///   bare `CLIPVisionModel` config).
    /// Throws `ModelError.invalidConfiguration` naming the key, the allowed values and the value found.
    public func validate(keyPrefix: String = "vision_config.") throws {
        func fail(_ what: String) -> ModelError { .invalidConfiguration(what) }
        let limits = ConfigurationLimits.self
        try requireTransformerSizes(
            hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: numHiddenLayers,
            numAttentionHeads: numAttentionHeads, keyPrefix: keyPrefix)
        guard hiddenSize % numAttentionHeads == 0 else {
            throw fail("\(keyPrefix)hidden_size \(hiddenSize) must be a multiple of num_attention_heads \(numAttentionHeads)")
        }
        guard numChannels == 3 else { throw fail("\(keyPrefix)num_channels must be 3, found \(numChannels)") }
        try requireInRange(imageSize, 1...limits.imageSize, keyPrefix + "image_size")
        try requireInRange(patchSize, 1...imageSize, keyPrefix + "patch_size")
        guard imageSize % patchSize == 0 else {
            throw fail("\(keyPrefix)image_size \(imageSize) must be a multiple of patch_size \(patchSize)")
        }
        guard gridSize <= limits.gridSize else {
            throw fail(
                "\(keyPrefix)image_size \(imageSize) / patch_size \(patchSize) gives a \(gridSize)×\(gridSize) patch grid; at most \(limits.gridSize)×\(limits.gridSize) is supported"
            )
        }
        guard layerNormEps.isFinite, layerNormEps >= 0 else {
            throw fail("\(keyPrefix)layer_norm_eps must be a number ≥ 0, found \(layerNormEps)")
        }
        let d = hiddenSize, positions = gridSize * gridSize + 1
        let perLayer = checkedSum(checkedProduct(4, d, d), checkedProduct(2, d, intermediateSize), checkedProduct(10, d))
        let total = perLayer.flatMap {
            checkedSum(
                checkedProduct(numHiddenLayers, $0), checkedProduct(d, 3, patchSize, patchSize),
                checkedProduct(positions, d), checkedProduct(3, d))
        }
        guard let total, total <= limits.parameters else {
            throw fail(
                "\(keyPrefix)hidden_size \(d), intermediate_size \(intermediateSize), num_hidden_layers \(numHiddenLayers) and patch_size \(patchSize) give more than \(limits.parameters) weights"
            )
        }
    }
}

/// `config.json` of an `openai/clip-vit-*` directory (`model_type: clip`, nested `vision_config`),
/// or of a bare `CLIPVisionModel` (`model_type: clip_vision_model`, keys at the top level).
public struct CLIPDirectoryConfiguration: Decodable, Sendable {
    public var visionConfig: CLIPVisionConfiguration
    /// How the vision keys are named in messages: `vision_config.` when nested, else empty.
    public var keyPrefix: String

    enum CodingKeys: String, CodingKey { case visionConfig = "vision_config", modelType = "model_type" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if !c.isAbsent(.visionConfig) {
            try c.requireObject(.visionConfig)
            visionConfig = try c.decode(CLIPVisionConfiguration.self, forKey: .visionConfig)
            keyPrefix = "vision_config."
        } else {
            visionConfig = try CLIPVisionConfiguration(from: decoder)
            keyPrefix = ""
        }
    }
}
