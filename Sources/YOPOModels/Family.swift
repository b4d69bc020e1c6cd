import Foundation
import YOPOCore
import YOPOEngine
import YOPOImage
import YOPOText

// Model families: each is one file conforming to `ModelFamily` plus one line in
// `ModelRegistry.builtIn` (docs/FAMILIES.md "Adding a family"). A family recognises its
// checkpoints by config.json's `architectures` / `model_type`, maps their tensors onto the
// engine's canonical weights, and provides the vision side and the prompt embeddings.

/// The two config.json keys the registry dispatches on.
public struct CheckpointHeader: Decodable, Sendable, Equatable {
    public var architectures: [String]?
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case architectures, modelType = "model_type"
    }

    public init(architectures: [String]? = nil, modelType: String? = nil) {
        self.architectures = architectures
        self.modelType = modelType
    }

    /// `architectures[0]`, or "" when absent.
    public var architecture: String { architectures?.first ?? "" }

    /// Reads `directory/config.json`'s header. Throws `ModelError.invalidConfiguration` for a
    /// missing directory or file, or JSON that is not an object.
    public static func read(directory: String) throws -> (header: CheckpointHeader, configPath: String) {
        try checkModelDirectory(directory)
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelError.invalidConfiguration("no config.json in \(directory)")
        }
        return (try decodeJSONFile(CheckpointHeader.self, path: configPath), configPath)
    }
}

/// One image as a family's processor leaves it: the pixels its vision tower reads and the grid of
/// LLM tokens it becomes.
public struct PreparedImage: Sendable {
    /// The processor's output: `[3, S, S]` (CLIP) or `[patches, patch_dim]` in merge-block order (Qwen2-VL).
    public let pixels: Tensor
    /// Qwen2-VL's `image_grid_thw` (patches along time, height, width); empty for CLIP.
    public let patchGrid: [Int]
    /// The LLM tokens the image becomes, rows × columns in raster order (24 × 24 for LLaVA-1.5).
    public let tokenGrid: VisualGrid
    /// LLM tokens of the image: the grid's cells (+ 1 when a family keeps CLS).
    public let tokenCount: Int

    public init(pixels: Tensor, patchGrid: [Int] = [], tokenGrid: VisualGrid, tokenCount: Int) {
        self.pixels = pixels
        self.patchGrid = patchGrid
        self.tokenGrid = tokenGrid
        self.tokenCount = tokenCount
    }
}

/// Overrides of a checkpoint's image processor settings (`yopo --image-aspect`, `--min-pixels`, `--max-pixels`).
public struct ImageFrontOptions: Sendable, Equatable {
    /// LLaVA's `image_aspect_ratio` (pad or crop).
    public var squareMode: SquareMode?
    /// Dynamic-resolution families' pixel budget (Qwen2-VL's `min_pixels` / `max_pixels`).
    public var minPixels: Int?
    public var maxPixels: Int?

    public init(squareMode: SquareMode? = nil, minPixels: Int? = nil, maxPixels: Int? = nil) {
        self.squareMode = squareMode
        self.minPixels = minPixels
        self.maxPixels = maxPixels
    }
}

/// How a family turns a decoded image into its vision tower's input (its checkpoint's processor).
public protocol ImageFront: Sendable {
    /// - Parameter source: names the image in errors. Throws `ImageError`.
    func prepare(_ image: RGBImage, source: String?) throws -> PreparedImage
}

/// What every family's loaded model offers the pipeline: the engine's decoder, the image
/// front and features, the prompt embeddings with the features spliced in, and the prompt-side
/// facts (template, token counts, rotary positions, stop tokens).
public protocol VisionLanguageModel: AnyObject {
    /// The LLM, as the engine runs it.
    var decoder: TextDecoder { get }
    /// Token id marking visual positions in prompt ids.
    var imageTokenIndex: Int { get }
    /// Visual tokens of every image, when the count does not depend on the image (LLaVA's 576);
    /// nil when it does (Qwen2-VL: its merged grid).
    var fixedTokensPerImage: Int? { get }
    /// The family's id (`ModelFamily.id`): what presets and official masks are keyed by.
    var family: String { get }
    /// Positions the decoder holds (`max_position_embeddings`).
    var contextLength: Int { get }
    /// The template its checkpoints are prompted with, and whether its tokenizer is the
    /// SentencePiece `tokenizer.model` (original LLaVA) rather than `tokenizer.json`.
    var defaultTemplate: PromptTemplate { get }
    var prefersSentencePieceTokenizer: Bool { get }
    /// Ids that end generation besides the tokenizer's EOS (Qwen2-VL: `<|endoftext|>` too).
    var stopTokenIDs: [Int] { get }
    /// Whether YOPO plans can run: every image is a token grid (not with CLS kept).
    var supportsYOPO: Bool { get }
    /// Whose official release `--yopo-mode simulate` reproduces for this family (LLaVA's code for
    /// LLaVA, `modeling_qwen2_vl.py` for Qwen2-VL and Qwen2.5-VL).
    var simulatedSemantics: SimulatedSemantics { get }
    /// The checkpoint's image processor with `options` applied. Throws `ModelError` / `ImageError`
    /// for a processor config that cannot be used with this model, or an override it does not have
    /// (a pixel budget for LLaVA, a square mode for Qwen2-VL).
    func imageFront(_ options: ImageFrontOptions) throws -> any ImageFront
    /// Image embeddings ready to splice into the prompt: `[tokenCount, hidden_size]`; vision and
    /// projector products go to `counter`.
    func imageFeatures(_ image: PreparedImage, counter: FLOPCounter?) -> Tensor
    /// `[ids.count, hidden_size]`: text ids embedded, `imageTokenIndex` positions replaced in order by
    /// the rows of `images`. Throws `ModelError.imageTokenMismatch` / `.invalidConfiguration`.
    func inputEmbeddings(ids: [Int], images: [Tensor]) throws -> Tensor
    /// The rotary position of every prompt row given its images in order (M-RoPE), or nil for 1-D
    /// positions (the sequence index). Throws `ModelError.imageTokenMismatch`.
    func rotaryPositions(ids: [Int], images: [PreparedImage]) throws -> [RotaryPosition]?
    /// The sizes the FLOPs model reads and the identity presets and official head masks are keyed
    /// by (its `family` is the family's `ModelFamily.id`); `name` names it in messages. Throws
    /// `ModelError.invalidConfiguration` for a family the FLOPs model does not describe yet.
    func costShape(name: String) throws -> ModelDimensions
}

/// A model family: how its checkpoints are recognised and loaded.
public protocol ModelFamily {
    /// Short name for messages (`LLaVA-1.5`).
    static var name: String { get }
    /// The family's key in `ModelIdentity` (`llava`): what presets and official masks are keyed by.
    static var id: String { get }
    /// The `architectures[0]` values it loads (listed in the registry's error message).
    static var architectures: [String] { get }
    /// Whether this family reads a checkpoint with this header.
    static func accepts(_ header: CheckpointHeader) -> Bool
    /// Loads a checkpoint directory whose header it accepted. Throws `ModelError` / `FormatError`
    /// naming the file or tensor at fault.
    static func load(directory: String, visionTower: String?, progress: ((Int, Int) -> Void)?) throws -> any VisionLanguageModel
    /// The cost shape of a checkpoint directory from its configuration alone (no weights read), as
    /// the loaded model's `costShape(name:)` gives it. Throws `ModelError.invalidConfiguration`.
    static func costShape(directory: String, visionTower: String?, name: String) throws -> ModelDimensions
}

/// The families the loader knows, keyed by config.json's `architectures` / `model_type`.
public enum ModelRegistry {
    /// The built-in families, in the order they are asked.
    public static let builtIn: [any ModelFamily.Type] = [
        LLaVAFamily.self, Qwen2VLFamily.self
    ]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var registered: [any ModelFamily.Type] = []

    /// Adds a family after the built-in ones (a test-only layout, an out-of-tree family).
    public static func register(_ family: any ModelFamily.Type) {
        lock.lock()
        defer { lock.unlock() }
        for known in registered where ObjectIdentifier(known) == ObjectIdentifier(family) { return }
        registered.append(family)
    }

    /// Every family, built-in first.
    public static var families: [any ModelFamily.Type] {
        lock.lock()
        defer { lock.unlock() }
        return builtIn + registered
    }

    /// The family that reads `directory`. Throws `ModelError.invalidConfiguration` naming the
    /// architecture and the ones supported when no family accepts it.
    public static func family(forDirectory directory: String) throws -> any ModelFamily.Type {
        let (header, configPath) = try CheckpointHeader.read(directory: directory)
        let all = families
        var names: [String] = [], supported: [String] = []
        for family in all {
            if family.accepts(header) { return family }
            names.append(family.name)
            supported += family.architectures
        }
        let architecture = header.architecture.isEmpty ? "(none)" : header.architecture
        throw ModelError.invalidConfiguration(
            "\(configPath): architecture \(architecture) is not a model of a known family (\(names.joined(separator: ", "))); supported: \(supported.joined(separator: ", "))"
        )
    }

    /// The cost shape of `directory` from the family that accepts it (configuration only): what
    /// `yopo flops --model` counts. Throws as `family(forDirectory:)` and the family's config reader.
    public static func costShape(directory: String, visionTower: String? = nil) throws -> ModelDimensions {
        let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        return try family(forDirectory: directory).costShape(directory: directory, visionTower: visionTower, name: name)
    }

    /// Loads `directory` with the family that accepts it.
    public static func load(
        directory: String, visionTower: String? = nil, progress: ((Int, Int) -> Void)? = nil
    ) throws
        -> any VisionLanguageModel
    {
        try family(forDirectory: directory).load(directory: directory, visionTower: visionTower, progress: progress)
    }
}
