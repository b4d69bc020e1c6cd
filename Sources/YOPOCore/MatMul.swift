import Foundation

#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// The matrix-product front. Every GEMM of the engine goes through here, so the BLAS
/// choice and thread count live in one place.
public enum MatMul {
    /// Number of threads the BLAS uses (OpenBLAS); no-op on Accelerate.
    public static func setThreads(_ n: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, n)))
        #endif
    }

    /// `C[m, n] = alpha · A[m, k] · B[n, k]ᵀ + beta · C`, all row-major, with leading
    /// dimensions (row strides, in elements) `lda`, `ldb`, `ldc`.
    @inline(__always)
    public static func gemmABt(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C[m, n] = alpha · A[m, k] · B[k, n] + beta · C`, all row-major.
    @inline(__always)
    public static func gemmAB(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
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
    let n = x.rows, k = x.columns, out = weight.rows
    precondition(weight.columns == k, "linear: input width \(k) vs weight \(weight.shape)")
    let y = Tensor(zeros: [n, out])
    if let bias {
        precondition(bias.count == out, "linear: bias \(bias.shape) vs out \(out)")
        for r in 0..<n { (y.data + r * out).update(from: bias.data, count: out) }
    }
    MatMul.gemmABt(
        m: n, n: out, k: k, a: x.data, lda: k, b: weight.data, ldb: k,
        beta: bias == nil ? 0 : 1, c: y.data, ldc: out)
    return y
}
