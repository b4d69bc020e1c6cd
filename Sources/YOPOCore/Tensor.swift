import Foundation

/// Element types a checkpoint may store. `Tensor`s are fp32; linear weights keep their stored
/// type (`WeightMatrix`) and `MatMul.linear` picks the kernel for it.
public enum DType: String, Sendable, Codable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        }
    }
}

/// Owner of a block of fp32 memory: either allocated here, or borrowed from a memory map
/// (kept alive through `keeper`).
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let keeper: AnyObject?

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        keeper = nil
    }

    /// Wraps memory owned by `keeper` (e.g. a memory-mapped safetensors file). Not freed here.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, keeper: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.keeper = keeper
    }

    deinit {
        if keeper == nil { pointer.deallocate() }
    }
}

/// A dense, row-major fp32 tensor. Shapes follow PyTorch order (e.g. a linear weight is
/// `[out_features, in_features]`, hidden states are `[tokens, hidden_size]`).
///
/// Value semantics are *not* copy-on-write: a `Tensor` is a view (shape + storage), and writing
/// through `data` is visible to every copy of the view. Ops in this module always return new
/// tensors unless their name says `InPlace`.
public struct Tensor: @unchecked Sendable {
    public var shape: [Int]
    public let storage: TensorStorage
    public let offset: Int

    public init(shape: [Int], storage: TensorStorage, offset: Int = 0) {
        precondition(shape.reduce(1, *) + offset <= storage.count, "tensor view exceeds storage")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    /// A new zero-filled tensor of `shape`.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    /// A new tensor holding a copy of `values`; `values.count` must equal the shape's product.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: values.count) }
        }
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// First dimension (rows of a matrix).
    public var rows: Int { shape.first ?? 1 }
    /// Product of all but the first dimension (columns of a matrix).
    public var columns: Int { shape.dropFirst().reduce(1, *) }
    /// Pointer to the first element of this view.
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Copy of the elements as an array (for tests and small tensors).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Rows `[start, start + length)` of the first dimension, sharing storage.
    public func rows(_ start: Int, _ length: Int) -> Tensor {
        precondition(start >= 0 && start + length <= rows, "row range out of bounds")
        var s = shape
        s[0] = length
        return Tensor(shape: s, storage: storage, offset: offset + start * columns)
    }

    /// The same elements under another shape with the same element count, sharing storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage, offset: offset)
    }

    /// A deep copy into freshly allocated storage.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Element at a 2-D index (row, column), for tests and small lookups.
    public subscript(row: Int, column: Int) -> Float {
        get { data[row * columns + column] }
        nonmutating set { data[row * columns + column] = newValue }
    }
}

// MARK: - Half-precision conversion

/// IEEE binary16 → fp32, exact.
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mantissa · 2^-24.
        let value = Float(mantissa) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -value : value
    }
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// bfloat16 → fp32, exact (the upper 16 bits of an fp32).
@inline(__always)
public func bfloat16ToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Converts `count` stored elements of `dtype` at `source` to fp32 at `destination`.
public func convertToFloat(
    _ source: UnsafeRawPointer, dtype: DType, count: Int, into destination: UnsafeMutablePointer<Float>
) {
    switch dtype {
    case .f32:
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
    case .f16:
        for i in 0..<count {
            destination[i] = halfToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    case .bf16:
        for i in 0..<count {
            destination[i] = bfloat16ToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }
}
