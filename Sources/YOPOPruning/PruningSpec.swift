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
/// a JSON file: `method:key=value,…`, fields separated by single commas, each at most once, no spaces
/// (a `heads` path may contain them), read for every method by `SpecFields`. What the values must be
/// on a given model is checked once per method (`YOPOSpec.resolve(for:)`, `FastVSettings.validate`,
/// `PyramidDropSettings.validate`, `SparseVLMSettings.validate`), whoever uses the spec.
public enum PruningSpec: Sendable, Equatable {
    case none
    case yopo(YOPOSpec)
    /// A named preset resolved against the model (`yopo-25`, `yopo-12`).
    case preset(String)
    /// A token-pruning baseline: `fastv:k=2,r=0.5`, `pdrop:layers=8/16/24,ratio=0.5`, `sparsevlm:tokens=192`.
    case baseline(BaselineSpec)

    /// The methods a spec may name before its `:`.
    public static let methods = ["yopo"] + BaselineSpec.methods

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
    public static let examples: [Example] = {
        let sparse = SparseVLMSettings.v15Schedules[0]
        return [
            Example(method: "none", example: "none", description: "no pruning (the default)"),
            Example(
                method: "yopo", example: "yopo:window=5,layers=16,heads-keep=16,ffn=2",
                description: "YOPO, any subset of: window (odd, 1–\(YOPOSpec.maxWindow)), layers (K: layers keeping visual work, 0–L), "
                    + "heads=PATH.npy (a 0/1 or bool mask [layers, heads]) or heads-keep (official masks: "
                    + OfficialYOPOModel.all.map { "\(slashList($0.headsKeep)) on \($0.name)" }.joined(separator: ", ")
                    + "), ffn (r ≥ 1: visual rows use I/r FFN channels); window, layers and ffn work on any model"),
            Example(
                method: "yopo-25", example: "yopo-25",
                description:
                    "YOPO preset, about 25% of the visual FLOPs: window 5, layers L/2, the half-heads mask, ffn 2 (\(OfficialYOPOModel.namesText) only)"
            ),
            Example(
                method: "yopo-12", example: "yopo-12",
                description: "YOPO preset, about 12% of the visual FLOPs: as yopo-25 with layers L/4 (\(OfficialYOPOModel.namesText) only)"),
            Example(
                method: "fastv", example: "fastv:k=2,r=0.5",
                description:
                    "FastV: after layer k (1 to L−1, default 2) drop the fraction r (0–1, default 0.5) of image tokens, or keep=N of them"),
            Example(
                method: "pdrop", example: "pdrop:layers=8/16/24,ratio=0.5",
                description:
                    "PyramidDrop: after each boundary in layers (increasing, 1 to L−1, default \(slashList(PyramidDropSettings.defaultLayers))) keep the fraction ratio (0–1, default 0.5), or keep=288/144/72"
            ),
            Example(
                method: "sparsevlm", example: "sparsevlm:tokens=\(sparse.tokens)",
                description:
                    "SparseVLM v1.5: tokens=\(SparseVLMSettings.v15TokensText) (its schedules, pruning after layers \(slashList(SparseVLMSettings.v15Layers))), or layers=\(slashList(SparseVLMSettings.v15Layers)),keep=\(slashList(sparse.keep)) (layers 0 to L−2)"
            )
        ]
    }()

    /// Parses the textual form. Relative mask paths are resolved against `baseDirectory`.
    /// Throws `PruningSpecError` naming the field and what it allows; an empty (or blank) spec is an
    /// error, `none` means no pruning.
    public init(parsing text: String, baseDirectory: String? = nil) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let presets = YOPOSpec.presetNames.joined(separator: ", ")
        let methods = Self.methods.joined(separator: ", ")
        if trimmed.isEmpty {
            throw PruningSpecError.syntax(
                "empty prune spec; use none, a preset (\(presets)) or method:key=value such as yopo:window=5,layers=16,ffn=2 (methods: \(methods))"
            )
        }
        if trimmed == "none" {
            self = .none
            return
        }
        if YOPOSpec.presets.contains(trimmed) {
            self = .preset(trimmed)
            return
        }
        let (method, body) = SpecFields.split(trimmed)
        switch (method, body) {
        case ("yopo", let body?):
            self = .yopo(try YOPOSpec(try SpecFields(method: method, body: body), baseDirectory: baseDirectory))
        case ("yopo", nil):
            throw PruningSpecError.syntax(
                "yopo needs fields, e.g. yopo:window=5,layers=16,ffn=2 (fields: \(YOPOSpec.fieldNames.joined(separator: ", "))), or a preset (\(presets))"
            )
        case _ where BaselineSpec.methods.contains(method):
            self = .baseline(try BaselineSpec(method: method, body: body))
        case ("none", _):
            throw PruningSpecError.syntax("none takes no fields; write none")
        case (_, nil):
            throw PruningSpecError.syntax("'\(trimmed)' is not none, a preset (\(presets)) or method:key=value (methods: \(methods))")
        case ("", _):
            throw PruningSpecError.syntax("'\(trimmed)' has no method before ':' (methods: \(methods))")
        default:
            let lowercase = Self.methods.contains(method.lowercased())
            throw PruningSpecError.syntax("unknown method '\(method)' (\(methods)\(lowercase ? "; methods are lowercase" : ""))")
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

    /// Resolves against a model: loads masks, checks every field against its decoder, picks a preset's
    /// and `heads-keep`'s official mask by the model's identity (`OfficialYOPOModel.matching`).
    /// Returns nil for `none` and for baselines (see `makePruner`). Throws `PruningSpecError` naming the
    /// field (or, for a preset no official model fits, `.doesNotFit` naming the models it fits and the
    /// fields to use instead).
    public func resolve(for model: ModelIdentity) throws -> YOPOPlan? {
        switch self {
        case .none, .baseline: return nil
        case .yopo(let s): return try s.resolve(for: model)
        case .preset(let name): return try YOPOSpec.preset(name, for: model).resolve(for: model)
        }
    }

    /// `resolve(for:)` for a model known by its decoder shape only, taken to be of the LLaVA family
    /// (every checkpoint yopo loads today): on LLaVA shapes it picks what it always picked.
    public func resolve(for shape: DecoderShape) throws -> YOPOPlan? { try resolve(for: .llava(shape)) }
}

/// A token-pruning baseline as written on the command line:
/// `fastv:k=2,r=0.5` · `fastv:k=2,keep=166` · `pdrop:layers=8/16/24,ratio=0.5` · `sparsevlm:tokens=192` ·
/// `sparsevlm:layers=2/6/15,keep=300/200/110`. A bare `fastv`, `pdrop` or `sparsevlm` takes the papers'
/// defaults (K 2 R 0.5; [8, 16, 24] λ 0.5; 192). Counted under the published conventions
/// (`FLOPsModel.count`) and, as the engine executes them, under `full` (`FLOPsModel.full(_:baseline:)`).
/// Each method's settings, fields, validation, schedule and cost rules are in its own file.
public enum BaselineSpec: Sendable, Equatable, CustomStringConvertible {
    case fastV(FastVSettings)
    case pyramidDrop(PyramidDropSettings)
    case sparseVLM(SparseVLMSettings)

    /// The baseline methods a spec may name before its `:`.
    public static let methods = ["fastv", "pdrop", "sparsevlm"]

    /// Parses `text`; nil when it names no baseline method (then it is a `PruningSpec`).
    /// `fastv`, `pdrop`, `sparsevlm` alone take the papers' defaults; with a colon, at least one field.
    /// Throws `PruningSpecError` naming the field at fault and what it allows.
    public static func parse(_ text: String) throws -> BaselineSpec? {
        let (method, body) = SpecFields.split(text.trimmingCharacters(in: .whitespacesAndNewlines))
        guard methods.contains(method) else { return nil }
        return try BaselineSpec(method: method, body: body)
    }

    /// Reads `method` (one of `methods`) with the fields after its colon (nil: no colon, the defaults).
    init(method: String, body: Substring?) throws {
        let fields = try SpecFields(method: method, body: body)
        switch method {
        case "fastv": self = .fastV(try FastVSettings(fields))
        case "pdrop": self = .pyramidDrop(try PyramidDropSettings(fields))
        default: self = .sparseVLM(try SparseVLMSettings(fields))
        }
    }

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

    /// Checks the settings against a decoder of `layers` layers (each method's `validate(layers:)`):
    /// what the pruners, every FLOPs convention and the budget solver check. Throws `PruningSpecError`.
    public func validate(layers: Int) throws {
        switch self {
        case .fastV(let s): try s.validate(layers: layers)
        case .pyramidDrop(let s): try s.validate(layers: layers)
        case .sparseVLM(let s): try s.validate(layers: layers)
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

// MARK: - The key=value grammar

/// One field of a method: its name and what it allows (the end of every message about it).
struct SpecField: Sendable {
    let name: String
    let allows: String

    init(_ name: String, _ allows: String) {
        self.name = name
        self.allows = allows
    }
}

extension Array where Element == SpecField {
    /// A value of `key` out of range: the problem, then what the field allows.
    func fail(_ key: String, _ problem: String) -> PruningSpecError {
        .invalidField(field: key, reason: "\(problem); allowed: \(first { $0.name == key }?.allows ?? "")")
    }
}

/// The `key=value,…` list after a method's colon, the one reader of fields for every method, checked
/// for syntax: no empty field (leading, trailing or doubled comma), no field without `=` or value, no
/// unknown or repeated field, no space (except inside the values of `spacedValues`, paths). Values
/// are read with the allowed range of their field in every message.
struct SpecFields {
    let method: String
    /// The method's fields, in the order messages list them.
    let allowed: [SpecField]
    private(set) var values: [String: String] = [:]

    /// Each method's fields; values of the fields in `spaced` may contain spaces (paths); `defaults`:
    /// the bare method name (no colon) means its defaults.
    static func grammar(_ method: String) -> (fields: [SpecField], spaced: Set<String>, defaults: Bool) {
        switch method {
        case "yopo": return (YOPOSpec.fields, ["heads"], false)
        case "fastv": return (FastVSettings.fields, [], true)
        case "pdrop": return (PyramidDropSettings.fields, [], true)
        case "sparsevlm": return (SparseVLMSettings.fields, [], true)
        default: preconditionFailure("no grammar for method \(method)")
        }
    }

    /// `method:body` → (`method`, `body`); no colon → (the text, nil).
    static func split(_ text: String) -> (method: String, body: Substring?) {
        guard let colon = text.firstIndex(of: ":") else { return (text, nil) }
        return (String(text[..<colon]), text[text.index(after: colon)...])
    }

    /// Reads the fields of `method` (one of `PruningSpec.methods`) after its colon; `body` nil = the
    /// bare method name, no fields. A colon with nothing after it is an error.
    init(method: String, body: Substring?) throws {
        let grammar = Self.grammar(method)
        self.method = method
        self.allowed = grammar.fields
        let list = allowed.map(\.name).joined(separator: ", ")
        guard let body else { return }
        if body.isEmpty {
            if grammar.defaults {
                throw PruningSpecError.syntax("'\(method):' has no fields; write \(method) for its defaults or give fields (\(list))")
            }
            throw PruningSpecError.syntax("\(method): needs at least one of \(list)")
        }
        for item in body.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else {
                throw PruningSpecError.syntax(
                    "'\(method):\(body)' has an empty field (a leading, trailing or doubled comma); write \(method):key=value,key=value (fields: \(list))"
                )
            }
            guard let equals = item.firstIndex(of: "=") else {
                let key = item.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let allows = allows(key) else {
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
            guard let allows = allows(key) else {
                throw PruningSpecError.invalidField(field: key, reason: "unknown field (\(list))")
            }
            if let first = values[key] {
                throw PruningSpecError.invalidField(
                    field: key, reason: "given twice (\(key)=\(first) and \(key)=\(value)); give each field once")
            }
            let spacedValues = grammar.spaced
            let trimmedValue = value.trimmingCharacters(in: .whitespacesAndNewlines)
            let spaced =
                rawKey != key[...]
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

    /// What `key` allows, nil for a field the method does not have.
    func allows(_ key: String) -> String? { allowed.first { $0.name == key }?.allows }

    /// An out-of-range `key`: the problem, then what the field allows.
    func fail(_ key: String, _ problem: String) -> PruningSpecError { allowed.fail(key, problem) }

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

/// `8, 16 or 24` (`none` for no values).
func orList(_ values: [Int]) -> String {
    guard let last = values.last else { return "none" }
    return values.count == 1 ? "\(last)" : values.dropLast().map(String.init).joined(separator: ", ") + " or \(last)"
}
