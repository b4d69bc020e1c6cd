import Foundation
import YOPOFormats

/// Errors in a pruning spec. Each names the field at fault.
public enum PruningSpecError: Error, CustomStringConvertible, Equatable {
    case syntax(String)
    case invalidField(field: String, reason: String)

    public var description: String {
        switch self {
        case .syntax(let s): return "invalid prune spec: \(s)"
        case .invalidField(let f, let r): return "invalid prune spec field \(f): \(r)"
        }
    }
}

/// The shape facts a spec is resolved against (a decoder's `num_hidden_layers`,
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

/// A pruning request as the user writes it, before it meets a model:
/// `none` · `yopo:window=5,layers=16,heads=PATH.npy,ffn=2` (any subset; `heads-keep=N` instead of a
/// file picks the official mask keeping about N heads per layer) · presets `yopo-25`, `yopo-12`.
/// The same grammar is the `--prune` option, the library API, and the `"prune"` field of a JSON file.
public enum PruningSpec: Sendable, Equatable {
    case none
    case yopo(YOPOSpec)
    /// A named preset resolved against the model shape (`yopo-25`, `yopo-12`).
    case preset(String)
    /// A token-pruning baseline: `fastv:k=2,r=0.5`, `pdrop:layers=8/16/24,ratio=0.5`, `sparsevlm:tokens=192`.
    case baseline(BaselineSpec)

    /// Parses the textual form. Relative mask paths are resolved against `baseDirectory`.
    /// Throws `PruningSpecError` naming the field.
    public init(parsing text: String, baseDirectory: String? = nil) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "none" {
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
        guard let colon = trimmed.firstIndex(of: ":") else {
            throw PruningSpecError.syntax(
                "'\(trimmed)' is not a method:key=value list or a preset (none, \(YOPOSpec.presets.sorted().joined(separator: ", ")))")
        }
        let method = String(trimmed[..<colon])
        var fields: [(String, String)] = []
        for item in trimmed[trimmed.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw PruningSpecError.syntax("'\(item)' is not key=value")
            }
            fields.append((parts[0], parts[1]))
        }
        switch method {
        case "yopo": self = .yopo(try YOPOSpec(fields: fields, baseDirectory: baseDirectory))
        default: throw PruningSpecError.syntax("unknown method \(method) (yopo, fastv, pdrop, sparsevlm)")
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
    /// Returns nil for `none` and for baselines (see `makePruner`). Throws `PruningSpecError` naming the field.
    public func resolve(for shape: DecoderShape) throws -> YOPOPlan? {
        switch self {
        case .none, .baseline: return nil
        case .yopo(let s): return try s.resolve(for: shape)
        case .preset(let name): return try YOPOSpec.preset(name, for: shape).resolve(for: shape)
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
