import Foundation
import YOPOCore
import YOPOImage
import YOPOText

// How a session loads and runs a checkpoint, beyond what its files say.

/// Threads and precision of the products: the one place that sets the engine's process-wide
/// settings (`MatMul.setThreads`, `MatMul.precision`), which issue 12's execution context replaces.
public struct ExecutionOptions: Sendable, Equatable {
    /// Compute threads (nil: physical cores).
    public var threads: Int?
    /// Precision of the matrix products (nil: `ComputePrecision.automatic(for:)` the weights).
    public var compute: ComputePrecision?

    public init(threads: Int? = nil, compute: ComputePrecision? = nil) {
        self.threads = threads
        self.compute = compute
    }

    /// Throws `GenerationError.invalidOption` for a thread count below 1 or bf16 compute on a
    /// machine without oneDNN's native bf16 matmul.
    public func validate() throws {
        if let threads, threads < 1 { throw GenerationError.invalidOption("threads must be at least 1 (got \(threads))") }
        if compute == .bf16 && !MatMul.bf16Available {
            throw GenerationError.invalidOption("compute bf16 needs oneDNN and a CPU with AVX512_BF16; this machine has neither (use fp32)")
        }
    }

    /// The thread count these options give.
    public var resolvedThreads: Int { threads ?? physicalCoreCount() }

    /// Makes these settings the engine's for weights stored as `weights`.
    public func apply(weights: DType) {
        MatMul.setThreads(resolvedThreads)
        MatMul.precision = compute ?? .automatic(for: weights)
    }
}

/// How a session loads a checkpoint.
public struct SessionOptions: Sendable {
    /// CLIP directory for the original layout (else `mm_vision_tower` when it is local).
    public var visionTower: String?
    /// Prompt template override (default: vicuna_v1 for original checkpoints, llava-hf otherwise).
    public var template: PromptTemplate?
    /// Image squaring override (default: from the checkpoint).
    public var imageAspectMode: SquareMode?
    /// Threads and precision.
    public var execution: ExecutionOptions
    /// Print a progress line on stderr while loading weights.
    public var showProgress: Bool

    public init(
        visionTower: String? = nil, template: PromptTemplate? = nil, imageAspectMode: SquareMode? = nil,
        execution: ExecutionOptions = .init(), showProgress: Bool = false
    ) {
        self.visionTower = visionTower
        self.template = template
        self.imageAspectMode = imageAspectMode
        self.execution = execution
        self.showProgress = showProgress
    }

    /// Compute threads (nil: physical cores).
    public var threads: Int? {
        get { execution.threads }
        set { execution.threads = newValue }
    }

    /// Precision of the matrix products (nil: automatic).
    public var compute: ComputePrecision? {
        get { execution.compute }
        set { execution.compute = newValue }
    }
}

@available(*, deprecated, renamed: "SessionOptions")
public typealias PipelineOptions = SessionOptions

extension ComputePrecision {
    /// bf16 for BF16 weights when oneDNN's native bf16 matmul is available, else fp32 (F16 weights
    /// keep fp32 compute: rounding them to bf16 would drop three mantissa bits).
    public static func automatic(for weights: DType) -> ComputePrecision {
        weights == .bf16 && MatMul.bf16Available ? .bf16 : .fp32
    }
}

/// Physical cores (Linux: distinct core ids in /proc/cpuinfo), else active processors.
public func physicalCoreCount() -> Int {
    #if os(Linux)
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
        var cores = Set<String>()
        var physical = "0"
        for line in info.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "physical id" { physical = parts[1] }
            if parts[0] == "core id" { cores.insert(physical + "/" + parts[1]) }
        }
        if !cores.isEmpty { return cores.count }
    }
    #endif
    return ProcessInfo.processInfo.activeProcessorCount
}
