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

    /// Largest `.npy` file read, in bytes (head masks are a few kilobytes).
    public static let maximumFileSize = 128 << 20
    /// Largest element count (and largest single dimension) accepted, so a shape cannot make a
    /// reader of the array allocate without bound even when another dimension is 0.
    public static let maximumElementCount = 1 << 24

    /// Reads `path`. Throws `FormatError.fileNotFound`, `.unreadable` (a directory, a device, a file
    /// over `maximumFileSize`) or `.corrupt` naming the file and the problem (see `init(data:path:)`).
    public init(path: String) throws {
        let data = try readSmallFile(path, limit: Self.maximumFileSize, kind: ".npy file")
        try self.init(data: data, path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` names the source in errors.
    /// Throws `FormatError.corrupt`: bad magic, a header length past the end of the file, no
    /// `descr` or `shape`, Fortran order, an unsupported dtype, a shape that is not a tuple of
    /// non-negative integers each at most `maximumElementCount` with a product at most
    /// `maximumElementCount`, data shorter than the shape needs.
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
        guard headerLength <= bytes.count - headerStart else {
            throw fail("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
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
            let close = shapeField.firstIndex(of: ")"), open < close
        else { throw fail("header has no shape") }
        let shapeText = String(shapeField[open...close])
        let limit = Self.maximumElementCount
        var shape: [Int] = []
        var items = shapeField[shapeField.index(after: open)..<close].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        // `()` is a scalar; a one-element tuple is written `(5,)`.
        if items.last == "" && (items.count == 1 || !items[items.count - 2].isEmpty) { items.removeLast() }
        for text in items {
            guard let d = Int(text), d >= 0 else {
                throw fail("shape \(shapeText) must be a tuple of non-negative integers")
            }
            guard d <= limit else {
                throw fail("shape \(shapeText) has a dimension over the \(limit)-element limit")
            }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= limit else {
                throw fail("shape \(shapeText) holds more than \(limit) elements")
            }
            count = product
        }
        let itemSize: Int
        switch descr {
        case "|b1", "|u1", "<u1": itemSize = 1
        case "<f4", "<i4": itemSize = 4
        case "<f8", "<i8": itemSize = 8
        default: throw fail("unsupported dtype \(descr) (bool, uint8, int32, int64, float32, float64)")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart >= count * itemSize else {  // count ≤ 2^24, itemSize ≤ 8: no overflow
            throw fail("data holds \(bytes.count - dataStart) bytes, shape \(shape) needs \(count * itemSize)")
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            for i in 0..<count {
                switch descr {
                case "<f4":
                    values[i] = Double(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
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
