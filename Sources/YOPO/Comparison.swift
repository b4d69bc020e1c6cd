import Foundation
import YOPOModels
import YOPOPruning

// `yopo compare`'s experiment: dense, YOPO and the token-pruning baselines at one FLOPs budget, run
// on the same prompts and images through one session, with their FLOPs under every convention, the
// executed FLOPs, prefill time, visual KV-cache bytes and agreement with dense.

/// The experiment's settings. Each baseline gets the setting whose FLOPs under `convention` come
/// closest to `budget` of the dense count without exceeding it (the cheapest one, flagged, when none
/// reaches it); YOPO runs `yopo` when given, else yopo-25 (budget ≥ 20%) or yopo-12 on the models
/// the official masks exist for (`OfficialYOPOModel`), else the solver's setting. Every method is
/// scored against the dense model's greedy answer of `steps` tokens, fed to it by teacher forcing.
public struct Comparison: Sendable {
    /// One prompt about one image.
    public struct Sample: Sendable, Equatable {
        public var image: ImageInput
        public var prompt: String
        /// How the report names the image (the path for files).
        public var label: String

        public init(image: ImageInput, prompt: String, label: String? = nil) {
            self.image = image
            self.prompt = prompt
            switch image {
            case .path(let path): self.label = label ?? path
            case .data(let data): self.label = label ?? "<\(data.count) bytes>"
            }
        }
    }

    /// The published conventions a budget can be counted in, in the report's column order.
    public static let conventions: [FLOPsConvention] = [.yopo, .fastv, .pdrop, .sparsevlm]

    public var budget: FLOPsBudget
    public var convention: FLOPsConvention
    /// A YOPO spec or preset to run instead of the preset / solver choice.
    public var yopo: PruningSpec?
    public var yopoMode: YOPOMode
    /// Greedy dense tokens fed to every method for top-1 agreement (≥ 1).
    public var steps: Int

    /// Throws `GenerationError.invalidOption` for a convention that cannot set a budget (`full`) or a
    /// `yopo` spec that is not a YOPO spec or preset, `.invalidParameter` for `steps` < 1.
    public init(
        budget: FLOPsBudget, convention: FLOPsConvention = .yopo, yopo: PruningSpec? = nil, yopoMode: YOPOMode = .skip,
        steps: Int = 20
    ) throws {
        guard Self.conventions.contains(convention) else {
            throw GenerationError.invalidOption(
                "the \(convention.rawValue) convention cannot set a budget: choose \(Self.conventions.map(\.rawValue).joined(separator: ", ")) (full is reported as a column)"
            )
        }
        if let yopo, !yopo.isYOPO {
            throw GenerationError.invalidOption(
                "the YOPO setting takes a YOPO spec or preset (yopo-25, yopo-12, yopo:…), not \(yopo.description)")
        }
        guard steps >= 1 else { throw GenerationError.invalidParameter("teacher forcing needs at least one step") }
        self.budget = budget
        self.convention = convention
        self.yopo = yopo
        self.yopoMode = yopoMode
        self.steps = steps
    }

    /// Runs the experiment on `samples` (at least one) with `session`'s model. Settings are solved
    /// once, for the samples' mean prompt layout. Throws what the session's requests throw
    /// (`ImageError`, `PromptError`, …), `PruningSpecError` for a `yopo` spec that does not fit the
    /// model, `BudgetError` / `FLOPsError` from the solver.
    public func run(on session: Session, samples: [Sample]) throws -> ComparisonReport {
        guard !samples.isEmpty else { throw GenerationError.invalidParameter("a comparison needs at least one sample") }
        let dims = try session.dimensions()
        let flopsModel = try FLOPsModel(dims)
        let layouts = try samples.map { try session.promptLayout($0.prompt, image: $0.image) }
        if let other = layouts.first(where: { $0.grid != layouts[0].grid }) {
            throw GenerationError.invalidOption(
                "the settings are solved for one token grid, and the samples' images give \(layouts[0].grid) and \(other.grid); compare images of one size at a time"
            )
        }
        func mean(_ values: [Int]) -> Int { Int((Double(values.reduce(0, +)) / Double(values.count)).rounded()) }
        let settingsLayout = PromptLayout(
            systemTokens: mean(layouts.map(\.systemTokens)), grid: layouts[0].grid, textTokens: mean(layouts.map(\.textTokens)))
        let (entries, skipped) = try settings(dims, layout: settingsLayout)

        var reports: [ComparisonReport.SampleReport] = []
        for (sample, layout) in zip(samples, layouts) {
            let base = GenerationRequest(prompt: sample.prompt, images: [sample.image], yopoMode: yopoMode)
            let reference = try session.score(base, steps: steps)
            var rows: [ComparisonReport.Row] = []
            var denseLogits: [Float] = []
            for e in entries {
                var request = base
                request.prune = e.spec
                let run = try session.score(request, steps: reference.argmax.count, forcing: reference.argmax)
                if e.method == "dense" { denseLogits = run.firstLogits }
                var flops = ComparisonReport.PerConvention(), fractions = ComparisonReport.PerConvention()
                for c in Self.conventions {
                    let counted = try? flopsModel.count(c, spec: e.spec, layout: layout)
                    flops[c] = counted?.total
                    fractions[c] = counted?.ratio
                }
                var full: Int?
                switch e.spec {
                case .none: full = try flopsModel.full(layout).total
                case .yopo, .preset:
                    full = try flopsModel.full(layout, plan: e.spec.resolve(for: dims.identity), mode: yopoMode).total
                case .baseline(let b): full = try flopsModel.full(layout, baseline: b).total
                }
                let matches = zip(run.argmax, reference.argmax).filter { $0 == $1 }.count
                rows.append(
                    ComparisonReport.Row(
                        method: e.method, spec: e.spec.description, mode: e.spec.isYOPO ? yopoMode.rawValue : nil,
                        flops: flops, flopsFraction: fractions, fullFLOPs: full,
                        executedPrefillFLOPs: run.prefillPhaseFLOPs, executedFLOPs: run.flops, prefillMS: run.timingsMS.prefill,
                        visualKVBytes: run.visualKVCache.visualBytes, denseVisualKVBytes: run.visualKVCache.denseVisualBytes,
                        keptImageTokens: run.prune.keptImageTokens, kl: klDivergence(logits: denseLogits, run.firstLogits),
                        argmax: run.argmax, top1Matches: matches, steps: reference.argmax.count))
            }
            reports.append(
                ComparisonReport.SampleReport(
                    image: sample.label, prompt: sample.prompt,
                    layout: .init(
                        systemTokens: layout.systemTokens, visualTokens: layout.visualTokens(dims), textTokens: layout.textTokens),
                    referenceTokens: reference.argmax, rows: rows))
        }
        return ComparisonReport(
            model: dims.name, budget: budget.fraction, convention: convention.rawValue, yopoMode: yopoMode.rawValue, steps: steps,
            settingsLayout: .init(
                systemTokens: settingsLayout.systemTokens, visualTokens: settingsLayout.visualTokens(dims),
                textTokens: settingsLayout.textTokens),
            settings: entries, skipped: skipped, samples: reports, mean: samples.count > 1 ? ComparisonReport.means(reports) : nil,
            budgetTarget: budget)
    }

    /// Each method's setting for the mean prompt layout of `prompts` (one image each, at least one),
    /// as `run` chooses them. Throws what `run` throws for its settings.
    public func settings(for session: Session, prompts: [String]) throws -> [ComparisonReport.Entry] {
        guard !prompts.isEmpty else { throw GenerationError.invalidParameter("choosing settings needs at least one prompt with an image") }
        let dims = try session.dimensions()
        let layouts = try prompts.map { try session.promptLayout($0) }
        func mean(_ values: [Int]) -> Int { Int((Double(values.reduce(0, +)) / Double(values.count)).rounded()) }
        let layout = PromptLayout(
            systemTokens: mean(layouts.map(\.systemTokens)), grid: layouts[0].grid, textTokens: mean(layouts.map(\.textTokens)))
        return try settings(dims, layout: layout).0
    }

    /// Each method's setting for `layout`, and the methods left out with why.
    func settings(_ dims: ModelDimensions, layout: PromptLayout) throws -> ([ComparisonReport.Entry], [ComparisonReport.Skipped]) {
        let solver = try BudgetSolver(dimensions: dims, layout: layout, convention: convention)
        let solution = try solver.solve(budget)
        func entry(_ method: String, _ spec: PruningSpec, _ source: String, _ detail: String) -> ComparisonReport.Entry {
            let counted = try? solver.cost(spec)
            return ComparisonReport.Entry(
                method: method, spec: spec, source: source, detail: detail, flops: counted,
                fraction: counted.map { $0 / solution.dense },
                withinBudget: source == "dense" ? nil : counted.map { $0 <= solution.target * (1 + BudgetSolver.tolerance) })
        }
        var entries = [entry("dense", .none, "dense", "no pruning")]
        var skipped: [ComparisonReport.Skipped] = []
        if let yopo {
            _ = try yopo.resolve(for: dims.identity)  // a mask that does not fit fails before any run
            entries.append(entry("YOPO", yopo, "--yopo", "given"))
        } else if OfficialYOPOModel.matching(dims.identity) != nil {  // the presets fit
            let name = budget.fraction >= 0.2 ? "yopo-25" : "yopo-12"
            entries.append(entry("YOPO", .preset(name), "preset", "\(name) for budgets \(name == "yopo-25" ? "≥" : "<") 20%"))
        } else if let c = solution.choice(.yopo) {
            entries.append(entry("YOPO", c.spec, "solver", c.detail))
        } else {
            skipped.append(
                .init(method: "YOPO", reason: (solution.unsupported[.yopo] ?? "no setting") + "; give --yopo SPEC to include it"))
        }
        for method in [BudgetMethod.fastv, .pdrop, .sparsevlm] {
            if let c = solution.choice(method) {
                entries.append(entry(method.displayName, c.spec, "solver", c.detail))
            } else {
                skipped.append(.init(method: method.displayName, reason: solution.unsupported[method] ?? "no setting"))
            }
        }
        return (entries, skipped)
    }
}

extension PruningSpec {
    /// Whether the spec is a YOPO plan (a spec or a preset).
    public var isYOPO: Bool {
        switch self {
        case .yopo, .preset: return true
        default: return false
        }
    }
}
