import Foundation
import YOPOFormats

/// Errors in a pruning spec. Each names the field at fault (or the spec, when it is the spec as a
/// whole that does not fit the model) and what is allowed. `description` is one line: control
/// characters the user typed are shown escaped (`\n`).
public enum PruningSpecError: Error, CustomStringConvertible, Equatable {
    /// The spec is not `none`, a preset or `method:key=value,…` (empty spec, unknown method, empty field).
    case syntax(String)
    /// One field is unknown, repeated, missing its value, or its value is out of range.
    case invalidField(field: String, reason: String)
    /// A spec that is well formed but does not fit the model (a preset for another shape, a baseline
    /// whose default layers this model does not have); `reason` says which fields to pass instead.
    case doesNotFit(spec: String, reason: String)

    public var description: String {
        switch self {
        case .syntax(let s): return oneLine("invalid prune spec: \(s)")
        case .invalidField(let f, let r): return oneLine("invalid prune spec field \(f): \(r)")
        case .doesNotFit(let s, let r): return oneLine("prune spec \(s) does not fit this model: \(r)")
        }
    }
}

/// `s` with line breaks, tabs and other control characters escaped (`\n`, `\u{1b}`), so a message
/// quoting user input stays on one line.
func oneLine(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\n": out.append(contentsOf: "\\n".unicodeScalars)
        case "\r": out.append(contentsOf: "\\r".unicodeScalars)
        case "\t": out.append(contentsOf: "\\t".unicodeScalars)
        default:
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator, .format:
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            default:
                out.append(scalar)
            }
        }
    }
    return String(out)
}

/// A pruning request as the user writes it, before it meets a model:
/// `none` · `yopo:window=5,layers=16,heads=PATH.npy,ffn=2` (any subset; `heads-keep=N` instead of a
/// file picks the official mask keeping about N heads per layer) · presets `yopo-25`, `yopo-12` ·
/// baselines `fastv:k=2,r=0.5`, `pdrop:layers=8/16/24,ratio=0.5`, `sparsevlm:tokens=192` (see
/// `examples`). The same grammar is the `--prune` option, the library API, and the `"prune"` field of
/// a JSON file. Fields are `key=value` separated by single commas, each at most once, no spaces
/// (a `heads` path may contain them).
public enum PruningSpec: Sendable, Equatable {
    case none
    case yopo(YOPOSpec)
    /// A named preset resolved against the model shape (`yopo-25`, `yopo-12`).
    case preset(String)
    /// A token-pruning baseline: `fastv:k=2,r=0.5`, `pdrop:layers=8/16/24,ratio=0.5`, `sparsevlm:tokens=192`.
    case baseline(BaselineSpec)

    /// The methods a spec may name before its `:`.
    public static let methods = ["yopo", "fastv", "pdrop", "sparsevlm"]

    /// One line of the spec grammar for help text: a method (or `none`, a preset), a spec that works,
    /// and what it does.
    public struct Example: Sendable, Equatable {
        /// `none`, `yopo`, `yopo-25`, `yopo-12`, `fastv`, `pdrop` or `sparsevlm`.
        public let method: String
        /// A spec `--prune` takes as written.
        public let example: String
        /// What it does and the fields the method takes, with their allowed values.
        public let description: String
    }

    /// Every method (and `none`, the presets) with one example each, for `generate --help`.
    /// Each `example` parses; those of `none`, `yopo` and the baselines run on any model of ≥ 17 layers
    /// (`yopo`'s on 7B/13B, for its `heads-keep`), the presets on LLaVA-1.5-7B and 13B.
    public static let examples: [Example] = [
        Example(method: "none", example: "none", description: "no pruning (the default)"),
        Example(method: "yopo", example: "yopo:window=5,layers=16,heads-keep=16,ffn=2",
                description: "YOPO, any subset of: window (odd, 1–\(YOPOSpec.maxWindow)), layers (K: layers keeping visual work, 0–L), "
                    + "heads=PATH.npy (a 0/1 or bool mask [layers, heads]) or heads-keep (official masks: 8/16/24 on 7B, 5/10/20/30 on 13B), "
                    + "ffn (r ≥ 1: visual rows use I/r FFN channels); window, layers and ffn work on any model"),
        Example(method: "yopo-25", example: "yopo-25",
                description: "YOPO preset, about 25% of the visual FLOPs: window 5, layers L/2, the half-heads mask, ffn 2 (LLaVA-1.5-7B and 13B only)"),
        Example(method: "yopo-12", example: "yopo-12",
                description: "YOPO preset, about 12% of the visual FLOPs: as yopo-25 with layers L/4 (LLaVA-1.5-7B and 13B only)"),
        Example(method: "fastv", example: "fastv:k=2,r=0.5",
                description: "FastV: after layer k (1 to L−1, default 2) drop the fraction r (0–1, default 0.5) of image tokens, or keep=N of them"),
        Example(method: "pdrop", example: "pdrop:layers=8/16/24,ratio=0.5",
                description: "PyramidDrop: after each boundary in layers (increasing, 1 to L−1, default 8/16/24) keep the fraction ratio (0–1, default 0.5), or keep=288/144/72"),
        Example(method: "sparsevlm", example: "sparsevlm:tokens=192",
                description: "SparseVLM v1.5: tokens=192, 128 or 64 (its schedules, pruning after layers 2/6/15), or layers=2/6/15,keep=300/200/110 (layers 0 to L−2)"),
    ]

    /// Parses the textual form. Relative mask paths are resolved against `baseDirectory`.
    /// Throws `PruningSpecError` naming the field and what it allows; an empty (or blank) spec is an
    /// error, `none` means no pruning.
    public init(parsing text: String, baseDirectory: String? = nil) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let presets = YOPOSpec.presetNames.joined(separator: ", ")
        if trimmed.isEmpty {
            throw PruningSpecError.syntax(
                "empty prune spec; use none, a preset (\(presets)) or method:key=value such as yopo:window=5,layers=16,ffn=2 (methods: \(Self.methods.joined(separator: ", ")))")
        }
        if trimmed == "none" {
            self = .none
            return
        }
        if YOPOSpec.presets.contains(trimmed) {
            self = .preset(trimmed)
            return
        }
        if let baseline = try BaselineSpec.parse(trimmed) {
            self = .baseline(baseline)
            return
        }
        let colon = trimmed.firstIndex(of: ":")
        let method = String(trimmed[..<(colon ?? trimmed.endIndex)])
        switch (method, colon) {
        case ("yopo", let colon?):
            self = .yopo(try YOPOSpec(parsing: trimmed[trimmed.index(after: colon)...], baseDirectory: baseDirectory))
        case ("yopo", nil):
            throw PruningSpecError.syntax(
                "yopo needs fields, e.g. yopo:window=5,layers=16,ffn=2 (fields: \(YOPOSpec.fieldNames.joined(separator: ", "))), or a preset (\(presets))")
        case ("none", _):
            throw PruningSpecError.syntax("none takes no fields; write none")
        case (_, nil):
            throw PruningSpecError.syntax(
                "'\(trimmed)' is not none, a preset (\(presets)) or method:key=value (methods: \(Self.methods.joined(separator: ", ")))")
        case ("", _):
            throw PruningSpecError.syntax(
                "'\(trimmed)' has no method before ':' (methods: \(Self.methods.joined(separator: ", ")))")
        default:
            let lowercase = Self.methods.contains(method.lowercased())
            throw PruningSpecError.syntax(
                "unknown method '\(method)' (\(Self.methods.joined(separator: ", "))\(lowercase ? "; methods are lowercase" : ""))")
        }
    }

    /// The spec's textual form (round-trips through `init(parsing:)`).
    public var description: String {
        switch self {
        case .none: return "none"
        case .preset(let name): return name
        case .yopo(let s): return s.description
        case .baseline(let b): return b.description
        }
    }

    /// Resolves against a model's decoder: loads masks, checks every field against the shape.
    /// Returns nil for `none` and for baselines (see `makePruner`). Throws `PruningSpecError` naming the
    /// field (or, for a preset of another shape, `.doesNotFit` with the fields to use instead).
    public func resolve(for shape: DecoderShape) throws -> YOPOPlan? {
        switch self {
        case .none, .baseline: return nil
        case .yopo(let s): return try s.resolve(for: shape)
        case .preset(let name): return try YOPOSpec.preset(name, for: shape).resolve(for: shape)
        }
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

extension PruningSpec {
    /// A fresh token pruner for one sequence when the spec is a baseline, else nil.
    /// Throws `PruningSpecError` when the settings do not fit the decoder.
    public func makePruner(for shape: DecoderShape) throws -> TokenPruner? {
        guard case .baseline(let b) = self else { return nil }
        return try b.makePruner(layers: shape.numHiddenLayers)
    }
}

// MARK: - Fields

/// The `key=value,…` list after a method's colon, checked for syntax: no empty field (leading,
/// trailing or doubled comma), no field without `=` or value, no unknown or repeated field, no
/// space (except inside the values of `spacedValues`, paths). Values are read with the allowed range
/// of their field in every message.
struct SpecFields {
    let method: String
    /// Field name → what it allows, in the order messages list them.
    let allowed: [(name: String, allows: String)]
    private(set) var values: [String: String] = [:]

    init(method: String, body: Substring, allowed: [(name: String, allows: String)], spacedValues: Set<String> = []) throws {
        self.method = method
        self.allowed = allowed
        let names = allowed.map(\.name)
        let list = names.joined(separator: ", ")
        for item in body.isEmpty ? [] : body.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else {
                throw PruningSpecError.syntax(
                    "'\(method):\(body)' has an empty field (a leading, trailing or doubled comma); write \(method):key=value,key=value (fields: \(list))")
            }
            guard let equals = item.firstIndex(of: "=") else {
                let key = item.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let allows = Self.allows(key, in: allowed) else {
                    if key.isEmpty { throw PruningSpecError.syntax("'\(item)' is not key=value (fields of \(method): \(list))") }
                    throw PruningSpecError.invalidField(field: key, reason: "unknown field (\(list))")
                }
                throw PruningSpecError.invalidField(field: key, reason: "has no value; write \(key)=VALUE (allowed: \(allows))")
            }
            let rawKey = item[..<equals], value = String(item[item.index(after: equals)...])
            let key = rawKey.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else {
                throw PruningSpecError.syntax("'\(item)' has no field name before = (fields of \(method): \(list))")
            }
            guard let allows = Self.allows(key, in: allowed) else {
                throw PruningSpecError.invalidField(field: key, reason: "unknown field (\(list))")
            }
            if let first = values[key] {
                throw PruningSpecError.invalidField(
                    field: key, reason: "given twice (\(key)=\(first) and \(key)=\(value)); give each field once")
            }
            let trimmedValue = value.trimmingCharacters(in: .whitespacesAndNewlines)
            let spaced = rawKey != key[...]
                || (spacedValues.contains(key) ? trimmedValue != value : value.contains(where: \.isWhitespace))
            if spaced {
                let written = spacedValues.contains(key) ? trimmedValue : value.filter { !$0.isWhitespace }
                throw PruningSpecError.invalidField(
                    field: key, reason: "'\(item)' contains whitespace; write \(key)=\(written) (a prune spec has no spaces)")
            }
            guard !value.isEmpty else {
                throw PruningSpecError.invalidField(field: key, reason: "has no value; write \(key)=VALUE (allowed: \(allows))")
            }
            values[key] = value
        }
    }

    static func allows(_ key: String, in allowed: [(name: String, allows: String)]) -> String? {
        allowed.first { $0.name == key }?.allows
    }

    func allows(_ key: String) -> String { Self.allows(key, in: allowed) ?? "" }

    /// An out-of-range `key`: the problem, then what the field allows.
    func fail(_ key: String, _ problem: String) -> PruningSpecError {
        .invalidField(field: key, reason: "\(problem); allowed: \(allows(key))")
    }

    subscript(key: String) -> String? { values[key] }

    /// Reads an integer written in decimal (`12`, `-3`); too many digits is "too large", not a trap.
    static func integer(_ text: Substring) -> Result<Int, IntegerProblem> {
        if let v = Int(text) { return .success(v) }
        let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : text
        if !digits.isEmpty && digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return .failure(text.first == "-" ? .tooSmall : .tooLarge)
        }
        return .failure(.notInteger)
    }

    enum IntegerProblem: Error { case notInteger, tooLarge, tooSmall }

    func integer(_ key: String) throws -> Int? {
        guard let value = values[key] else { return nil }
        switch Self.integer(value[...]) {
        case .success(let v): return v
        case .failure(.notInteger): throw fail(key, "'\(value)' is not an integer")
        case .failure(.tooLarge): throw fail(key, "\(value) is too large")
        case .failure(.tooSmall): throw fail(key, "\(value) is too small")
        }
    }

    /// A finite decimal number (`0.5`, `2`); `nan`, `inf` and overflowing values are refused.
    func number(_ key: String) throws -> Double? {
        guard let value = values[key] else { return nil }
        guard let v = Double(value) else { throw fail(key, "'\(value)' is not a number") }
        guard v.isFinite else { throw fail(key, "'\(value)' is not a finite number") }
        return v
    }

    /// A `/`-separated list of integers (`8/16/24`), at least one.
    func list(_ key: String) throws -> [Int]? {
        guard let value = values[key] else { return nil }
        var out: [Int] = []
        for item in value.split(separator: "/", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail(key, "'\(value)' has an empty entry") }
            switch Self.integer(item) {
            case .success(let v): out.append(v)
            case .failure(.notInteger): throw fail(key, "'\(value)' is not a /-separated list of integers ('\(item)' is not an integer)")
            case .failure(.tooLarge): throw fail(key, "entry \(item) is too large")
            case .failure(.tooSmall): throw fail(key, "entry \(item) is too small")
            }
        }
        return out
    }
}

/// `8/16/24`.
func slashList(_ values: [Int]) -> String { values.map(String.init).joined(separator: "/") }

// MARK: - Baselines

extension BaselineSpec {
    static let fastVFields: [(name: String, allows: String)] = [
        ("k", "an integer ≥ 1 below the model's layer count (default 2)"),
        ("r", "a number in [0, 1], the fraction of image tokens removed (default 0.5)"),
        ("keep", "an integer ≥ 0, the image tokens kept (instead of r)"),
    ]
    static let pyramidDropFields: [(name: String, allows: String)] = [
        ("layers", "increasing integers ≥ 1 below the model's layer count, separated by / (default 8/16/24)"),
        ("ratio", "a number in (0, 1], the fraction kept at each boundary (default 0.5)"),
        ("keep", "integers ≥ 0 separated by /, the image tokens kept after each boundary (instead of ratio)"),
    ]
    static let sparseVLMFields: [(name: String, allows: String)] = [
        ("tokens", "192, 128 or 64 (the v1.5 schedules)"),
        ("layers", "increasing integers ≥ 0 separated by /, at most the model's layer count − 2, with keep="),
        ("keep", "integers ≥ 0 separated by /, one per pruning layer, with layers="),
    ]

    /// Parses `text`; nil when it names no baseline method (then it is a `PruningSpec`).
    /// `fastv`, `pdrop`, `sparsevlm` alone take the papers' defaults; with a colon, at least one field.
    /// Throws `PruningSpecError` naming the field at fault and what it allows.
    public static func parse(_ text: String) throws -> BaselineSpec? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let colon = trimmed.firstIndex(of: ":")
        let method = String(trimmed[..<(colon ?? trimmed.endIndex)])
        let allowed: [(name: String, allows: String)]
        switch method {
        case "fastv": allowed = fastVFields
        case "pdrop": allowed = pyramidDropFields
        case "sparsevlm": allowed = sparseVLMFields
        default: return nil
        }
        let body = colon.map { trimmed[trimmed.index(after: $0)...] } ?? ""
        if colon != nil && body.isEmpty {
            throw PruningSpecError.syntax(
                "'\(method):' has no fields; write \(method) for its defaults or give fields (\(allowed.map(\.name).joined(separator: ", ")))")
        }
        let fields = try SpecFields(method: method, body: body, allowed: allowed)
        switch method {
        case "fastv": return try parseFastV(fields)
        case "pdrop": return try parsePyramidDrop(fields)
        default: return try parseSparseVLM(fields)
        }
    }

    static func parseFastV(_ fields: SpecFields) throws -> BaselineSpec {
        let k = try fields.integer("k") ?? 2
        guard k >= 0 else { throw fields.fail("k", "\(k) is negative") }
        if fields["r"] != nil && fields["keep"] != nil {
            throw PruningSpecError.invalidField(field: "r", reason: "give r or keep, not both")
        }
        if let keep = try fields.integer("keep") {
            guard keep >= 0 else { throw fields.fail("keep", "\(keep) is below 0") }
            return .fastV(FastVSettings(k: k, keep: keep))
        }
        let r = try fields.number("r") ?? 0.5
        guard r >= 0 && r <= 1 else { throw fields.fail("r", "\(fields["r"]!) is outside [0, 1]") }
        return .fastV(FastVSettings(k: k, removalRatio: r))
    }

    static func parsePyramidDrop(_ fields: SpecFields) throws -> BaselineSpec {
        let layers = try fields.list("layers") ?? [8, 16, 24]
        if let first = layers.first, first < 1 { throw fields.fail("layers", "\(slashList(layers)) starts below 1") }
        guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fields.fail("layers", "\(slashList(layers)) does not increase")
        }
        if let keep = try fields.list("keep") {
            guard fields["ratio"] == nil else {
                throw PruningSpecError.invalidField(field: "ratio", reason: "give ratio or keep, not both")
            }
            if let negative = keep.first(where: { $0 < 0 }) { throw fields.fail("keep", "\(negative) is below 0") }
            guard keep.count == layers.count else {
                throw PruningSpecError.invalidField(
                    field: "keep",
                    reason: "\(keep.count) count\(keep.count == 1 ? "" : "s") (\(slashList(keep))) for \(layers.count) boundar\(layers.count == 1 ? "y" : "ies") (\(slashList(layers))); give one count ≥ 0 per boundary")
            }
            return .pyramidDrop(PyramidDropSettings(layers: layers, keep: keep))
        }
        let ratio = try fields.number("ratio") ?? 0.5
        guard ratio > 0 && ratio <= 1 else { throw fields.fail("ratio", "\(fields["ratio"]!) is outside (0, 1]") }
        return .pyramidDrop(PyramidDropSettings(layers: layers, ratio: ratio))
    }

    static func parseSparseVLM(_ fields: SpecFields) throws -> BaselineSpec {
        if let tokens = try fields.integer("tokens") {
            guard fields["layers"] == nil && fields["keep"] == nil else {
                throw PruningSpecError.invalidField(field: "tokens", reason: "give tokens or layers + keep, not both")
            }
            guard let settings = try? SparseVLMSettings(tokens: tokens) else {
                throw fields.fail("tokens", "\(tokens) has no v1.5 schedule")
            }
            return .sparseVLM(settings)
        }
        let layers = try fields.list("layers"), keep = try fields.list("keep")
        switch (layers, keep) {
        case (nil, nil): return .sparseVLM(try SparseVLMSettings(tokens: 192))
        case (_?, nil):
            throw PruningSpecError.invalidField(
                field: "keep", reason: "missing: layers= needs keep= with one count per pruning layer (e.g. sparsevlm:layers=2/6/15,keep=300/200/110)")
        case (nil, _?):
            throw PruningSpecError.invalidField(
                field: "layers", reason: "missing: keep= needs layers= with one pruning layer per count (e.g. sparsevlm:layers=2/6/15,keep=300/200/110)")
        case (let layers?, let keep?):
            guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw fields.fail("layers", "\(slashList(layers)) does not increase")
            }
            if let negative = layers.first(where: { $0 < 0 }) { throw fields.fail("layers", "\(negative) is below 0") }
            if let negative = keep.first(where: { $0 < 0 }) { throw fields.fail("keep", "\(negative) is below 0") }
            guard layers.count == keep.count else {
                throw PruningSpecError.invalidField(
                    field: "keep",
                    reason: "\(keep.count) count\(keep.count == 1 ? "" : "s") (\(slashList(keep))) for \(layers.count) pruning layer\(layers.count == 1 ? "" : "s") (\(slashList(layers))); give one count ≥ 0 per layer")
            }
            return .sparseVLM(SparseVLMSettings(layers: layers, keep: keep))
        }
    }
}
