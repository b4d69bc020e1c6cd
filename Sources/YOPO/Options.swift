import Foundation
import YOPOCore
import YOPOImage
import YOPOText

// How a session loads and runs a checkpoint, beyond what its files say.

/// How a session loads a checkpoint and runs it.
public struct SessionOptions: Sendable {
    /// CLIP directory for the original layout (else `mm_vision_tower` when it is local).
    public var visionTower: String?
    /// Prompt template override (default: vicuna_v1 for original checkpoints, llava-hf otherwise).
    public var template: PromptTemplate?
    /// Image squaring override (default: from the checkpoint).
    public var imageAspectMode: SquareMode?
    /// Pixel budget override of dynamic-resolution checkpoints (Qwen2-VL's `min_pixels` / `max_pixels`).
    public var minPixels: Int?
    public var maxPixels: Int?
    /// Compute threads (default: physical cores).
    public var threads: Int?
    /// Precision of the matrix products (default: `ComputePrecision.automatic(for:)` the weights:
    /// bf16 for BF16 checkpoints when the CPU and oneDNN support it, else fp32).
    public var compute: ComputePrecision?
    /// The rest of the execution context (kernel level, the sizes from which work is shared out);
    /// its threads and precision are replaced by `threads` and `compute`.
    public var execution: ExecutionContext
    /// Print a progress line on stderr while loading weights.
    public var showProgress: Bool

    public init(
        visionTower: String? = nil, template: PromptTemplate? = nil, imageAspectMode: SquareMode? = nil,
        threads: Int? = nil, compute: ComputePrecision? = nil, execution: ExecutionContext = ExecutionContext(),
        showProgress: Bool = false, minPixels: Int? = nil, maxPixels: Int? = nil
    ) {
        self.minPixels = minPixels
        self.maxPixels = maxPixels
        self.visionTower = visionTower
        self.template = template
        self.imageAspectMode = imageAspectMode
        self.threads = threads
        self.compute = compute
        self.execution = execution
        self.showProgress = showProgress
    }

    /// Throws `GenerationError.invalidOption` for a thread count below 1 or bf16 compute on a
    /// machine without oneDNN's native bf16 matmul (`Session.init` checks before reading anything).
    public func validate() throws {
        if let threads, threads < 1 { throw GenerationError.invalidOption("threads must be at least 1 (got \(threads))") }
        try ComputePrecision.checkAvailable(compute)
    }

    /// The context a session with weights stored as `weights` runs its requests in.
    func context(weights: DType) -> ExecutionContext {
        var context = execution
        context.threads = threads ?? physicalCoreCount()
        context.precision = compute ?? .automatic(for: weights)
        return context
    }
}

extension ComputePrecision {
    /// Throws `GenerationError.invalidOption` when `precision` is bf16 and this machine lacks oneDNN's
    /// native bf16 matmul.
    public static func checkAvailable(_ precision: ComputePrecision?) throws {
        if precision == .bf16 && !MatMul.bf16Available {
            throw GenerationError.invalidOption("compute bf16 needs oneDNN and a CPU with AVX512_BF16; this machine has neither (use fp32)")
        }
    }

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
