import ArgumentParser
import Foundation
import YOPOImage
import YOPOModels
import YOPOPruning

/// `yopo flops`: FLOPs of a prompt, dense or pruned, under a published convention or this engine's
/// exact cost (docs/FLOPS.md).
struct FLOPs: OneLineErrorCommand {
    static let configuration = CommandConfiguration(
        commandName: "flops",
        abstract: "Count the FLOPs of a multimodal prompt, dense or pruned.",
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

            Qwen2-VL and Qwen2.5-VL (--arch qwen2-vl-7b, qwen2.5-vl-7b, or a checkpoint) see an image at \
            its own resolution: --image-size WIDTHxHEIGHT gives its token grid as the processor's \
            smart_resize does (1920x1080 → 39×69 = 2691 tokens; a checkpoint's preprocessor_config.json \
            sets the pixel budget), and full counts the tower on its 2 × 2 patches per token (2.5-VL: \
            window attention outside its full-attention blocks) with the merger in the vision stage. \
            Without --image-size the image is 448 × 448 (16 × 16 tokens). The default --system-tokens is \
            the family's template: 35 for vicuna_v1, 15 for Qwen's ChatML (…user\\n<|vision_start|>).

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
            "Image size WIDTHxHEIGHT in pixels (dynamic-resolution models: Qwen2-VL, Qwen2.5-VL); sets the token grid.",
            valueName: "size"), transform: OptionValue.imageSize)
    var imageSize: ImageSize?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Tokens before the image, 0 to 16777216 (default: the template's; 35 for vicuna_v1, 15 for Qwen2-VL).", valueName: "n"),
        transform: OptionValue.integer("system-tokens", 0...PromptLayout.maxTokens))
    var systemTokens: Int?

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

    /// The YOPO plans of `--scaling` for Qwen2-VL / Qwen2.5-VL (no official mask exists): window 5 and
    /// the FFN halved, visual tokens kept for the first half or quarter of the layers (14 and 7 of 28).
    static func mergingScalingSpecs(layers: Int) -> [String] {
        ["yopo:window=5,layers=\(max(layers / 2, 1)),ffn=2", "yopo:window=5,layers=\(max(layers / 4, 1)),ffn=2"]
    }

    /// The token grid the checkpoint's (or Qwen2-VL-7B's) processor gives an image of `size`.
    /// Throws `ImageError` (too small, too elongated) with the processor's message.
    private func tokenGrid(_ size: ImageSize, _ dims: ModelDimensions) throws -> VisualGrid {
        var config = try dimensionOptions.model.map { try Qwen2VLFamily.processorConfig(directory: $0) } ?? .qwen2VL7B
        config.patchSize = dims.vision.patchSize
        config.mergeSize = dims.vision.mergedPatches?.spatialMergeSize ?? 1
        let (rows, columns): (Int, Int)
        do {
            (rows, columns) = try QwenVLImageProcessor(config: config).mergedGrid(width: size.width, height: size.height)
        } catch {
            throw ArgumentError("--image-size \(size.width)x\(size.height): \(error)")
        }
        return VisualGrid(rows: rows, columns: columns)
    }

    func execute() throws {
        let dims = try dimensions()
        let model = try FLOPsModel(dims)
        let merging = dims.vision.mergedPatches != nil
        let system = systemTokens ?? (merging ? 15 : 35), text = promptTokens, steps = decodeSteps
        let json = output.json

        if scaling {
            for (given, option) in [
                (visualTokens != nil, "--visual-tokens"), (grid != nil, "--grid"), (convention != nil, "--convention"),
                (imageSize != nil, "--image-size")
            ] where given {
                throw ArgumentError("--scaling prints a fixed table; drop \(option)")
            }
            if prune != .none { throw ArgumentError("--scaling prints a fixed table; drop --prune") }
            if json { throw ArgumentError("--scaling prints Markdown; drop --json") }
            // No official plan exists for a dynamic-resolution model: two spec plans near 25% and 12%.
            let plans =
                try merging
                ? Self.mergingScalingSpecs(layers: dims.text.numHiddenLayers).map {
                    ($0, try PruningSpec(parsing: $0).resolve(for: dims.identity)!)
                } : nil
            print(try model.scalingTable(plans: plans, systemTokens: system, textTokens: text), terminator: "")
            return
        }

        let chosen = convention ?? .yopo
        let executionMode = mode

        // The image: its grid, and whether the grid was only inferred from a non-square count.
        let cls = dims.vision.dropsCLS ? 0 : 1
        var imageGrid = dims.vision.grid
        var images = 1
        var gridIsGuess = false
        if let imageSize {
            guard merging else {
                throw ArgumentError(
                    "--image-size is for dynamic-resolution models (Qwen2-VL, Qwen2.5-VL); \(dims.name) sees every image at \(dims.vision.imageSize)×\(dims.vision.imageSize) (--grid sets a hypothetical grid)"
                )
            }
            if grid != nil || visualTokens != nil { throw ArgumentError("give --image-size, --grid or --visual-tokens, not several") }
            imageGrid = try tokenGrid(imageSize, dims)
        }
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
