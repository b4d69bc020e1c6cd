import Foundation
import YOPOCore
import YOPOEngine

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

/// What every family's loaded model offers the pipeline: the engine's decoder, the image
/// features, and the prompt embeddings with the features spliced in.
public protocol VisionLanguageModel: AnyObject {
    /// The LLM, as the engine runs it.
    var decoder: TextDecoder { get }
    /// Token id marking visual positions in prompt ids.
    var imageTokenIndex: Int { get }
    /// Visual tokens one image becomes.
    var visualTokensPerImage: Int { get }
    /// Image embeddings ready to splice into the prompt: `[visual_tokens, hidden_size]` from the
    /// family's preprocessed pixels; vision and projector products go to `counter`.
    func imageFeatures(_ pixels: Tensor, counter: FLOPCounter?) -> Tensor
    /// `[ids.count, hidden_size]`: text ids embedded, `imageTokenIndex` positions replaced in order by
    /// the rows of `images`. Throws `ModelError.imageTokenMismatch` / `.invalidConfiguration`.
    func inputEmbeddings(ids: [Int], images: [Tensor]) throws -> Tensor
    /// The sizes the FLOPs model reads and the identity presets and official head masks are keyed
    /// by (its `family` is the family's `ModelFamily.id`); `name` names it in messages.
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
        LLaVAFamily.self
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
            "\(configPath): architecture \(architecture) is not a \(names.joined(separator: ", ")) model (supported: \(supported.joined(separator: ", ")))"
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
