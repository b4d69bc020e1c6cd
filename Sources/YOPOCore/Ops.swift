import CKernels
import Foundation

// Element-wise and row-wise ops on fp32 tensors, each following the PyTorch op named in its
// docstring. Rows are the first dimension; every op treats a tensor as `[rows, columns]`.

/// `LayerNorm` over the last dimension (`torch.nn.LayerNorm`, biased variance).
/// `x`: `[rows, d]`; `weight`, `bias`: `[d]`. Returns a new `[rows, d]` tensor.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    let d = x.columns
    let y = Tensor(zeros: x.shape)
    let w = weight.data, b = bias.data
    for r in 0..<x.rows {
        let src = x.data + r * d, dst = y.data + r * d
        var mean: Float = 0
        for i in 0..<d { mean += src[i] }
        mean /= Float(d)
        var variance: Float = 0
        for i in 0..<d {
            let c = src[i] - mean
            variance += c * c
        }
        variance /= Float(d)
        let inv = 1 / (variance + eps).squareRoot()
        for i in 0..<d { dst[i] = (src[i] - mean) * inv * w[i] + b[i] }
    }
    return y
}

/// `LlamaRMSNorm`: `weight · x / sqrt(mean(x²) + eps)` over the last dimension.
/// `x`: `[rows, d]`; `weight`: `[d]`. Returns a new `[rows, d]` tensor.
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let d = x.columns
    let y = Tensor(zeros: x.shape)
    for r in 0..<x.rows { rmsNormRow(x.data + r * d, weight: weight.data, into: y.data + r * d, count: d, eps: eps) }
    return y
}

/// `LlamaRMSNorm` of one row of `count` values into `y` (may not alias `x`); allocates nothing.
public func rmsNormRow(
    _ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count d: Int, eps: Float
) {
    // The mean of squares in double: deep stacks amplify its rounding into the logits.
    var sumSquares: Double = 0
    for i in 0..<d { sumSquares += Double(x[i]) * Double(x[i]) }
    let inv = 1 / (Float(sumSquares / Double(d)) + eps).squareRoot()
    for i in 0..<d { y[i] = w[i] * (x[i] * inv) }
}

/// `x += y` element-wise (the residual add). Shapes must have equal element counts.
public func addInPlace(_ x: Tensor, _ y: Tensor) {
    precondition(x.count == y.count, "add: \(x.shape) vs \(y.shape)")
    let a = x.data, b = y.data
    for i in 0..<x.count { a[i] += b[i] }
}

/// Activation functions by their config.json names (`hidden_act`, `projector_hidden_act`).
public enum Activation: String, Sendable, Codable {
    /// Exact GELU, `0.5·x·(1 + erf(x/√2))` (`nn.GELU()`; config name `gelu`).
    case gelu
    /// `x·σ(1.702·x)` (CLIP's `quick_gelu`).
    case quickGELU = "quick_gelu"
    /// `x·σ(x)` (`silu`, LLaMA's SwiGLU gate).
    case silu

    /// Applies the activation to one value.
    @inline(__always)
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .gelu: return 0.5 * x * (1 + erf(x * 0.70710678118654752440))
        case .quickGELU: return x / (1 + exp(-1.702 * x))
        case .silu: return x / (1 + exp(-x))
        }
    }

    /// Applies the activation element-wise in place.
    public func applyInPlace(_ x: Tensor) {
        let p = x.data
        parallelChunks(x.count, minimum: 1 << 15) { i0, i1 in
            for i in i0..<i1 { p[i] = self(p[i]) }
        }
    }
}

/// SwiGLU's gating in place: `gate[i] = silu(gate[i]) · up[i]` (`[rows, I]` each), threaded.
public func siluMultiplyInPlace(_ gate: Tensor, _ up: Tensor) {
    precondition(gate.count == up.count, "swiglu: \(gate.shape) vs \(up.shape)")
    siluMultiplyInPlace(gate.data, up.data, count: gate.count)
}

/// `gate[i] = silu(gate[i]) · up[i]` for `count` values (threaded above 32768 values).
public func siluMultiplyInPlace(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    parallelChunks(count, minimum: 1 << 15) { i0, i1 in
        for i in i0..<i1 { gate[i] = Activation.silu(gate[i]) * up[i] }
    }
}

/// Numerically stable softmax over `n` contiguous values, in place. Under bf16 compute
/// (`MatMul.precision`), an AVX-512 kernel where the kernel level allows (exp within about 1 ulp of
/// libm's, lanes summed in another order; entries 87.3 below the maximum, masked −inf included, give
/// exactly 0). Under fp32 compute, this scalar loop with libm `exp`, so fp32 results stay those the
/// goldens were checked with.
@inline(__always)
public func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, count n: Int) {
    softmaxInPlace(p, count: n, precision: MatMul.precision)
}

/// `softmaxInPlace` under `precision` given by the caller (threads that run parts of a job read it
/// from the job, not from their own context).
@inline(__always)
public func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, count n: Int, precision: ComputePrecision) {
    guard n > 0 else { return }
    if precision == .bf16 && yopo_softmax_avx512(p, n) != 0 { return }
    var m = -Float.infinity
    for i in 0..<n where p[i] > m { m = p[i] }
    if m == -Float.infinity {
        for i in 0..<n { p[i] = 0 }
        return
    }
    var sum: Float = 0
    for i in 0..<n {
        let e = exp(p[i] - m)
        p[i] = e
        sum += e
    }
    let inv = 1 / sum
    for i in 0..<n { p[i] *= inv }
}

/// `a · b` over `count` floats.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
        acc +=
            UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < count {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// `y += alpha · x` over `count` floats.
@inline(__always)
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { y[i] += alpha * x[i] }
}
