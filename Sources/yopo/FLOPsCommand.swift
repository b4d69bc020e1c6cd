import ArgumentParser
import Foundation
import YOPOModels
import YOPOPruning

/// `yopo flops`: FLOPs of a prompt, dense or pruned, under a published convention or this engine's
/// exact cost (docs/FLOPS.md).
struct FLOPs: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "flops",
        abstract: "Count the FLOPs of a LLaVA-1.5 prompt, dense or pruned.",
        discussion: """
            Conventions: yopo (METHOD.md §5: FLOPs, LLM prefill, image tokens only), pdrop (MACs, image \
            tokens), fastv (MACs over system + image tokens, two-matrix FFN, reported per layer), sparsevlm \
            (MACs over the whole sequence), full (every product this engine executes, exact integers, \
            keyed by stage × layer × token group; docs/FLOPS.md).

            --prune takes a YOPO spec (none, yopo-25, yopo-12, yopo:window=5,layers=16,heads=PATH.npy,ffn=2, \
            yopo:heads-keep=16) or a baseline (fastv:k=2,r=0.5, fastv:k=2,keep=166, \
            pdrop:layers=8/16/24,ratio=0.5, sparsevlm:tokens=192, sparsevlm:layers=2/6/15,keep=300/200/110). \
            Baselines are counted under all five conventions (under full as this engine executes them: the \
            image rows each layer keeps, plus PyramidDrop's ranking and SparseVLM's rater and clustering \
            products; --mode does not apply); YOPO under yopo, pdrop and full.

            The prompt is [--system-tokens][one image][--prompt-tokens], then --decode-steps generated \
            tokens (full only). --visual-tokens N may be any N ≥ 0 (0 = no image); a square N uses a \
            √N × √N grid. A window needs the grid: for a non-square N give --grid ROWSxCOLUMNS. full counts \
            the vision tower as if it produced that patch grid (one CLS token added), so for large N it is \
            a hypothetical larger image.

            FastV's table counts its vanilla 99.3 B at 36 system tokens (its --fast-v-sys-length) and its \
            pruned rows at 35: pass --system-tokens 36 for the former. The default --prompt-tokens 83 makes \
            35 + 576 + 83 = 694 tokens, the mean sequence behind SparseVLM's 4.62 T.

            --scaling prints the Markdown table of docs/FLOPS.md (yopo-25, yopo-12 vs dense for 576 … 9216 \
            visual tokens).
            """)

    /// `--arch` or `--model` (its config.json's dimensions; `--vision-tower` for the original layout).
    @OptionGroup var dimensionOptions: DimensionsOptions

    @Option(parsing: .unconditional, help: PruningOptions.help, transform: OptionValue.pruneSpec)
    var prune: PruningSpec = .none

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Visual tokens of the image, 0 to 16777216 (default: the model's grid, 576).", valueName: "n"),
        transform: OptionValue.integer("visual-tokens", 0...PromptLayout.maxTokens))
    var visualTokens: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Patch grid ROWSxCOLUMNS of the image (e.g. 24x48), at most 16777216 cells; sets the visual tokens.", valueName: "grid"),
        transform: OptionValue.grid(maxCells: PromptLayout.maxTokens))
    var grid: VisualGrid?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Tokens before the image, 0 to 16777216 (BOS + system prompt + \" USER: \"; 35 for vicuna_v1).", valueName: "n", default: 35),
        transform: OptionValue.integer("system-tokens", 0...PromptLayout.maxTokens))
    var systemTokens: Int = 35

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Text tokens after the image, 0 to 16777216 (question + \" ASSISTANT:\").", valueName: "n", default: 83),
        transform: OptionValue.integer("prompt-tokens", 0...PromptLayout.maxTokens))
    var promptTokens: Int = 83

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Generated tokens fed back through the decoder (full convention), 0 to 65536.", valueName: "n", default: 0),
        transform: OptionValue.integer("decode-steps", 0...PromptLayout.maxDecodeSteps))
    var decodeSteps: Int = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("The counting convention (default: yopo).", valueName: "convention"))
    var convention: FLOPsConvention?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "YOPO execution for full: skip (pruned work not done) or simulate (dense work, masks).", valueName: "mode"))
    var mode: YOPOMode = .skip

    @Flag(help: "Print the Markdown scaling table (dense vs yopo-25 / yopo-12, 576 … 9216 visual tokens).")
    var scaling = false

    @OptionGroup var output: OutputOptions

    func dimensions() throws -> ModelDimensions {
        try dimensionOptions.validate()
        switch (dimensionOptions.arch, dimensionOptions.model) {
        case (let arch?, _): return arch.dimensions
        case (nil, let directory?):
            return try ModelRegistry.costShape(directory: directory, visionTower: dimensionOptions.visionTower)
        case (nil, nil): throw ArgumentError("give --arch (\(DimensionsOptions.archNames)) or --model DIR")
        }
    }

    func execute() throws {
        let dims = try dimensions()
        let model = try FLOPsModel(dims)
        let system = systemTokens, text = promptTokens, steps = decodeSteps
        let json = output.json

        if scaling {
            for (given, option) in [(visualTokens != nil, "--visual-tokens"), (grid != nil, "--grid"), (convention != nil, "--convention")]
            where given {
                throw ArgumentError("--scaling prints a fixed table; drop \(option)")
            }
            if prune != .none { throw ArgumentError("--scaling prints a fixed table; drop --prune") }
            if json { throw ArgumentError("--scaling prints Markdown; drop --json") }
            print(try model.scalingTable(systemTokens: system, textTokens: text), terminator: "")
            return
        }

        let chosen = convention ?? .yopo
        let executionMode = mode

        // The image: its grid, and whether the grid was only inferred from a non-square count.
        let cls = dims.vision.dropsCLS ? 0 : 1
        var imageGrid = dims.vision.grid
        var images = 1
        var gridIsGuess = false
        if let grid {
            imageGrid = grid
            if let visualTokens, visualTokens != imageGrid.cells + cls {
                throw ArgumentError("--visual-tokens \(visualTokens) does not match --grid \(imageGrid) (\(imageGrid.cells + cls) tokens)")
            }
        } else if let n = visualTokens {
            if n == 0 {
                images = 0
            } else {
                let cells = n - cls
                guard cells >= 1 else { throw ArgumentError("--visual-tokens \(n) leaves no patch after CLS") }
                let side = Int(Double(cells).squareRoot().rounded())
                if side * side == cells {
                    imageGrid = .square(side)
                } else {
                    imageGrid = VisualGrid(rows: 1, columns: cells)
                    gridIsGuess = true
                }
            }
        }
        let layout =
            images == 0
            ? PromptLayout(segments: [.text(system + text)], grid: imageGrid, decodeSteps: steps)
            : PromptLayout(systemTokens: system, grid: imageGrid, textTokens: text, decodeSteps: steps)

        // The method.
        var baseline: BaselineSpec?
        var plan: YOPOPlan?
        if case .baseline(let b) = prune {
            baseline = b
        } else {
            plan = try prune.resolve(for: dims.identity)
            if let window = plan?.window, gridIsGuess {
                throw ArgumentError(
                    "a window (\(window)) needs the image grid, and \(imageGrid.cells + cls) visual tokens are not a square: give --grid ROWSxCOLUMNS"
                )
            }
        }
        let context = FLOPsReportContext(
            dimensions: dims, layout: layout, prune: prune.description, mode: chosen == .full && plan != nil ? executionMode : nil)

        let output: Data
        if chosen == .full {
            let result =
                try baseline.map { try model.full(layout, baseline: $0) }
                ?? model.full(layout, plan: plan, mode: executionMode)
            output = json ? try result.json(context) + Data("\n".utf8) : Data(result.table(context).utf8)
        } else {
            let method = baseline?.method ?? plan.map { .yopo(YOPOCostProfile(plan: $0)) } ?? .dense
            let result = try model.count(chosen, method, layout: layout)
            output = json ? try result.json(context) + Data("\n".utf8) : Data(result.table(context).utf8)
        }
        FileHandle.standardOutput.write(output)
    }
}
