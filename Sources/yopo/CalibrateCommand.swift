import ArgumentParser
import Foundation
import YOPO
import YOPOEval
import YOPOPruning
import YOPOText

extension CalibrationQueries: ExpressibleByArgument {}

/// `yopo calibrate`: a head mask for YOPO's inactive-head pruning, found once from calibration samples.
struct Calibrate: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find a head mask from calibration samples (the official LLaVA rule, or a keep fraction) and write it as .npy.",
        discussion: """
            Runs the first --samples questions with an image of --questions (any benchmark file yopo eval \
            reads) through one dense prefill each and records, per layer and head, the attention the \
            question rows (--queries text; or the image rows) pay to system, visual and text keys. The \
            official rule (METHOD.md §4.2): a head is active in a sample when visual / (text + system) > \
            --alpha (≥ 0 in layers 0 and 1) and kept when active in more than --votes samples (default: \
            40% of the samples, the official 40 of 100). --keep F instead keeps the fraction F of heads \
            with the highest mean ratio. The mask ([layers, heads], bool, True = keep) is what \
            --prune yopo:heads=FILE reads; --report writes the statistics as JSON.
            """)

    @OptionGroup var session: SessionOptionGroup
    @OptionGroup var benchmark: BenchmarkOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Directory the question file's image names are relative to.", valueName: "dir"))
    var images: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Calibration samples, 1 to 100000.", valueName: "n", default: 100),
        transform: OptionValue.integer("samples", 1...100_000))
    var samples: Int = 100

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Threshold on visual / (text + system), a finite number (official LLaVA-1.5-13B: 0.035 to 0.2).", valueName: "a"),
        transform: OptionValue.number("alpha", allowed: "a finite number") { $0.isFinite ? nil : "must be finite" })
    var alpha: Float?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Keep a head active in more than N samples (default: 40% of --samples).", valueName: "n"),
        transform: OptionValue.integer("votes", 0...100_000))
    var votes: Int?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Instead of --alpha: keep this fraction of the heads, in [0, 1].", valueName: "f"),
        transform: OptionValue.number("keep", allowed: "a number in [0, 1]") { $0 >= 0 && $0 <= 1 ? nil : "must be in [0, 1]" })
    var keep: Float?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Query rows whose attention counts: text (the question) or visual.", valueName: "rows"))
    var queries: CalibrationQueries = .text

    @Option(parsing: .unconditional, help: ArgumentHelp("The mask file to write (.npy).", valueName: "file"))
    var out: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Also write the per-layer, per-head statistics as JSON.", valueName: "file"))
    var report: String?

    func execute() throws {
        let rule: HeadMaskRule
        switch (alpha, keep) {
        case (let a?, nil): rule = .llavaVote(alpha: Double(a), votes: votes ?? (samples * 2) / 5, alwaysKeptLayers: 2)
        case (nil, let k?):
            if votes != nil { throw ArgumentError("--votes goes with --alpha, not --keep") }
            rule = .keepFraction(Double(k))
        case (nil, nil): throw ArgumentError("give --alpha A (the official rule) or --keep F (a fraction of the heads)")
        default: throw ArgumentError("give --alpha or --keep, not both")
        }
        guard FileManager.default.fileExists(atPath: benchmark.questions) else {
            throw ArgumentError("cannot read --questions '\(benchmark.questions)': no such file")
        }
        let loaded = try Session(modelDirectory: session.model, options: try session.sessionOptions(json: true))
        let calibration = Calibration(
            benchmark: benchmark.benchmark, questionsFile: benchmark.questions, imagesDirectory: images, samples: samples, rule: rule,
            queries: queries)
        let (mask, recorded) = try calibration.run(on: loaded) { done, total in
            if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\rcalibrating: \(done)/\(total)".utf8)) }
        }
        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        try HeadCalibration.npyData(mask).write(to: URL(fileURLWithPath: out), options: .atomic)
        if let report {
            func masses(_ m: [[VisualAttentionMass]]) -> JSONValue {
                .array(m.map { layer in .array(layer.map { .array([.number($0.visual), .number($0.text), .number($0.system)]) }) })
            }
            let json = JSONValue.object([
                JSONMember("model", .string(session.model)), JSONMember("questions", .string(benchmark.questions)),
                JSONMember("samples", .number(Double(samples))), JSONMember("queries", .string(queries.rawValue)),
                JSONMember("rule", .string("\(rule)")),
                JSONMember("kept_per_layer", .array(mask.map { .number(Double($0.filter { $0 }.count)) })),
                JSONMember(
                    "masses_visual_text_system", .array(recorded.map { masses(queries == .text ? $0.textQueries : $0.visualQueries) })),
                JSONMember("visual_distance", .array(recorded.map { .array($0.visualDistance.map { .array($0.map { .number($0) }) }) }))
            ])
            try Data((json.pythonJSON + "\n").utf8).write(to: URL(fileURLWithPath: report), options: .atomic)
        }
        let kept = mask.flatMap { $0 }.filter { $0 }.count
        print(
            "\(kept) of \(mask.count * (mask.first?.count ?? 0)) heads kept (per layer: \(mask.map { "\($0.filter { $0 }.count)" }.joined(separator: ","))) → \(out)"
        )
    }
}
