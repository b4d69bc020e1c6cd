import ArgumentParser
import Foundation
import YOPO
import YOPOModels
import YOPOPruning

/// `yopo compare`: dense, YOPO and the token-pruning baselines at one FLOPs budget, side by side.
struct Compare: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare dense, YOPO, FastV, PyramidDrop and SparseVLM at one FLOPs budget.",
        discussion: """
            Each baseline gets the setting whose FLOPs under --convention come closest to --budget of the \
            dense count without exceeding it (the cheapest one, flagged, when none reaches it): FastV K = 2 \
            and the image tokens kept; PyramidDrop λ at boundaries L/4, L/2, 3L/4 (or BASELINES.md §2.2's \
            derived sets); SparseVLM's retain-192/128/64 schedule. YOPO runs --yopo, else yopo-25 \
            (budget ≥ 20%) or yopo-12 on 32 × 32 and 40 × 40 decoders, else the solver's w 5, r 2, K.

            Columns: FLOPs of the prompt under each convention (yopo in FLOPs, the others in MACs; \
            "-" where a convention cannot count the method), full = this engine's analytic count of the \
            prefill (vision tower, projector, decoder, LM head; dense and YOPO), executed = the engine's \
            counter over the same prefill, prefill wall-clock, bytes of visual keys/values cached, \
            KL(dense ‖ method) of the first answer token's distribution, and top-1 agreement: the dense \
            model's greedy answer (--steps tokens) is fed to every method and the steps where its argmax \
            equals dense's token are counted.

            --input FILE.jsonl: one {"image": PATH, "prompt": TEXT} object per line (relative paths are \
            relative to the file); one row per sample and method, then each method's mean. Settings are \
            solved once, for the samples' mean prompt layout.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Checkpoint directory (config.json + safetensors).", valueName: "dir"))
    var model: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("CLIP vision tower directory (original LLaVA layout).", valueName: "dir"))
    var visionTower: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Image file (JPEG or PNG); one for now.", valueName: "file"))
    var image: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The question or instruction; - reads it from stdin.", valueName: "text"))
    var prompt: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("FLOPs target as a share of the dense count, in (0%, 100%]: 25% or 0.25.", valueName: "share"))
    var budget: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Convention the budget is counted in: yopo, fastv, pdrop or sparsevlm.", valueName: "convention"))
    var convention: String = "yopo"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "YOPO spec or preset to run instead of the preset / solver choice (e.g. yopo:window=5,layers=16,heads-keep=16,ffn=2).",
        valueName: "spec"))
    var yopo: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "How YOPO runs: skip (the work is not done) or simulate (the official numerics, dense work).", valueName: "mode"))
    var yopoMode: String = "skip"

    @Option(parsing: .unconditional, help: ArgumentHelp("Greedy dense tokens fed to every method for top-1 agreement, 1 to 1048576.", valueName: "n"))
    var steps: String = "20"

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "JSONL file of {\"image\": PATH, \"prompt\": TEXT} samples, at most 64 MiB (instead of --image/--prompt).", valueName: "file"))
    var input: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Compute threads, at least 1 (default: physical cores).", valueName: "n"))
    var threads: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    /// Largest `--input` file read.
    static let maxInputBytes = 64 << 20

    struct Sample {
        var image: String
        var prompt: String
    }

    // MARK: input

    /// Reads `--input`: one JSON object per non-empty line with string fields `image` and `prompt`.
    static func readSamples(_ path: String) throws -> [Sample] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ArgumentError("cannot read --input '\(path)': no such file")
        }
        guard !isDirectory.boolValue else { throw ArgumentError("--input '\(path)' is a directory, not a JSONL file") }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            throw ArgumentError("--input '\(path)' is not a regular file (a JSONL file of {\"image\", \"prompt\"} lines)")
        }
        if let size = attributes?[.size] as? Int, size > maxInputBytes {
            throw ArgumentError("--input '\(path)' is \(size >> 20) MiB; at most \(maxInputBytes >> 20) MiB of samples are read")
        }
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: maxInputBytes + 1) ?? Data() else {
            throw ArgumentError("cannot read --input '\(path)': permission denied or unreadable")
        }
        guard data.count <= maxInputBytes else {
            throw ArgumentError("--input '\(path)' is larger than \(maxInputBytes >> 20) MiB; at most \(maxInputBytes >> 20) MiB of samples are read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ArgumentError("--input '\(path)' is not UTF-8 text (one {\"image\", \"prompt\"} JSON object per line)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var samples: [Sample] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            let where_ = "\(path) line \(i + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw ArgumentError("\(where_) is not a JSON object (each line: {\"image\": PATH, \"prompt\": TEXT})")
            }
            guard let image = object["image"] as? String, !image.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ArgumentError("\(where_) has no \"image\" string")
            }
            guard let prompt = object["prompt"] as? String, !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ArgumentError("\(where_) has no \"prompt\" string")
            }
            let resolved = image.hasPrefix("/") ? image : base.appendingPathComponent(image).path
            samples.append(Sample(image: resolved, prompt: prompt))
        }
        guard !samples.isEmpty else { throw ArgumentError("--input '\(path)' has no samples (one {\"image\", \"prompt\"} object per line)") }
        return samples
    }

    // MARK: rows

    /// A value under each published convention; nil where the convention cannot count the method.
    struct PerConvention: Encodable {
        var values: [FLOPsConvention: Double] = [:]

        subscript(_ c: FLOPsConvention) -> Double? {
            get { values[c] }
            set { values[c] = newValue }
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            for convention in Compare.conventions {
                try c.encode(values[convention], forKey: Key(stringValue: convention.rawValue))
            }
        }
    }

    /// The published conventions, in column order.
    static let conventions: [FLOPsConvention] = [.yopo, .fastv, .pdrop, .sparsevlm]

    /// One method on one sample.
    struct Row: Encodable {
        var method: String
        var spec: String
        /// YOPO's execution mode (nil for dense and the baselines).
        var mode: String?
        /// The prompt's count under each convention (yopo in FLOPs, the others in MACs; fastv as the
        /// total, not the per-layer average).
        var flops: PerConvention
        var flopsFraction: PerConvention
        /// This engine's analytic prefill count (nil for baselines).
        var fullFLOPs: Int?
        /// Executed FLOPs up to the first answer token (vision + projector + decoder prefill + LM head).
        var executedPrefillFLOPs: Int
        /// Executed FLOPs of the whole teacher-forced run, by stage.
        var executedFLOPs: ExecutedFLOPs
        var prefillMS: Double
        var visualKVBytes: Int
        var denseVisualKVBytes: Int
        var keptImageTokens: [Int]?
        var kl: Double
        /// The method's argmax at each teacher-forced step (nil in mean rows).
        var argmax: [Int]?
        var top1Matches: Int
        var steps: Int
        var top1Agreement: Double { steps == 0 ? 0 : Double(top1Matches) / Double(steps) }

        enum CodingKeys: String, CodingKey {
            case method, spec, mode, flops, flopsFraction = "flops_fraction", fullFLOPs = "full_flops"
            case executedPrefillFLOPs = "executed_prefill_flops", executedFLOPs = "executed_flops"
            case prefillMS = "prefill_ms", visualKVBytes = "visual_kv_bytes", denseVisualKVBytes = "dense_visual_kv_bytes"
            case keptImageTokens = "kept_image_tokens", kl, argmax, top1Matches = "top1_matches", steps
            case top1Agreement = "top1_agreement"
        }

        func encode(to encoder: Encoder) throws {
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
    struct Entry: Encodable {
        var method: String
        var spec: PruningSpec
        /// `dense`, `solver`, `preset` or `--yopo`.
        var source: String
        var detail: String
        /// Under the budget's convention (nil: it cannot count the method).
        var flops: Double?
        var fraction: Double?
        var withinBudget: Bool?

        enum CodingKeys: String, CodingKey {
            case method, spec, source, detail, flops, fraction, withinBudget = "within_budget"
        }

        func encode(to encoder: Encoder) throws {
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

    struct LayoutJSON: Encodable {
        var systemTokens: Int, visualTokens: Int, textTokens: Int
        enum CodingKeys: String, CodingKey {
            case systemTokens = "system_tokens", visualTokens = "visual_tokens", textTokens = "text_tokens"
        }
    }

    struct SampleReport: Encodable {
        var image: String
        var prompt: String
        var layout: LayoutJSON
        /// Dense greedy tokens every method is scored against (ends with EOS when dense stopped).
        var referenceTokens: [Int]
        var rows: [Row]
        enum CodingKeys: String, CodingKey { case image, prompt, layout, referenceTokens = "reference_tokens", rows }
    }

    struct Skipped: Encodable {
        var method: String
        var reason: String
    }

    struct Report: Encodable {
        var model: String
        var budget: Double
        var convention: String
        var yopoMode: String
        var steps: Int
        var settingsLayout: LayoutJSON
        var settings: [Entry]
        var skipped: [Skipped]
        var samples: [SampleReport]
        var mean: [Row]?
        enum CodingKeys: String, CodingKey {
            case model, budget, convention, yopoMode = "yopo_mode", steps, settingsLayout = "settings_layout"
            case settings, skipped, samples, mean
        }
    }

    // MARK: run

    func execute() throws {
        // Everything that can be checked without the model first.
        guard let model else { throw ArgumentError("give --model DIR") }
        guard let budgetText = budget else { throw ArgumentError("give --budget (e.g. 25% or 0.25)") }
        let target = try FLOPsBudget(parsing: budgetText)
        guard let chosen = FLOPsConvention(rawValue: convention.lowercased()), Self.conventions.contains(chosen) else {
            if convention.lowercased() == "full" {
                throw ArgumentError("--convention full cannot set a budget: choose yopo, fastv, pdrop or sparsevlm (full is reported as a column)")
            }
            throw ArgumentError("unknown --convention \(convention) (yopo, fastv, pdrop, sparsevlm)")
        }
        let mode = try parseYOPOMode(yopoMode)
        let stepCount = try OptionValue.integer(steps, "steps", min: 1, max: Generate.maxTokenCount)
        let limits = MemoryLimits.current()
        let threadCount = try limits.threads(threads) ?? limits.defaultThreads
        let yopoSpec = try yopo.map { try PruningSpec(parsing: $0, baseDirectory: FileManager.default.currentDirectoryPath) }
        if let yopoSpec {
            switch yopoSpec {
            case .yopo, .preset: break
            default: throw ArgumentError("--yopo takes a YOPO spec or preset (yopo-25, yopo-12, yopo:…), not \(yopoSpec.description)")
            }
        }
        let samples: [Sample]
        if let input {
            guard image == nil && prompt == nil else { throw ArgumentError("give --image and --prompt, or --input, not both") }
            samples = try Self.readSamples(input)
        } else {
            guard let image, let prompt else { throw ArgumentError("give --image and --prompt (or --input FILE.jsonl)") }
            samples = [Sample(image: image, prompt: try OptionValue.prompt(prompt))]
        }
        for sample in samples where !FileManager.default.fileExists(atPath: sample.image) {
            throw ArgumentError("cannot read image '\(sample.image)': no such file")
        }

        let options = try PipelineOptions(
            visionTower: visionTower, threads: threadCount, showProgress: !json && isatty(STDERR_FILENO) != 0)
        let pipeline = try LLaVAPipeline(modelDirectory: model, options: options)
        let dims = try ModelDimensions(
            pipeline.model.configuration, name: URL(fileURLWithPath: model).standardizedFileURL.lastPathComponent)
        let flopsModel = try FLOPsModel(dims)
        let layouts = try samples.map { try pipeline.promptLayout($0.prompt) }
        func mean(_ values: [Int]) -> Int { Int((Double(values.reduce(0, +)) / Double(values.count)).rounded()) }
        let settingsLayout = PromptLayout(
            systemTokens: mean(layouts.map(\.systemTokens)), grid: layouts[0].grid, textTokens: mean(layouts.map(\.textTokens)))

        // Settings.
        let solver = try BudgetSolver(dimensions: dims, layout: settingsLayout, convention: chosen)
        let solution = try solver.solve(target)
        func entry(_ method: String, _ spec: PruningSpec, _ source: String, _ detail: String) -> Entry {
            let counted = try? solver.cost(spec)
            return Entry(
                method: method, spec: spec, source: source, detail: detail, flops: counted,
                fraction: counted.map { $0 / solution.dense },
                withinBudget: source == "dense" ? nil : counted.map { $0 <= solution.target * (1 + BudgetSolver.tolerance) })
        }
        var entries = [entry("dense", .none, "dense", "no pruning")]
        var skipped: [Skipped] = []
        if let yopoSpec {
            _ = try yopoSpec.resolve(for: dims.identity)  // a mask that does not fit fails before any run
            entries.append(entry("YOPO", yopoSpec, "--yopo", "given"))
        } else if OfficialYOPOModel.matching(dims.identity) != nil {  // the presets fit
            let name = target.fraction >= 0.2 ? "yopo-25" : "yopo-12"
            entries.append(entry("YOPO", .preset(name), "preset", "\(name) for budgets \(name == "yopo-25" ? "≥" : "<") 20%"))
        } else if let c = solution.choice(.yopo) {
            entries.append(entry("YOPO", c.spec, "solver", c.detail))
        } else {
            skipped.append(Skipped(method: "YOPO", reason: (solution.unsupported[.yopo] ?? "no setting") + "; give --yopo SPEC to include it"))
        }
        for method in [BudgetMethod.fastv, .pdrop, .sparsevlm] {
            if let c = solution.choice(method) {
                entries.append(entry(method.displayName, c.spec, "solver", c.detail))
            } else {
                skipped.append(Skipped(method: method.displayName, reason: solution.unsupported[method] ?? "no setting"))
            }
        }

        // Runs.
        var reports: [SampleReport] = []
        for (sample, layout) in zip(samples, layouts) {
            let base = GenerationRequest(prompt: sample.prompt, imagePaths: [sample.image], yopoMode: mode)
            let reference = try pipeline.score(base, steps: stepCount)
            var rows: [Row] = []
            var denseLogits: [Float] = []
            for e in entries {
                var request = base
                request.prune = e.spec
                let run = try pipeline.score(request, steps: reference.argmax.count, forcing: reference.argmax)
                if e.method == "dense" { denseLogits = run.firstLogits }
                var flops = PerConvention(), fractions = PerConvention()
                for c in Self.conventions {
                    let counted = try? flopsModel.count(c, spec: e.spec, layout: layout)
                    flops[c] = counted?.total
                    fractions[c] = counted?.ratio
                }
                var full: Int?
                switch e.spec {
                case .none: full = try flopsModel.full(layout).total
                case .yopo, .preset:
                    full = try flopsModel.full(layout, plan: e.spec.resolve(for: dims.identity), mode: mode).total
                case .baseline(let b): full = try flopsModel.full(layout, baseline: b).total
                }
                let matches = zip(run.argmax, reference.argmax).filter { $0 == $1 }.count
                rows.append(Row(
                    method: e.method, spec: e.spec.description, mode: e.spec.isYOPO ? mode.rawValue : nil,
                    flops: flops, flopsFraction: fractions, fullFLOPs: full,
                    executedPrefillFLOPs: run.prefillPhaseFLOPs, executedFLOPs: run.flops, prefillMS: run.timingsMS.prefill,
                    visualKVBytes: run.visualKVCache.visualBytes, denseVisualKVBytes: run.visualKVCache.denseVisualBytes,
                    keptImageTokens: run.prune.keptImageTokens, kl: klDivergence(logits: denseLogits, run.firstLogits),
                    argmax: run.argmax, top1Matches: matches, steps: reference.argmax.count))
            }
            reports.append(SampleReport(
                image: sample.image, prompt: sample.prompt,
                layout: LayoutJSON(systemTokens: layout.systemTokens, visualTokens: layout.visualTokens(dims), textTokens: layout.textTokens),
                referenceTokens: reference.argmax, rows: rows))
        }
        let means = samples.count > 1 ? Self.means(reports) : nil

        let report = Report(
            model: dims.name, budget: target.fraction, convention: chosen.rawValue, yopoMode: mode.rawValue, steps: stepCount,
            settingsLayout: LayoutJSON(
                systemTokens: settingsLayout.systemTokens, visualTokens: settingsLayout.visualTokens(dims),
                textTokens: settingsLayout.textTokens),
            settings: entries, skipped: skipped, samples: reports, mean: means)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(Self.table(report, budget: target, samples: samples).utf8))
        }
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
            for c in conventions {
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
        cells += conventions.map { cell(r.flops[$0], r.flopsFraction[$0]) }
        let denseFull = dense?.fullFLOPs.map(Double.init)
        cells.append(cell(r.fullFLOPs.map(Double.init), r.fullFLOPs.flatMap { f in denseFull.map { Double(f) / $0 } }))
        cells.append(cell(Double(r.executedPrefillFLOPs), dense.map { Double(r.executedPrefillFLOPs) / Double($0.executedPrefillFLOPs) }))
        cells.append(String(format: "%.1f", r.prefillMS))
        cells.append(si(Double(r.visualKVBytes), "B") + " (\(percent(r.denseVisualKVBytes == 0 ? 0 : Double(r.visualKVBytes) / Double(r.denseVisualKVBytes))))")
        cells.append(r.kl == 0 ? "0" : String(format: "%.3e", r.kl))
        cells.append("\(r.top1Matches)/\(r.steps) (\(percent(r.top1Agreement)))")
        return cells
    }

    static func table(_ report: Report, budget: FLOPsBudget, samples: [Sample]) -> String {
        let header = [
            "method", "settings", "yopo FLOPs", "fastv MACs", "pdrop MACs", "sparsevlm MACs", "full FLOPs",
            "executed FLOPs", "prefill ms", "visual KV", "KL(dense||m)", "top-1",
        ]
        var out = [
            "model       \(report.model)",
            "budget      \(budget) of the dense FLOPs, \(report.convention) convention; YOPO mode \(report.yopoMode)",
            "agreement   \(report.steps) greedy dense tokens, teacher-forced into every method",
        ]
        let multi = report.samples.count > 1
        var rows: [[String]] = []
        for (i, s) in report.samples.enumerated() {
            let dense = s.rows.first { $0.method == "dense" }
            for r in s.rows { rows.append((multi ? ["\(i + 1)"] : []) + rowCells(r, dense: dense)) }
        }
        if let mean = report.mean {
            let dense = mean.first { $0.method == "dense" }
            for r in mean { rows.append(["mean"] + rowCells(r, dense: dense)) }
        }
        if multi {
            out.append("samples     \(report.samples.count) (settings for their mean layout: \(report.settingsLayout.systemTokens) + \(report.settingsLayout.visualTokens) + \(report.settingsLayout.textTokens) tokens)")
        } else {
            let s = report.samples[0]
            out.append("prompt      \(s.layout.systemTokens) system + \(s.layout.visualTokens) visual + \(s.layout.textTokens) text tokens (\(samples[0].image))")
        }
        out.append("")
        out.append(render((multi ? ["sample"] : []) + header, rows, leftColumns: multi ? 3 : 2))
        out.append("")
        out.append("FLOPs are the prompt's prefill; percentages are of dense. yopo = 2·MACs over image tokens; fastv, pdrop,")
        out.append("sparsevlm = MACs (fastv as the total, not per layer); full = this engine's analytic count, executed = its counter.")
        for e in report.settings where e.withinBudget == false {
            out.append("note: \(e.method) \(e.spec) counts \(e.fraction.map(percent) ?? "-") of dense under \(report.convention), over the \(budget) budget"
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

extension PruningSpec {
    /// Whether the spec is a YOPO plan (a spec or a preset).
    var isYOPO: Bool {
        switch self {
        case .yopo, .preset: return true
        default: return false
        }
    }
}
