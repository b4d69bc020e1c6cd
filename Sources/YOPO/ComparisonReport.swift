import Foundation
import YOPOPruning

/// What a `Comparison` found, as `yopo compare --json` prints it; `table()` is the text form.
public struct ComparisonReport: Encodable, Sendable {
    public var model: String
    /// The budget as a fraction of the dense count.
    public var budget: Double
    public var convention: String
    public var yopoMode: String
    public var steps: Int
    /// The mean prompt layout the settings were solved for.
    public var settingsLayout: Layout
    public var settings: [Entry]
    public var skipped: [Skipped]
    public var samples: [SampleReport]
    /// Each method's mean over the samples (nil for one sample).
    public var mean: [Row]?
    /// The budget as given (`75%`), for the table.
    var budgetTarget: FLOPsBudget

    enum CodingKeys: String, CodingKey {
        case model, budget, convention, yopoMode = "yopo_mode", steps, settingsLayout = "settings_layout"
        case settings, skipped, samples, mean
    }

    /// A value under each published convention; nil where the convention cannot count the method.
    public struct PerConvention: Encodable, Sendable, Equatable {
        public var values: [FLOPsConvention: Double] = [:]

        public subscript(_ c: FLOPsConvention) -> Double? {
            get { values[c] }
            set { values[c] = newValue }
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            for convention in Comparison.conventions {
                try c.encode(values[convention], forKey: Key(stringValue: convention.rawValue))
            }
        }
    }

    /// One method on one sample.
    public struct Row: Encodable, Sendable, Equatable {
        public var method: String
        public var spec: String
        /// YOPO's execution mode (nil for dense and the baselines).
        public var mode: String?
        /// The prompt's count under each convention (yopo in FLOPs, the others in MACs; fastv as the
        /// total, not the per-layer average).
        public var flops: PerConvention
        public var flopsFraction: PerConvention
        /// This engine's analytic prefill count (nil for baselines).
        public var fullFLOPs: Int?
        /// Executed FLOPs up to the first answer token (vision + projector + decoder prefill + LM head).
        public var executedPrefillFLOPs: Int
        /// Executed FLOPs of the whole teacher-forced run, by stage.
        public var executedFLOPs: ExecutedFLOPs
        public var prefillMS: Double
        public var visualKVBytes: Int
        public var denseVisualKVBytes: Int
        public var keptImageTokens: [Int]?
        public var kl: Double
        /// The method's argmax at each teacher-forced step (nil in mean rows).
        public var argmax: [Int]?
        public var top1Matches: Int
        public var steps: Int
        public var top1Agreement: Double { steps == 0 ? 0 : Double(top1Matches) / Double(steps) }

        enum CodingKeys: String, CodingKey {
            case method, spec, mode, flops, flopsFraction = "flops_fraction", fullFLOPs = "full_flops"
            case executedPrefillFLOPs = "executed_prefill_flops", executedFLOPs = "executed_flops"
            case prefillMS = "prefill_ms", visualKVBytes = "visual_kv_bytes", denseVisualKVBytes = "dense_visual_kv_bytes"
            case keptImageTokens = "kept_image_tokens", kl, argmax, top1Matches = "top1_matches", steps
            case top1Agreement = "top1_agreement"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(method, forKey: .method)
            try c.encode(spec, forKey: .spec)
            try c.encode(mode, forKey: .mode)
            try c.encode(flops, forKey: .flops)
            try c.encode(flopsFraction, forKey: .flopsFraction)
            try c.encode(fullFLOPs, forKey: .fullFLOPs)
            try c.encode(executedPrefillFLOPs, forKey: .executedPrefillFLOPs)
            try c.encode(executedFLOPs, forKey: .executedFLOPs)
            try c.encode(prefillMS, forKey: .prefillMS)
            try c.encode(visualKVBytes, forKey: .visualKVBytes)
            try c.encode(denseVisualKVBytes, forKey: .denseVisualKVBytes)
            try c.encode(keptImageTokens, forKey: .keptImageTokens)
            try c.encode(kl, forKey: .kl)
            try c.encode(argmax, forKey: .argmax)
            try c.encode(top1Matches, forKey: .top1Matches)
            try c.encode(steps, forKey: .steps)
            try c.encode(top1Agreement, forKey: .top1Agreement)
        }
    }

    /// A method with its setting and where the setting came from.
    public struct Entry: Encodable, Sendable, Equatable {
        public var method: String
        public var spec: PruningSpec
        /// `dense`, `solver`, `preset` or `--yopo`.
        public var source: String
        public var detail: String
        /// Under the budget's convention (nil: it cannot count the method).
        public var flops: Double?
        public var fraction: Double?
        public var withinBudget: Bool?

        enum CodingKeys: String, CodingKey {
            case method, spec, source, detail, flops, fraction, withinBudget = "within_budget"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(method, forKey: .method)
            try c.encode(spec.description, forKey: .spec)
            try c.encode(source, forKey: .source)
            try c.encode(detail, forKey: .detail)
            try c.encode(flops, forKey: .flops)
            try c.encode(fraction, forKey: .fraction)
            try c.encode(withinBudget, forKey: .withinBudget)
        }
    }

    public struct Layout: Encodable, Sendable, Equatable {
        public var systemTokens: Int, visualTokens: Int, textTokens: Int
        enum CodingKeys: String, CodingKey {
            case systemTokens = "system_tokens", visualTokens = "visual_tokens", textTokens = "text_tokens"
        }
    }

    public struct SampleReport: Encodable, Sendable, Equatable {
        public var image: String
        public var prompt: String
        public var layout: Layout
        /// Dense greedy tokens every method is scored against (ends with EOS when dense stopped).
        public var referenceTokens: [Int]
        public var rows: [Row]
        enum CodingKeys: String, CodingKey { case image, prompt, layout, referenceTokens = "reference_tokens", rows }
    }

    public struct Skipped: Encodable, Sendable, Equatable {
        public var method: String
        public var reason: String
    }

    /// Each method's mean over the samples (integers rounded; the spec of the first sample).
    static func means(_ reports: [SampleReport]) -> [Row] {
        let count = Double(reports.count)
        return reports[0].rows.indices.map { i in
            let rows = reports.map { $0.rows[i] }
            func avg(_ f: (Row) -> Double) -> Double { rows.reduce(0) { $0 + f($1) } / count }
            func avgInt(_ f: (Row) -> Int) -> Int { Int(avg { Double(f($0)) }.rounded()) }
            func avgOptional(_ f: (Row) -> Double?) -> Double? {
                let values = rows.compactMap(f)
                return values.count == rows.count ? values.reduce(0, +) / count : nil
            }
            var flops = PerConvention(), fractions = PerConvention()
            for c in Comparison.conventions {
                flops[c] = avgOptional { $0.flops[c] }
                fractions[c] = avgOptional { $0.flopsFraction[c] }
            }
            var executed = rows[0].executedFLOPs
            executed.total = avgInt { $0.executedFLOPs.total }
            executed.vision = avgInt { $0.executedFLOPs.vision }
            executed.projector = avgInt { $0.executedFLOPs.projector }
            executed.prefill = avgInt { $0.executedFLOPs.prefill }
            executed.decode = avgInt { $0.executedFLOPs.decode }
            var groups: [String: Int] = [:]
            for key in Set(rows.flatMap { $0.executedFLOPs.prefillByGroup.keys }) {
                groups[key] = avgInt { $0.executedFLOPs.prefillByGroup[key] ?? 0 }
            }
            executed.prefillByGroup = groups
            let full = avgOptional { $0.fullFLOPs.map(Double.init) }.map { Int($0.rounded()) }
            // Agreement: matched steps over all steps of all samples.
            let matches = rows.reduce(0) { $0 + $1.top1Matches }, steps = rows.reduce(0) { $0 + $1.steps }
            return Row(
                method: rows[0].method, spec: rows[0].spec, mode: rows[0].mode, flops: flops, flopsFraction: fractions, fullFLOPs: full,
                executedPrefillFLOPs: avgInt(\.executedPrefillFLOPs), executedFLOPs: executed, prefillMS: avg(\.prefillMS),
                visualKVBytes: avgInt(\.visualKVBytes), denseVisualKVBytes: avgInt(\.denseVisualKVBytes),
                keptImageTokens: nil, kl: avg(\.kl), argmax: nil, top1Matches: matches, steps: steps)
        }
    }

    // MARK: table

    /// `1.91 T`, `45.2 M`: three significant digits with an SI prefix.
    static func si(_ x: Double, _ unit: String = "") -> String {
        let prefixes: [(Double, String)] = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, p) in prefixes where abs(x) >= scale {
            return formatted(x / scale) + " " + p + unit
        }
        return formatted(x) + (unit.isEmpty ? "" : " " + unit)
    }

    static func formatted(_ x: Double) -> String {
        let a = abs(x)
        return String(format: a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", x)
    }

    static func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    static func cell(_ value: Double?, _ fraction: Double?) -> String {
        guard let value else { return "-" }
        return si(value) + (fraction.map { " (\(percent($0)))" } ?? "")
    }

    static func rowCells(_ r: Row, dense: Row?) -> [String] {
        var cells = [r.method, r.spec + (r.mode.map { " (\($0))" } ?? "")]
        cells += Comparison.conventions.map { cell(r.flops[$0], r.flopsFraction[$0]) }
        let denseFull = dense?.fullFLOPs.map(Double.init)
        cells.append(cell(r.fullFLOPs.map(Double.init), r.fullFLOPs.flatMap { f in denseFull.map { Double(f) / $0 } }))
        cells.append(cell(Double(r.executedPrefillFLOPs), dense.map { Double(r.executedPrefillFLOPs) / Double($0.executedPrefillFLOPs) }))
        cells.append(String(format: "%.1f", r.prefillMS))
        cells.append(
            si(Double(r.visualKVBytes), "B")
                + " (\(percent(r.denseVisualKVBytes == 0 ? 0 : Double(r.visualKVBytes) / Double(r.denseVisualKVBytes))))")
        cells.append(r.kl == 0 ? "0" : String(format: "%.3e", r.kl))
        cells.append("\(r.top1Matches)/\(r.steps) (\(percent(r.top1Agreement)))")
        return cells
    }

    /// The text `yopo compare` prints: a header, one row per sample and method (then the means), notes.
    public func table() -> String {
        let report = self, budget = budgetTarget
        let header = [
            "method", "settings", "yopo FLOPs", "fastv MACs", "pdrop MACs", "sparsevlm MACs", "full FLOPs",
            "executed FLOPs", "prefill ms", "visual KV", "KL(dense||m)", "top-1"
        ]
        var out = [
            "model       \(report.model)",
            "budget      \(budget) of the dense FLOPs, \(report.convention) convention; YOPO mode \(report.yopoMode)",
            "agreement   \(report.steps) greedy dense tokens, teacher-forced into every method"
        ]
        let multi = report.samples.count > 1
        var rows: [[String]] = []
        for (i, s) in report.samples.enumerated() {
            let dense = s.rows.first { $0.method == "dense" }
            for r in s.rows { rows.append((multi ? ["\(i + 1)"] : []) + Self.rowCells(r, dense: dense)) }
        }
        if let mean = report.mean {
            let dense = mean.first { $0.method == "dense" }
            for r in mean { rows.append(["mean"] + Self.rowCells(r, dense: dense)) }
        }
        if multi {
            out.append(
                "samples     \(report.samples.count) (settings for their mean layout: \(report.settingsLayout.systemTokens) + \(report.settingsLayout.visualTokens) + \(report.settingsLayout.textTokens) tokens)"
            )
        } else {
            let s = report.samples[0]
            out.append(
                "prompt      \(s.layout.systemTokens) system + \(s.layout.visualTokens) visual + \(s.layout.textTokens) text tokens (\(s.image))"
            )
        }
        out.append("")
        out.append(Self.render((multi ? ["sample"] : []) + header, rows, leftColumns: multi ? 3 : 2))
        out.append("")
        out.append("FLOPs are the prompt's prefill; percentages are of dense. yopo = 2·MACs over image tokens; fastv, pdrop,")
        out.append("sparsevlm = MACs (fastv as the total, not per layer); full = this engine's analytic count, executed = its counter.")
        for e in report.settings where e.withinBudget == false {
            out.append(
                "note: \(e.method) \(e.spec) counts \(e.fraction.map(Self.percent) ?? "-") of dense under \(report.convention), over the \(budget) budget"
                    + (e.source == "solver" ? " (its cheapest setting: none reaches the budget)" : ""))
        }
        for s in report.skipped { out.append("note: \(s.method) not run: \(s.reason)") }
        return out.joined(separator: "\n") + "\n"
    }

    /// Columns padded to their widths; the first `leftColumns` left-aligned, the rest right-aligned.
    static func render(_ header: [String], _ rows: [[String]], leftColumns: Int) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < leftColumns ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }
}
