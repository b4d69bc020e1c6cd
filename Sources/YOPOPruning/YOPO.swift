import Foundation
import YOPOFormats

// YOPO ("You Only Prune Once", arXiv 2410.06169): the four strategies that prune the *visual
// computation* of the LLM, all in this file. Exact semantics: shared/docs/METHOD.md §2–§3.
//   1. Neighbour-aware visual attention — `YOPOPlan.window`, `YOPOPlan.inWindow(_:_:grid:)`
//   2. Inactive head pruning           — `YOPOPlan.headMask`
//   3. Layer drop for vision           — `YOPOPlan.keptLayers`
//   4. Sparse visual FFN               — `YOPOPlan.visualFFNWidth`

/// How a YOPO plan is executed.
public enum YOPOMode: String, Sendable, Codable, CaseIterable {
    /// The work is not done: visual rows leave the computation, softmax is over the keys kept.
    case skip
    /// The official release's numerics: dense computation with post-softmax masks, no renormalisation.
    case simulate
}

/// The user's YOPO request (`yopo:window=5,layers=16,heads=PATH.npy,ffn=2`), any subset of fields.
public struct YOPOSpec: Sendable, Equatable {
    /// Window side w (odd, ≥ 1).
    public var window: Int?
    /// K, the number of leading layers that keep visual computation.
    public var layers: Int?
    /// Path of a `.npy` bool mask `[layers, heads]`, True = keep.
    public var headsPath: String?
    /// Average kept heads per layer of an official mask (`heads-keep=16` → `headmask_7b_16`).
    public var headsKeep: Int?
    /// FFN reduction factor r: visual rows use the first `int(I / r)` channels.
    public var ffn: Double?

    public static let presets: Set<String> = ["yopo-25", "yopo-12"]

    public init(window: Int? = nil, layers: Int? = nil, headsPath: String? = nil, headsKeep: Int? = nil, ffn: Double? = nil) {
        self.window = window
        self.layers = layers
        self.headsPath = headsPath
        self.headsKeep = headsKeep
        self.ffn = ffn
    }

    init(fields: [(String, String)], baseDirectory: String?) throws {
        func integer(_ key: String, _ value: String) throws -> Int {
            guard let v = Int(value) else { throw PruningSpecError.invalidField(field: key, reason: "'\(value)' is not an integer") }
            return v
        }
        for (key, value) in fields {
            switch key {
            case "window": window = try integer(key, value)
            case "layers": layers = try integer(key, value)
            case "heads":
                if value.hasPrefix("/") || baseDirectory == nil {
                    headsPath = value
                } else {
                    headsPath = (baseDirectory! as NSString).appendingPathComponent(value)
                }
            case "heads-keep": headsKeep = try integer(key, value)
            case "ffn":
                guard let v = Double(value) else { throw PruningSpecError.invalidField(field: key, reason: "'\(value)' is not a number") }
                ffn = v
            default:
                throw PruningSpecError.invalidField(field: key, reason: "unknown field (window, layers, heads, heads-keep, ffn)")
            }
        }
        if headsPath != nil && headsKeep != nil {
            throw PruningSpecError.invalidField(field: "heads", reason: "give heads or heads-keep, not both")
        }
        if window == nil && layers == nil && headsPath == nil && headsKeep == nil && ffn == nil {
            throw PruningSpecError.syntax("yopo: needs at least one of window, layers, heads, heads-keep, ffn")
        }
        if let window, window < 1 || window % 2 == 0 {
            throw PruningSpecError.invalidField(field: "window", reason: "\(window) must be an odd number ≥ 1")
        }
        if let ffn, !(ffn >= 1) {
            throw PruningSpecError.invalidField(field: "ffn", reason: "\(ffn) must be ≥ 1")
        }
    }

    public var description: String {
        var parts: [String] = []
        if let window { parts.append("window=\(window)") }
        if let layers { parts.append("layers=\(layers)") }
        if let headsPath { parts.append("heads=\(headsPath)") }
        if let headsKeep { parts.append("heads-keep=\(headsKeep)") }
        if let ffn { parts.append("ffn=\(ffn == ffn.rounded() ? String(Int(ffn)) : String(ffn))") }
        return "yopo:" + parts.joined(separator: ",")
    }

    /// The presets, built from the official head masks (METHOD.md §5.4, best reconstruction; the
    /// paper's own configurations are uncertain): `yopo-25` = w 5, K = L/2, the mask keeping about
    /// half the heads, r 2; `yopo-12` = the same with K = L/4.
    /// 7B: 25.1% / 11.7% of the dense visual FLOPs; 13B: 26.1% / 12.9% (yopo convention, n = 576).
    public static func preset(_ name: String, for shape: DecoderShape) throws -> YOPOSpec {
        let base: (mask: String, half: Int, quarter: Int)
        switch (shape.numHiddenLayers, shape.numAttentionHeads) {
        case (32, 32): base = ("headmask_7b_16", 16, 8)
        case (40, 40): base = ("headmask_13b_20", 20, 10)
        default:
            throw PruningSpecError.invalidField(
                field: name,
                reason: "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and 13B (40 × 40); this model has \(shape.numHiddenLayers) × \(shape.numAttentionHeads)")
        }
        var spec = YOPOSpec(window: 5, headsPath: "official:" + base.mask, ffn: 2)
        switch name {
        case "yopo-25": spec.layers = base.half
        case "yopo-12": spec.layers = base.quarter
        default: throw PruningSpecError.syntax("unknown preset \(name)")
        }
        return spec
    }

    /// Loads masks and checks every field against the decoder shape.
    public func resolve(for shape: DecoderShape) throws -> YOPOPlan {
        let L = shape.numHiddenLayers, H = shape.numAttentionHeads
        if let layers, layers < 0 || layers > L {
            throw PruningSpecError.invalidField(field: "layers", reason: "\(layers) is outside [0, \(L)]")
        }
        var mask: [[Bool]]?
        if let headsPath {
            if headsPath.hasPrefix("official:") {
                mask = try YOPOSpec.officialMask(String(headsPath.dropFirst("official:".count)))
            } else {
                let array: NPYArray
                do {
                    array = try NPYArray(path: headsPath)
                } catch {
                    throw PruningSpecError.invalidField(field: "heads", reason: "\(error)")
                }
                guard array.shape.count == 2 else {
                    throw PruningSpecError.invalidField(field: "heads", reason: "\(headsPath) has shape \(array.shape), expected [layers, heads]")
                }
                let flat = array.bools
                mask = (0..<array.shape[0]).map { l in Array(flat[(l * array.shape[1])..<((l + 1) * array.shape[1])]) }
            }
        } else if let headsKeep {
            let stem: String
            switch (L, H) {
            case (32, 32): stem = "headmask_7b_\(headsKeep)"
            case (40, 40): stem = "headmask_13b_\(headsKeep)"
            default: stem = ""
            }
            guard OfficialHeadMaskData.masks[stem] != nil else {
                let available = OfficialHeadMaskData.masks.keys.sorted().joined(separator: ", ")
                throw PruningSpecError.invalidField(
                    field: "heads-keep",
                    reason: "no official mask keeps about \(headsKeep) heads per layer for a \(L)-layer × \(H)-head model (available: \(available))")
            }
            mask = try YOPOSpec.officialMask(stem)
        }
        if let mask {
            let found = [mask.count, mask.first?.count ?? 0]
            guard found == [L, H] else {
                throw PruningSpecError.invalidField(
                    field: "heads", reason: "mask shape \(found) does not match the model's [\(L), \(H)] (layers, heads)")
            }
        }
        let width = ffn.map { Int(Double(shape.intermediateSize) / $0) }
        if let width, width < 1 {
            throw PruningSpecError.invalidField(field: "ffn", reason: "leaves no FFN channel of \(shape.intermediateSize)")
        }
        return YOPOPlan(
            spec: self, window: window, keptLayers: layers ?? L, headMask: mask,
            visualFFNWidth: width ?? shape.intermediateSize, shape: shape)
    }

    /// An official mask by file stem (`headmask_7b_16`), `[layers][heads]`, true = keep.
    public static func officialMask(_ stem: String) throws -> [[Bool]] {
        guard let rows = OfficialHeadMaskData.masks[stem] else {
            throw PruningSpecError.invalidField(field: "heads", reason: "no official mask \(stem)")
        }
        return rows.map { $0.map { $0 == "1" } }
    }
}

/// A YOPO spec resolved against one decoder: what every layer does with visual rows.
public struct YOPOPlan: Sendable, Equatable {
    public let spec: YOPOSpec
    /// Window side w, or nil for full visual attention.
    public let window: Int?
    /// K: layers `0..<K` keep visual computation; layers ≥ K drop it.
    public let keptLayers: Int
    /// `[layers][heads]`, true = the head does visual work; nil = every head.
    public let headMask: [[Bool]]?
    /// Intermediate channels visual rows use (`int(I / r)`; I when FFN sparsity is off).
    public let visualFFNWidth: Int
    public let shape: DecoderShape

    /// Whether visual rows are computed in `layer`.
    public func visualAlive(layer: Int) -> Bool { layer < keptLayers }

    /// Whether `head` of `layer` does visual work (attends to visual keys; outputs at visual rows),
    /// per the mask only (callers combine with `visualAlive`).
    public func headKept(layer: Int, head: Int) -> Bool { headMask?[layer][head] ?? true }

    /// Kept heads of a layer: mask row in kept layers, none in dropped layers.
    public func keptHeads(layer: Int) -> [Int] {
        guard visualAlive(layer: layer) else { return [] }
        return (0..<shape.numAttentionHeads).filter { headKept(layer: layer, head: $0) }
    }

    /// ρ = ⌊(w − 1) / 2⌋, the Chebyshev radius of the window.
    public var windowRadius: Int? { window.map { ($0 - 1) / 2 } }

    /// Whether visual query `i` may attend to visual key `j` (raster indices on a `grid` of
    /// (rows, columns)): |row_i − row_j| ≤ ρ and |col_i − col_j| ≤ ρ. Symmetric. True without a window.
    @inline(__always)
    public func inWindow(_ i: Int, _ j: Int, gridColumns: Int) -> Bool {
        guard let rho = windowRadius else { return true }
        return abs(i / gridColumns - j / gridColumns) <= rho && abs(i % gridColumns - j % gridColumns) <= rho
    }

    /// The in-window key range of visual query `i` for each grid row it reaches:
    /// (first key, last key) pairs in raster order, clipped at the grid border.
    public func windowRuns(query i: Int, gridRows: Int, gridColumns: Int) -> [(Int, Int)] {
        let row = i / gridColumns, col = i % gridColumns
        guard let rho = windowRadius else { return [(0, gridRows * gridColumns - 1)] }
        let c0 = max(0, col - rho), c1 = min(gridColumns - 1, col + rho)
        return (max(0, row - rho)...min(gridRows - 1, row + rho)).map { r in (r * gridColumns + c0, r * gridColumns + c1) }
    }
}

extension YOPOPlan {
    /// The plan restricted to the first `count` layers (a benchmark slice of the full model): the
    /// same window and FFN width, K clipped to `count`, the first `count` rows of the head mask.
    public func prefix(layers count: Int) -> YOPOPlan {
        precondition(count >= 1 && count <= shape.numHiddenLayers, "layer prefix \(count) outside 1...\(shape.numHiddenLayers)")
        var sliced = shape
        sliced.numHiddenLayers = count
        return YOPOPlan(spec: spec, window: window, keptLayers: min(keptLayers, count),
                        headMask: headMask.map { Array($0.prefix(count)) }, visualFFNWidth: visualFFNWidth, shape: sliced)
    }
}
