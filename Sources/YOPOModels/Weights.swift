import Foundation
import YOPOCore
import YOPOFormats

/// A checkpoint's tensors under canonical names (after a family's `sanitize` mapping): linear
/// weights in their stored dtype (`takeMatrix`, memory-mapped), small tensors as fp32 (`take`). Every `take` checks the shape, so a
/// wrong checkpoint fails at load with the tensor named, never mid-forward.
public final class WeightStore {
    /// Canonical name → (archive, stored name).
    private var sources: [String: (SafetensorsArchive, String)] = [:]
    /// Canonical names not yet taken by the model (for the unknown-tensor check).
    private var untaken: Set<String> = []

    /// Called after each tensor is loaded with (bytes loaded so far, bytes registered).
    public var progress: ((Int, Int) -> Void)?
    private var loadedBytes = 0

    public init() {}

    /// Stored bytes of every registered tensor.
    public var totalBytes: Int {
        sources.values.reduce(0) { total, source in total + (source.0.info(source.1)?.byteRange.count ?? 0) }
    }

    /// Registers every tensor of `archive` whose stored name `map` translates to a canonical name.
    /// `map` returns nil for tensors to ignore and throws for names it does not know.
    public func add(_ archive: SafetensorsArchive, map: (String) throws -> String?) throws {
        for stored in archive.names.sorted() {
            guard let canonical = try map(stored) else { continue }
            guard let info = archive.info(stored) else { continue }
            guard info.dtype != nil else {
                throw ModelError.unsupportedDType(tensor: stored, dtype: info.dtypeName)
            }
            sources[canonical] = (archive, stored)
            untaken.insert(canonical)
        }
    }

    /// Whether a canonical name is present.
    public func contains(_ name: String) -> Bool { sources[name] != nil }

    /// Stored shape of a canonical name, or nil.
    public func shape(_ name: String) -> [Int]? {
        guard let (archive, stored) = sources[name] else { return nil }
        return archive.info(stored)?.shape
    }

    /// Loads `name` as fp32 after checking it has `shape` (norms, biases, embeddings of small size).
    /// Throws `ModelError.missingTensor` / `.shapeMismatch` naming the stored tensor.
    public func take(_ name: String, shape: [Int]) throws -> Tensor {
        let (archive, stored) = try check(name, shape: shape)
        return try archive.load(stored)
    }

    /// Loads the 2-D weight `name` (`[out_features, in_features]`) in its stored dtype, memory-mapped
    /// where possible, after checking it has `shape`. Throws like `take`.
    public func takeMatrix(_ name: String, shape: [Int]) throws -> WeightMatrix {
        let (archive, stored) = try check(name, shape: shape)
        return try archive.loadMatrix(stored)
    }

    /// Shape check, bookkeeping and progress for one tensor about to be loaded.
    private func check(_ name: String, shape: [Int]) throws -> (SafetensorsArchive, String) {
        guard let (archive, stored) = sources[name], let info = archive.info(stored) else {
            throw ModelError.missingTensor(name)
        }
        guard info.shape == shape else {
            throw ModelError.shapeMismatch(tensor: stored, expected: shape, found: info.shape)
        }
        untaken.remove(name)
        if let progress {
            loadedBytes += info.byteRange.count
            progress(loadedBytes, totalBytes)
        }
        return (archive, stored)
    }

    /// The layer numbers `N` of registered canonical names `prefix` + `N.` + … (`layers.` for the
    /// decoder, `vision.encoder.layers.` for the vision tower).
    public func layerIndices(prefix: String) -> Set<Int> {
        var indices = Set<Int>()
        for name in sources.keys where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let n = Int(rest[..<dot]), n >= 0 else { continue }
            indices.insert(n)
        }
        return indices
    }

    /// Marks registered tensors the model deliberately does not read (a vision tower's layers past
    /// the feature layer), so `unusedNames` does not report them.
    public func ignore(where unread: (String) -> Bool) {
        untaken = untaken.filter { !unread($0) }
    }

    /// Canonical names registered but never taken (nor ignored): a tensor the checkpoint stores and
    /// the model would silently drop, e.g. q/k/v biases in a layout that has none.
    public var unusedNames: [String] { untaken.sorted() }

    /// Throws `ModelError.unusedTensor` naming the first tensor nobody took, and how many there are.
    public func requireAllTaken() throws {
        let unused = unusedNames
        guard let first = unused.first, let (_, stored) = sources[first] else { return }
        throw ModelError.unusedTensor(stored, count: unused.count)
    }
}
