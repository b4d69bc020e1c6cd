import ArgumentParser
import Foundation
import YOPO

/// `yopo analyze`: SVG charts of the attention statistics behind YOPO and of accuracy against FLOPs.
struct Analyze: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Draw SVG charts: visual attention per layer, head activity, attention distance (from yopo calibrate --report), accuracy vs FLOPs (from yopo eval summaries)."
    )

    @Option(parsing: .unconditional, help: ArgumentHelp("A yopo calibrate --report JSON file.", valueName: "file"))
    var calibration: String?

    @Option(parsing: .singleValue, help: ArgumentHelp("A yopo eval summary.json; repeat for several runs.", valueName: "file"))
    var eval: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Directory for the charts.", valueName: "dir"))
    var out: String

    func execute() throws {
        guard calibration != nil || !eval.isEmpty else { throw ArgumentError("give --calibration REPORT.json and/or --eval SUMMARY.json") }
        var charts: [(String, String)] = []
        if let calibration { charts += try Analysis.calibrationCharts(report: calibration) }
        if !eval.isEmpty { charts.append(try Analysis.accuracyChart(summaries: eval)) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for (name, svg) in charts {
            let path = (out as NSString).appendingPathComponent(name)
            try Data(svg.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            print(path)
        }
    }
}
