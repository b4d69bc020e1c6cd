import XCTest
import YOPOCore

/// fp32 products give the same bits whatever `MatMul.threads` is (issue 11: sampled tokens diverged
/// between `--threads 1` and 2 because OpenBLAS's threaded SGEMM splits where the thread count says).
final class ThreadInvarianceTests: XCTestCase {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<count).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    /// The tiling is a function of the shape: exact tiles for small, column-split, row-split and one-row shapes.
    func testTilesDependOnTheShapeOnly() {
        func tiles(_ m: Int, _ n: Int, _ k: Int) -> [Int] {
            let t = MatMul.GEMMTiles(m: m, n: n, k: k)
            return [t.tileRows, t.tileColumns, t.rowTiles, t.columnTiles]
        }
        // 591 × 64 × 24 = 907,776 multiply-adds < 2²⁴: one tile (the bundled checkpoint's FFN), and
        // its CLIP patch embedding, 576 × 32 × 588 = 10,838,016.
        XCTAssertEqual(tiles(591, 64, 24), [591, 64, 1, 1])
        XCTAssertEqual(tiles(576, 32, 588), [576, 32, 1, 1])
        // Four such images: n < 128 → rows split into 8 tiles of 288 rows.
        XCTAssertEqual(tiles(2304, 32, 588), [288, 32, 8, 1])
        // LLaMA-7B FFN prefill: 8 column tiles of 1408 (11008 / 8 = 1376 rounded up to 64).
        XCTAssertEqual(tiles(641, 11008, 4096), [641, 1408, 1, 8])
        // n = 200: 3 wanted column tiles of 67 → 64-multiples of 128, so 2; then 4 row tiles of 176
        // (641 / 4 = 161 rounded up to 16), the last one 113 rows.
        XCTAssertEqual(tiles(641, 200, 4096), [176, 128, 4, 2])
        // One row (decode): column tiles only.
        XCTAssertEqual(tiles(1, 4096, 4096), [1, 512, 1, 8])
        // Overflowing sizes are one tile, never a trap.
        XCTAssertEqual(tiles(Int.max, 2, 2), [Int.max, 2, 1, 1])
    }

    /// 1, 2 and 3 threads give bit-identical C on shapes where OpenBLAS's own threading did not,
    /// and C matches an fp64 reference.
    func testTiledGEMMIsBitIdenticalAcrossThreadCounts() {
        for (m, k, n) in [(576, 588, 32), (2304, 588, 32), (591, 24, 32064), (641, 256, 1000), (1, 4096, 4100), (3, 4096, 4096)] {
            let a = values(m * k, seed: 1), b = values(n * k, seed: 2)
            var results: [[Float]] = []
            for threads in 1...3 {
                var c = [Float](repeating: 0, count: m * n)
                ExecutionContext(threads: threads).run {
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            c.withUnsafeMutableBufferPointer { c in
                                MatMul.tiledGEMM(
                                    m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: k,
                                    c: c.baseAddress!, ldc: n)
                            }
                        }
                    }
                }
                results.append(c)
            }
            XCTAssertEqual(results[0], results[1], "\(m)x\(k)x\(n): 1 vs 2 threads")
            XCTAssertEqual(results[0], results[2], "\(m)x\(k)x\(n): 1 vs 3 threads")
            var worst: Double = 0
            for i in stride(from: 0, to: m, by: max(1, m / 7)) {
                for j in stride(from: 0, to: n, by: max(1, n / 13)) {
                    var s = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        s += Double(a[i * k + p]) * Double(b[j * k + p])
                        magnitude += abs(Double(a[i * k + p]) * Double(b[j * k + p]))
                    }
                    // Error relative to Σ|a·b|, the scale fp32 summation error grows with.
                    worst = max(worst, abs(s - Double(results[0][i * n + j])) / max(magnitude, 1e-30))
                }
            }
            XCTAssertLessThan(worst, 1e-6, "\(m)x\(k)x\(n) against fp64")
        }
    }
}

/// The execution context is bound per thread: two threads under different contexts at once see
/// their own, nesting restores the outer one, and the threads `parallelChunks` starts run under the
/// caller's (issue 12: no process globals on the hot path).
final class ExecutionContextTests: XCTestCase {
    final class Slots: @unchecked Sendable {
        var values = [0, 0]
    }

    func testContextsAreBoundPerThread() {
        let seen = Slots()
        let group = DispatchGroup()
        for (slot, threads) in [5, 3].enumerated() {
            DispatchQueue.global().async(group: group) {
                ExecutionContext(threads: threads, precision: slot == 0 ? .bf16 : .fp32).run {
                    var agrees = true
                    for _ in 0..<10_000 {
                        agrees = agrees && MatMul.threads == threads && MatMul.precision == (slot == 0 ? .bf16 : .fp32)
                    }
                    seen.values[slot] = agrees ? threads : -1
                }
            }
        }
        group.wait()
        XCTAssertEqual(seen.values, [5, 3])
        XCTAssertEqual(MatMul.threads, ExecutionContext.processDefault.threads, "nothing leaked to this thread")
        XCTAssertEqual(MatMul.precision, .fp32)

        ExecutionContext(threads: 2).run {
            ExecutionContext(threads: 7).run { XCTAssertEqual(MatMul.threads, 7) }
            XCTAssertEqual(MatMul.threads, 2)
        }

        ExecutionContext(threads: 2, precision: .bf16, kernelLevel: .portable).run {
            let seenPrecision = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 2)
            defer { seenPrecision.deallocate() }
            seenPrecision.initialize(repeating: false)
            parallelChunks(2) { start, _ in
                seenPrecision[start] = MatMul.precision == .bf16 && MatMul.kernelLevel == .portable && MatMul.threads == 2
            }
            XCTAssertEqual(Array(seenPrecision), [true, true])
        }
        XCTAssertEqual(MatMul.kernelLevel, MatMul.supportedKernelLevel)
    }
}
