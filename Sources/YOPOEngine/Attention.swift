import Foundation
import YOPOCore

// The prefill's one attention primitive: query rows of some heads against a list of key segments
// (the sequence store, an image's visual store, …), each with its own visibility, grouped-query
// heads, and an observer that captures head-averaged probabilities. Every prefill attention (dense,
// YOPO simulate and skip, token pruning) is an `AttentionProblem`. The decode step's single row has
// its own allocation-free loop (`DecodeAttention`).

/// Keys and values of one segment: row `r`, key/value head `g` at `keys + r · stride + column(g)`.
struct KeySegment {
    let keys: UnsafePointer<Float>
    let values: UnsafePointer<Float>
    /// Floats per row.
    let stride: Int
    /// Rows the segment holds.
    let count: Int
    /// Key/value heads stored (ascending); nil = every head, at column `g · head_dim`.
    let kvHeads: [Int]?
    /// Which query heads read the segment (by head id; nil = every head).
    let readBy: ((Int) -> Bool)?
    let visibility: Visibility

    enum Visibility {
        /// Keys `[0, extent(j0, b))` are scored for query rows `j0 ..< j0 + b` by one product, then
        /// `mask(j, scores, extent)` sets −∞ on the keys row `j` may not see (nil: it sees them all).
        case block(extent: (Int, Int) -> Int, mask: ((Int, UnsafeMutablePointer<Float>, Int) -> Void)?)
        /// Only the keys of `runs(j)` (inclusive ranges) are scored for row `j`, a dot product each.
        case runs((Int) -> [(Int, Int)])
    }

    func column(_ g: Int, headDim: Int) -> Int? {
        guard let kvHeads else { return g * headDim }
        for i in 0..<kvHeads.count where kvHeads[i] == g { return i * headDim }
        return nil
    }
}

/// One attention computation: `rows` query rows of the heads `heads` (slot `s` holds head
/// `heads[s]` at column `s · head_dim` of `q` and `context`) against `segments`, softmax over every
/// key a row sees, probabilities × values into `context`.
struct AttentionProblem {
    let q: UnsafePointer<Float>
    let qStride: Int
    let context: UnsafeMutablePointer<Float>
    let contextStride: Int
    let heads: [Int]
    let rows: Int
    let segments: [KeySegment]
    /// Query row → capture slot: those rows' probabilities (single-segment problems), divided by
    /// the head count and summed over heads in head order, go to `captured` (`[slots, segment rows]`).
    var capture: [Int: Int] = [:]
    var captured: Tensor?
    /// With `captured`: one tensor per head slot (`captured`'s shape), given by the caller, which
    /// receives that head's share (its probabilities ÷ the head count) of the captured rows.
    var perHead: [Tensor]?
    /// After softmax (and capture), the keys of the first segment to zero for head `h` (the official
    /// release's post-softmax visual mask, no renormalisation).
    var zeroAfterSoftmax: ((Int) -> [Range<Int>])?
    /// Only the probabilities are wanted (a hook's ranking): no values are read, `context` is not
    /// written, and a key costs 2 · head_dim (QKᵀ only).
    var scoresOnly = false
}

/// Rows per attention block (docs/FLOPS.md): a block's rows share one score product.
public let attentionQueryBlock = 64

extension TextDecoder {
    /// Runs `problem` (heads in parallel, each writing its own columns) and adds its FLOPs to `cost`
    /// for the layer rows `rows` of its query rows: 2 · 2 · head_dim per key a row scored, per head
    /// (QKᵀ and PV).
    func attend(_ problem: AttentionProblem, rows: [Int], _ cost: Cost) {
        let hd = spec.headDim, group = spec.groupSize
        let m = problem.rows, slots = problem.heads.count
        let scale = 1 / Float(hd).squareRoot()
        let maxKeys = problem.segments.reduce(0) { $0 + $1.count }
        let block = attentionQueryBlock
        let segments = problem.segments
        let hasRuns = segments.contains { if case .runs = $0.visibility { return true } else { return false } }
        precondition(problem.capture.isEmpty || segments.count == 1, "capture needs a single key segment")
        let captureWidth = problem.captured?.columns ?? 0
        let headCaptures = problem.perHead ?? problem.captured.map { c in (0..<slots).map { _ in Tensor(zeros: c.shape) } }
        var rowFLOPs = [Int](repeating: 0, count: slots * m)
        rowFLOPs.withUnsafeMutableBufferPointer { rowFLOPs in
            parallelChunks(slots, minimum: attentionParallelMinimum(heads: slots, rows: m, keys: maxKeys, headDim: hd)) { s0, s1 in
                let scores = Tensor(zeros: [max(1, min(block, m)), max(maxKeys, 1)])
                let local = hasRuns ? Tensor(zeros: [max(maxKeys, 1)]) : scores
                var extents = [Int](repeating: 0, count: segments.count)
                var columns = [Int](repeating: 0, count: segments.count)
                for s in s0..<s1 {
                    let h = problem.heads[s], g = h / group
                    let qBase = problem.q + s * hd, out = problem.context + s * hd
                    for (i, segment) in segments.enumerated() {
                        let readable = segment.readBy?(h) ?? true
                        columns[i] = readable ? (segment.column(g, headDim: hd) ?? -1) : -1
                    }
                    let zero = problem.zeroAfterSoftmax?(h) ?? []
                    var j0 = 0
                    while j0 < m {
                        let b = min(block, m - j0)
                        // Block segments: one product each over the keys the block may see.
                        var total = 0
                        for (i, segment) in segments.enumerated() {
                            extents[i] = 0
                            guard columns[i] >= 0, case .block(let extent, _) = segment.visibility else { continue }
                            extents[i] = extent(j0, b)
                            total += extents[i]
                        }
                        var offset = 0
                        for (i, segment) in segments.enumerated() where extents[i] > 0 {
                            MatMul.gemmABt(
                                m: b, n: extents[i], k: hd, alpha: scale, a: qBase + j0 * problem.qStride,
                                lda: problem.qStride, b: segment.keys + columns[i], ldb: segment.stride,
                                c: scores.data + offset, ldc: total)
                            offset += extents[i]
                        }
                        for i in 0..<b {
                            let row = scores.data + i * total
                            var o = 0
                            for (k, segment) in segments.enumerated() where extents[k] > 0 {
                                if case .block(_, let mask?) = segment.visibility { mask(j0 + i, row + o, extents[k]) }
                                o += extents[k]
                            }
                        }
                        if !hasRuns {
                            for i in 0..<b {
                                let row = scores.data + i * total
                                softmaxInPlace(row, count: total)
                                if let slot = problem.capture[j0 + i], let headCaptures {
                                    let dst = headCaptures[s].data + slot * captureWidth, inverse = 1 / Float(slots)
                                    for c in 0..<total { dst[c] = row[c] * inverse }
                                }
                                for range in zero {
                                    for c in range where c < total { row[c] = 0 }
                                }
                                rowFLOPs[s * m + j0 + i] = 2 * total * hd * (problem.scoresOnly ? 1 : 2)
                            }
                            if problem.scoresOnly {
                                j0 += b
                                continue
                            }
                            offset = 0
                            for (i, segment) in segments.enumerated() where extents[i] > 0 {
                                MatMul.gemmAB(
                                    m: b, n: hd, k: extents[i], a: scores.data + offset, lda: total,
                                    b: segment.values + columns[i], ldb: segment.stride, beta: offset == 0 ? 0 : 1,
                                    c: out + j0 * problem.contextStride, ldc: problem.contextStride)
                                offset += extents[i]
                            }
                            if total == 0 {
                                for i in 0..<b { (out + (j0 + i) * problem.contextStride).update(repeating: 0, count: hd) }
                            }
                        } else {
                            // Some keys are scored one by one (a neighbourhood inside an image): per row,
                            // the block scores, then those keys; values summed row by row.
                            for i in 0..<b {
                                let j = j0 + i
                                let qi = qBase + j * problem.qStride
                                local.data.update(from: scores.data + i * total, count: total)
                                var count = total
                                for (k, segment) in segments.enumerated() where columns[k] >= 0 {
                                    guard case .runs(let runs) = segment.visibility else { continue }
                                    for (a, z) in runs(j) {
                                        for key in a...z {
                                            local.data[count] = scale * dot(qi, segment.keys + key * segment.stride + columns[k], hd)
                                            count += 1
                                        }
                                    }
                                }
                                softmaxInPlace(local.data, count: count)
                                let dst = out + j * problem.contextStride
                                dst.update(repeating: 0, count: hd)
                                var r = 0
                                for (k, segment) in segments.enumerated() where extents[k] > 0 {
                                    for t in 0..<extents[k] {
                                        axpy(local.data[r], segment.values + t * segment.stride + columns[k], dst, hd)
                                        r += 1
                                    }
                                }
                                for (k, segment) in segments.enumerated() where columns[k] >= 0 {
                                    guard case .runs(let runs) = segment.visibility else { continue }
                                    for (a, z) in runs(j) {
                                        for key in a...z {
                                            axpy(local.data[r], segment.values + key * segment.stride + columns[k], dst, hd)
                                            r += 1
                                        }
                                    }
                                }
                                rowFLOPs[s * m + j] = 2 * count * hd * 2
                            }
                        }
                        j0 += b
                    }
                }
            }
        }
        if let captured = problem.captured, let headCaptures {
            for s in 0..<slots { addInPlace(captured, headCaptures[s]) }
        }
        var perRow = [Int](repeating: 0, count: m)
        for s in 0..<slots { for j in 0..<m { perRow[j] += rowFLOPs[s * m + j] } }
        cost.add(perRow, rows: rows)
    }
}
