import CKernels
import Foundation

/// Owner of an allocated block of raw bytes (weights gathered or generated in half precision).
public final class RawStorage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int

    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}

/// A linear layer's weight `[out_features, in_features]` (row-major, row stride `rowStride`
/// elements) kept in the precision it is stored in: fp32, f16 or bf16. Half-precision weights
/// borrow the checkpoint's memory map, so a bf16 7B model costs its file size in memory, not twice
/// that. Products go through `MatMul.linear`, which picks the kernel for the dtype.
public struct WeightMatrix: @unchecked Sendable {
    public let dtype: DType
    /// `out_features`.
    public let rows: Int
    /// `in_features`.
    public let columns: Int
    /// Elements between the starts of consecutive rows (≥ `columns` for column slices).
    public let rowStride: Int
    public let base: UnsafeRawPointer
    private let owner: AnyObject?

    /// Wraps `rows × columns` elements of `dtype` at `base` (row stride `rowStride`), kept alive by `owner`.
    public init(dtype: DType, rows: Int, columns: Int, rowStride: Int? = nil, base: UnsafeRawPointer, owner: AnyObject?) {
        self.dtype = dtype
        self.rows = rows
        self.columns = columns
        self.rowStride = rowStride ?? columns
        self.base = base
        self.owner = owner
    }

    /// An fp32 weight sharing `tensor`'s storage (2-D: `[out_features, in_features]`).
    public init(_ tensor: Tensor) {
        self.init(
            dtype: .f32, rows: tensor.rows, columns: tensor.columns, base: UnsafeRawPointer(tensor.data),
            owner: tensor.storage)
    }

    /// Random values uniform in ±`scale`, stored as `dtype` (bf16/f16 rounded), for benchmarks.
    /// Each row has its own generator (seeded from `seed` and the row), so the values do not
    /// depend on the thread count.
    public init(randomRows rows: Int, columns: Int, dtype: DType, scale: Float, seed: UInt64) {
        let storage = RawStorage(byteCount: rows * columns * dtype.byteSize)
        let base = storage.pointer
        parallelChunks(rows, minimum: 16) { r0, r1 in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: columns)
            defer { row.deallocate() }
            for r in r0..<r1 {
                var state = (seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(r) &* 0xD1B5_4A32_D192_ED03) &+ 1
                for c in 0..<columns {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    row[c] = (Float(UInt32(truncatingIfNeeded: state >> 33)) * (2 / Float(1 << 31)) - 1) * scale
                }
                switch dtype {
                case .f32:
                    (base + r * columns * 4).copyMemory(from: row, byteCount: columns * 4)
                case .bf16:
                    yopo_f32_to_bf16(row, (base + r * columns * 2).assumingMemoryBound(to: UInt16.self), columns)
                case .f16:
                    let out = (base + r * columns * 2).assumingMemoryBound(to: UInt16.self)
                    for c in 0..<columns { out[c] = Float16(row[c]).bitPattern }
                }
            }
        }
        self.init(dtype: dtype, rows: rows, columns: columns, base: UnsafeRawPointer(base), owner: storage)
    }

    /// `[rows, columns]`.
    public var shape: [Int] { [rows, columns] }

    /// Bytes of the elements this matrix covers (for bandwidth figures).
    public var byteCount: Int { rows * columns * dtype.byteSize }

    /// Pointer to element (row, column).
    @inline(__always)
    public func address(row: Int, column: Int = 0) -> UnsafeRawPointer {
        base + (row * rowStride + column) * dtype.byteSize
    }

    /// Rows `[start, start + count)`, sharing storage (e.g. the first I/r neurons of gate/up).
    public func rows(_ start: Int, _ count: Int) -> WeightMatrix {
        precondition(start >= 0 && count >= 0 && start + count <= rows, "weight row range out of bounds")
        return WeightMatrix(
            dtype: dtype, rows: count, columns: columns, rowStride: rowStride,
            base: address(row: start), owner: owner)
    }

    /// The first `count` columns, sharing storage (e.g. the first I/r inputs of down_proj).
    public func leadingColumns(_ count: Int) -> WeightMatrix {
        precondition(count >= 0 && count <= columns, "weight column range out of bounds")
        return WeightMatrix(dtype: dtype, rows: rows, columns: count, rowStride: rowStride, base: base, owner: owner)
    }

    /// A new dense matrix of the given rows, in the same dtype.
    public func gatherRows(_ indices: [Int]) -> WeightMatrix {
        let size = dtype.byteSize
        let storage = RawStorage(byteCount: indices.count * columns * size)
        for (i, r) in indices.enumerated() {
            precondition(r >= 0 && r < rows, "row \(r) outside [0, \(rows))")
            (storage.pointer + i * columns * size).copyMemory(from: address(row: r), byteCount: columns * size)
        }
        return WeightMatrix(dtype: dtype, rows: indices.count, columns: columns, base: storage.pointer, owner: storage)
    }

    /// A new dense `[rows, starts.count · width]` matrix of the column blocks `[s, s + width)`, same dtype.
    public func gatherColumnBlocks(_ starts: [Int], width: Int) -> WeightMatrix {
        let size = dtype.byteSize, out = starts.count * width
        let storage = RawStorage(byteCount: rows * out * size)
        for r in 0..<rows {
            for (j, s) in starts.enumerated() {
                precondition(s >= 0 && s + width <= columns, "column block \(s) outside [0, \(columns))")
                (storage.pointer + (r * out + j * width) * size).copyMemory(
                    from: address(row: r, column: s),
                    byteCount: width * size)
            }
        }
        return WeightMatrix(dtype: dtype, rows: rows, columns: out, base: storage.pointer, owner: storage)
    }

    /// Writes row `r` as fp32 to `destination` (`columns` elements), e.g. an embedding lookup.
    public func copyRow(_ r: Int, to destination: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) outside [0, \(rows))")
        convertRows(r, 1, to: destination, rowStride: columns)
    }

    /// Writes rows `[start, start + count)` as fp32 to `destination` with row stride `ld`.
    public func convertRows(_ start: Int, _ count: Int, to destination: UnsafeMutablePointer<Float>, rowStride ld: Int) {
        switch dtype {
        case .f32:
            let src = address(row: start).assumingMemoryBound(to: Float.self)
            for i in 0..<count { (destination + i * ld).update(from: src + i * rowStride, count: columns) }
        case .f16, .bf16:
            yopo_half_to_f32(
                dtype.kernelCode, count, columns, address(row: start).assumingMemoryBound(to: UInt16.self),
                rowStride, destination, ld)
        }
    }

    /// The whole matrix as a dense fp32 tensor (tests, small matrices).
    public func toTensor() -> Tensor {
        let t = Tensor(zeros: [rows, columns])
        convertRows(0, rows, to: t.data, rowStride: columns)
        return t
    }

    /// The matrix converted to `dtype` into new dense storage (bf16 rounds to nearest even).
    public func converted(to target: DType) -> WeightMatrix {
        if target == dtype && rowStride == columns { return self }
        switch target {
        case .f32:
            let t = toTensor()
            return WeightMatrix(t)
        case .bf16:
            let storage = RawStorage(byteCount: rows * columns * 2)
            yopo_any_to_bf16(
                dtype.kernelCode, rows, columns, base, rowStride,
                storage.pointer.assumingMemoryBound(to: UInt16.self), columns)
            return WeightMatrix(dtype: .bf16, rows: rows, columns: columns, base: storage.pointer, owner: storage)
        case .f16:
            let storage = RawStorage(byteCount: rows * columns * 2)
            let out = storage.pointer.assumingMemoryBound(to: UInt16.self)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: columns)
            defer { row.deallocate() }
            for r in 0..<rows {
                convertRows(r, 1, to: row, rowStride: columns)
                for c in 0..<columns { out[r * columns + c] = Float16(row[c]).bitPattern }
            }
            return WeightMatrix(dtype: .f16, rows: rows, columns: columns, base: storage.pointer, owner: storage)
        }
    }
}

extension DType {
    /// The dtype code of the C kernels (`YOPO_F32`, `YOPO_F16`, `YOPO_BF16`).
    var kernelCode: Int32 {
        switch self {
        case .f32: return Int32(YOPO_F32)
        case .f16: return Int32(YOPO_F16)
        case .bf16: return Int32(YOPO_BF16)
        }
    }
}
