import Foundation
import YOPOText

// `yopo analyze`: the attention statistics that motivate YOPO's strategies, from a `yopo calibrate`
// report, and accuracy against FLOPs from `yopo eval` summaries, as SVG charts (SVGChart).

public enum AnalysisError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let s): return s
        }
    }
}

public enum Analysis {
    static func json(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw AnalysisError.invalid("cannot read \(path)") }
        guard data.count <= 1 << 30 else { throw AnalysisError.invalid("\(path) is larger than 1 GiB") }
        do { return try JSONValue.parse(data) } catch { throw AnalysisError.invalid("\(path): \(error)") }
    }

    /// Charts of a `yopo calibrate --report` file: visual attention per layer, per-head activity and
    /// attention by grid distance. Returns `[(file name, SVG)]`. Throws `AnalysisError.invalid` for a
    /// file that is not such a report.
    public static func calibrationCharts(report path: String) throws -> [(String, String)] {
        let report = try json(path)
        guard let samples = report["masses_visual_text_system"]?.array, !samples.isEmpty else {
            throw AnalysisError.invalid("\(path) has no masses_visual_text_system (write it with yopo calibrate --report)")
        }
        // [sample][layer][head][3]
        let masses: [[[[Double]]]] = try samples.map { s in
            try (s.array ?? []).map { l in
                try (l.array ?? []).map { h in
                    guard let v = h.array?.compactMap(\.double), v.count == 3 else {
                        throw AnalysisError.invalid("\(path): a mass is not [visual, text, system]")
                    }
                    return v
                }
            }
        }
        let layers = masses[0].count, heads = masses[0].first?.count ?? 0
        guard layers > 0, heads > 0, masses.allSatisfy({ $0.count == layers && $0.allSatisfy { $0.count == heads } }) else {
            throw AnalysisError.invalid("\(path): samples differ in shape or are empty")
        }
        var share = [Double](repeating: 0, count: layers)
        var ratio = Array(repeating: [Double](repeating: 0, count: heads), count: layers)
        for s in masses {
            for l in 0..<layers {
                for h in 0..<heads {
                    let m = s[l][h]
                    share[l] += m[0] / max(m[0] + m[1] + m[2], 1e-30) / Double(heads * masses.count)
                    ratio[l][h] += m[0] / max(m[1] + m[2], 1e-30) / Double(masses.count)
                }
            }
        }
        var charts: [(String, String)] = [
            (
                "visual_attention_per_layer.svg",
                SVGChart.lines(
                    title: "Share of the question's attention on image tokens, per layer", xLabel: "layer",
                    yLabel: "attention on visual keys (share)",
                    series: [("question rows", share.enumerated().map { (Double($0.offset), $0.element) })])
            ),
            (
                "head_activity.svg",
                SVGChart.heatmap(
                    title: "Visual activity per head: visual / (text + system) attention, mean over samples", rowLabel: "layer",
                    columnLabel: "head", values: ratio)
            )
        ]
        if let distances = report["visual_distance"]?.array, !distances.isEmpty {
            let perSample = distances.map { s in (s.array ?? []).map { ($0.array ?? []).compactMap(\.double) } }
            let bins = perSample.first?.first?.count ?? 0
            if bins > 0 {
                var total = Array(repeating: [Double](repeating: 0, count: bins), count: layers)
                for s in perSample where s.count == layers {
                    for l in 0..<layers where s[l].count == bins { for d in 0..<bins { total[l][d] += s[l][d] } }
                }
                let shown = Array(Set([0, layers / 4, layers / 2, 3 * layers / 4, layers - 1])).sorted()
                let series = shown.map { l -> (String, [(Double, Double)]) in
                    let sum = max(total[l].reduce(0, +), 1e-30)
                    var running = 0.0
                    return (
                        "layer \(l)",
                        total[l].enumerated().map { d, v in
                            running += v
                            return (Double(d), running / sum)
                        }
                    )
                }
                charts.append(
                    (
                        "attention_distance.svg",
                        SVGChart.lines(
                            title: "Image rows' attention on image keys within a grid distance", xLabel: "grid distance (Chebyshev)",
                            yLabel: "cumulative share", series: series)
                    ))
            }
        }
        return charts
    }

    /// Accuracy against FLOPs per plan from `yopo eval` summary files (OUT/summary.json): x = the
    /// YOPO paper's convention FLOPs per question (TFLOPs), else executed; y = the primary score.
    public static func accuracyChart(summaries: [String]) throws -> (String, String) {
        var points: [(label: String, x: Double, y: Double)] = []
        var metric = "score", convention = "YOPO-convention"
        for path in summaries {
            let summary = try json(path)
            guard let plans = summary["plans"]?.array else { throw AnalysisError.invalid("\(path) is not a yopo eval summary (no plans)") }
            for plan in plans {
                guard let score = plan["score"]?["primary"], let value = score["value"]?.double else { continue }
                metric = score["name"]?.string ?? metric
                let yopo = plan["convention_flops_per_question"]?["yopo"]?.double
                if yopo == nil { convention = "executed" }
                let x = (yopo ?? plan["executed_flops_per_question"]?.double ?? 0) / 1e12
                points.append(((plan["method"]?.string ?? "?") + " " + (plan["prune"]?.string ?? ""), x, value))
            }
        }
        guard !points.isEmpty else { throw AnalysisError.invalid("no scored plan in the summaries (run yopo eval with --answers)") }
        return (
            "accuracy_vs_flops.svg",
            SVGChart.scatter(
                title: "\(metric) against visual FLOPs per question", xLabel: "\(convention) TFLOPs per question", yLabel: metric,
                points: points)
        )
    }
}
