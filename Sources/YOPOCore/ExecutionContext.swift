import CKernels
import Foundation

/// How products run: threads, precision, kernel level and the sizes from which work is shared out.
/// Owned by whoever runs the engine (a CLI run, a server worker, a test) and bound to the calling
/// thread for the duration of `run`; the matrix products, attention and the decode step read the
/// bound context (`ExecutionContext.current`), and the threads they start run under the same one.
/// Two threads may run under different contexts at once. With none bound, `processDefault` applies.
public struct ExecutionContext: Sendable, Equatable {
    /// Threads of every hot path (oneDNN, own kernels, attention, the fp32 tiles; OpenBLAS itself
    /// always runs on one, see `MatMul.linear`).
    public var threads: Int
    /// Precision of the large products (`ComputePrecision`; fp32 keeps the goldens bit-stable).
    public var precision: ComputePrecision
    /// The own kernels' instruction level; nil = the best the CPU supports (a higher level is
    /// clamped to it). Tests force `.portable` to run the fallback on an AVX-512 machine.
    public var kernelLevel: MatMul.KernelLevel?
    /// Multiply-adds (m · n · k) from which an fp32 product is cut into tiles and shared out, and
    /// from which prefill attention shares its heads out (see `MatMul.parallelMinimumMultiplyAdds`).
    public var parallelMinimumMultiplyAdds: Int
    /// Heads × keys from which a decode step's attention is shared out over `threads`.
    public var decodeAttentionParallelMinimum: Int

    public init(
        threads: Int? = nil, precision: ComputePrecision = .fp32, kernelLevel: MatMul.KernelLevel? = nil,
        parallelMinimumMultiplyAdds: Int = 1 << 24, decodeAttentionParallelMinimum: Int = 1 << 12
    ) {
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.precision = precision
        self.kernelLevel = kernelLevel
        self.parallelMinimumMultiplyAdds = parallelMinimumMultiplyAdds
        self.decodeAttentionParallelMinimum = decodeAttentionParallelMinimum
    }

    /// The context of threads that have none bound: every core, fp32, the best kernels.
    public static let processDefault = ExecutionContext()

    /// The context bound to the calling thread, else `processDefault`. Allocation-free.
    @inline(__always)
    public static var current: ExecutionContext {
        guard let raw = pthread_getspecific(boundKey) else { return processDefault }
        return Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue().value
    }

    /// Runs `body` with this context bound to the calling thread (oneDNN's thread count and the
    /// kernel level follow), then restores what was bound before. Nests.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        let box = Box(self)
        let previous = pthread_getspecific(Self.boundKey)
        let outer = previous.map { Unmanaged<Box>.fromOpaque($0).takeUnretainedValue().value } ?? .processDefault
        Self.bind(Unmanaged.passUnretained(box).toOpaque(), self)
        defer {
            Self.bind(previous, outer)
            withExtendedLifetime(box) {}
        }
        return try body()
    }

    /// Runs `body` on a thread the engine started for work of the thread whose context is `raw`
    /// (nil: none bound), bound to the same context for its duration.
    static func runBorrowed(_ raw: UnsafeMutableRawPointer?, _ body: () -> Void) {
        let previous = pthread_getspecific(boundKey)
        if raw == previous {
            body()
            return
        }
        let context = raw.map { Unmanaged<Box>.fromOpaque($0).takeUnretainedValue().value } ?? .processDefault
        let outer = previous.map { Unmanaged<Box>.fromOpaque($0).takeUnretainedValue().value } ?? .processDefault
        bind(raw, context)
        body()
        bind(previous, outer)
    }

    /// The raw binding of the calling thread (to hand to threads it starts).
    static var boundPointer: UnsafeMutableRawPointer? { pthread_getspecific(boundKey) }

    private static func bind(_ raw: UnsafeMutableRawPointer?, _ context: ExecutionContext) {
        pthread_setspecific(boundKey, raw)
        yopo_dnnl_set_threads(Int32(context.threads))
        _ = yopo_kernels_set_thread_level(context.kernelLevel?.rawValue ?? -1)
    }

    final class Box: @unchecked Sendable {
        let value: ExecutionContext
        init(_ value: ExecutionContext) { self.value = value }
    }

    nonisolated(unsafe) private static let boundKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}
