import Foundation
import YOPOCore

// MARK: - Reports: text tables and JSON

/// What a report was computed for (its header).
public struct FLOPsReportContext: Sendable, Equatable {
    public var dimensions: ModelDimensions
    public var layout: PromptLayout
    /// The spec as the user wrote it (`none`, `yopo-25`, `fastv:k=2,r=0.5`, …).
    public var prune: String
    /// YOPO execution mode (`full` only; nil for dense and baselines).
    public var mode: YOPOMode?

    public init(dimensions: ModelDimensions, layout: PromptLayout, prune: String, mode: YOPOMode? = nil) {
        self.dimensions = dimensions
        self.layout = layout
        self.prune = prune
        self.mode = mode
    }

    var layoutLine: String {
        let d = dimensions, l = layout
        var parts: [String] = []
        if l.imageCount == 0 {
            parts.append("\(l.systemTokens) text")
        } else {
            parts.append("\(l.systemTokens) system")
            let perImage = l.visualTokensPerImage(d)
            parts.append(
                l.imageCount == 1
                    ? "\(perImage) visual (grid \(l.grid))"
                    : "\(l.imageCount) × \(perImage) visual (grid \(l.grid))")
            parts.append("\(l.textTokens) text")
        }
        return parts.joined(separator: " + ") + " tokens; \(l.decodeSteps) decode step\(l.decodeSteps == 1 ? "" : "s")"
    }

    var modelLine: String {
        let t = dimensions.text, v = dimensions.vision
        return "\(dimensions.name) (d \(t.hiddenSize), \(t.numHiddenLayers) layers, \(t.numAttentionHeads) heads"
            + (t.numKeyValueHeads == t.numAttentionHeads ? "" : " / \(t.numKeyValueHeads) kv")
            + " × \(t.headDim), I \(t.intermediateSize), V \(t.vocabSize); vision d \(v.hiddenSize), I \(v.intermediateSize), \(v.layersComputed)/\(v.numHiddenLayers) layers, patch \(v.patchSize), "
            + (v.mergedPatches.map { m in
                "merged \(m.spatialMergeSize)×\(m.spatialMergeSize)"
                    + (m.windowTokens.map { ", windows of \($0)×\($0) tokens outside blocks \(m.fullAttentionBlocks)" } ?? "")
                    + ", dynamic resolution)"
            } ?? "\(v.imageSize) px)")
    }

    var pruneLine: String { prune + (mode.map { " (\($0.rawValue))" } ?? "") }
}

/// The JSON shape of a report's layout.
fileprivate struct LayoutJSON: Encodable {
    var systemTokens: Int, images: Int, grid: String, visualTokens: Int, textTokens: Int, promptTokens: Int, decodeSteps: Int
    enum CodingKeys: String, CodingKey {
        case systemTokens = "system_tokens", images, grid, visualTokens = "visual_tokens", textTokens = "text_tokens"
        case promptTokens = "prompt_tokens", decodeSteps = "decode_steps"
    }

    init(_ c: FLOPsReportContext) {
        let l = c.layout
        systemTokens = l.systemTokens
        images = l.imageCount
        grid = l.grid.description
        visualTokens = l.visualTokens(c.dimensions)
        textTokens = l.textTokens
        promptTokens = l.promptTokens(c.dimensions)
        decodeSteps = l.decodeSteps
    }
}

/// Right-aligned columns.
fileprivate func renderColumns(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in String(repeating: " ", count: widths[i] - cell.count) + cell }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}

fileprivate func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

extension ConventionFLOPs {
    /// A readable table: header, per-layer projections / attention / FFN (in G of the unit), totals,
    /// and the number as the paper prints it.
    public func table(_ context: FLOPsReportContext) -> String {
        let unit = convention.countsMACs ? "MACs" : "FLOPs"
        var out = [
            "convention  \(convention.rawValue): \(convention.summary)",
            "model       \(context.modelLine)",
            "prune       \(context.pruneLine)",
            "layout      \(context.layoutLine)",
            ""
        ]
        let rows = layers.map { l in
            [
                String(l.layer), fixed(l.tokens, 1), fixed(l.visualTokens, 1), fixed(l.visualHeads, 2),
                fixed(l.projections / 1e9, 3), fixed(l.attention / 1e9, 3), fixed(l.ffn / 1e9, 3), fixed(l.total / 1e9, 3)
            ]
        }
        out.append(
            renderColumns(
                ["layer", "tokens", "visual", "heads", "proj G\(unit)", "attn G\(unit)", "ffn G\(unit)", "total G\(unit)"], rows))
        out.append("")
        out.append("dense     \(fixed(dense / 1e12, 4)) T \(unit)")
        out.append("counted   \(fixed(total / 1e12, 4)) T \(unit)  (\(fixed(100 * ratio, 2))% of dense)")
        let digits = reportedScale == 1e9 ? 1 : 2
        out.append("reported  \(fixed(reported, digits)) \(reportedUnit)  (as the paper prints it)")
        return out.joined(separator: "\n") + "\n"
    }

    /// JSON: header, totals, the reported number and every layer's components (in the convention's unit).
    public func json(_ context: FLOPsReportContext) throws -> Data {
        struct LayerJSON: Encodable {
            var layer: Int, tokens: Double, visualTokens: Double, visualHeads: Double
            var projections: Double, attention: Double, ffn: Double, total: Double
            enum CodingKeys: String, CodingKey {
                case layer, tokens, visualTokens = "visual_tokens", visualHeads = "visual_heads", projections, attention, ffn, total
            }
        }
        struct Report: Encodable {
            var convention: String, summary: String, model: ModelDimensions, prune: String, layout: LayoutJSON
            var unit: String, total: Double, dense: Double, ratio: Double, reported: Double, reportedUnit: String
            var layers: [LayerJSON]
            enum CodingKeys: String, CodingKey {
                case convention, summary, model, prune, layout, unit, total, dense, ratio, reported
                case reportedUnit = "reported_unit", layers
            }
        }
        let report = Report(
            convention: convention.rawValue, summary: convention.summary, model: context.dimensions, prune: context.prune,
            layout: LayoutJSON(context), unit: convention.countsMACs ? "MACs" : "FLOPs", total: total, dense: dense,
            ratio: ratio, reported: reported, reportedUnit: reportedUnit,
            layers: layers.map {
                LayerJSON(
                    layer: $0.layer, tokens: $0.tokens, visualTokens: $0.visualTokens, visualHeads: $0.visualHeads,
                    projections: $0.projections, attention: $0.attention, ffn: $0.ffn, total: $0.total)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(report)
    }
}

extension FullFLOPs {
    /// Components a report lists: every one, except `selection` when nothing was counted there (only
    /// the baselines choose tokens).
    var shownComponents: [FLOPComponent] {
        FLOPComponent.allCases.filter { $0 != .selection || visualRows != nil || all.total(component: $0) != 0 }
    }

    /// A readable table: stage × token group, components, prefill/decode per decoder layer, decode
    /// steps; exact integers (FLOPs).
    public func table(_ context: FLOPsReportContext) -> String {
        var out = [
            "convention  full: \(FLOPsConvention.full.summary)",
            "model       \(context.modelLine)",
            "prune       \(context.pruneLine)",
            "layout      \(context.layoutLine)",
            ""
        ]
        var stageRows: [[String]] = FLOPStage.allCases.map { stage in
            [stage.rawValue] + TokenGroup.allCases.map { String(all.total(stage: stage, group: $0)) }
                + [String(all.total(stage: stage))]
        }
        stageRows.append(["total"] + TokenGroup.allCases.map { String(all.total(group: $0)) } + [String(total)])
        out.append(renderColumns(["stage"] + TokenGroup.allCases.map(\.rawValue) + ["total"], stageRows))
        out.append("")
        out.append(
            renderColumns(
                ["component", "FLOPs"],
                shownComponents.map { [$0.rawValue, String(all.total(component: $0))] }))
        out.append("")
        let L = context.dimensions.text.numHiddenLayers
        let proj = all.perLayer(stage: .prefill, component: .projections), attn = all.perLayer(stage: .prefill, component: .attention)
        let ffn = all.perLayer(stage: .prefill, component: .ffn), pre = all.perLayer(stage: .prefill)
        let groups = TokenGroup.allCases.map { all.perLayer(stage: .prefill, group: $0) }
        let dec = all.perLayer(stage: .decode)
        let selection = all.perLayer(stage: .prefill, component: .selection)
        let baselineColumns = visualRows != nil
        out.append(
            "decoder layers (prefill by component and by token group; decode summed over steps"
                + (baselineColumns ? "; image rows each layer processes, the baseline's selection work" : "") + "):")
        var header = ["layer", "projections", "attention", "ffn", "system", "visual", "text", "prefill", "decode"]
        if baselineColumns {
            header.insert("image rows", at: 1)
            header.insert("selection", at: 5)
        }
        let layerRows: [[String]] = (0..<L).map { l in
            var row: [String] = [String(l), String(proj[l] ?? 0), String(attn[l] ?? 0), String(ffn[l] ?? 0)]
            row += groups.map { String($0[l] ?? 0) }
            row += [String(pre[l] ?? 0), String(dec[l] ?? 0)]
            if let visualRows {
                row.insert(String(visualRows[l]), at: 1)
                row.insert(String(selection[l] ?? 0), at: 5)
            }
            return row
        }
        out.append(renderColumns(header, layerRows))
        out.append("")
        let prompt = layout.promptTokens(context.dimensions)
        if !decodeSteps.isEmpty {
            let shown = decodeSteps.count <= 6 ? Array(decodeSteps.indices) : [0, 1, 2, decodeSteps.count - 2, decodeSteps.count - 1]
            var lines: [String] = []
            for (i, j) in shown.enumerated() {
                if i > 0 && j != shown[i - 1] + 1 { lines.append("  …") }
                lines.append("  step \(j) (\(prompt + j) cached positions): \(decodeSteps[j].total) FLOPs")
            }
            out.append("decode steps:")
            out += lines
            out.append("")
        }
        let prefillTotal = prefill.total
        out.append("prefill   \(prefillTotal) FLOPs (\(fixed(Double(prefillTotal) / 1e12, 4)) T), vision + projector + decoder + LM head")
        out.append("decode    \(total - prefillTotal) FLOPs (\(fixed(Double(total - prefillTotal) / 1e12, 4)) T)")
        out.append("total     \(total) FLOPs (\(fixed(Double(total) / 1e12, 4)) T)")
        return out.joined(separator: "\n") + "\n"
    }

    /// JSON: header, totals by stage / group / component, every `FLOPKey` × component cell (exact
    /// integers; `layer` null outside the decoder), per-layer prefill and decode, each decode step.
    public func json(_ context: FLOPsReportContext) throws -> Data {
        struct CellJSON: Encodable {
            var stage: String, layer: Int?, group: String, component: String, flops: Int
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(stage, forKey: .stage)
                if let layer { try c.encode(layer, forKey: .layer) } else { try c.encodeNil(forKey: .layer) }
                try c.encode(group, forKey: .group)
                try c.encode(component, forKey: .component)
                try c.encode(flops, forKey: .flops)
            }
            enum CodingKeys: String, CodingKey { case stage, layer, group, component, flops }
        }
        struct LayerJSON: Encodable {
            var layer: Int
            var prefill: [String: Int]
            var decode: [String: Int]
        }
        struct StepJSON: Encodable {
            var step: Int, cachedPositions: Int, flops: Int
            enum CodingKeys: String, CodingKey { case step, cachedPositions = "cached_positions", flops }
        }
        struct Report: Encodable {
            var convention = "full", summary = FLOPsConvention.full.summary
            var model: ModelDimensions, prune: String, mode: String?, layout: LayoutJSON
            var total: Int, prefillTotal: Int, decodeTotal: Int
            var stages: [String: Int], groups: [String: Int], components: [String: Int]
            var cells: [CellJSON], layers: [LayerJSON], decodeSteps: [StepJSON]
            var visualRows: [Int]?
            enum CodingKeys: String, CodingKey {
                case convention, summary, model, prune, mode, layout, total, prefillTotal = "prefill_total"
                case decodeTotal = "decode_total", stages, groups, components, cells, layers, decodeSteps = "decode_steps"
                case visualRows = "visual_rows_per_layer"
            }
        }
        func split(_ b: FLOPsBreakdown, _ stage: FLOPStage, _ l: Int) -> [String: Int] {
            var r: [String: Int] = [:]
            for c in FLOPComponent.allCases { r[c.rawValue] = b.perLayer(stage: stage, component: c)[l] ?? 0 }
            for g in TokenGroup.allCases { r[g.rawValue] = b.perLayer(stage: stage, group: g)[l] ?? 0 }
            r["total"] = b.perLayer(stage: stage)[l] ?? 0
            return r.filter { $0.value != 0 || $0.key == "total" }
        }
        let prompt = layout.promptTokens(context.dimensions)
        let report = Report(
            model: context.dimensions, prune: context.prune, mode: context.mode?.rawValue, layout: LayoutJSON(context),
            total: total, prefillTotal: prefill.total, decodeTotal: total - prefill.total,
            stages: Dictionary(uniqueKeysWithValues: FLOPStage.allCases.map { ($0.rawValue, all.total(stage: $0)) }),
            groups: Dictionary(uniqueKeysWithValues: TokenGroup.allCases.map { ($0.rawValue, all.total(group: $0)) }),
            components: Dictionary(uniqueKeysWithValues: shownComponents.map { ($0.rawValue, all.total(component: $0)) }),
            cells: all.cells.sorted { $0.key < $1.key }.map {
                CellJSON(
                    stage: $0.key.key.stage.rawValue, layer: $0.key.key.layer, group: $0.key.key.group.rawValue,
                    component: $0.key.component.rawValue, flops: $0.value)
            },
            layers: (0..<context.dimensions.text.numHiddenLayers).map {
                LayerJSON(layer: $0, prefill: split(all, .prefill, $0), decode: split(all, .decode, $0))
            },
            decodeSteps: decodeSteps.enumerated().map {
                StepJSON(step: $0.offset, cachedPositions: prompt + $0.offset, flops: $0.element.total)
            },
            visualRows: visualRows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(report)
    }
}

// MARK: - Scaling table

extension FLOPsModel {
    /// The grids of the scaling table: the native G × G, then doubling the columns and the rows in
    /// turn (24×24, 24×48, 48×48, 48×96, 96×96 = 576 … 9216 tokens for LLaVA-1.5). A dynamic-resolution
    /// model: the token grids of 448², 896² and 1932 × 1092 images (16×16, 32×32, 39×69 = 256, 1024 and
    /// 2691 tokens for Qwen2-VL's 28-pixel tokens).
    public var scalingGrids: [VisualGrid] {
        if dimensions.vision.mergedPatches != nil {
            let p = dimensions.vision.tokenPatchSize
            return [.square(448 / p), .square(896 / p), VisualGrid(rows: 1092 / p, columns: 1932 / p)]
        }
        let g = dimensions.vision.gridSize
        return [
            VisualGrid(rows: g, columns: g), VisualGrid(rows: g, columns: 2 * g), VisualGrid(rows: 2 * g, columns: 2 * g),
            VisualGrid(rows: 2 * g, columns: 4 * g), VisualGrid(rows: 4 * g, columns: 4 * g)
        ]
    }

    /// A Markdown table: dense vs two YOPO plans (by default the `yopo-25` and `yopo-12` presets),
    /// under the yopo convention and under `full` (skip mode; whole run and the decoder's prefill
    /// stage alone), for each grid.
    /// - Parameter plans: (column label, plan) pairs; nil = the presets for this model.
    /// Throws `PruningSpecError` when the presets do not fit this model (`OfficialYOPOModel.matching`).
    public func scalingTable(
        grids: [VisualGrid]? = nil, plans: [(label: String, plan: YOPOPlan)]? = nil, systemTokens: Int, textTokens: Int
    ) throws -> String {
        let named = try plans ?? YOPOSpec.presetNames.map { ($0, try PruningSpec.preset($0).resolve(for: dimensions.identity)!) }
        let presets = named.map(\.plan)
        func t(_ x: Double) -> String { fixed(x / 1e12, 2) + " T" }
        func pct(_ x: Double, _ dense: Double) -> String { "\(t(x)) (\(fixed(100 * x / dense, 1))%)" }
        let labels = named.map(\.label)
        var lines = [
            "| visual tokens | grid | yopo: dense | " + labels.map { "yopo: \($0)" }.joined(separator: " | ") + " | full: dense | "
                + labels.map { "full: \($0)" }.joined(separator: " | ") + " | full prefill stage: dense | "
                + labels.joined(separator: " | ") + " |",
            "|---:|:---:|" + String(repeating: "---:|", count: 3 + 3 * named.count)
        ]
        for grid in grids ?? scalingGrids {
            let layout = PromptLayout(systemTokens: systemTokens, grid: grid, textTokens: textTokens)
            let conv = try presets.map { try count(.yopo, .yopo(YOPOCostProfile(plan: $0)), layout: layout) }
            let dense = conv[0].dense
            let fullDense = try full(layout)
            let fulls = try presets.map { try full(layout, plan: $0, mode: .skip) }
            let fd = Double(fullDense.total), pd = Double(fullDense.all.total(stage: .prefill))
            var cells = ["\(layout.visualTokens(dimensions))", "\(grid)", t(dense)]
            cells += conv.map { pct($0.total, dense) }
            cells.append(t(fd))
            cells += fulls.map { pct(Double($0.total), fd) }
            cells.append(t(pd))
            cells += fulls.map { pct(Double($0.all.total(stage: .prefill)), pd) }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
