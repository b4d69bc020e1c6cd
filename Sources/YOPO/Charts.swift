import Foundation

// Small SVG charts for `yopo analyze`: a line chart (several series), a heatmap and a scatter plot
// with labels. Plain SVG 1.1, no scripts, readable in any browser and on GitHub.

/// SVG chart builders. Every function returns a whole SVG document.
public enum SVGChart {
    static let width = 720.0, height = 420.0
    static let left = 70.0, right = 20.0, top = 40.0, bottom = 60.0
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    static func format(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e6 { return String(Int(x)) }
        return abs(x) >= 100 ? String(format: "%.0f", x) : abs(x) >= 1 ? String(format: "%.2f", x) : String(format: "%.3f", x)
    }

    static func document(_ body: String, title: String, width: Double = width, height: Double = height) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>
        \(body)</svg>

        """
    }

    /// Axes with ticks for x in `xs` (data range) and y in `ys`; returns the SVG and the mappings.
    static func axes(
        x: ClosedRange<Double>, y: ClosedRange<Double>, xLabel: String, yLabel: String
    ) -> (svg: String, px: (Double) -> Double, py: (Double) -> Double) {
        let w = width - left - right, h = height - top - bottom
        let xr = x.upperBound > x.lowerBound ? x : (x.lowerBound - 1)...(x.upperBound + 1)
        let yr = y.upperBound > y.lowerBound ? y : (y.lowerBound - 1)...(y.upperBound + 1)
        let px = { (v: Double) in left + (v - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * w }
        let py = { (v: Double) in top + h - (v - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * h }
        var s = "<line x1=\"\(left)\" y1=\"\(top + h)\" x2=\"\(left + w)\" y2=\"\(top + h)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + h)\" stroke=\"black\"/>\n"
        for i in 0...5 {
            let xv = xr.lowerBound + Double(i) / 5 * (xr.upperBound - xr.lowerBound)
            let yv = yr.lowerBound + Double(i) / 5 * (yr.upperBound - yr.lowerBound)
            s += "<text x=\"\(px(xv))\" y=\"\(top + h + 18)\" text-anchor=\"middle\">\(format(xv))</text>\n"
            s += "<text x=\"\(left - 6)\" y=\"\(py(yv) + 4)\" text-anchor=\"end\">\(format(yv))</text>\n"
            s += "<line x1=\"\(left)\" y1=\"\(py(yv))\" x2=\"\(left + w)\" y2=\"\(py(yv))\" stroke=\"#eee\"/>\n"
        }
        s += "<text x=\"\(left + w / 2)\" y=\"\(height - 15)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s +=
            "<text x=\"16\" y=\"\(top + h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + h / 2))\">\(escape(yLabel))</text>\n"
        return (s, px, py)
    }

    /// Lines through `(x, y)` points, one per series, with a legend.
    public static func lines(title: String, xLabel: String, yLabel: String, series: [(name: String, points: [(Double, Double)])]) -> String
    {
        let all = series.flatMap(\.points)
        let xs = all.map(\.0), ys = all.map(\.1)
        let (axesSVG, px, py) = axes(
            x: (xs.min() ?? 0)...(xs.max() ?? 1), y: min(0, ys.min() ?? 0)...(ys.max() ?? 1), xLabel: xLabel, yLabel: yLabel)
        var body = axesSVG
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let path = s.points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
            body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for p in s.points { body += "<circle cx=\"\(px(p.0))\" cy=\"\(py(p.1))\" r=\"2.5\" fill=\"\(color)\"/>\n" }
            if series.count > 1 {
                let ly = top + 8 + Double(i) * 16
                body += "<rect x=\"\(width - right - 130)\" y=\"\(ly - 9)\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
                body += "<text x=\"\(width - right - 115)\" y=\"\(ly)\">\(escape(s.name))</text>\n"
            }
        }
        return document(body, title: title)
    }

    /// A `[rows][columns]` heatmap (white → dark blue over the values' range), rows top to bottom.
    public static func heatmap(title: String, rowLabel: String, columnLabel: String, values: [[Double]]) -> String {
        let rows = values.count, columns = values.first?.count ?? 0
        let flat = values.flatMap { $0 }.filter(\.isFinite)
        let lo = flat.min() ?? 0, hi = flat.max() ?? 1
        let w = width - left - right - 60, h = height - top - bottom
        let cw = w / Double(max(columns, 1)), ch = h / Double(max(rows, 1))
        var body = ""
        for r in 0..<rows {
            for c in 0..<columns {
                let v = values[r][c]
                let t = hi > lo && v.isFinite ? (v - lo) / (hi - lo) : 0
                let (red, green, blue) = (Int(255 - 225 * t), Int(255 - 180 * t), Int(255 - 80 * t))
                body += "<rect x=\"\(left + Double(c) * cw)\" y=\"\(top + Double(r) * ch)\" width=\"\(cw)\" height=\"\(ch)\" "
                body += "fill=\"rgb(\(red),\(green),\(blue))\"><title>\(r), \(c): \(format(v))</title></rect>\n"
            }
        }
        for r in stride(from: 0, to: rows, by: max(1, rows / 8)) {
            body += "<text x=\"\(left - 6)\" y=\"\(top + (Double(r) + 0.5) * ch + 4)\" text-anchor=\"end\">\(r)</text>\n"
        }
        for c in stride(from: 0, to: columns, by: max(1, columns / 8)) {
            body += "<text x=\"\(left + (Double(c) + 0.5) * cw)\" y=\"\(top + h + 16)\" text-anchor=\"middle\">\(c)</text>\n"
        }
        body += "<text x=\"\(left + w / 2)\" y=\"\(height - 15)\" text-anchor=\"middle\">\(escape(columnLabel))</text>\n"
        body +=
            "<text x=\"16\" y=\"\(top + h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + h / 2))\">\(escape(rowLabel))</text>\n"
        body += "<text x=\"\(width - right - 50)\" y=\"\(top + 10)\">max \(format(hi))</text>\n"
        body += "<text x=\"\(width - right - 50)\" y=\"\(top + h)\">min \(format(lo))</text>\n"
        return document(body, title: title)
    }

    /// Labelled points.
    public static func scatter(title: String, xLabel: String, yLabel: String, points: [(label: String, x: Double, y: Double)]) -> String {
        let xs = points.map(\.x), ys = points.map(\.y)
        let (axesSVG, px, py) = axes(
            x: 0...((xs.max() ?? 1) * 1.1), y: min(0, ys.min() ?? 0)...((ys.max() ?? 1) * 1.1), xLabel: xLabel, yLabel: yLabel)
        var body = axesSVG
        for (i, p) in points.enumerated() {
            let color = palette[i % palette.count]
            body += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"5\" fill=\"\(color)\"/>"
            body += "<text x=\"\(px(p.x) + 8)\" y=\"\(py(p.y) - 6)\">\(escape(p.label))</text>\n"
        }
        return document(body, title: title)
    }
}
