import Foundation
import YOPOCore

/// Errors raised while reading checkpoint files. Each message names the file or tensor at fault.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case corrupt(String, reason: String)
    /// The path exists but cannot be read as a file: a directory, a device, a file over the size
    /// limit of its kind, a read error.
    case unreadable(String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case missingTensor(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return p.isEmpty ? "file not found: the path is empty" : "file not found: \(p)"
        case .corrupt(let p, let reason): return "corrupt file \(p): \(reason)"
        case .unreadable(let p, let reason): return "cannot read \(p): \(reason)"
        case .unsupportedDType(let t, let d):
            return "tensor \(t) has unsupported dtype \(d) (supported: F32, F16, BF16)"
        case .missingTensor(let t): return "tensor \(t) is missing from the checkpoint"
        }
    }
}

/// A read-only memory map of a whole file. Unmapped when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let size: Int

    /// Maps `path` read-only. Throws `FormatError.fileNotFound`, `.unreadable` (a directory, a
    /// device or pipe) or `.corrupt` (empty file, mmap failure).
    public init(path: String) throws {
        self.path = path
        let fd: Int32
        switch openRegularFile(path) {
        case .success(let opened): (fd, size) = opened
        case .failure(.missing): throw FormatError.fileNotFound(path)
        case .failure(let problem): throw FormatError.unreadable(path, reason: problem.reason)
        }
        defer { close(fd) }
        guard size > 0 else { throw FormatError.corrupt(path, reason: "file is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw FormatError.corrupt(path, reason: "mmap failed")
        }
        base = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
}

/// Where one tensor lives in a safetensors file.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    /// Stored dtype string as written in the header (`F32`, `F16`, `BF16`, `I64`, …).
    public let dtypeName: String
    public let shape: [Int]
    /// Byte range inside the file (absolute offsets).
    public let byteRange: Range<Int>

    public var dtype: DType? { DType(rawValue: dtypeName) }
    /// Elements in `shape` (checked against overflow when the header was read).
    public var count: Int { shape.reduce(1, *) }
}

/// One `.safetensors` file, memory-mapped. Format: little-endian u64 header length, a JSON
/// header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then data.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]

    /// Largest JSON header accepted, in bytes (the limit of the reference `safetensors` reader).
    public static let maximumHeaderLength = 100_000_000

    /// Bytes per element of the safetensors dtypes, for the byte-count check (tensors of any of
    /// these dtypes are validated; only F32, F16 and BF16 can be loaded).
    static let elementSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8
    ]

    /// Opens and validates the header: a length inside the file and at most
    /// `maximumHeaderLength`, a JSON object whose tensor entries have a dtype string, a shape of
    /// non-negative integers whose element count fits in `Int`, and `data_offsets` `[begin, end]`
    /// with 0 ≤ begin ≤ end ≤ the data section's size, `end − begin` being the element count × the
    /// dtype's size. Throws `FormatError` naming the file (and the tensor).
    public init(path: String) throws {
        file = try MappedFile(path: path)
        func corrupt(_ reason: String) -> FormatError { .corrupt(path, reason: reason) }
        guard file.size >= 8 else {
            throw corrupt("shorter than the 8-byte header length (\(file.size) bytes)")
        }
        let storedLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard storedLength > 0 else { throw corrupt("header length is 0") }
        guard storedLength <= UInt64(file.size - 8) else {
            throw corrupt("header length \(storedLength) exceeds the file size \(file.size)")
        }
        guard storedLength <= UInt64(Self.maximumHeaderLength) else {
            throw corrupt("header length \(storedLength) is over the \(Self.maximumHeaderLength)-byte limit")
        }
        let headerLength = Int(storedLength)
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        let parsed = try? JSONSerialization.jsonObject(with: headerData)
        guard let json = parsed as? [String: Any] else {
            throw corrupt(parsed == nil ? "header is not valid JSON" : "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any] else {
                throw corrupt("header entry \(name) is not an object")
            }
            guard let dtype = entry["dtype"] as? String else {
                throw corrupt("tensor \(name) has no dtype string")
            }
            guard let shapeList = entry["shape"] as? [Any] else {
                throw corrupt("tensor \(name) has no shape list")
            }
            var shape: [Int] = []
            for dimension in shapeList {
                guard let d = jsonInteger(dimension), d >= 0 else {
                    throw corrupt("tensor \(name): shape \(describeJSON(shapeList)) must list non-negative integers")
                }
                shape.append(d)
            }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw corrupt("tensor \(name): shape \(shape) has more elements than a 64-bit count holds")
                }
                count = product
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                let begin = jsonInteger(offsets[0]), let end = jsonInteger(offsets[1]),
                begin >= 0, begin <= end
            else {
                let found = (entry["data_offsets"]).map(describeJSON) ?? "none"
                throw corrupt("tensor \(name): data_offsets must be two integers 0 ≤ begin ≤ end, found \(found)")
            }
            guard end <= dataSize else {
                throw corrupt(
                    "tensor \(name) lies outside the file (truncated?): data_offsets [\(begin), \(end)], data section of \(dataSize) bytes")
            }
            if let elementSize = Self.elementSizes[dtype] {
                let (bytes, overflow) = count.multipliedReportingOverflow(by: elementSize)
                guard !overflow, bytes == end - begin else {
                    throw corrupt("tensor \(name): \(end - begin) bytes for shape \(shape) \(dtype)")
                }
            }
            tensors[name] = TensorInfo(
                name: name, dtypeName: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor as fp32. F32 data is borrowed from the map when aligned (no copy);
    /// F16/BF16 are converted into new storage. Throws `unsupportedDType`/`missingTensor`.
    public func load(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw FormatError.missingTensor(name) }
        guard let dtype = info.dtype else {
            throw FormatError.unsupportedDType(tensor: name, dtype: info.dtypeName)
        }
        let src = file.base + info.byteRange.lowerBound
        if dtype == .f32, Int(bitPattern: src) % MemoryLayout<Float>.alignment == 0 {
            let p = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: Float.self))
            return Tensor(shape: info.shape, storage: TensorStorage(borrowing: p, count: info.count, keeper: file))
        }
        let t = Tensor(zeros: info.shape)
        convertToFloat(src, dtype: dtype, count: info.count, into: t.data)
        return t
    }

    /// A 2-D tensor as a `WeightMatrix` in its stored dtype, borrowed from the map when aligned
    /// (copied otherwise). Throws `unsupportedDType`/`missingTensor`.
    public func loadMatrix(_ name: String) throws -> WeightMatrix {
        guard let info = tensors[name] else { throw FormatError.missingTensor(name) }
        guard let dtype = info.dtype else {
            throw FormatError.unsupportedDType(tensor: name, dtype: info.dtypeName)
        }
        let rows = info.shape.first ?? 1, columns = info.count / max(rows, 1)
        let src = UnsafeRawPointer(file.base + info.byteRange.lowerBound)
        if dtype == .f32 { return WeightMatrix(try load(name)) }
        if Int(bitPattern: src) % dtype.byteSize == 0 {
            return WeightMatrix(dtype: dtype, rows: rows, columns: columns, base: src, owner: file)
        }
        let copy = RawStorage(byteCount: info.byteRange.count)
        copy.pointer.copyMemory(from: src, byteCount: info.byteRange.count)
        return WeightMatrix(dtype: dtype, rows: rows, columns: columns, base: UnsafeRawPointer(copy.pointer), owner: copy)
    }
}

/// A checkpoint's weights: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (`{"weight_map": {name: shard file}}`), or every
/// `*.safetensors` in a directory. Tensor names are as stored; mapping them to a model's
/// names is the model's `sanitize` step.
public final class SafetensorsArchive: @unchecked Sendable {
    public let directory: String
    private var files: [String: SafetensorsFile] = [:]
    /// Tensor name → file holding it.
    public private(set) var location: [String: String] = [:]

    /// Largest `model.safetensors.index.json` read, in bytes (a 70B checkpoint's is about 100 kB).
    public static let maximumIndexSize = 64 << 20

    /// Opens the weights in `directory`. Throws `FormatError.fileNotFound` when no safetensors
    /// file exists, `.unreadable` when the index is not a readable file of at most
    /// `maximumIndexSize` bytes, `.corrupt` when the index is not a JSON object with a `weight_map`
    /// object of tensor name → shard file name, names a missing shard or a tensor the shard lacks.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: indexPath) {
            let data = try readSmallFile(indexPath, limit: Self.maximumIndexSize, kind: "safetensors index")
            func corrupt(_ reason: String) -> FormatError { .corrupt(indexPath, reason: reason) }
            guard !data.isEmpty else { throw corrupt("file is empty") }
            guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
                throw corrupt("not valid JSON")
            }
            guard let json = parsed as? [String: Any] else {
                throw corrupt("must be a JSON object with a weight_map, found \(describeJSON(parsed))")
            }
            guard let mapValue = json["weight_map"] else { throw corrupt("no weight_map object") }
            guard let rawMap = mapValue as? [String: Any] else {
                throw corrupt("weight_map must be an object of tensor name → shard file, found \(describeJSON(mapValue))")
            }
            var map: [String: String] = [:]
            for (name, value) in rawMap {
                guard let shard = value as? String, !shard.isEmpty else {
                    throw corrupt("weight_map entry \(name) must name a shard file (a string), found \(describeJSON(value))")
                }
                map[name] = shard
            }
            for shard in Set(map.values).sorted() {
                let p = (directory as NSString).appendingPathComponent(shard)
                guard fm.fileExists(atPath: p) else {
                    throw corrupt("shard \(shard) is listed but missing")
                }
                files[shard] = try SafetensorsFile(path: p)
            }
            for (name, shard) in map {
                guard files[shard]?.tensors[name] != nil else {
                    throw corrupt("tensor \(name) is listed in \(shard) but not stored there")
                }
                location[name] = shard
            }
        } else {
            let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !names.isEmpty else {
                throw FormatError.fileNotFound((directory as NSString).appendingPathComponent("model.safetensors"))
            }
            for n in names {
                let f = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(n))
                files[n] = f
                for t in f.tensors.keys { location[t] = n }
            }
        }
    }

    /// Every tensor name in the archive.
    public var names: [String] { Array(location.keys) }

    /// Header information of `name`, or nil.
    public func info(_ name: String) -> TensorInfo? {
        guard let f = location[name] else { return nil }
        return files[f]?.tensors[name]
    }

    /// The tensor as fp32 (see `SafetensorsFile.load`).
    public func load(_ name: String) throws -> Tensor {
        guard let f = location[name], let file = files[f] else { throw FormatError.missingTensor(name) }
        return try file.load(name)
    }

    /// A 2-D tensor in its stored dtype (see `SafetensorsFile.loadMatrix`).
    public func loadMatrix(_ name: String) throws -> WeightMatrix {
        guard let f = location[name], let file = files[f] else { throw FormatError.missingTensor(name) }
        return try file.loadMatrix(name)
    }
}

/// An integer JSON value (as `JSONSerialization` returns it) that fits in `Int`, else nil
/// (booleans, fractions, strings, integers beyond `Int`).
func jsonInteger(_ value: Any) -> Int? {
    if String(describing: type(of: value)).contains("Boolean") || value is String { return nil }
    return value as? Int
}

/// A short rendering of a `JSONSerialization` value for messages.
func describeJSON(_ value: Any) -> String {
    switch value {
    case let s as String: return s.count > 40 ? "\"\(s.prefix(40))…\"" : "\"\(s)\""
    case let list as [Any]:
        let shown = list.prefix(8).map(describeJSON).joined(separator: ", ")
        return "[" + shown + (list.count > 8 ? ", …]" : "]")
    case is [String: Any]: return "an object"
    case is NSNull: return "null"
    default:
        if String(describing: type(of: value)).contains("Boolean") { return (value as? Bool) == true ? "true" : "false" }
        if let n = value as? NSNumber { return n.stringValue }
        return "\(value)"
    }
}
