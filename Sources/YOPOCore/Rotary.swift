import Foundation

/// Rotary position embedding (RoPE) of one attention block: which kind, its inverse frequencies
/// (precomputed at init) and the allocation-free hot path that turns a position into `cos`/`sin`
/// values and rotates head vectors by them.
///
/// Layout everywhere is transformers' non-interleaved `rotate_half`: a head vector of `headDim`
/// floats is rotated pairwise, element `i` with element `i + headDim / 2`, by angle number `i`
/// (`i < headDim / 2`). `angles(…)` writes those `headDim / 2` cosines and sines into caller
/// buffers; `rotate(…)` applies them: `x[i] = a·cos − b·sin`, `x[i + half] = b·cos + a·sin`
/// (`a = x[i]`, `b = x[i + half]`), which is `q·cos + rotate_half(q)·sin` of transformers
/// `apply_rotary_pos_emb` with `cos = cat(c, c)`, `sin = cat(s, s)`.
///
/// Kinds (transformers 5.24 `modeling_rope_utils`, `ROPE_INIT_FUNCTIONS`, and the Qwen2-VL rotaries):
/// - `default`: `inv[i] = 1 / θ^(2i/d)`, angle `p · inv[i]`.
/// - `linear`: `inv[i] / factor` (`_compute_linear_scaling_rope_parameters`).
/// - `dynamic` NTK: the base grows with the sequence length past `max_position_embeddings`
///   (`_compute_dynamic_ntk_parameters`); see `inverseFrequencies(sequenceLength:into:)`.
/// - `longrope`: `inv[i] = 1 / (f[i] · θ^(2i/d))` with `f` the short or the long factor list, and
///   cos/sin multiplied by an attention factor (`_compute_longrope_parameters`).
/// - `multiAxis` (Qwen2-VL M-RoPE): default frequencies; angle `i` takes its position from the
///   t, h or w axis by the `mrope_section` ranges (`Qwen2VLRotaryEmbedding`).
/// - `vision2D` (Qwen2-VL ViT): `headDim / 4` frequencies `1 / θ^(2j/(headDim/2))`; the first
///   `headDim / 4` angles use the patch row, the next `headDim / 4` the patch column
///   (`Qwen2VLVisionRotaryEmbedding`).
///
/// All arithmetic is fp32 in the order transformers runs it (exponent `Float(2i) / Float(d)`,
/// `powf`, then `1 / x`; angle `Float(p) * inv[i]`; `cos`/`sin` of that fp32 angle), so the angles
/// carry the same fp32 rounding as the reference. `default` and `linear` reproduce, bit for bit,
/// the formula `LlamaDecoder` has always used.
public struct RotaryEmbedding: Sendable, Equatable {
    /// What the embedding does with positions and frequencies; see the type's documentation.
    public enum Kind: Sendable, Equatable {
        /// transformers `rope_type: "default"`.
        case `default`
        /// transformers `rope_type: "linear"`: inverse frequencies divided by `factor` (> 0).
        case linear(factor: Float)
        /// transformers `rope_type: "dynamic"`: above `maxPositionEmbeddings` positions the base is
        /// `θ · (factor·L/M − (factor − 1))^(d/(d−2))` for a sequence of `L` positions (`M` =
        /// `maxPositionEmbeddings`); at or below it the frequencies are `default`'s.
        case dynamicNTK(factor: Float, maxPositionEmbeddings: Int)
        /// transformers `rope_type: "longrope"` (Phi-3's `"su"`): `shortFactor` for sequences of at
        /// most `originalMaxPositionEmbeddings` positions, `longFactor` above; `headDim / 2`
        /// factors each.
        case longRoPE(shortFactor: [Float], longFactor: [Float], originalMaxPositionEmbeddings: Int)
        /// Qwen2-VL M-RoPE (`rope_type: "mrope"`, or 5.x's `"default"` with `mrope_section`): three
        /// section sizes summing to `headDim / 2`; angles `0..<s0` use t, the next `s1` use h, the
        /// last `s2` use w.
        case multiAxis(sections: [Int])
        /// Qwen2-VL ViT 2-D rotary (`rope_type: "axial"`): `headDim / 4` frequencies shared by the
        /// patch row (angles `0..<headDim/4`) and column (angles `headDim/4..<headDim/2`).
        case vision2D

        var isLongRoPE: Bool {
            if case .longRoPE = self { return true }
            return false
        }
    }

    public let kind: Kind
    /// Width of one rotated head vector (even; a multiple of 4 for `vision2D`).
    public let headDim: Int
    /// The base θ (`rope_theta`).
    public let theta: Float
    /// Inverse frequencies in radians per position, in force for short sequences: `[headDim / 2]`
    /// (`[headDim / 4]` for `vision2D`). `dynamic`: the ones up to `max_position_embeddings`
    /// positions (= `default`'s); `longrope`: the short-factor ones.
    public let inverseFrequencies: [Float]
    /// Factor applied to every cosine and sine (`attention_scaling` in transformers): longrope's
    /// attention factor, 1 for every other kind.
    public let attentionScaling: Float
    /// longrope's long-factor inverse frequencies (`[headDim / 2]`); empty for the other kinds.
    let longInverseFrequencies: [Float]

    /// Number of cosines (and of sines) `angles(…)` writes: `headDim / 2`.
    public var pairs: Int { headDim / 2 }

    /// Builds the embedding and precomputes its inverse frequencies.
    ///
    /// - Parameters:
    ///   - kind: the kind and its parameters.
    ///   - headDim: width of one head vector the embedding rotates: even and > 0 (a multiple of 4
    ///     for `vision2D`: 80 for Qwen2-VL's ViT).
    ///   - theta: `rope_theta`, positive and finite.
    ///   - attentionFactor: longrope only: the factor on cos/sin (`attention_factor`); nil takes
    ///     transformers' default, `√(1 + ln(factor)/ln(original))` with `factor` =
    ///     `maxPositionEmbeddings / originalMaxPositionEmbeddings`, or 1 when that factor is ≤ 1
    ///     or `maxPositionEmbeddings` is nil.
    ///   - maxPositionEmbeddings: longrope only: `max_position_embeddings`, for the default
    ///     attention factor.
    ///   - scalingFactor: longrope only: an explicit `factor` from the rope dictionary; it
    ///     replaces `maxPositionEmbeddings / originalMaxPositionEmbeddings` in that default.
    ///     (The other kinds ignore `maxPositionEmbeddings` and `scalingFactor`; dynamic NTK takes its
    ///     length in `Kind.dynamicNTK`.)
    /// - Throws: `RotaryConfigurationError.invalidValue` naming the config key (`head_dim`,
    ///   `rope_theta`, `factor`, `max_position_embeddings`, `original_max_position_embeddings`,
    ///   `short_factor`, `long_factor`, `mrope_section`, `attention_factor`) and what it must be.
    public init(
        kind: Kind, headDim: Int, theta: Float, attentionFactor: Float? = nil,
        maxPositionEmbeddings: Int? = nil, scalingFactor: Double? = nil
    ) throws {
        typealias E = RotaryConfigurationError
        guard headDim > 0, headDim % 2 == 0 else {
            throw E.invalidValue(key: "head_dim", found: "\(headDim)", expected: "a positive even number")
        }
        guard theta.isFinite, theta > 0 else {
            throw E.invalidValue(key: "rope_theta", found: "\(theta)", expected: "a positive number within fp32's range")
        }
        func positive(_ value: Float, _ key: String) throws {
            guard value.isFinite, value > 0 else {
                throw E.invalidValue(key: key, found: "\(value)", expected: "a positive number within fp32's range")
            }
        }
        if let attentionFactor, !kind.isLongRoPE {
            throw E.invalidValue(key: "attention_factor", found: "\(attentionFactor)", expected: "absent: only longrope defines one")
        }
        let half = headDim / 2
        self.kind = kind
        self.headDim = headDim
        self.theta = theta
        var scaling: Float = 1
        var long: [Float] = []
        switch kind {
        case .default:
            inverseFrequencies = Self.defaultFrequencies(theta: theta, dim: headDim, factor: 1)
        case .linear(let factor):
            try positive(factor, "factor")
            inverseFrequencies = Self.defaultFrequencies(theta: theta, dim: headDim, factor: factor)
        case .dynamicNTK(let factor, let maxPositions):
            try positive(factor, "factor")
            guard maxPositions > 0 else {
                throw E.invalidValue(key: "max_position_embeddings", found: "\(maxPositions)", expected: "a positive integer")
            }
            guard headDim > 2 else {
                throw E.invalidValue(key: "head_dim", found: "\(headDim)", expected: "at least 4 for dynamic NTK (the exponent is d/(d−2))")
            }
            inverseFrequencies = Self.defaultFrequencies(theta: theta, dim: headDim, factor: 1)
        case .longRoPE(let short, let longFactor, let original):
            for (key, list) in [("short_factor", short), ("long_factor", longFactor)] {
                guard list.count == half else {
                    throw E.invalidValue(
                        key: key, found: "\(list.count) numbers",
                        expected: "head_dim / 2 = \(half) numbers")
                }
                for (i, f) in list.enumerated() { try positive(f, "\(key)[\(i)]") }
            }
            guard original > 0 else {
                throw E.invalidValue(key: "original_max_position_embeddings", found: "\(original)", expected: "a positive integer")
            }
            if let maxPositionEmbeddings, maxPositionEmbeddings <= 0 {
                throw E.invalidValue(key: "max_position_embeddings", found: "\(maxPositionEmbeddings)", expected: "a positive integer")
            }
            if let scalingFactor, !(scalingFactor.isFinite && scalingFactor > 0) {
                throw E.invalidValue(key: "factor", found: "\(scalingFactor)", expected: "a positive number")
            }
            if let attentionFactor {
                try positive(attentionFactor, "attention_factor")
                scaling = attentionFactor
            } else {
                scaling = Self.longRoPEAttentionFactor(
                    factor: scalingFactor ?? maxPositionEmbeddings.map { Double($0) / Double(original) },
                    originalMaxPositionEmbeddings: original)
            }
            inverseFrequencies = Self.longRoPEFrequencies(theta: theta, dim: headDim, factors: short)
            long = Self.longRoPEFrequencies(theta: theta, dim: headDim, factors: longFactor)
        case .multiAxis(let sections):
            guard sections.count == 3, sections.allSatisfy({ (0...half).contains($0) }), sections.reduce(0, +) == half else {
                throw E.invalidValue(
                    key: "mrope_section", found: "\(sections)",
                    expected: "three non-negative sizes (t, h, w) summing to head_dim / 2 = \(half)")
            }
            inverseFrequencies = Self.defaultFrequencies(theta: theta, dim: headDim, factor: 1)
        case .vision2D:
            guard headDim % 4 == 0 else {
                throw E.invalidValue(key: "head_dim", found: "\(headDim)", expected: "a positive multiple of 4 for the 2-D vision rotary")
            }
            inverseFrequencies = Self.defaultFrequencies(theta: theta, dim: half, factor: 1)
        }
        attentionScaling = scaling
        longInverseFrequencies = long
    }

    // MARK: Frequencies

    /// `(1 / powf(θ, Float(2i) / Float(dim))) / factor` for `i < dim / 2`: transformers'
    /// `1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))` (then `/= factor` for linear),
    /// and exactly the expression `LlamaDecoder` used before this type (its goldens depend on it).
    static func defaultFrequencies(theta: Float, dim: Int, factor: Float) -> [Float] {
        (0..<(dim / 2)).map { i in (1 / powf(theta, Float(2 * i) / Float(dim))) / factor }
    }

    /// `1 / (Float(f[i]) · powf(θ, Float(2i) / Float(dim)))`: `_compute_longrope_parameters`'
    /// `1.0 / (ext_factors * base**inv_freq_shape)` in fp32.
    static func longRoPEFrequencies(theta: Float, dim: Int, factors: [Float]) -> [Float] {
        (0..<(dim / 2)).map { i in 1 / (factors[i] * powf(theta, Float(2 * i) / Float(dim))) }
    }

    /// `_compute_longrope_parameters`' default attention factor, in fp64 as Python computes it:
    /// 1 when `factor` is nil or ≤ 1, else `√(1 + ln(factor) / ln(original))`.
    static func longRoPEAttentionFactor(factor: Double?, originalMaxPositionEmbeddings original: Int) -> Float {
        guard let factor, factor > 1 else { return 1 }
        return Float((1 + log(factor) / log(Double(original))).squareRoot())
    }

    /// dynamic NTK's base for a call over `sequenceLength` positions, as transformers 5.24's
    /// `_compute_dynamic_ntk_parameters` computes it in the forward pass, where `seq_len` is a
    /// tensor (`max(position_ids) + 1`) so every step is fp32 except the power, whose exponent
    /// `d / (d − 2)` stays a Python float: `L' = max(L, M)`;
    /// `base = Float(θ) · Float(pow(Double(Float(f)·Float(L')/Float(M) − Float(f − 1)), d/(d−2)))`.
    /// (InternLM2's own code computes this base in fp64; the two differ by about an fp32 ulp.)
    @inline(__always)
    func dynamicBase(sequenceLength: Int, factor: Float, maxPositionEmbeddings m: Int) -> Float {
        let length = Float(max(sequenceLength, m))
        let ratio = length * factor / Float(m) - (factor - 1)
        let d = Double(headDim)
        let power = Float(pow(Double(ratio), d / (d - 2)))
        return theta * power
    }

    /// Writes the inverse frequencies in force for one forward call over `sequenceLength` positions
    /// (transformers: `max(position_ids) + 1` of the call; for a decode step, its position + 1) into
    /// `buffer` (`inverseFrequencies.count` floats: `[headDim / 2]`, `[headDim / 4]` for `vision2D`).
    /// Allocates nothing.
    ///
    /// - `dynamic`: `inverseFrequencies` up to `max_position_embeddings`; above it
    ///   `1 / powf(base, Float(2i)/Float(d))` with `base` grown as `Kind.dynamicNTK` says. (transformers
    ///   keeps the largest length seen until a call falls back to at most `max_position_embeddings`;
    ///   keys already in a KV cache keep the frequencies they were rotated with.)
    /// - `longrope`: the short-factor set when `sequenceLength ≤ original_max_position_embeddings`,
    ///   the long-factor set above (`longrope_frequency_update`).
    /// - every other kind: `inverseFrequencies`.
    public func inverseFrequencies(sequenceLength: Int, into buffer: UnsafeMutablePointer<Float>) {
        switch kind {
        case .dynamicNTK(let factor, let m) where sequenceLength > m:
            let base = dynamicBase(sequenceLength: sequenceLength, factor: factor, maxPositionEmbeddings: m)
            for i in 0..<pairs { buffer[i] = 1 / powf(base, Float(2 * i) / Float(headDim)) }
        case .longRoPE(_, _, let original) where sequenceLength > original:
            longInverseFrequencies.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) }
        default:
            inverseFrequencies.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    // MARK: Angles (hot path: no allocation)

    /// `cos` and `sin` of `Float(position) · inv[i]` for `i < headDim / 2`, times `attentionScaling`,
    /// with `inv` = `inverseFrequencies` (the short-sequence set). `cosines`, `sines`: `[headDim / 2]`.
    /// `position` is the rotary position (not necessarily the sequence index). For `multiAxis` this is
    /// `angles(positions: (position, position, position))` (a text token); for `vision2D`,
    /// `angles(row: position, column: position)`.
    public func angles(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        inverseFrequencies.withUnsafeBufferPointer { inv in
            if case .vision2D = kind {
                visionAngles(row: position, column: position, inv: inv.baseAddress!, cosines: cosines, sines: sines)
            } else {
                angles(position: position, inverseFrequencies: inv.baseAddress!, cosines: cosines, sines: sines)
            }
        }
    }

    /// `angles(position:cosines:sines:)` with the frequencies in force for a forward call over
    /// `sequenceLength` positions (see `inverseFrequencies(sequenceLength:into:)`): longrope picks
    /// its short or long set, dynamic NTK above `max_position_embeddings` recomputes its `headDim / 2`
    /// frequencies on each call (a prefill should fill a buffer once with
    /// `inverseFrequencies(sequenceLength:into:)` and use `angles(position:inverseFrequencies:…)`).
    /// Same bits as that two-step form. For `vision2D` this is `angles(row: position, column: position)`.
    public func angles(
        position: Int, sequenceLength: Int, cosines: UnsafeMutablePointer<Float>,
        sines: UnsafeMutablePointer<Float>
    ) {
        switch kind {
        case .dynamicNTK(let factor, let m) where sequenceLength > m:
            let base = dynamicBase(sequenceLength: sequenceLength, factor: factor, maxPositionEmbeddings: m)
            let p = Float(position)
            for i in 0..<pairs {
                let angle = p * (1 / powf(base, Float(2 * i) / Float(headDim)))
                cosines[i] = cos(angle)
                sines[i] = sin(angle)
            }
        case .longRoPE(_, _, let original) where sequenceLength > original:
            longInverseFrequencies.withUnsafeBufferPointer { inv in
                angles(position: position, inverseFrequencies: inv.baseAddress!, cosines: cosines, sines: sines)
            }
        default:
            angles(position: position, cosines: cosines, sines: sines)
        }
    }

    /// `cos` and `sin` of `Float(position) · inverseFrequencies[i]` for `i < headDim / 2`, times
    /// `attentionScaling` (fp32 product, as transformers' `emb.cos() * attention_scaling`).
    /// `inverseFrequencies`: `[headDim / 2]` (from `inverseFrequencies(sequenceLength:into:)`);
    /// `cosines`, `sines`: `[headDim / 2]`.
    public func angles(
        position: Int, inverseFrequencies inv: UnsafePointer<Float>,
        cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>
    ) {
        let p = Float(position)
        for i in 0..<pairs {
            let angle = p * inv[i]
            cosines[i] = cos(angle)
            sines[i] = sin(angle)
        }
        scale(cosines, sines)
    }

    /// M-RoPE: `cos` and `sin` of `Float(axis) · inverseFrequencies[i]` where angle `i` takes `t` for
    /// `i < s0`, `h` for `s0 ≤ i < s0 + s1`, `w` above (`sections` = `mrope_section`; [16, 24, 24] for
    /// head_dim 128), as transformers 5.24 `Qwen2VLRotaryEmbedding.recomposition_frequencies` (4.x
    /// `apply_multimodal_rotary_pos_emb`, non-interleaved). `cosines`, `sines`: `[headDim / 2]`.
    /// Positions come from the prompt builder (`get_rope_index`): (p, p, p) for text, (start, start +
    /// row, start + column) for the tokens of a merged image grid. For a kind other than `multiAxis`
    /// only `t` is used.
    public func angles(
        positions: (t: Int, h: Int, w: Int), cosines: UnsafeMutablePointer<Float>,
        sines: UnsafeMutablePointer<Float>
    ) {
        guard case .multiAxis(let sections) = kind else {
            angles(position: positions.t, cosines: cosines, sines: sines)
            return
        }
        let t = Float(positions.t), h = Float(positions.h), w = Float(positions.w)
        let hStart = sections[0], wStart = sections[0] + sections[1]
        inverseFrequencies.withUnsafeBufferPointer { inv in
            for i in 0..<pairs {
                let p = i < hStart ? t : (i < wStart ? h : w)
                let angle = p * inv[i]
                cosines[i] = cos(angle)
                sines[i] = sin(angle)
            }
        }
        scale(cosines, sines)
    }

    /// 2-D vision rotary of one patch: with `q = headDim / 4`, `cos`/`sin` of `Float(row) · inv[j]` at
    /// `j` and of `Float(column) · inv[j]` at `q + j` (`j < q`), as transformers 5.24
    /// `Qwen2VLVisionRotaryEmbedding` (`cat(freq_h, freq_w)`; 4.x `VisionRotaryEmbedding(head_dim/2)`
    /// indexed by `pos_ids`). `cosines`, `sines`: `[headDim / 2]` (40 for Qwen2-VL's head_dim 80).
    /// `row`, `column`: the patch's place in the unmerged grid (`patchPosition(index:…)`). For a kind
    /// other than `vision2D` this is `angles(position: row)`.
    public func angles(row: Int, column: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        guard case .vision2D = kind else {
            angles(position: row, cosines: cosines, sines: sines)
            return
        }
        inverseFrequencies.withUnsafeBufferPointer { inv in
            visionAngles(row: row, column: column, inv: inv.baseAddress!, cosines: cosines, sines: sines)
        }
    }

    @inline(__always)
    private func visionAngles(
        row: Int, column: Int, inv: UnsafePointer<Float>, cosines: UnsafeMutablePointer<Float>,
        sines: UnsafeMutablePointer<Float>
    ) {
        let q = headDim / 4, r = Float(row), c = Float(column)
        for j in 0..<q {
            let a = r * inv[j], b = c * inv[j]
            cosines[j] = cos(a)
            sines[j] = sin(a)
            cosines[q + j] = cos(b)
            sines[q + j] = sin(b)
        }
        scale(cosines, sines)
    }

    @inline(__always)
    private func scale(_ cosines: UnsafeMutablePointer<Float>, _ sines: UnsafeMutablePointer<Float>) {
        let s = attentionScaling
        guard s != 1 else { return }
        for i in 0..<pairs {
            cosines[i] *= s
            sines[i] *= s
        }
    }

    // MARK: Rotation

    /// Rotates `heads` consecutive head vectors of `headDim` floats at `v` in place by the
    /// `headDim / 2` angles in `cosines`/`sines` (transformers `apply_rotary_pos_emb`,
    /// `rotate_half` layout): `x[i] = a·c − b·s`, `x[i + half] = b·c + a·s` with `a = x[i]`,
    /// `b = x[i + half]`. Any kind (the angles carry the kind). Allocates nothing.
    public static func rotate(
        _ v: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
        cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>
    ) {
        let half = headDim / 2
        for h in 0..<heads {
            let x = v + h * headDim
            for i in 0..<half {
                let a = x[i], b = x[i + half]
                x[i] = a * cosines[i] - b * sines[i]
                x[i + half] = b * cosines[i] + a * sines[i]
            }
        }
    }

    // MARK: Vision patch order

    /// (row, column) in the unmerged patch grid of the patch at `index` in Qwen2-VL's patch order
    /// (`gridWidth` patches per row, `mergeSize × mergeSize` merge blocks; 2 for Qwen2-VL): patches
    /// walk the merge blocks in raster order and, inside a block, its `mergeSize²` patches in raster
    /// order (top-left, top-right, bottom-left, bottom-right for 2). transformers 5.24
    /// `vision_utils.get_vision_position_ids` (`reshape(h/m, m, w/m, m).transpose(1, 2)`). Frames
    /// (t > 1) repeat the order: pass `index % (gridHeight · gridWidth)`. `gridWidth` must be a
    /// multiple of `mergeSize`.
    public static func patchPosition(index: Int, gridWidth: Int, mergeSize: Int) -> (row: Int, column: Int) {
        let blockArea = mergeSize * mergeSize, blocksPerRow = gridWidth / mergeSize
        let block = index / blockArea, inBlock = index % blockArea
        let blockRow = block / blocksPerRow, blockColumn = block % blocksPerRow
        return (blockRow * mergeSize + inBlock / mergeSize, blockColumn * mergeSize + inBlock % mergeSize)
    }
}

/// The rotary position of one token: `(t, h, w)` for M-RoPE (Qwen2-VL's `position_ids[:, 0, i]`),
/// the same number three times for 1-D RoPE (LLaMA) and for text tokens under M-RoPE.
public struct RotaryPosition: Hashable, Sendable, CustomStringConvertible {
    public var t: Int
    public var h: Int
    public var w: Int

    /// A 1-D position (or a text token's M-RoPE position): `(p, p, p)`.
    @inline(__always)
    public init(_ p: Int) {
        t = p
        h = p
        w = p
    }

    public init(t: Int, h: Int, w: Int) {
        self.t = t
        self.h = h
        self.w = w
    }

    /// The largest of the three axes (`get_rope_index`'s `max()` for `rope_delta` and the next text position).
    public var maximum: Int { max(t, h, w) }

    public var description: String { t == h && h == w ? "\(t)" : "(\(t), \(h), \(w))" }
}

extension RotaryEmbedding {
    /// `angles(positions:)` of a `RotaryPosition` (1-D kinds use `t`; `vision2D` is not meant here).
    @inline(__always)
    public func angles(_ p: RotaryPosition, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        if p.t == p.h && p.h == p.w {
            angles(position: p.t, cosines: cosines, sines: sines)
        } else {
            angles(positions: (p.t, p.h, p.w), cosines: cosines, sines: sines)
        }
    }
}
