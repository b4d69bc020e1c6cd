import Foundation

/// A NumPy `.npy` array (format versions 1.0–3.0), C order, little-endian.
/// Supported dtypes: `|b1` (bool), `<f4`, `<f8`, `<i4`, `<i8`, `|u1`. Values are exposed as Double
/// (exact for these types up to 2^53) or Bool.
public struct NPYArray: Sendable, Equatable {
    public let shape: [Int]
    /// The header's `descr`, e.g. `|b1`.
    public let descr: String
    public let values: [Double]

    /// The values as booleans (non-zero = true).
    public var bools: [Bool] { values.map { $0 != 0 } }

    /// Reads `path`. Throws `FormatError.fileNotFound` or `.corrupt` naming the file and the problem
    /// (bad magic, Fortran order, unsupported dtype, data shorter than the shape).
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError.fileNotFound(path) }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> FormatError { .corrupt(path, reason: reason) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        func field(_ name: String) -> String? {
            guard let r = header.range(of: "'\(name)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let quote = descrField.first, quote == "'" || quote == "\"" else {
            throw fail("header has no descr")
        }
        let descr = String(descrField.dropFirst().prefix { $0 != quote })
        if let order = field("fortran_order"), order.hasPrefix("True") { throw fail("Fortran order is not supported") }
        guard let shapeField = field("shape"), let open = shapeField.firstIndex(of: "("),
            let close = shapeField.firstIndex(of: ")")
        else { throw fail("header has no shape") }
        let shape = shapeField[shapeField.index(after: open)..<close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let itemSize: Int
        switch descr {
        case "|b1", "|u1", "<u1": itemSize = 1
        case "<f4", "<i4": itemSize = 4
        case "<f8", "<i8": itemSize = 8
        default: throw fail("unsupported dtype \(descr) (bool, uint8, int32, int64, float32, float64)")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart >= count * itemSize else {
            throw fail("data holds \(bytes.count - dataStart) bytes, shape \(shape) needs \(count * itemSize)")
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            for i in 0..<count {
                switch descr {
                case "<f4": values[i] = Double(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                case "<i4": values[i] = Double(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                case "<f8": values[i] = Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                case "<i8": values[i] = Double(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                default: values[i] = Double(base.load(fromByteOffset: i, as: UInt8.self))
                }
            }
        }
        self.shape = shape
        self.descr = descr
        self.values = values
    }
}
