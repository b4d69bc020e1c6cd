import Foundation

/// Why a rotary embedding could not be built from a config; `description` is one sentence naming
/// the key (as a dotted path into config.json) and what is allowed.
public enum RotaryConfigurationError: Error, Equatable, CustomStringConvertible {
    /// `rope_type` / `type` names a kind this engine does not implement (`yarn`, `llama3`, …), or a
    /// key asks for a variant it does not implement (`mrope_interleaved`).
    case unsupported(key: String, found: String, allowed: [String])
    /// A key the kind needs is absent (`factor` for linear, `short_factor` for longrope, …).
    case missingKey(key: String, ropeType: String)
    /// A key holds a value of the wrong type or range.
    case invalidValue(key: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .unsupported(let key, let found, let allowed):
            return "\(key) \(found) is not supported (supported: \(allowed.joined(separator: ", ")))"
        case .missingKey(let key, let ropeType):
            return "\(key) is required for rope_type \"\(ropeType)\""
        case .invalidValue(let key, let found, let expected):
            return "\(key) must be \(expected), found \(found)"
        }
    }
}

extension RotaryEmbedding {
    /// The `rope_type` values `init(config:headDim:)` accepts (`su` is Phi-3's old name of
    /// `longrope`; `mrope` is Qwen2-VL's 4.x name; `axial` is 5.x's name of the 2-D vision rotary).
    public static let supportedTypes = ["default", "linear", "dynamic", "longrope", "su", "mrope", "axial"]

    /// Builds the rotary embedding a config.json (text) section describes, as transformers 5.24
    /// `RotaryEmbeddingConfigMixin.standardize_rope_params` + `ROPE_INIT_FUNCTIONS` read it.
    ///
    /// - Parameters:
    ///   - config: the decoded JSON object (`JSONSerialization` output, or Swift `Int`/`Double`/
    ///     `String`/arrays) of the section holding the rope keys: config.json itself, or its
    ///     `text_config` / `llm_config` / `vision_config`.
    ///   - headDim: the head width the caller derived (`head_dim`, else `hidden_size / heads`).
    ///   - keyPath: prefix for the key names in errors, e.g. `"text_config."`.
    ///   - defaultTheta: θ when no `rope_theta` is given (transformers `default_theta`, 10000).
    ///
    /// Keys read: the rope dictionary is `rope_scaling` when it is a non-empty object, else
    /// `rope_parameters` (4.x writes `rope_scaling: {type, factor}`; 5.x `rope_parameters:
    /// {rope_type, rope_theta, …}`). Its kind is `rope_type`, else `type`, else `default`.
    /// - `rope_theta`: the dictionary's, else the top-level one, else `defaultTheta`.
    /// - `linear`: `factor`. `dynamic`: `factor` and the top-level `max_position_embeddings`
    ///   (transformers' threshold; it does not read `original_max_position_embeddings` for dynamic).
    /// - `longrope` / `su`: `short_factor`, `long_factor` (`headDim / 2` numbers each),
    ///   `original_max_position_embeddings` (top-level first, as transformers does for Phi-3, then the
    ///   dictionary's, then `max_position_embeddings`), optional `factor` and `attention_factor`.
    /// - `mrope_section` (three sizes) makes it multi-axis; allowed with `rope_type` `default` or
    ///   `mrope` (5.x rewrites `{type: mrope}` to `{type: mrope, rope_type: default}`); `mrope` requires it.
    /// - `axial`: the 2-D vision rotary.
    /// - `partial_rotary_factor` (either level) must be absent or 1; `mrope_interleaved` absent or false.
    ///
    /// - Throws: `RotaryConfigurationError`: `.unsupported` for another `rope_type` (naming the
    ///   supported ones), `.missingKey` for a key the kind needs, `.invalidValue` for a non-object rope
    ///   dictionary, a non-number, a non-positive or non-finite factor/θ/length, a factor list of the
    ///   wrong length, `mrope_section` not summing to `headDim / 2`.
    public init(config: [String: Any], headDim: Int, keyPath: String = "", defaultTheta: Float = 10000) throws {
        typealias E = RotaryConfigurationError
        var reader = RotaryConfigReader(top: config, prefix: keyPath)
        let ropeType = try reader.ropeType()
        guard Self.supportedTypes.contains(ropeType) else {
            throw E.unsupported(key: reader.ropeTypeKey, found: "\"\(ropeType)\"", allowed: Self.supportedTypes)
        }
        let theta = try reader.float("rope_theta", nested: true, topLevel: true) ?? defaultTheta
        if let partial = try reader.double("partial_rotary_factor", nested: true, topLevel: true), partial != 1 {
            throw E.invalidValue(
                key: reader.path(of: "partial_rotary_factor"), found: "\(partial)",
                expected: "1 (partial rotary embeddings are not supported)")
        }
        if let interleaved = reader.nested?["mrope_interleaved"], (interleaved as? Bool) == true {
            throw E.unsupported(
                key: reader.path(of: "mrope_interleaved"), found: "true",
                allowed: ["false (Qwen2-VL's sectioned M-RoPE)"])
        }
        let sections = try reader.integers("mrope_section")
        if let sections {
            guard ropeType == "default" || ropeType == "mrope" else {
                throw E.invalidValue(
                    key: reader.path(of: "mrope_section"), found: "\(sections)",
                    expected: "absent for rope_type \"\(ropeType)\" (M-RoPE combines only with default frequencies)")
            }
        }
        func required<T>(_ value: T?, _ key: String, topLevel: Bool = false) throws -> T {
            guard let value else { throw E.missingKey(key: reader.path(of: key, topLevel: topLevel), ropeType: ropeType) }
            return value
        }
        var attentionFactor: Float?
        var maxPositions: Int?
        var explicitFactor: Double?
        let kind: Kind
        switch ropeType {
        case "linear":
            kind = .linear(factor: try required(try reader.float("factor"), "factor"))
        case "dynamic":
            let factor = try required(try reader.float("factor"), "factor")
            let m = try required(
                try reader.integer("max_position_embeddings", nested: false, topLevel: true),
                "max_position_embeddings", topLevel: true)
            kind = .dynamicNTK(factor: factor, maxPositionEmbeddings: m)
        case "longrope", "su":
            let short = try required(try reader.floats("short_factor"), "short_factor")
            let long = try required(try reader.floats("long_factor"), "long_factor")
            maxPositions = try reader.integer("max_position_embeddings", nested: false, topLevel: true)
            var original = try reader.integer("original_max_position_embeddings", nested: false, topLevel: true)
            if original == nil { original = try reader.integer("original_max_position_embeddings") }
            explicitFactor = try reader.double("factor")
            attentionFactor = try reader.float("attention_factor")
            kind = .longRoPE(
                shortFactor: short, longFactor: long,
                originalMaxPositionEmbeddings: try required(
                    original ?? maxPositions,
                    "original_max_position_embeddings", topLevel: true))
        case "mrope":
            kind = .multiAxis(sections: try required(sections, "mrope_section"))
        case "axial":
            kind = .vision2D
        default:
            kind = sections.map { .multiAxis(sections: $0) } ?? .default
        }
        do {
            try self.init(
                kind: kind, headDim: headDim, theta: theta, attentionFactor: attentionFactor,
                maxPositionEmbeddings: maxPositions, scalingFactor: explicitFactor)
        } catch E.invalidValue(let key, let found, let expected) {
            // The designated init names bare keys; give them the path they were read from.
            let bare = String(key.prefix { $0 != "[" })
            throw E.invalidValue(
                key: reader.path(of: bare, topLevel: true) + key.dropFirst(bare.count),
                found: found, expected: expected)
        }
    }
}

/// Reads typed values from a config section and its rope dictionary, remembering where each key was
/// found so errors name the right path.
struct RotaryConfigReader {
    typealias E = RotaryConfigurationError
    let top: [String: Any]
    let prefix: String
    /// The rope dictionary (`rope_scaling` or `rope_parameters`) and its key, when there is one.
    private(set) var nested: [String: Any]?
    private(set) var nestedKey = "rope_scaling"
    /// Key → the path it was read from.
    private var found: [String: String] = [:]
    private var problem: E?

    init(top: [String: Any], prefix: String) {
        self.top = top
        self.prefix = prefix
        for key in ["rope_scaling", "rope_parameters"] {
            guard let value = top[key], !(value is NSNull) else { continue }
            guard let object = value as? [String: Any] else {
                problem = E.invalidValue(
                    key: prefix + key, found: Self.describe(value),
                    expected: "an object such as {\"rope_type\": \"linear\", \"factor\": 2}")
                break
            }
            if object.isEmpty { continue }  // transformers: `rope_scaling or rope_parameters`
            nested = object
            nestedKey = key
            break
        }
    }

    /// Where `rope_type` (or `type`) was read, for errors.
    var ropeTypeKey: String { path(of: nested?["rope_type"] != nil ? "rope_type" : "type") }

    /// The dotted path of `key` where it was read, else where it is, else where it would be read:
    /// the section itself when `topLevel`, the rope dictionary otherwise.
    func path(of key: String, topLevel: Bool = false) -> String {
        if let path = found[key] { return path }
        if nested?[key] != nil { return prefix + "\(nestedKey).\(key)" }
        if topLevel || top[key] != nil { return prefix + key }
        return prefix + "\(nestedKey).\(key)"
    }

    mutating func ropeType() throws -> String {
        if let problem { throw problem }
        for key in ["rope_type", "type"] {
            guard let value = nested?[key], !(value is NSNull) else { continue }
            guard let name = value as? String else {
                throw E.invalidValue(
                    key: prefix + "\(nestedKey).\(key)", found: Self.describe(value),
                    expected: "a string (\(RotaryEmbedding.supportedTypes.joined(separator: ", ")))")
            }
            found[key] = prefix + "\(nestedKey).\(key)"
            return name
        }
        return "default"
    }

    /// The raw value of `key` from the rope dictionary (`nested`) and/or the section itself
    /// (`topLevel`), the dictionary first; nil when absent or JSON null.
    private mutating func raw(_ key: String, nested inNested: Bool, topLevel: Bool) -> Any? {
        if inNested, let value = nested?[key], !(value is NSNull) {
            found[key] = prefix + "\(nestedKey).\(key)"
            return value
        }
        if topLevel, let value = top[key], !(value is NSNull) {
            found[key] = prefix + key
            return value
        }
        return nil
    }

    /// A JSON number as Double (booleans are not numbers).
    static func number(_ value: Any) -> Double? {
        if value is Bool && !(value is NSNumber) { return nil }
        if let n = value as? NSNumber {
            if String(cString: n.objCType) == "c" { return nil }  // JSON true/false
            return n.doubleValue
        }
        switch value {
        case let v as Double: return v
        case let v as Float: return Double(v)
        case let v as Int: return Double(v)
        default: return nil
        }
    }

    static func describe(_ value: Any) -> String {
        switch value {
        case let s as String: return "\"\(s)\""
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default:
            if let n = value as? NSNumber, String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            if let d = number(value) { return d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)" }
            return "\(value)"
        }
    }

    mutating func double(_ key: String, nested inNested: Bool = true, topLevel: Bool = false) throws -> Double? {
        guard let value = raw(key, nested: inNested, topLevel: topLevel) else { return nil }
        guard let d = Self.number(value) else {
            throw E.invalidValue(key: path(of: key), found: Self.describe(value), expected: "a number")
        }
        return d
    }

    /// A number that must be positive and fit fp32.
    mutating func float(_ key: String, nested inNested: Bool = true, topLevel: Bool = false) throws -> Float? {
        guard let d = try double(key, nested: inNested, topLevel: topLevel) else { return nil }
        let f = Float(d)
        guard f.isFinite, f > 0 else {
            throw E.invalidValue(key: path(of: key), found: Self.describe(d), expected: "a positive number within fp32's range")
        }
        return f
    }

    /// A positive integer (4096 or 4096.0).
    mutating func integer(_ key: String, nested inNested: Bool = true, topLevel: Bool = false) throws -> Int? {
        guard let d = try double(key, nested: inNested, topLevel: topLevel) else { return nil }
        guard d.isFinite, d == d.rounded(), d >= 1, d <= Double(Int32.max) else {
            throw E.invalidValue(key: path(of: key), found: Self.describe(d), expected: "a positive integer")
        }
        return Int(d)
    }

    private mutating func list(_ key: String) throws -> [Any]? {
        guard let value = raw(key, nested: true, topLevel: false) else { return nil }
        guard let array = value as? [Any] else {
            throw E.invalidValue(key: path(of: key), found: Self.describe(value), expected: "an array of numbers")
        }
        return array
    }

    /// An array of positive fp32 numbers (longrope factors).
    mutating func floats(_ key: String) throws -> [Float]? {
        guard let array = try list(key) else { return nil }
        return try array.enumerated().map { i, value in
            guard let d = Self.number(value), Float(d).isFinite, Float(d) > 0 else {
                throw E.invalidValue(
                    key: path(of: key) + "[\(i)]", found: Self.describe(value),
                    expected: "a positive number within fp32's range")
            }
            return Float(d)
        }
    }

    /// An array of non-negative integers (`mrope_section`).
    mutating func integers(_ key: String) throws -> [Int]? {
        guard let array = try list(key) else { return nil }
        return try array.enumerated().map { i, value in
            guard let d = Self.number(value), d == d.rounded(), d >= 0, d <= Double(Int32.max) else {
                throw E.invalidValue(
                    key: path(of: key) + "[\(i)]", found: Self.describe(value),
                    expected: "a non-negative integer")
            }
            return Int(d)
        }
    }
}
