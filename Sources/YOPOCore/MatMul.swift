import CKernels
import Foundation

#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Precision of the large matrix products. `fp32`: fp32 operands (half weights widened);
/// `bf16`: activations rounded to bfloat16 and multiplied with bf16 weights in oneDNN (or the own
/// bf16 GEMV / GEMM at few and mid-size row counts), fp32 accumulation and output (as PyTorch's bf16
/// `linear` on CPU), for every row count when the weights are bf16 (f16/fp32 weights with few rows
/// keep fp32 activations).
public enum ComputePrecision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16
}

/// The matrix-product front. Every GEMM of the engine goes through here, so the library
/// choice (OpenBLAS SGEMM, oneDNN bf16 matmul, own half-precision GEMV), the precision and
/// the thread count live in one place. Measurements behind each choice: BENCHMARKS.md.
public enum MatMul {
    /// Threads of every hot path (oneDNN, own kernels, attention): the bound `ExecutionContext`'s.
    public static var threads: Int { ExecutionContext.current.threads }

    /// Precision of the products (see `ComputePrecision`): the bound `ExecutionContext`'s.
    public static var precision: ComputePrecision { ExecutionContext.current.precision }

    /// Products with at most this many rows use the GEMV kernels (weights read once).
    public static let gemvMaxRows = 8

    /// bf16 compute with bf16 weights: products with `gemvMaxRows` < m ≤ this many rows use the own
    /// bf16 GEMM (`ownGEMMBF16`) instead of oneDNN, when `ownGEMMBF16Available`.
    ///
    /// Chosen with `yopo bench-gemm` (2 threads, 2 Zen 4 cores, oneDNN 2.6.3; GFLOP/s, best of 3
    /// rounds of best-of-5, measured back to back on a shared machine, ±5–10% run to run):
    ///
    /// | M×K×N | onednn-bf16 | own-gemm-bf16 |
    /// |---|---|---|
    /// | 16×4096×11008 | 184 | 309 |
    /// | 32×4096×11008 | 284 | 372 |
    /// | 48×4096×11008 | 330 | 396 |
    /// | 65×4096×11008 | 342 | 396 |
    /// | 65×4096×4096 | 348 | 390 |
    /// | 65×11008×4096 | 350 | 392 |
    /// | 80×4096×11008 | 376 | 396 |
    /// | 96×4096×11008 / ×4096 / 11008×4096 | 377 / 367 / 373 | 394 / 384 / 364 |
    /// | 112×4096×11008 / ×4096 / 11008×4096 | 384 / 390 / 381 | 408 / 392 / 379 |
    /// | 128×4096×11008 / ×4096 / 11008×4096 | 394 / 363 / 380 | 384 / 397 / 368 |
    /// | 256×4096×11008 | 428 | 412 |
    /// | 641×4096×11008 / ×4096 | 421 / 412 | 394 / 357 |
    ///
    /// oneDNN re-packs W on every call, which costs most at few rows; the own kernel reads W as stored
    /// but runs its tiles at ~85% of the VDPBF16PS peak against oneDNN's ~95%, so the two meet around
    /// 100–128 rows. 112 is the last row count measured where the own kernel was not behind on any of
    /// the three LLaMA-7B shapes.
    public static let ownGEMMMaxRows = 112

    /// OpenBLAS's threaded SGEMM and SGEMV split the products at boundaries that move with the thread
    /// count, and several of its kernels (Haswell, Zen; also the SkylakeX path of K = 588) then round
    /// differently: first-step logits of the bundled checkpoint differed in the last bits between
    /// `--threads 1` and 2, and sampled tokens diverged. Its own threads also spin while waiting,
    /// which on a busy 2-core machine made `--threads 2` 5–15× slower than 1 on small products.
    /// So OpenBLAS runs single-threaded, set once before the first product.
    private static let singleThreadedBLAS: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// Multiply-adds (m · n · k) from which an fp32 product is cut into tiles and shared out over
    /// `threads`, and from which attention shares its heads out (`attentionParallelMinimum`); smaller
    /// work runs on the calling thread. 2²⁴ is about 0.2–0.3 ms on one core here, against several µs
    /// to wake a thread on an idle machine and milliseconds when the other core is busy (every
    /// product and head of the bundled checkpoint stays below it, so `--threads 2` runs it as 1 does).
    /// Tests lower it to run the parallel paths on the small fixtures. The bound `ExecutionContext`'s
    /// (default 2²⁴).
    public static var parallelMinimumMultiplyAdds: Int { ExecutionContext.current.parallelMinimumMultiplyAdds }

    /// Values a thread converts (fp32 → bf16, half → fp32) before another one is worth waking.
    static let conversionMinimum = 1 << 15

    /// Keeps freed activation buffers in the process (glibc: no trimming, mmap only above 32 MB), so
    /// each layer's and each decode step's buffers reuse warm pages instead of faulting in fresh
    /// zeroed ones (perf showed the kernel's page zeroing at 4–8% of decode samples before; the
    /// decode time moved less than this machine's run-to-run spread). No-op elsewhere. Call once at start.
    public static func retainFreedMemory() {
        yopo_retain_freed_memory()
    }

    /// Whether oneDNN with a native bf16 matmul is available on this machine.
    public static var bf16Available: Bool { yopo_dnnl_bf16_available() != 0 }

    /// oneDNN's version ("2.6.3"), or nil when it is not linked.
    public static var oneDNNVersion: String? {
        let v = String(cString: yopo_dnnl_version())
        return v.isEmpty ? nil : v
    }

    /// The own kernels' instruction level: `portable` C or `avx512`.
    public enum KernelLevel: Int32, Sendable { case portable = 0, avx512 = 1 }

    /// Level in use on the calling thread (the bound `ExecutionContext`'s, clamped to what the CPU
    /// supports; the best one when none is bound).
    public static var kernelLevel: KernelLevel { KernelLevel(rawValue: yopo_kernels_level()) ?? .portable }

    /// The best level this CPU supports.
    public static var supportedKernelLevel: KernelLevel { KernelLevel(rawValue: yopo_kernels_supported_level()) ?? .portable }

    /// `C[m, weight.rows] = A[m, weight.columns] · weightᵀ + beta · C` (fp32 A and C, row-major,
    /// leading dimensions `lda` ≥ `weight.columns`, `ldc` ≥ `weight.rows`), with `weight` in its stored dtype:
    /// - fp32 weights, fp32 precision (or ≤ `gemvMaxRows` rows): OpenBLAS SGEMM (SGEMV for one row);
    /// - f16/bf16 weights, ≤ `gemvMaxRows` rows: own GEMV (fp32 accumulate), threaded over rows of W;
    ///   with `precision == .bf16` and bf16 weights, A is rounded to bf16 first (AVX512_BF16 kernel);
    /// - `precision == .bf16`, bf16 weights, `gemvMaxRows` < m ≤ `ownGEMMMaxRows`, AVX512_BF16 and the
    ///   AVX-512 level (`usesOwnGEMM`): A rounded to bf16, own bf16 GEMM (`ownGEMMBF16`);
    /// - `precision == .bf16` with oneDNN: A rounded to bf16, oneDNN bf16 matmul (non-bf16 weights
    ///   converted panel by panel);
    /// - otherwise: weight panels widened to fp32, then SGEMM.
    public static func linear(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let n = w.rows, k = w.columns
        guard m > 0, n > 0 else { return }
        if w.dtype == .f32 && (precision == .fp32 || m <= gemvMaxRows || !bf16Available) {
            tiledGEMM(
                m: m, n: n, k: k, a: a, lda: lda, b: w.base.assumingMemoryBound(to: Float.self), ldb: w.rowStride,
                beta: beta, c: c, ldc: ldc)
            return
        }
        if m <= gemvMaxRows {
            if precision == .bf16 && w.dtype == .bf16 {
                gemvBF16(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc)
            } else {
                gemvHalf(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc)
            }
            return
        }
        if usesOwnGEMM(m: m, weight: w) && ownGEMMBF16(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc) {
            return
        }
        if precision == .bf16 && bf16Available {
            bf16Matmul(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc)
            return
        }
        widenedGEMM(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc)
    }

    /// Whether the own bf16 GEMM can run here: the CPU has AVX512_BF16 and `kernelLevel` is `.avx512`.
    public static var ownGEMMBF16Available: Bool { yopo_gemm_bf16_available() != 0 }

    /// Whether `linear` sends an `m`-row product with `weight` to `ownGEMMBF16`: bf16 weights,
    /// `precision == .bf16`, `gemvMaxRows` < m ≤ `ownGEMMMaxRows` and `ownGEMMBF16Available`.
    public static func usesOwnGEMM(m: Int, weight w: WeightMatrix) -> Bool {
        precision == .bf16 && w.dtype == .bf16 && m > gemvMaxRows && m <= ownGEMMMaxRows && ownGEMMBF16Available
    }

    /// Own bf16 GEMM: `C[m, weight.rows] = bf16(A)[m, weight.columns] · weightᵀ + beta · C`, A and C
    /// fp32 row-major (leading dimensions `lda` ≥ `weight.columns`, `ldc` ≥ `weight.rows`), A rounded
    /// to bf16 (nearest even) once per call into a buffer kept by the calling thread (about
    /// m × weight.columns × 2 bytes, reused by later calls, freed when the thread exits), `weight` bf16
    /// read in its stored `[rows, columns]` layout (any `rowStride`, no packing), VDPBF16PS dot
    /// products with fp32 accumulation, rows of W split over `threads` libgomp threads (nil:
    /// `MatMul.threads` for products of at least 2²¹ multiply-adds and 64 weight rows, else 1). Any
    /// `precision`: callers (bench-gemm, tests) can force this path; `linear` uses it as `usesOwnGEMM` says.
    ///
    /// Returns false, with C untouched, when the weight is not bf16, `ownGEMMBF16Available` is false
    /// or scratch memory could not be allocated. Each element of C is summed in the same order
    /// whatever the thread count (bit-identical results). Measured against oneDNN: `ownGEMMMaxRows`.
    @discardableResult
    public static func ownGEMMBF16(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int, threads requested: Int? = nil
    ) -> Bool {
        guard w.dtype == .bf16, ownGEMMBF16Available else { return false }
        let n = w.rows, k = w.columns
        let team = requested ?? (n >= 64 && m * n * k >= 1 << 21 ? threads : 1)
        return yopo_gemm_bf16_mt(
            Int32(max(1, team)), m, n, k, a, lda, w.base.assumingMemoryBound(to: UInt16.self),
            w.rowStride, beta, c, ldc) == 0
    }

    /// The oneDNN path of `linear` forced for any m > 0: `C[m, weight.rows] = bf16(A) · bf16(weight)ᵀ + beta · C`
    /// (A and non-bf16 weights rounded to bf16, fp32 accumulation and output; same operand layout as
    /// `linear`). Returns false, with C untouched, when oneDNN's native bf16 matmul is not available.
    @discardableResult
    public static func oneDNNBF16(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        guard bf16Available else { return false }
        if m > 0 && w.rows > 0 { bf16Matmul(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc) }
        return true
    }

    /// fp32 compute with half weights: panels of W widened to fp32, one SGEMM per panel.
    private static func widenedGEMM(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let n = w.rows, k = w.columns
        let panel = max(16, min(n, (1 << 21) / max(k, 1)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: panel * k)
        defer { scratch.deallocate() }
        for n0 in stride(from: 0, to: n, by: panel) {
            let rows = min(panel, n - n0)
            parallelChunks(rows, minimum: max(8, conversionMinimum / max(k, 1))) { r0, r1 in
                w.convertRows(n0 + r0, r1 - r0, to: scratch + r0 * k, rowStride: k)
            }
            tiledGEMM(m: m, n: rows, k: k, a: a, lda: lda, b: scratch, ldb: k, beta: beta, c: c + n0, ldc: ldc)
        }
    }

    /// How `tiledGEMM` cuts an `m × n` product with inner size `k`: a grid of `rowTiles × columnTiles`
    /// tiles of `tileRows × tileColumns` (the last row and column of tiles take the rest). A function
    /// of the shape alone, never of the thread count, so each element of C comes from the same
    /// single-threaded BLAS call whatever `threads` is. Products below `parallelMinimumMultiplyAdds`
    /// are one tile; larger ones get about 8 tiles (up to 8 column tiles of a multiple of 64 weight
    /// rows, then row tiles of at least 64 rows when there are fewer), enough for 2–8 threads.
    /// Measured against OpenBLAS's own threading (2 threads, 641×4096×11008 and 641×4096×4096, a busy
    /// machine): within its run-to-run spread, 150–165 GFLOP/s either way.
    public struct GEMMTiles: Equatable, Sendable {
        public let tileRows, tileColumns, rowTiles, columnTiles: Int
        public var count: Int { rowTiles * columnTiles }

        public init(m: Int, n: Int, k: Int) {
            // Not `checkedProduct`: its variadic array would allocate, and the decode step comes here.
            let (mn, o1) = m.multipliedReportingOverflow(by: n)
            let (mnk, o2) = mn.multipliedReportingOverflow(by: max(k, 1))
            guard !o1, !o2, mnk >= MatMul.parallelMinimumMultiplyAdds, m * n > 1 else {
                tileRows = max(m, 1); tileColumns = max(n, 1); rowTiles = 1; columnTiles = 1
                return
            }
            // Up to 8 column tiles, each a multiple of 64 weight rows (fewer, wider tiles repack A less).
            let columns = min(8, max(1, n / 64))
            tileColumns = columns == 1 ? n : ((n + columns - 1) / columns + 63) / 64 * 64
            columnTiles = (n + tileColumns - 1) / tileColumns
            let wantedRows = max(1, 8 / columnTiles)
            let rows = min(wantedRows, max(1, m / 64))
            // Row tiles in multiples of 16 (a whole number of BLAS micro-tiles).
            tileRows = rows == 1 ? m : ((m + rows - 1) / rows + 15) / 16 * 16
            rowTiles = (m + tileRows - 1) / tileRows
        }
    }

    /// `C[m, n] = A[m, k] · B[n, k]ᵀ + beta · C` (row-major fp32) as the tiles of `GEMMTiles` (one
    /// single-threaded SGEMM, or SGEMV for one row, per tile), the tiles shared out over
    /// `threads` on libgomp's pool. Results are bit-identical for every thread count; no heap
    /// allocation (the decode step uses it).
    public static func tiledGEMM(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        _ = singleThreadedBLAS
        let tiles = GEMMTiles(m: m, n: n, k: k)
        var job = TiledGEMMJob(
            tiles: tiles, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
            parts: min(threads, tiles.count))
        if job.parts <= 1 {
            for t in 0..<tiles.count { job.run(tile: t) }
            return
        }
        withUnsafeMutablePointer(to: &job) { p in
            parallelParts(p.pointee.parts, context: UnsafeMutableRawPointer(p), tiledGEMMPart)
        }
    }

    /// Weights (m · rows · columns) from which a GEMV is split over `threads`: 2²⁰ half weights are
    /// 2 MB, about 100 µs of reading on one core; below that waking the pool costs more than it saves.
    public static let gemvParallelMinimum = 1 << 20

    /// Threads of one GEMV: `threads` from `gemvParallelMinimum` weights and 256 weight rows on, else 1.
    /// Each output is one row's dot product, so the result does not depend on the split.
    static func gemvThreads(m: Int, weight w: WeightMatrix) -> Int {
        w.rows >= 256 && m * w.rows * w.columns >= gemvParallelMinimum ? threads : 1
    }

    /// Own GEMV for half weights, rows of W split across `threads` (OpenMP, kept warm by oneDNN's runtime).
    private static func gemvHalf(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        yopo_gemv_half_mt(
            Int32(gemvThreads(m: m, weight: w)), w.dtype.kernelCode, m, w.rows, w.columns, a, lda,
            w.base.assumingMemoryBound(to: UInt16.self), w.rowStride, beta, c, ldc)
    }

    /// bf16 compute with few rows: A rounded to bf16 (on the stack), own bf16·bf16 GEMV
    /// (AVX512_BF16 dot products where the CPU has them), threaded over rows of W.
    private static func gemvBF16(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let k = w.columns
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: m * k) { a16 in
            let x = a16.baseAddress!
            yopo_any_to_bf16(DType.f32.kernelCode, m, k, a, lda, x, k)
            yopo_gemv_bf16_mt(
                Int32(gemvThreads(m: m, weight: w)), m, w.rows, k, x, k,
                w.base.assumingMemoryBound(to: UInt16.self), w.rowStride, beta, c, ldc)
        }
    }

    /// oneDNN bf16 × bf16 → fp32. A panel oneDNN refuses is computed by `widenedGEMM` instead
    /// (each panel of C is written exactly once, so `beta` applies once).
    private static func bf16Matmul(
        m: Int, a: UnsafePointer<Float>, lda: Int, weight w: WeightMatrix, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let n = w.rows, k = w.columns
        let a16 = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k)
        defer { a16.deallocate() }
        parallelChunks(m, minimum: max(4, conversionMinimum / max(k, 1))) { r0, r1 in
            yopo_any_to_bf16(DType.f32.kernelCode, r1 - r0, k, a + r0 * lda, lda, a16 + r0 * k, k)
        }
        // Small products on one OpenMP thread: waking the team costs more than the work.
        let small = m * n * k < parallelMinimumMultiplyAdds && threads > 1
        if small { yopo_dnnl_set_threads(1) }
        defer { if small { yopo_dnnl_set_threads(Int32(threads)) } }
        if w.dtype == .bf16 {
            if yopo_dnnl_matmul_bf16(
                m, n, k, a16, k, w.base.assumingMemoryBound(to: UInt16.self), w.rowStride,
                beta, c, ldc) != 0
            {
                widenedGEMM(m: m, a: a, lda: lda, weight: w, beta: beta, c: c, ldc: ldc)
            }
            return
        }
        let panel = max(16, min(n, (1 << 23) / max(k, 1)))
        let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: panel * k)
        defer { scratch.deallocate() }
        for n0 in stride(from: 0, to: n, by: panel) {
            let rows = min(panel, n - n0)
            parallelChunks(rows, minimum: max(8, conversionMinimum / max(k, 1))) { r0, r1 in
                yopo_any_to_bf16(
                    w.dtype.kernelCode, r1 - r0, k, w.address(row: n0 + r0), w.rowStride,
                    scratch + r0 * k, k)
            }
            if yopo_dnnl_matmul_bf16(m, rows, k, a16, k, scratch, k, beta, c + n0, ldc) != 0 {
                widenedGEMM(m: m, a: a, lda: lda, weight: w.rows(n0, rows), beta: beta, c: c + n0, ldc: ldc)
            }
        }
    }

    /// `C[m, n] = alpha · A[m, k] · B[n, k]ᵀ + beta · C`, all row-major, with leading
    /// dimensions (row strides, in elements) `lda`, `ldb`, `ldc`. One OpenBLAS call on the calling
    /// thread (OpenBLAS never threads here; `tiledGEMM` and the attention heads share work out), so
    /// it is safe to call from several threads at once.
    @inline(__always)
    public static func gemmABt(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        _ = singleThreadedBLAS
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C[m, n] = alpha · A[m, k] · B[k, n] + beta · C`, all row-major; one OpenBLAS call on the calling thread.
    @inline(__always)
    public static func gemmAB(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        _ = singleThreadedBLAS
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// `y = x · Wᵀ + b`, as `torch.nn.functional.linear`.
/// - Parameters:
///   - x: `[tokens, in_features]`
///   - weight: `[out_features, in_features]`
///   - bias: `[out_features]` or nil
/// - Returns: `[tokens, out_features]`, fp32.
public func linear(_ x: Tensor, _ weight: Tensor, bias: Tensor? = nil) -> Tensor {
    linear(x, WeightMatrix(weight), bias: bias)
}

/// `y = x · Wᵀ + b` with `weight` in its stored dtype (see `MatMul.linear`).
/// - Parameters:
///   - x: `[tokens, in_features]`, fp32
///   - weight: `[out_features, in_features]`
///   - bias: `[out_features]` or nil
/// - Returns: `[tokens, out_features]`, fp32.
public func linear(_ x: Tensor, _ weight: WeightMatrix, bias: Tensor? = nil) -> Tensor {
    let n = x.rows, k = x.columns, out = weight.rows
    precondition(weight.columns == k, "linear: input width \(k) vs weight \(weight.shape)")
    let y = Tensor(zeros: [n, out])
    if let bias {
        precondition(bias.count == out, "linear: bias \(bias.shape) vs out \(out)")
        for r in 0..<n { (y.data + r * out).update(from: bias.data, count: out) }
    }
    MatMul.linear(m: n, a: x.data, lda: k, weight: weight, beta: bias == nil ? 0 : 1, c: y.data, ldc: out)
    return y
}

/// Runs `body(start, end)` on up to `MatMul.threads` disjoint chunks of `0..<count`, each at
/// least `minimum` long, concurrently; returns when all are done.
/// The chunks run under the calling thread's `ExecutionContext`.
public func parallelChunks(_ count: Int, minimum: Int = 1, _ body: (Int, Int) -> Void) {
    guard count > 0 else { return }
    let chunks = max(1, min(MatMul.threads, count / max(minimum, 1)))
    if chunks == 1 {
        body(0, count)
        return
    }
    let bound = UncheckedSendable(ExecutionContext.boundPointer)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            ExecutionContext.runBorrowed(bound.value) { box.value(count * i / chunks, count * (i + 1) / chunks) }
        }
    }
}

/// Runs `body(context, part)` for every part in `0..<parts` on libgomp's thread pool (the one the
/// GEMVs and oneDNN use; one after another where libgomp is not linked). Unlike `parallelChunks` it
/// makes no heap allocation, so the decode step can use it; `body` cannot capture, so its state
/// travels in `context`. Parts must touch disjoint memory.
public func parallelParts(
    _ parts: Int, context: UnsafeMutableRawPointer, _ body: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void
) {
    yopo_parallel_for(Int32(parts), body, context)
}

/// `minimum` for `parallelChunks(heads, minimum:)` over attention heads: all heads on one thread
/// (`heads`) when the whole attention, heads × rows × keys × headDim multiply-adds (twice that with the
/// values), is below `MatMul.parallelMinimumMultiplyAdds`, else one head per chunk. Overflow counts as large.
public func attentionParallelMinimum(heads: Int, rows: Int, keys: Int, headDim: Int) -> Int {
    guard let work = checkedProduct(heads, rows, keys, headDim), work < MatMul.parallelMinimumMultiplyAdds else { return 1 }
    return max(heads, 1)
}

/// Carries a value into `concurrentPerform`; the caller guarantees the chunks touch disjoint memory.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One `MatMul.tiledGEMM` call: part `p` of `parts` computes tiles p, p + parts, ….
struct TiledGEMMJob {
    let tiles: MatMul.GEMMTiles
    let m, n, k: Int
    let a: UnsafePointer<Float>
    let lda: Int
    let b: UnsafePointer<Float>
    let ldb: Int
    let beta: Float
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let parts: Int

    func run(tile t: Int) {
        let r0 = (t / tiles.columnTiles) * tiles.tileRows, c0 = (t % tiles.columnTiles) * tiles.tileColumns
        let rows = min(tiles.tileRows, m - r0), columns = min(tiles.tileColumns, n - c0)
        guard rows > 0, columns > 0 else { return }
        if rows == 1 {
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(columns), Int32(k), 1, b + c0 * ldb, Int32(ldb),
                a + r0 * lda, 1, beta, c + r0 * ldc + c0, 1)
        } else {
            MatMul.gemmABt(
                m: rows, n: columns, k: k, a: a + r0 * lda, lda: lda, b: b + c0 * ldb, ldb: ldb,
                beta: beta, c: c + r0 * ldc + c0, ldc: ldc)
        }
    }
}

/// `yopo_parallel_for`'s callback for `TiledGEMMJob`.
private let tiledGEMMPart: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, part in
    let job = context!.assumingMemoryBound(to: TiledGEMMJob.self).pointee
    var t = Int(part)
    while t < job.tiles.count {
        job.run(tile: t)
        t += job.parts
    }
}
