import Foundation
import YOPOCore

/// Errors raised while reading checkpoint files. Each message names the file or tensor at fault.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case corrupt(String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case missingTensor(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "file not found: \(p)"
        case .corrupt(let p, let reason): return "corrupt file \(p): \(reason)"
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

    /// Maps `path` read-only. Throws `FormatError.fileNotFound` or `.corrupt` (empty file, mmap failure).
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError.fileNotFound(path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError.corrupt(path, reason: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError.corrupt(path, reason: "not a regular file") }
        size = Int(st.st_size)
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
    public var count: Int { shape.reduce(1, *) }
}

/// One `.safetensors` file, memory-mapped. Format: little-endian u64 header length, a JSON
/// header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then data.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]

    /// Opens and validates the header: offsets inside the file, byte counts matching shape × dtype.
    public init(path: String) throws {
        file = try MappedFile(path: path)
        guard file.size >= 8 else { throw FormatError.corrupt(path, reason: "shorter than the 8-byte header length") }
        let headerLength = Int(UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self)))
        guard headerLength > 0, headerLength <= file.size - 8 else {
            throw FormatError.corrupt(path, reason: "header length \(headerLength) exceeds the file size \(file.size)")
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw FormatError.corrupt(path, reason: "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2
            else { throw FormatError.corrupt(path, reason: "malformed header entry for \(name)") }
            let begin = dataStart + offsets[0], end = dataStart + offsets[1]
            guard offsets[0] >= 0, begin <= end, end <= file.size else {
                throw FormatError.corrupt(path, reason: "tensor \(name) lies outside the file (truncated?)")
            }
            let info = TensorInfo(name: name, dtypeName: dtype, shape: shape, byteRange: begin..<end)
            if let dt = info.dtype, dt.byteSize * info.count != end - begin {
                throw FormatError.corrupt(path, reason: "tensor \(name): \(end - begin) bytes for shape \(shape) \(dtype)")
            }
            tensors[name] = info
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

    /// Opens the weights in `directory`. Throws `FormatError.fileNotFound` when no safetensors
    /// file exists, `.corrupt` when the index names a missing shard or a tensor the shard lacks.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: indexPath) {
            guard let data = fm.contents(atPath: indexPath),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = json["weight_map"] as? [String: String]
            else { throw FormatError.corrupt(indexPath, reason: "no weight_map object") }
            for shard in Set(map.values) {
                let p = (directory as NSString).appendingPathComponent(shard)
                guard fm.fileExists(atPath: p) else {
                    throw FormatError.corrupt(indexPath, reason: "shard \(shard) is listed but missing")
                }
                files[shard] = try SafetensorsFile(path: p)
            }
            for (name, shard) in map {
                guard files[shard]?.tensors[name] != nil else {
                    throw FormatError.corrupt(indexPath, reason: "tensor \(name) is listed in \(shard) but not stored there")
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
