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

/// Which rows a head mask's pruned heads leave (`heads-scope=`).
public enum HeadsScope: String, Sendable, Equatable, CaseIterable {
    /// YOPO's pruning: the heads do no visual work (no output at visual rows, no attention to
    /// visual keys); text rows keep every head.
    case visual
    /// The paper's ablation, not a saving: the heads also give no output at text rows (prefill
    /// and decode), so the same heads are pruned for visual and text tokens alike.
    case all
}

/// The user's YOPO request (`yopo:window=5,layers=16,heads=PATH.npy,ffn=2`), any subset of fields.
public struct YOPOSpec: Sendable, Equatable {
    /// Window side w (odd, 1 … `maxWindow`).
    public var window: Int?
    /// K, the number of leading layers that keep visual computation (0 … the model's layers).
    public var layers: Int?
    /// Path of a `.npy` mask `[layers, heads]` of bools or 0/1 values, true / 1 = keep.
    public var headsPath: String?
    /// Average kept heads per layer of an official mask (`heads-keep=16` → `headmask_7b_16`).
    public var headsKeep: Int?
    /// FFN reduction factor r ≥ 1: visual rows use the first `int(I / r)` channels.
    public var ffn: Double?
    /// Rows the mask's pruned heads leave (nil = `.visual`); needs `heads` or `heads-keep`.
    public var headsScope: HeadsScope?
    /// `heads` as the user wrote it (before it was joined to a base directory), for messages.
    var headsPathAsGiven: String?

    public static let presets: Set<String> = ["yopo-25", "yopo-12"]
    /// The presets in the order messages list them.
    static let presetNames = ["yopo-25", "yopo-12"]

    /// The largest window side: a window of 2·s − 1 already covers an s × s patch grid, so 999
    /// covers any grid up to 500 × 500.
    public static let maxWindow = 999

    static let fields = [
        SpecField("window", "an odd integer in [1, \(maxWindow)]"),
        SpecField("layers", "an integer from 0 to the model's layer count"),
        SpecField("heads", "a .npy file of 0/1 or bool entries, shape [layers, heads]"),
        SpecField("heads-keep", OfficialYOPOModel.all.map { "\(orList($0.headsKeep)) on \($0.name)" }.joined(separator: ", ")),
        SpecField("ffn", "a number ≥ 1, at most the model's FFN width"),
        SpecField("heads-scope", "visual (default: pruned heads do no visual work) or all (the ablation: no text work either)")
    ]
    static var fieldNames: [String] { fields.map(\.name) }

    public init(
        window: Int? = nil, layers: Int? = nil, headsPath: String? = nil, headsKeep: Int? = nil, ffn: Double? = nil,
        headsScope: HeadsScope? = nil
    ) {
        self.window = window
        self.layers = layers
        self.headsPath = headsPath
        self.headsKeep = headsKeep
        self.ffn = ffn
        self.headsScope = headsScope
    }

    /// Two specs are equal when they ask for the same thing (the mask path as resolved).
    public static func == (a: YOPOSpec, b: YOPOSpec) -> Bool {
        a.window == b.window && a.layers == b.layers && a.headsPath == b.headsPath && a.headsKeep == b.headsKeep
            && a.ffn == b.ffn && (a.headsScope ?? .visual) == (b.headsScope ?? .visual)
    }

    /// Reads the fields after `yopo:`. Throws `PruningSpecError` naming the field and what it allows.
    init(_ fields: SpecFields, baseDirectory: String?) throws {
        window = try fields.integer("window")
        layers = try fields.integer("layers")
        headsKeep = try fields.integer("heads-keep")
        ffn = try fields.number("ffn")
        if let value = fields["heads-scope"] {
            guard let scope = HeadsScope(rawValue: value) else { throw fields.fail("heads-scope", "'\(value)' is not a scope") }
            headsScope = scope
        }
        if let value = fields["heads"] {
            headsPathAsGiven = value
            if value.hasPrefix("/") || value.hasPrefix("official:") || baseDirectory == nil {
                headsPath = value
            } else {
                headsPath = (baseDirectory! as NSString).appendingPathComponent(value)
            }
        }
        try checkFields(fields)
    }

    /// The bounds that hold on any model; `written` (when parsed) shows values as the user wrote them.
    func checkFields(_ written: SpecFields? = nil) throws {
        func fail(_ key: String, _ problem: String) -> PruningSpecError { Self.fields.fail(key, problem) }
        if headsPath != nil && headsKeep != nil {
            throw PruningSpecError.invalidField(field: "heads", reason: "give heads or heads-keep, not both")
        }
        if let window {
            if window < 1 { throw fail("window", "\(window) is below 1") }
            if window > Self.maxWindow { throw fail("window", "\(window) is above \(Self.maxWindow)") }
            if window % 2 == 0 { throw fail("window", "\(window) is even") }
        }
        if let headsKeep, headsKeep < 1 { throw fail("heads-keep", "\(headsKeep) is below 1") }
        if headsScope != nil && headsPath == nil && headsKeep == nil {
            throw PruningSpecError.invalidField(field: "heads-scope", reason: "needs a head mask (heads=PATH.npy or heads-keep=N)")
        }
        if let ffn, !(ffn >= 1) { throw fail("ffn", "\(written?["ffn"] ?? formatRatio(ffn)) is below 1") }
    }

    public var description: String {
        var parts: [String] = []
        if let window { parts.append("window=\(window)") }
        if let layers { parts.append("layers=\(layers)") }
        if let headsPath { parts.append("heads=\(headsPath)") }
        if let headsKeep { parts.append("heads-keep=\(headsKeep)") }
        if let ffn { parts.append("ffn=\(formatRatio(ffn))") }
        if let headsScope { parts.append("heads-scope=\(headsScope.rawValue)") }
        return "yopo:" + parts.joined(separator: ",")
    }

    /// `32 layers × 32 heads`.
    static func shapeText(_ shape: DecoderShape) -> String {
        shapeText(layers: shape.numHiddenLayers, heads: shape.numAttentionHeads)
    }

    static func shapeText(layers: Int, heads: Int) -> String {
        "\(layers) layer\(layers == 1 ? "" : "s") × \(heads) head\(heads == 1 ? "" : "s")"
    }

    /// `this model has 3 layers × 4 heads`; for a model of another family than the official ones, the
    /// family too (`this model (qwen2_vl family, Qwen2-VL-7B) has 28 layers × 28 heads`).
    static func modelText(_ model: ModelIdentity) -> String {
        guard !OfficialYOPOModel.all.contains(where: { $0.family == model.family }) else {
            return "this model has \(shapeText(model.shape))"
        }
        let name = model.name.isEmpty ? "" : ", \(model.name)"
        return "this model (\(model.family) family\(name)) has \(shapeText(model.shape))"
    }

    /// K of a preset on an L-layer decoder: L/2 for `yopo-25`, L/4 for `yopo-12` (rounded up).
    static func presetKeptLayers(_ name: String, layers: Int) -> Int {
        max(0, name == "yopo-25" ? (layers + 1) / 2 : (layers + 3) / 4)
    }

    /// The presets, built from the official head masks (METHOD.md §5.4, best reconstruction; the
    /// paper's own configurations are uncertain): `yopo-25` = w 5, K = L/2, the mask keeping about
    /// half the heads, r 2; `yopo-12` = the same with K = L/4.
    /// 7B: 25.1% / 11.7% of the dense visual FLOPs; 13B: 26.1% / 12.9% (yopo convention, n = 576).
    /// Throws `PruningSpecError.doesNotFit` for a model no official model matches
    /// (`OfficialYOPOModel.matching`), naming the models the presets fit and the fields (window,
    /// layers, ffn) that work on any model.
    public static func preset(_ name: String, for model: ModelIdentity) throws -> YOPOSpec {
        guard presets.contains(name) else {
            throw PruningSpecError.syntax("unknown preset \(name) (\(presetNames.joined(separator: ", ")))")
        }
        let L = model.shape.numHiddenLayers
        guard let official = OfficialYOPOModel.matching(model) else {
            throw PruningSpecError.doesNotFit(
                spec: name,
                reason:
                    "the preset is defined for \(OfficialYOPOModel.fitText), and \(modelText(model)); the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=\(presetKeptLayers(name, layers: L)),ffn=2"
            )
        }
        return YOPOSpec(
            window: 5, layers: presetKeptLayers(name, layers: L), headsPath: "official:" + official.maskStem(official.halfHeadsKeep), ffn: 2
        )
    }

    /// `preset(_:for:)` for a model known by its decoder shape only, taken to be of the LLaVA family.
    public static func preset(_ name: String, for shape: DecoderShape) throws -> YOPOSpec {
        try preset(name, for: .llava(shape))
    }

    /// `resolve(for:)` for a model known by its decoder shape only, taken to be of the LLaVA family.
    public func resolve(for shape: DecoderShape) throws -> YOPOPlan { try resolve(for: .llava(shape)) }

    /// Loads masks and checks every field against the model's decoder.
    /// Throws `PruningSpecError` naming the field: layers outside [0, L], a mask file that is missing,
    /// not a regular file, too large, not a .npy, not [L, H] or with an entry other than 0/1; a
    /// heads-keep without an official mask for this model (`OfficialYOPOModel.matching`); an ffn
    /// leaving no channel.
    public func resolve(for model: ModelIdentity) throws -> YOPOPlan {
        try checkFields()
        let shape = model.shape
        let L = shape.numHiddenLayers, H = shape.numAttentionHeads
        if let layers, layers < 0 || layers > L {
            throw PruningSpecError.invalidField(field: "layers", reason: "\(layers) is outside [0, \(L)] (this model has \(L) layers)")
        }
        var mask: [[Bool]]?
        if let headsPath {
            if headsPath.hasPrefix("official:") {
                mask = try YOPOSpec.officialMask(String(headsPath.dropFirst("official:".count)))
            } else {
                mask = try YOPOSpec.loadMask(path: headsPath, given: headsPathAsGiven ?? headsPath, shape: shape)
            }
        } else if let headsKeep {
            guard let official = OfficialYOPOModel.matching(model) else {
                let masks = OfficialYOPOModel.all.enumerated().map { i, m in
                    "\(m.name) (\(m.shapeText): \(i == 0 ? "heads-keep " : "")\(orList(m.headsKeep)))"
                }
                throw PruningSpecError.invalidField(
                    field: "heads-keep",
                    reason:
                        "official masks exist for \(masks.joined(separator: " and ")), and \(Self.modelText(model)); give heads=PATH.npy, a [\(L), \(H)] mask, instead"
                )
            }
            guard official.headsKeep.contains(headsKeep) else {
                throw PruningSpecError.invalidField(
                    field: "heads-keep",
                    reason:
                        "no official mask keeps about \(headsKeep) heads per layer of this \(Self.shapeText(shape)) model; allowed: \(orList(official.headsKeep))"
                )
            }
            mask = try YOPOSpec.officialMask(official.maskStem(headsKeep))
        }
        if let mask {
            let found = [mask.count, mask.first?.count ?? 0]
            guard found == [L, H] else {
                throw PruningSpecError.invalidField(
                    field: "heads", reason: "mask shape [\(found[0]), \(found[1])] does not match the model's [\(L), \(H)] (layers, heads)")
            }
        }
        var width: Int?
        if let ffn {
            // ffn ≥ 1 and finite (parsing), so I / ffn is in [0, I].
            let w = Int(Double(shape.intermediateSize) / ffn)
            guard w >= 1 else {
                throw PruningSpecError.invalidField(
                    field: "ffn",
                    reason:
                        "\(formatRatio(ffn)) leaves no FFN channel of \(shape.intermediateSize); allowed: a number in [1, \(shape.intermediateSize)]"
                )
            }
            width = w
        }
        return YOPOPlan(
            spec: self, window: window, keptLayers: layers ?? L, headMask: mask,
            visualFFNWidth: width ?? shape.intermediateSize, shape: shape)
    }

    /// Bytes a `.npy` mask may take before it is read: the largest header (64 KiB + its 12-byte
    /// prelude) plus `layers × heads` entries of at most 8 bytes; `Int.max` when that overflows.
    static func maskByteLimit(_ shape: DecoderShape) -> Int {
        let (cells, o1) = shape.numHiddenLayers.multipliedReportingOverflow(by: shape.numAttentionHeads)
        let (data, o2) = cells.multipliedReportingOverflow(by: 8)
        let (limit, o3) = data.addingReportingOverflow(65_536 + 12)
        return o1 || o2 || o3 ? Int.max : limit
    }

    /// Reads a user's `.npy` head mask at `path` (`given` is the path as written, for messages):
    /// a regular file within `maskByteLimit`, two dimensions `[layers, heads]` equal to the model's,
    /// every entry 0 or 1 (bool, integer or float dtype). `[layers][heads]`, true = keep.
    static func loadMask(path: String, given: String, shape: DecoderShape) throws -> [[Bool]] {
        let L = shape.numHiddenLayers, H = shape.numAttentionHeads
        let expected = "expected a .npy mask of 0/1 or bool entries with shape [layers, heads] = [\(L), \(H)]"
        func fail(_ problem: String) -> PruningSpecError { .invalidField(field: "heads", reason: "\(problem); \(expected)") }
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            switch code {
            case ENOENT, ENOTDIR: throw fail("no file '\(given)'")
            case EACCES: throw fail("cannot read '\(given)': permission denied")
            default: throw fail("cannot read '\(given)': \(String(cString: strerror(code)))")
            }
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw fail("'\(given)' is a directory, not a file")
        case S_IFCHR, S_IFBLK: throw fail("'\(given)' is a device, not a regular file")
        case S_IFIFO: throw fail("'\(given)' is a pipe, not a regular file")
        case S_IFSOCK: throw fail("'\(given)' is a socket, not a regular file")
        default: throw fail("'\(given)' is not a regular file")
        }
        let limit = maskByteLimit(shape)
        guard Int(info.st_size) <= limit else {
            throw fail("'\(given)' is \(info.st_size) bytes, more than a [\(L), \(H)] mask takes (at most \(limit))")
        }
        let array: NPYArray
        do {
            array = try NPYArray(path: path)
        } catch let FormatError.corrupt(_, reason) {
            throw fail("'\(given)' cannot be read as .npy: \(reason)")
        } catch FormatError.fileNotFound {
            throw fail("cannot read '\(given)'")
        } catch {
            throw fail("'\(given)' cannot be read as .npy: \(error)")
        }
        guard array.shape.count == 2 else {
            let dims = array.shape.count
            throw PruningSpecError.invalidField(
                field: "heads",
                reason:
                    "'\(given)' has shape [\(array.shape.map(String.init).joined(separator: ", "))] (\(dims) dimension\(dims == 1 ? "" : "s")), the model needs [\(L), \(H)] (layers, heads)"
            )
        }
        guard array.shape == [L, H] else {
            throw PruningSpecError.invalidField(
                field: "heads",
                reason: "mask shape [\(array.shape[0]), \(array.shape[1])] does not match the model's [\(L), \(H)] (layers, heads)")
        }
        // The shape is [L, H], so values holds L·H entries (NPYArray reads exactly the shape's count).
        guard array.values.count == L * H else { throw fail("'\(given)' holds \(array.values.count) entries, not \(L * H)") }
        if let bad = array.values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw PruningSpecError.invalidField(
                field: "heads",
                reason:
                    "'\(given)': entry [\(bad / H), \(bad % H)] (layer \(bad / H), head \(bad % H)) is \(formatRatio(array.values[bad])); a mask holds only 0/1 or true/false"
            )
        }
        return (0..<L).map { l in array.values[(l * H)..<((l + 1) * H)].map { $0 == 1 } }
    }

    /// An official mask by file stem (`headmask_7b_16`), `[layers][heads]`, true = keep.
    public static func officialMask(_ stem: String) throws -> [[Bool]] {
        guard let rows = OfficialHeadMaskData.masks[stem] else {
            throw PruningSpecError.invalidField(
                field: "heads",
                reason: "no official mask '\(stem)' (available: \(OfficialHeadMaskData.masks.keys.sorted().joined(separator: ", ")))")
        }
        return rows.map { $0.map { $0 == "1" } }
    }
}

/// `2`, `0.5`, `nan`: a number as messages show it (integers without `.0`).
func formatRatio(_ x: Double) -> String {
    x.isFinite && x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
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
    /// Rows the mask's pruned heads leave (`.visual` is YOPO; `.all` the ablation).
    public var headsScope: HeadsScope { spec.headsScope ?? .visual }

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
        return YOPOPlan(
            spec: spec, window: window, keptLayers: min(keptLayers, count),
            headMask: headMask.map { Array($0.prefix(count)) }, visualFFNWidth: visualFFNWidth, shape: sliced)
    }
}

/// YOPO's pruning in the terms the published conventions count (METHOD.md §5.2):
/// `Σ_{l<K} [ (h_l/H)·(8·n·d² + 4·n·k·d) + 6·n·d·F ]` FLOPs.
public struct YOPOCostProfile: Sendable, Equatable {
    /// Window side w (nil = full visual attention).
    public var window: Int?
    /// K: layers `0..<K` keep visual computation.
    public var keptLayers: Int
    /// h_l: heads doing visual work in each decoder layer (length L; fractional for a nominal count).
    /// Entries of layers ≥ K are ignored.
    public var keptHeads: [Double]
    /// F: FFN channels visual rows use (`int(I / r)`).
    public var visualFFNWidth: Int

    public init(window: Int?, keptLayers: Int, keptHeads: [Double], visualFFNWidth: Int) {
        self.window = window
        self.keptLayers = keptLayers
        self.keptHeads = keptHeads
        self.visualFFNWidth = visualFFNWidth
    }

    /// The "actual-mask" profile of a resolved plan: h_l = heads its mask keeps in layer l.
    public init(plan: YOPOPlan) {
        let H = plan.shape.numAttentionHeads
        self.init(
            window: plan.window, keptLayers: plan.keptLayers,
            keptHeads: (0..<plan.shape.numHiddenLayers).map { l in
                Double((0..<H).filter { plan.headKept(layer: l, head: $0) }.count)
            },
            visualFFNWidth: plan.visualFFNWidth)
    }

    /// The "nominal" profile (METHOD.md §5.4): `headsPerLayer` heads in every layer (e.g. 16, the
    /// `headcut` of `headmask_7b_16`), F = int(I / ffnRatio).
    public static func nominal(
        _ dimensions: ModelDimensions, window: Int?, keptLayers: Int, headsPerLayer: Double, ffnRatio: Double = 1
    ) -> YOPOCostProfile {
        YOPOCostProfile(
            window: window, keptLayers: keptLayers,
            keptHeads: Array(repeating: headsPerLayer, count: dimensions.text.numHiddenLayers),
            visualFFNWidth: Int(Double(dimensions.text.intermediateSize) / ffnRatio))
    }
}

// MARK: - The models the official release fits

/// A model the official YOPO release ships head masks for, and so the one the presets are defined
/// for: the one table every preset, `heads-keep` and the budget solver consult, through `matching`.
public struct OfficialYOPOModel: Sendable, Equatable {
    /// `LLaVA-1.5-7B`.
    public let name: String
    /// The family a model must be of to be this one (`ModelIdentity.family`).
    public let family: String
    /// The decoder dimensions a model must have to be this one (layers × heads; the FFN width is not
    /// compared, so a small test model of the same depth and heads gets the same masks).
    public let numHiddenLayers: Int
    public let numAttentionHeads: Int
    /// File stem prefix of its masks in `OfficialHeadMaskData` (`headmask_7b_` → `headmask_7b_16`).
    let maskPrefix: String

    /// LLaVA-1.5-7B (32 × 32) and LLaVA-1.5-13B (40 × 40), the LLaVA family.
    public static let all = [
        OfficialYOPOModel(
            name: "LLaVA-1.5-7B", family: ModelIdentity.llavaFamily, numHiddenLayers: 32, numAttentionHeads: 32,
            maskPrefix: "headmask_7b_"),
        OfficialYOPOModel(
            name: "LLaVA-1.5-13B", family: ModelIdentity.llavaFamily, numHiddenLayers: 40, numAttentionHeads: 40,
            maskPrefix: "headmask_13b_")
    ]

    /// The official model `model` is: same family, same layers and heads. Nil when none is (a
    /// Qwen2-VL-7B of 28 × 28, a LLaVA of another depth, a non-LLaVA model of 32 × 32).
    public static func matching(_ model: ModelIdentity) -> OfficialYOPOModel? {
        all.first {
            $0.family == model.family && $0.numHiddenLayers == model.shape.numHiddenLayers
                && $0.numAttentionHeads == model.shape.numAttentionHeads
        }
    }

    /// `32 layers × 32 heads`.
    var shapeText: String { YOPOSpec.shapeText(layers: numHiddenLayers, heads: numAttentionHeads) }

    /// The heads-keep values of its masks, ascending (`8, 16, 24`).
    public var headsKeep: [Int] {
        OfficialHeadMaskData.masks.keys.compactMap { $0.hasPrefix(maskPrefix) ? Int($0.dropFirst(maskPrefix.count)) : nil }.sorted()
    }

    /// The heads-keep of the mask keeping about half the heads (ties to the smaller): the presets'
    /// mask and the budget solver's (16 on 7B, 20 on 13B).
    public var halfHeadsKeep: Int {
        let half = Double(numAttentionHeads) / 2
        return headsKeep.min { (abs(Double($0) - half), $0) < (abs(Double($1) - half), $1) }!
    }

    /// The mask file stem keeping about `headsKeep` heads per layer (`headmask_7b_16`).
    func maskStem(_ headsKeep: Int) -> String { maskPrefix + String(headsKeep) }

    /// `LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads)`.
    static var fitText: String {
        all.map { "\($0.name) (\($0.shapeText))" }.joined(separator: " and ")
    }

    /// `LLaVA-1.5-7B and LLaVA-1.5-13B`.
    static var namesText: String { all.map(\.name).joined(separator: " and ") }
}

// MARK: - Budget candidates

extension BudgetSolver {
    /// YOPO's settings at a budget: w 5, r 2, the official mask keeping about half the heads when the
    /// model is one the official release fits (`OfficialYOPOModel.matching`), else every head; K = 0…L.
    func yopoCandidates() throws -> [(spec: PruningSpec, detail: String)] {
        guard convention == .yopo || convention == .pdrop else {
            throw BudgetError.unsupported(
                "YOPO has no count under the \(convention.rawValue) convention (it counts tokens, not heads or windows)")
        }
        guard model.dimensions.vision.dropsCLS else {
            throw BudgetError.unsupported("YOPO needs the visual tokens to be the patch grid (this model keeps CLS)")
        }
        let heads = OfficialYOPOModel.matching(model.dimensions.identity)?.halfHeadsKeep
        let maskNote = heads.map { "official mask heads-keep \($0)" } ?? "no official mask for this model, all heads"
        return (0...layers).map { k in
            (.yopo(YOPOSpec(window: 5, layers: k, headsKeep: heads, ffn: 2)), "w 5, r 2, \(maskNote); K searched 0…\(layers)")
        }
    }
}
