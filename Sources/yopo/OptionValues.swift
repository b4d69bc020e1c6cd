import ArgumentParser
import Foundation
import YOPO
import YOPOCore
import YOPOImage
import YOPOModels
import YOPOPruning
import YOPOText

// The types of option values and how ArgumentParser reads them. Word choices are enums conforming to
// `ExpressibleByArgument` (help lists their values; a bad one is "unknown --NAME VALUE (choose from
// …)", see `CommandLineShape.valueMessage`). Numbers and the library's grammars (pruning specs,
// budgets, grids, product shapes) are read by the `transform`s below, which know the option's range
// and throw one line naming the option, the value and what is allowed.

// MARK: - Words

extension YOPOMode: ExpressibleByArgument {
    /// `skip` or `simulate`, any case.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension PromptTemplate: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension SquareMode: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension FLOPsConvention: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--compute`: the precision of the matrix products, or `auto` (bf16 for BF16 checkpoints where
/// oneDNN's native bf16 matmul exists, else fp32).
enum ComputeChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, fp32, bf16

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    /// nil for `auto`.
    var precision: ComputePrecision? {
        switch self {
        case .auto: return nil
        case .fp32: return .fp32
        case .bf16: return .bf16
        }
    }
}

/// `bench --random-weights`: how the random weights are stored.
enum WeightStorage: String, CaseIterable, ExpressibleByArgument {
    case bf16, fp32

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    var dtype: DType { self == .bf16 ? .bf16 : .f32 }
}

/// `compare --convention`: a published convention a budget can be counted in.
/// (`full`, this engine's own count, is a column of the report, not a budget.)
enum BudgetConvention: String, CaseIterable, ExpressibleByArgument {
    case yopo, fastv, pdrop, sparsevlm

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    var convention: FLOPsConvention { FLOPsConvention(rawValue: rawValue)! }
}

/// `--arch`: a built-in model's dimensions (`ModelDimensions.architectures`, shared by bench and flops).
struct ArchitectureName: ExpressibleByArgument, Sendable {
    let name: String
    let dimensions: ModelDimensions

    init?(argument: String) {
        let name = argument.lowercased()
        guard let dimensions = ModelDimensions.architectures[name] else { return nil }
        self.name = name
        self.dimensions = dimensions
    }

    static var allValueStrings: [String] { ModelDimensions.architectures.keys.sorted() }

    var defaultValueDescription: String { name }

    /// The decoder of the architecture as `LlamaConfiguration` (random weights for bench); Qwen2's
    /// (the Qwen2-VL family): rope_theta 10⁶ and M-RoPE sections [16, 24, 24].
    var decoderConfiguration: LlamaConfiguration {
        let t = dimensions.text
        var config = LlamaConfiguration(
            hiddenSize: t.hiddenSize, numHiddenLayers: t.numHiddenLayers, numAttentionHeads: t.numAttentionHeads,
            numKeyValueHeads: t.numKeyValueHeads, intermediateSize: t.intermediateSize, vocabSize: t.vocabSize)
        if isQwen2VL {
            config.ropeTheta = 1_000_000
            config.mropeSection = [16, 24, 24]
            config.maxPositionEmbeddings = 32768
        }
        return config
    }

    /// Whether the architecture is of the Qwen2-VL family (q/k/v biases, M-RoPE, a merging tower).
    var isQwen2VL: Bool { dimensions.family == ModelIdentity.qwen2VLFamily }
}

/// An image's size in pixels (`--image-size 1920x1080`).
struct ImageSize: Sendable, Equatable {
    var width: Int
    var height: Int
}

// MARK: - Numbers and grammars

/// The `transform`s of options whose values need more than a word list: each reads the text once and
/// throws an `ArgumentError` naming the option, the value and what is allowed.
enum OptionValue {
    /// An integer in `range`: empty, not an integer, below or above the range (also for digits
    /// beyond 64 bits, reported on their side) are refused.
    static func integer(_ option: String, _ range: ClosedRange<Int>) -> @Sendable (String) throws -> Int {
        { try integer($0, option, min: range.lowerBound, max: range.upperBound) }
    }

    static func integer(_ text: String, _ option: String, min: Int, max: Int) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let allowed = "allowed: \(min) to \(max)"
        guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (\(allowed))") }
        if let v = Int(t) {
            guard v >= min else { throw ArgumentError("--\(option) must be at least \(min) (got \(t))") }
            guard v <= max else { throw ArgumentError("--\(option) must be at most \(max) (got \(t))") }
            return v
        }
        if isInteger(t) {
            // Digits beyond Int: out of range on their side.
            throw ArgumentError(
                t.hasPrefix("-") ? "--\(option) must be at least \(min) (got \(t))" : "--\(option) must be at most \(max) (got \(t))")
        }
        throw ArgumentError("--\(option) '\(text)' is not an integer (\(allowed))")
    }

    /// Any 64-bit unsigned integer (a seed).
    static func unsigned(_ option: String) -> @Sendable (String) throws -> UInt64 {
        { text in
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let allowed = "allowed: 0 to \(UInt64.max)"
            guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (\(allowed))") }
            if let v = UInt64(t) { return v }
            if isInteger(t) {
                throw ArgumentError(
                    t.hasPrefix("-") ? "--\(option) must be at least 0 (got \(t))" : "--\(option) must be at most \(UInt64.max) (got \(t))")
            }
            throw ArgumentError("--\(option) '\(text)' is not an integer (\(allowed))")
        }
    }

    /// A finite Float. `check` returns the range phrase (`must be at least 0`) when the value is out
    /// of range; `allowed` names the range for values that are not numbers.
    static func number(
        _ option: String, allowed: String, check: @escaping @Sendable (Float) -> String?
    ) -> @Sendable (String) throws -> Float {
        { text in
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (allowed: \(allowed))") }
            guard let v = Double(t) else { throw ArgumentError("--\(option) '\(text)' is not a number (allowed: \(allowed))") }
            guard v.isFinite, Float(v).isFinite else {
                throw ArgumentError("--\(option) must be a finite number (got \(t); allowed: \(allowed))")
            }
            let f = Float(v)
            if let problem = check(f) { throw ArgumentError("--\(option) \(problem) (got \(t))") }
            return f
        }
    }

    /// Optional sign, then digits only.
    static func isInteger(_ t: String) -> Bool {
        let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// `--threads`: 1 to what the address-space limit leaves room for (`MemoryLimits.threads`).
    @Sendable static func threads(_ text: String) throws -> Int {
        try MemoryLimits.current().threads(text)
    }

    /// A pruning spec (docs/PRUNING.md); relative mask paths are relative to the working directory.
    @Sendable static func pruneSpec(_ text: String) throws -> PruningSpec {
        try PruningSpec(parsing: text, baseDirectory: FileManager.default.currentDirectoryPath)
    }

    /// `compare --budget`: `25%` or `0.25`.
    @Sendable static func budget(_ text: String) throws -> FLOPsBudget {
        try FLOPsBudget(parsing: text)
    }

    /// `--grid ROWSxCOLUMNS` with at most `maxCells` cells (the FLOPs model's grammar, `VisualGrid`).
    static func grid(maxCells: Int) -> @Sendable (String) throws -> VisualGrid {
        { text in
            let grid: VisualGrid
            do {
                grid = try VisualGrid(parsing: text)
            } catch FLOPsError.invalidLayout(let problem) where problem.hasSuffix(" cells") && maxCells < PromptLayout.maxTokens {
                // Beyond the FLOPs model's own bound, so beyond this option's lower one: name this one.
                throw ArgumentError("--grid '\(text)' has more than \(maxCells) cells")
            } catch FLOPsError.invalidLayout(let problem) {
                // "--grid …" in the option's words (the library says "invalid prompt layout: grid …").
                throw ArgumentError("--" + problem)
            }
            guard grid.cells <= maxCells else { throw ArgumentError("--grid '\(text)' has more than \(maxCells) cells") }
            return grid
        }
    }

    /// `--image-size WIDTHxHEIGHT` (pixels, each 1 to 65535; `x` or `×`).
    @Sendable static func imageSize(_ text: String) throws -> ImageSize {
        let parts = text.lowercased().replacingOccurrences(of: "×", with: "x").split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (1...65535).contains(w), (1...65535).contains(h) else {
            throw ArgumentError("--image-size '\(text)' is not WIDTHxHEIGHT in pixels, each 1 to 65535 (e.g. 1920x1080)")
        }
        return ImageSize(width: w, height: h)
    }

    /// `bench-gemm --shape MxKxN`.
    @Sendable static func productShape(_ text: String) throws -> ProductShape {
        do {
            return try ProductShape(parsing: text)
        } catch BenchmarkError.invalidShape(let problem) {
            throw ArgumentError("--" + problem)
        }
    }

    /// Most bytes `--prompt -` reads from stdin.
    static let maxStdinPromptBytes = 1 << 20

    /// The prompt: `text`, or stdin when `text` is `-`. Throws `ArgumentError` for an empty prompt, an
    /// empty or oversized stdin, or stdin that is not UTF-8. (Read when the command runs, not while
    /// the command line is parsed: `--help` never waits on stdin.)
    static func prompt(_ text: String, _ option: String = "prompt") throws -> String {
        guard text == "-" else {
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ArgumentError("--\(option) is empty; give the question or instruction (or - to read it from stdin)")
            }
            return text
        }
        var data = Data()
        let input = FileHandle.standardInput
        while data.count <= maxStdinPromptBytes {
            guard let chunk = try? input.read(upToCount: 1 << 16), !chunk.isEmpty else { break }
            data.append(chunk)
        }
        guard data.count <= maxStdinPromptBytes else {
            throw ArgumentError("--\(option) -: stdin holds more than \(maxStdinPromptBytes / 1024) KiB; a prompt must be shorter")
        }
        guard let decoded = String(data: data, encoding: .utf8) else {
            throw ArgumentError("--\(option) -: stdin is not UTF-8 text")
        }
        let prompt = decoded.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            throw ArgumentError(
                "--\(option) -: stdin is empty; pipe the question in (e.g. echo 'What is shown?' | yopo generate … --prompt -)")
        }
        return prompt
    }
}
