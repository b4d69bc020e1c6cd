import Foundation
import YOPOCore

/// Keys and values of every decoder layer for one sequence.
///
/// Rows are kept in two stores per layer: the *sequence* store (`[capacity, Hkv · head_dim]`, every
/// position in dense and simulate runs; only non-visual positions in YOPO skip runs) and, in skip runs,
/// one *visual* store per image holding only the key/value heads that still do visual work in that
/// layer (none in dropped layers). RoPE is applied before storing.
public final class KVCache {
    public let layerCount: Int
    /// `num_key_value_heads · head_dim`.
    public let width: Int
    public let headDim: Int
    public private(set) var capacity: Int
    /// Next absolute position (every position consumed so far, visual ones included).
    public private(set) var length: Int = 0
    /// Absolute positions of the rows of each layer's sequence store, in order. Equal across layers
    /// except after token pruning (FastV, PyramidDrop, SparseVLM), where later layers hold fewer rows.
    public private(set) var layerPositions: [[Int]]
    /// Whether new rows get RoPE positions from their layer's row count (methods that re-index
    /// positions after dropping tokens) instead of their absolute position.
    public var reindexesPositions = false
    /// M-RoPE's `rope_delta` (Qwen2-VL `get_rope_index`): rows without explicit rotary positions
    /// (text after the prompt, every decode step) take rotary position `index + ropeDelta` on all
    /// three axes. Set by a prefill given rotary positions: `max(position) + 1 − length`. 0 for 1-D RoPE.
    public var ropeDelta = 0
    /// Images seen so far (absolute positions), for masks at decode time.
    public internal(set) var images: [ImageLayout] = []
    var keys: [Tensor]
    var values: [Tensor]
    /// Skip runs: `visual[layer][image]`.
    var visual: [[VisualKV]]

    /// Visual keys/values of one image in one layer: `[count, kvHeads.count · head_dim]`.
    struct VisualKV {
        /// Key/value heads stored (ascending).
        let kvHeads: [Int]
        let keys: Tensor
        let values: Tensor
        /// Column offset of kv head `g` in the store, or nil when not stored.
        func column(of g: Int, headDim: Int) -> Int? {
            for i in 0..<kvHeads.count where kvHeads[i] == g { return i * headDim }
            return nil
        }
        var width: Int { keys.columns }
    }

    public init(layers: Int, width: Int, headDim: Int, capacity: Int = 256) {
        layerCount = layers
        self.width = width
        self.headDim = headDim
        self.capacity = max(capacity, 1)
        keys = (0..<layers).map { _ in Tensor(zeros: [max(capacity, 1), width]) }
        values = (0..<layers).map { _ in Tensor(zeros: [max(capacity, 1), width]) }
        visual = Array(repeating: [], count: layers)
        layerPositions = (0..<layers).map { _ in
            var positions: [Int] = []
            positions.reserveCapacity(max(capacity, 1))
            return positions
        }
    }

    /// The buffers decode steps reuse (created by the first one).
    private var workspace: DecodeWorkspace?

    func decodeWorkspace(_ spec: DecoderSpec) -> DecodeWorkspace {
        if let workspace { return workspace }
        let created = DecodeWorkspace(spec, keys: capacity)
        workspace = created
        return created
    }

    /// Rows in layer 0's sequence store (every layer's, unless tokens were pruned).
    public var sequenceCount: Int { layerPositions.isEmpty ? 0 : layerPositions[0].count }
    /// Absolute positions of layer 0's rows.
    public var sequencePositions: [Int] { layerPositions.first ?? [] }

    /// Rows stored in `layer`.
    public func rows(_ layer: Int) -> Int { layerPositions[layer].count }

    /// Makes room for `count` more sequence rows in every layer (amortised doubling; copies rows).
    func reserve(_ count: Int) {
        var used = 0  // (index loop: decode steps call this and must not allocate, even unoptimised)
        for l in 0..<layerPositions.count { used = max(used, layerPositions[l].count) }
        guard used + count > capacity else { return }
        let newCapacity = max(used + count, capacity * 2)
        for l in 0..<layerCount {
            let k = Tensor(zeros: [newCapacity, width]), v = Tensor(zeros: [newCapacity, width])
            k.data.update(from: keys[l].data, count: layerPositions[l].count * width)
            v.data.update(from: values[l].data, count: layerPositions[l].count * width)
            keys[l] = k
            values[l] = v
            layerPositions[l].reserveCapacity(newCapacity)
        }
        capacity = newCapacity
    }

    /// An independent copy with room for `capacity` positions: same rows, stores, images and
    /// positions (the decode workspace is not shared).
    func copy(capacity newCapacity: Int) -> KVCache {
        let out = KVCache(layers: layerCount, width: width, headDim: headDim, capacity: max(newCapacity, capacity))
        for l in 0..<layerCount {
            let count = layerPositions[l].count * width
            out.keys[l].data.update(from: keys[l].data, count: count)
            out.values[l].data.update(from: values[l].data, count: count)
            out.layerPositions[l] = layerPositions[l]
            out.layerPositions[l].reserveCapacity(out.capacity)
            out.visual[l] = visual[l].map { VisualKV(kvHeads: $0.kvHeads, keys: $0.keys.copy(), values: $0.values.copy()) }
        }
        out.length = length
        out.images = images
        out.reindexesPositions = reindexesPositions
        out.ropeDelta = ropeDelta
        return out
    }

    /// Records the rows `layer` stored in this call (absolute positions, after it wrote them).
    func appendRows(_ positions: [Int], layer: Int) {
        layerPositions[layer] += positions
    }

    /// Records one row `layer` stored (a decode step; no allocation within the reserved capacity).
    func appendRow(_ position: Int, layer: Int) {
        layerPositions[layer].append(position)
    }

    /// Records that a call consumed positions `[length, length + total)`.
    func advance(total: Int) {
        length += total
    }

    /// Bytes of keys and values held (fp32): sequence store rows plus visual stores.
    public var bytesUsed: Int {
        var bytes = 2 * layerPositions.reduce(0) { $0 + $1.count } * width
        for layer in visual { for v in layer { bytes += 2 * v.keys.count } }
        return bytes * MemoryLayout<Float>.size
    }

    /// Bytes the visual positions occupy (fp32), whichever store holds them.
    public var visualBytesUsed: Int {
        var bytes = 0
        let visualPositions = Set(images.flatMap { Array($0.range) })
        let inSequence = layerPositions.reduce(0) { $0 + $1.filter { visualPositions.contains($0) }.count }
        bytes += 2 * inSequence * width
        for layer in visual { for v in layer { bytes += 2 * v.keys.count } }
        return bytes * MemoryLayout<Float>.size
    }

    /// Bytes a dense run would hold for the visual positions (fp32).
    public var denseVisualBytes: Int {
        2 * layerCount * images.reduce(0) { $0 + $1.count } * width * MemoryLayout<Float>.size
    }
}
