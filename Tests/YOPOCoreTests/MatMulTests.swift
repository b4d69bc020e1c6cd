import XCTest
import YOPOCore

/// Every kernel of `MatMul.linear` against an fp64 reference on the same (rounded) operands,
/// at every dispatch level this CPU has (the portable fallback always runs).
final class MatMulTests: XCTestCase {
    /// Runs `body` under `precision` and `level` (nil: the best this CPU has), bound to this thread.
    func under<T>(_ precision: ComputePrecision, _ level: MatMul.KernelLevel? = nil, _ body: () throws -> T) rethrows -> T {
        try ExecutionContext(precision: precision, kernelLevel: level).run(body)
    }

    /// Deterministic values in ±1.
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<count).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    /// A weight of `rows × columns` inside a wider buffer (row stride `columns + pad`), stored as `dtype`.
    func weight(rows: Int, columns: Int, pad: Int, dtype: DType, seed: UInt64) -> WeightMatrix {
        let stride = columns + pad
        let dense = Tensor(shape: [rows, stride], values: values(rows * stride, seed: seed))
        return WeightMatrix(dense).converted(to: dtype).leadingColumns(columns)
    }

    /// fp32 → bf16 → fp32 (round to nearest even).
    func roundedToBF16(_ x: [Float]) -> [Float] {
        WeightMatrix(Tensor(shape: [1, x.count], values: x)).converted(to: .bf16).toTensor().scalars
    }

    /// `C = A·Wᵀ + beta·C0` in fp64 from the fp32 values of A and W, each optionally rounded to bf16 first.
    func reference(
        _ a: [Float], m: Int, _ w: WeightMatrix, beta: Float, c0: [Float], roundA: Bool = false,
        roundW: Bool = false
    ) -> [Float] {
        let k = w.columns, n = w.rows
        let ar = roundA ? roundedToBF16(a) : a
        let wr = roundW ? roundedToBF16(w.toTensor().scalars) : w.toTensor().scalars
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k { s += Double(ar[i * k + t]) * Double(wr[j * k + t]) }
                out[i * n + j] = Float(s + Double(beta) * Double(c0[i * n + j]))
            }
        }
        return out
    }

    func run(_ a: [Float], m: Int, _ w: WeightMatrix, beta: Float, c0: [Float]) -> [Float] {
        var c = c0
        a.withUnsafeBufferPointer { ap in
            c.withUnsafeMutableBufferPointer { cp in
                MatMul.linear(m: m, a: ap.baseAddress!, lda: w.columns, weight: w, beta: beta, c: cp.baseAddress!, ldc: w.rows)
            }
        }
        return c
    }

    func assertClose(
        _ x: [Float], _ y: [Float], relative: Float, _ message: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(x.count, y.count, file: file, line: line)
        let scale = max(1, y.map(abs).max() ?? 1)
        let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst / scale, relative, message, file: file, line: line)
    }

    /// Shapes hitting the GEMV (m ≤ 8, incl. the 4-row decode kernel and its row tail) and the
    /// GEMM paths (m > 8), K with and without 16/32-element tails, strided weights, beta 0 and 1.
    /// n ≥ 256 runs the threaded GEMV (every thread count the machine has), with a row tail.
    let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 7, 37), (1, 9, 64), (2, 5, 33), (3, 6, 16), (5, 4, 100), (8, 3, 47), (9, 11, 40), (20, 70, 130),
        (1, 301, 260), (3, 259, 47)
    ]

    func checkFP32Compute() {
        for dtype in [DType.bf16, .f16, .f32] {
            for (index, s) in shapes.enumerated() {
                for beta: Float in [0, 1] {
                    let w = weight(rows: s.n, columns: s.k, pad: index % 2 == 0 ? 0 : 5, dtype: dtype, seed: UInt64(index))
                    let a = values(s.m * s.k, seed: 99 + UInt64(index)), c0 = values(s.m * s.n, seed: 7)
                    assertClose(
                        run(a, m: s.m, w, beta: beta, c0: c0), reference(a, m: s.m, w, beta: beta, c0: c0),
                        relative: 2e-6, "\(MatMul.kernelLevel) \(dtype) \(s) beta \(beta)")
                }
            }
        }
    }

    /// The portable C kernels, forced on any CPU (the dispatch fallback).
    func testFP32ComputePortableKernels() {
        under(.fp32, .portable) {
            XCTAssertEqual(MatMul.kernelLevel, .portable)
            checkFP32Compute()
            XCTAssertEqual(MatMul.kernelLevel, .portable)
        }
    }

    func testFP32ComputeAVX512Kernels() throws {
        guard MatMul.supportedKernelLevel == .avx512 else { throw XCTSkip("this CPU has no AVX-512") }
        under(.fp32, .avx512) { checkFP32Compute() }
    }

    /// bf16 compute: rows > 8 round A to bf16 and use oneDNN (non-bf16 weights rounded panel by
    /// panel; bf16 weights with ≤ `ownGEMMMaxRows` rows at the AVX-512 level take the own bf16 GEMM);
    /// ≤ 8 rows round A for bf16 weights (bf16 GEMV) and keep fp32 A for f16/fp32 weights.
    /// Reference on the same rounded operands. The bf16 GEMV runs at both levels.
    func testBF16ComputeThroughOneDNN() throws {
        guard MatMul.bf16Available else { throw XCTSkip("oneDNN with native bf16 is not available here") }
        for level in [MatMul.KernelLevel.avx512, .portable] {
            under(.bf16, level) { checkBF16Compute() }
        }
    }

    func checkBF16Compute() {
        for dtype in [DType.bf16, .f16, .f32] {
            for (index, s) in shapes.enumerated() {
                for beta: Float in [0, 1] {
                    let w = weight(rows: s.n, columns: s.k, pad: index % 2 == 0 ? 0 : 5, dtype: dtype, seed: UInt64(index))
                    let a = values(s.m * s.k, seed: 99 + UInt64(index)), c0 = values(s.m * s.n, seed: 7)
                    let gemm = s.m > MatMul.gemvMaxRows
                    let expected = reference(
                        a, m: s.m, w, beta: beta, c0: c0, roundA: gemm || dtype == .bf16,
                        roundW: gemm && dtype != .bf16)
                    assertClose(run(a, m: s.m, w, beta: beta, c0: c0), expected, relative: 2e-6, "bf16 \(dtype) \(s) beta \(beta)")
                }
            }
        }
    }

    /// Round-to-nearest-even and special values of the fp32 → bf16 conversion, at both kernel levels
    /// (17 copies of each value so the AVX-512 lanes and the scalar tail both see it).
    func testBFloat16Rounding() {
        for level in [MatMul.KernelLevel.avx512, .portable] {
            under(.fp32, level) { checkBFloat16Rounding() }
        }
    }

    func checkBFloat16Rounding() {
        func bf(_ bits: UInt32) -> UInt16 {
            let b = WeightMatrix(Tensor(shape: [1, 17], values: [Float](repeating: Float(bitPattern: bits), count: 17)))
                .converted(to: .bf16)
            let lanes = (0..<17).map { b.base.load(fromByteOffset: 2 * $0, as: UInt16.self) }
            XCTAssertEqual(Set(lanes).count, 1, "lanes disagree for \(String(bits, radix: 16))")
            return lanes[16]
        }
        XCTAssertEqual(bf(0x3F80_0000), 0x3F80)  // 1.0
        XCTAssertEqual(bf(0x3F80_8000), 0x3F80)  // tie → even (down)
        XCTAssertEqual(bf(0x3F81_8000), 0x3F82)  // tie → even (up)
        XCTAssertEqual(bf(0x3F80_8001), 0x3F81)  // above the tie
        XCTAssertEqual(bf(0x7F80_0000), 0x7F80)  // +inf
        XCTAssertEqual(bf(0x7F7F_FFFF), 0x7F80)  // largest finite rounds to inf
        XCTAssertEqual(bf(0x7F80_0001) & 0x7FC0, 0x7FC0)  // NaN stays NaN (plain rounding would give +inf)
        XCTAssertEqual(bf(0xFFFF_FFFF) & 0x7FC0, 0x7FC0)  // (plain rounding would overflow to 0x0000)
    }

    /// Row slices, column prefixes and gathers keep their elements (the pruned paths' views).
    func testViewsAndGathers() {
        let w = weight(rows: 6, columns: 8, pad: 3, dtype: .bf16, seed: 5)
        let full = w.toTensor()
        XCTAssertEqual(w.rows(2, 3).toTensor().scalars, Array(full.scalars[16..<40]))
        XCTAssertEqual(
            w.leadingColumns(3).toTensor().scalars,
            (0..<6).flatMap { r in Array(full.scalars[(r * 8)..<(r * 8 + 3)]) })
        XCTAssertEqual(w.gatherRows([4, 1]).toTensor().scalars, Array(full.scalars[32..<40]) + Array(full.scalars[8..<16]))
        XCTAssertEqual(
            w.gatherColumnBlocks([6, 0], width: 2).toTensor().scalars,
            (0..<6).flatMap { r in [full[r, 6], full[r, 7], full[r, 0], full[r, 1]] })
    }
}

extension MatMulTests {
    /// Leading dimensions wider than the operands (A rows of `k + 3`, C rows of `n + 2`): the padding
    /// of C stays untouched and every path reads A with its stride.
    func testStridedOperands() throws {
        for (precision, dtype, m) in [
            (ComputePrecision.fp32, DType.f32, 12), (.fp32, .bf16, 12), (.fp32, .bf16, 1),
            (.fp32, .f16, 3)
        ] + (MatMul.bf16Available ? [(.bf16, .bf16, 12), (.bf16, .bf16, 2)] : []) {
            let n = 9, k = 21, lda = k + 3, ldc = n + 2
            let w = weight(rows: n, columns: k, pad: 0, dtype: dtype, seed: 3)
            let a = values(m * lda, seed: 4)
            var c = [Float](repeating: 7, count: m * ldc)
            under(precision) {
                a.withUnsafeBufferPointer { ap in
                    c.withUnsafeMutableBufferPointer { cp in
                        MatMul.linear(m: m, a: ap.baseAddress!, lda: lda, weight: w, c: cp.baseAddress!, ldc: ldc)
                    }
                }
            }
            let dense = (0..<m).flatMap { r in Array(a[(r * lda)..<(r * lda + k)]) }
            let gemm = m > MatMul.gemvMaxRows
            let expected = reference(
                dense, m: m, w, beta: 0, c0: [Float](repeating: 0, count: m * n),
                roundA: precision == .bf16, roundW: false)
            let got = (0..<m).flatMap { r in Array(c[(r * ldc)..<(r * ldc + n)]) }
            assertClose(got, expected, relative: 2e-6, "\(precision) \(dtype) m \(m) gemm \(gemm)")
            XCTAssertEqual(
                (0..<m).flatMap { r in Array(c[(r * ldc + n)..<(r * ldc + ldc)]) },
                [Float](repeating: 7, count: m * 2), "C padding untouched")
        }
    }
}

extension MatMulTests {
    /// The bf16-compute softmax kernel against libm in fp64: within 2e-6 relative per entry, exact
    /// zeros for −inf and far-below-max entries, all −inf rows give zeros, sums to 1; fp32 compute
    /// (and bf16 compute on a CPU without AVX-512) keeps the scalar loop (bit-identical to a libm
    /// reference).
    func testSoftmaxKernels() {
        func reference(_ x: [Float]) -> [Float] {
            let m = x.max()!
            guard m > -.infinity else { return x.map { _ in 0 } }
            let e = x.map { exp(Double($0) - Double(m)) }
            let s = e.reduce(0, +)
            return e.map { Float($0 / s) }
        }
        func scalar(_ x: [Float]) -> [Float] {
            let m = x.max()!
            guard m > -.infinity else { return x.map { _ in 0 } }
            var e = x.map { Foundation.exp($0 - m) }
            let sum = e.reduce(0, +)
            let inv = 1 / sum
            for i in e.indices { e[i] *= inv }
            return e
        }
        for n in [1, 5, 16, 17, 33, 641] {
            var x = values(n, seed: UInt64(n)).map { $0 * 20 }
            if n > 3 { x[1] = -.infinity; x[2] = x.max()! - 100 }
            for precision in [ComputePrecision.bf16, .fp32] {
                var y = x
                under(precision) { y.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: n) } }
                if precision == .fp32 || MatMul.supportedKernelLevel == .portable {
                    // Without AVX-512 the bf16-compute softmax is the same libm loop.
                    XCTAssertEqual(y, scalar(x), "\(precision) runs the libm loop, n \(n)")
                } else {
                    assertClose(y, reference(x), relative: 2e-6, "bf16 kernel n \(n)")
                    if n > 3 { XCTAssertEqual(y[1], 0); XCTAssertEqual(y[2], 0) }
                    XCTAssertEqual(y.reduce(0, +), 1, accuracy: 1e-5)
                }
            }
        }
        var masked = [Float](repeating: -.infinity, count: 19)
        under(.bf16) { masked.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: 19) } }
        XCTAssertEqual(masked, [Float](repeating: 0, count: 19))
    }
}

extension MatMulTests {
    /// The own bf16 GEMM (`MatMul.ownGEMMBF16`, forced) against an fp64 reference on the bf16-rounded
    /// operands: m not a multiple of the 6-row tile (7, 9, 13, 65, 130), k with 32-element tails, across
    /// the 2048-long k blocks (2100) and split into k spans that add to C (m × k × 2 bytes > 640 KB:
    /// 130 × 4200, 65 × 5100), n not a multiple of the 4-row panel, strided
    /// A and C (C padding untouched), W views with `rowStride > columns`, beta 0 and 1, 1 and 2 threads
    /// (bit-identical: each element is summed in the same order whatever the split). Without AVX512_BF16
    /// (or at the portable level) the test asserts that neither the forced entry nor `linear` uses it.
    func testOwnGEMMBF16() throws {
        try under(.bf16) { try ownGEMMBF16Cases() }
    }

    func ownGEMMBF16Cases() throws {
        let w = weight(rows: 37, columns: 100, pad: 5, dtype: .bf16, seed: 1)
        guard MatMul.ownGEMMBF16Available else {
            XCTAssertFalse(MatMul.usesOwnGEMM(m: 65, weight: w), "no AVX512_BF16: linear keeps its other paths")
            var c = [Float](repeating: 7, count: 65 * 37)
            let a = values(65 * 100, seed: 2)
            let ran = a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    MatMul.ownGEMMBF16(m: 65, a: ap.baseAddress!, lda: 100, weight: w, c: cp.baseAddress!, ldc: 37)
                }
            }
            XCTAssertFalse(ran)
            XCTAssertEqual(c, [Float](repeating: 7, count: 65 * 37), "C untouched when the kernel cannot run")
            return
        }
        let cases: [(m: Int, k: Int, n: Int, pad: Int, aPad: Int, cPad: Int, beta: Float)] = [
            (9, 24, 5, 0, 0, 0, 0), (13, 100, 37, 5, 3, 2, 1), (65, 1100, 23, 3, 0, 0, 1), (130, 100, 70, 0, 7, 1, 0),
            (65, 2100, 9, 0, 2, 3, 1), (20, 64, 1, 1, 0, 0, 0), (7, 33, 300, 2, 1, 1, 1),
            (130, 4200, 6, 1, 1, 0, 0), (65, 5100, 5, 0, 0, 1, 1)
        ]
        for (index, s) in cases.enumerated() {
            let w = weight(rows: s.n, columns: s.k, pad: s.pad, dtype: .bf16, seed: UInt64(10 + index))
            XCTAssertEqual(w.rowStride, s.k + s.pad)
            let lda = s.k + s.aPad, ldc = s.n + s.cPad
            let a = values(s.m * lda, seed: UInt64(20 + index)), c0 = values(s.m * ldc, seed: UInt64(30 + index))
            let dense = (0..<s.m).flatMap { r in Array(a[(r * lda)..<(r * lda + s.k)]) }
            let c0Dense = (0..<s.m).flatMap { r in Array(c0[(r * ldc)..<(r * ldc + s.n)]) }
            let expected = reference(dense, m: s.m, w, beta: s.beta, c0: c0Dense, roundA: true)
            var results: [[Float]] = []
            for threads in [1, 2] {
                var c = c0
                let ran = a.withUnsafeBufferPointer { ap in
                    c.withUnsafeMutableBufferPointer { cp in
                        MatMul.ownGEMMBF16(
                            m: s.m, a: ap.baseAddress!, lda: lda, weight: w, beta: s.beta,
                            c: cp.baseAddress!, ldc: ldc, threads: threads)
                    }
                }
                XCTAssertTrue(ran, "\(s)")
                let got = (0..<s.m).flatMap { r in Array(c[(r * ldc)..<(r * ldc + s.n)]) }
                assertClose(got, expected, relative: 2e-6, "own GEMM \(s) threads \(threads)")
                XCTAssertEqual(
                    (0..<s.m).flatMap { r in Array(c[(r * ldc + s.n)..<(r * ldc + ldc)]) },
                    (0..<s.m).flatMap { r in Array(c0[(r * ldc + s.n)..<(r * ldc + ldc)]) },
                    "C padding untouched \(s)")
                results.append(got)
            }
            XCTAssertEqual(results[0], results[1], "1 and 2 threads bit-identical \(s)")
        }
    }

    /// `linear`'s choice for bf16 weights under bf16 compute: the own GEMM exactly for
    /// `gemvMaxRows` < m ≤ `ownGEMMMaxRows` at the AVX-512 level with AVX512_BF16 (then `linear`
    /// gives the forced kernel's bits), never at the portable level, never for other dtypes or fp32
    /// compute.
    func testOwnGEMMDispatch() {
        let bf16 = weight(rows: 11, columns: 40, pad: 0, dtype: .bf16, seed: 4)
        let f16 = weight(rows: 11, columns: 40, pad: 0, dtype: .f16, seed: 4)
        let hasKernel = under(.fp32, .avx512) { MatMul.kernelLevel == .avx512 && MatMul.ownGEMMBF16Available }
        for precision in [ComputePrecision.bf16, .fp32] {
            under(precision, .avx512) {
                for m in [
                    1, MatMul.gemvMaxRows, MatMul.gemvMaxRows + 1, 65, MatMul.ownGEMMMaxRows,
                    MatMul.ownGEMMMaxRows + 1, 641
                ] where m > 0 {
                    let inRange = m > MatMul.gemvMaxRows && m <= MatMul.ownGEMMMaxRows
                    XCTAssertEqual(
                        MatMul.usesOwnGEMM(m: m, weight: bf16), precision == .bf16 && inRange && hasKernel,
                        "\(precision) m \(m)")
                    XCTAssertFalse(MatMul.usesOwnGEMM(m: m, weight: f16), "f16 weights m \(m)")
                }
            }
        }
        under(.bf16, .portable) {
            XCTAssertFalse(MatMul.ownGEMMBF16Available, "portable level")
            XCTAssertFalse(MatMul.usesOwnGEMM(m: 65, weight: bf16), "portable level")
        }
        under(.bf16, .avx512) { ownGEMMDispatchAgrees(bf16, hasKernel: hasKernel) }
    }

    func ownGEMMDispatchAgrees(_ bf16: WeightMatrix, hasKernel: Bool) {
        let m = max(MatMul.gemvMaxRows + 1, min(65, MatMul.ownGEMMMaxRows))
        guard hasKernel, MatMul.usesOwnGEMM(m: m, weight: bf16) else { return }
        let a = values(m * 40, seed: 5), c0 = values(m * 11, seed: 6)
        var forced = c0
        a.withUnsafeBufferPointer { ap in
            forced.withUnsafeMutableBufferPointer { cp in
                XCTAssertTrue(
                    MatMul.ownGEMMBF16(
                        m: m, a: ap.baseAddress!, lda: 40, weight: bf16, beta: 1,
                        c: cp.baseAddress!, ldc: 11))
            }
        }
        XCTAssertEqual(run(a, m: m, bf16, beta: 1, c0: c0), forced, "linear runs the own GEMM for m \(m)")
    }
}
