import Foundation
import XCTest
import YOPOCore

/// `RotaryEmbedding` against closed-form values and against the formula `LlamaDecoder` has always used.
///
/// Where the numbers come from (one Python 3.11 script, numpy 2.4.6, torch 2.13.0+cpu, transformers
/// 5.24.0; not needed to run these tests):
/// - "closed form" inverse frequencies are fp64 evaluations of the formula named at each test
///   (e.g. `θ^(−2i/d)`), printed with 12 significant digits and compared at 1e-6 relative.
/// - expected cosines and sines are fp64 `cos`/`sin` of the fp32 angle transformers forms,
///   `np.float32(p) * inv32[i]`, where `inv32` evaluates the same formula in transformers' fp32 order
///   (exponent `np.float32(2i) / np.float32(d)`, power correctly rounded to fp32, then `1 / x` in fp32).
///   Large positions make fp32 angles coarse (the angle at position 40000 has an ulp of 0.004 rad), so
///   comparing those with the fp64 angle would test fp32, not the code; the fp32 angle is the reference
///   stack's own. Compared at 1e-6 relative.
/// - the same script ran transformers 5.24's own rotaries on the same inputs (`LlamaRotaryEmbedding`
///   with default / linear / dynamic `rope_parameters`, `Phi3RotaryEmbedding` with longrope,
///   `Qwen2VLRotaryEmbedding` with `mrope_section` [16, 24, 24], `Qwen2VLVisionRotaryEmbedding` and
///   `vision_utils.get_vision_position_ids`); they agree with every value here to fp32 rounding
///   (their inverse frequencies equal these bit for bit except where torch's vectorised `pow` is off
///   by an ulp: 2 of 64 entries in the dynamic case at 40000), and the patch orders are theirs.
final class RotaryTests: XCTestCase {
    /// `|got − want| ≤ rel · |want|` for each element.
    func assertClose(
        _ got: [Float], _ want: [Double], rel: Double = 1e-6, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
        for (i, (g, w)) in zip(got, want).enumerated() where !(abs(Double(g) - w) <= rel * abs(w)) {
            XCTFail("\(what)[\(i)]: \(g), expected \(w) (rel \(abs(Double(g) - w) / abs(w)))", file: file, line: line)
        }
    }

    /// Runs one `angles(…)` call into fresh buffers of `count` floats.
    func angles(
        _ count: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    )
        -> (cos: [Float], sin: [Float])
    {
        var c = [Float](repeating: .nan, count: count), s = [Float](repeating: .nan, count: count)
        c.withUnsafeMutableBufferPointer { cp in
            s.withUnsafeMutableBufferPointer { sp in body(cp.baseAddress!, sp.baseAddress!) }
        }
        return (c, s)
    }

    func picked(_ values: [Float], _ indices: [Int]) -> [Float] { indices.map { values[$0] } }

    func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    // MARK: default and linear: bit for bit the formula LlamaDecoder has always used

    /// A copy of `LlamaDecoder`'s rotary code before `RotaryEmbedding` (Sources/YOPOModels/LlamaDecoder.swift
    /// at 4c61590: `init`, `ropeAngles`, `rotate`), which the existing goldens were made with.
    struct LegacyRoPE {
        let inverseFrequencies: [Float]
        let hd: Int
        init(theta: Float, factor: Float, hd: Int) {
            self.hd = hd
            inverseFrequencies = (0..<(hd / 2)).map { i in (1 / powf(theta, Float(2 * i) / Float(hd))) / factor }
        }
        func ropeAngles(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
            let p = Float(position)
            for i in 0..<(hd / 2) {
                let angle = p * inverseFrequencies[i]
                cosines[i] = cos(angle)
                sines[i] = sin(angle)
            }
        }
        func rotate(_ v: UnsafeMutablePointer<Float>, heads: Int, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>) {
            let half = hd / 2
            for h in 0..<heads {
                let x = v + h * hd
                for i in 0..<half {
                    let a = x[i], b = x[i + half]
                    x[i] = a * cosines[i] - b * sines[i]
                    x[i + half] = b * cosines[i] + a * sines[i]
                }
            }
        }
    }

    func testDefaultAndLinearEqualLlamaDecoderFormulaBitForBit() throws {
        let positions = [0, 1, 2, 17, 575, 4095, 4096, 32767, 131071, 1_000_003]
        var checked = 0
        for hd in [2, 8, 64, 80, 96, 128] {
            for theta: Float in [10000, 500000, 1_000_000, 12345.678] {
                for factor: Float in [1, 2, 4, 0.5, 3.3] {
                    let legacy = LegacyRoPE(theta: theta, factor: factor, hd: hd)
                    let kind: RotaryEmbedding.Kind = factor == 1 ? .default : .linear(factor: factor)
                    let rope = try RotaryEmbedding(kind: kind, headDim: hd, theta: theta)
                    // The same embedding read from a config.json section (4.x dialect).
                    var config: [String: Any] = ["rope_theta": Double(theta)]
                    if factor != 1 { config["rope_scaling"] = ["type": "linear", "factor": Double(factor)] as [String: Any] }
                    let parsed = try RotaryEmbedding(config: config, headDim: hd)
                    XCTAssertEqual(parsed, rope)
                    XCTAssertEqual(bits(rope.inverseFrequencies), bits(legacy.inverseFrequencies), "hd \(hd) θ \(theta) f \(factor)")
                    XCTAssertEqual(rope.attentionScaling, 1)
                    for p in positions {
                        let want = angles(hd / 2) { legacy.ropeAngles(position: p, cosines: $0, sines: $1) }
                        let got = angles(hd / 2) { rope.angles(position: p, cosines: $0, sines: $1) }
                        let withLength = angles(hd / 2) { rope.angles(position: p, sequenceLength: p + 1, cosines: $0, sines: $1) }
                        XCTAssertEqual(bits(got.cos), bits(want.cos), "cos hd \(hd) θ \(theta) f \(factor) p \(p)")
                        XCTAssertEqual(bits(got.sin), bits(want.sin), "sin hd \(hd) θ \(theta) f \(factor) p \(p)")
                        XCTAssertEqual(bits(withLength.cos), bits(want.cos))
                        XCTAssertEqual(bits(withLength.sin), bits(want.sin))
                        // Three heads of deterministic values rotated both ways.
                        let heads = 3
                        var v = (0..<(heads * hd)).map { Float(($0 * 7919 + p) % 2001 - 1000) / 337 }
                        var w = v
                        want.cos.withUnsafeBufferPointer { c in
                            want.sin.withUnsafeBufferPointer { s in
                                v.withUnsafeMutableBufferPointer {
                                    legacy.rotate($0.baseAddress!, heads: heads, cosines: c.baseAddress!, sines: s.baseAddress!)
                                }
                                w.withUnsafeMutableBufferPointer {
                                    RotaryEmbedding.rotate(
                                        $0.baseAddress!, heads: heads, headDim: hd, cosines: c.baseAddress!,
                                        sines: s.baseAddress!)
                                }
                            }
                        }
                        XCTAssertEqual(bits(w), bits(v), "rotate hd \(hd) θ \(theta) f \(factor) p \(p)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, 6 * 4 * 5 * positions.count)
    }

    /// Closed form: `inv[i] = θ^(−2i/d) / factor`; head_dim 8, θ = 10000 gives 1, 0.1, 0.01, 0.001.
    func testDefaultAndLinearClosedForm() throws {
        let rope = try RotaryEmbedding(kind: .default, headDim: 8, theta: 10000)
        assertClose(rope.inverseFrequencies, [1, 0.1, 0.01, 0.001], "default inv")
        var a = angles(4) { rope.angles(position: 3, cosines: $0, sines: $1) }
        assertClose(a.cos, [-0.9899924966, 0.955336485603, 0.999550033769, 0.999995500003], "default cos p=3")
        assertClose(a.sin, [0.14112000806, 0.29552021805, 0.0299954995322, 0.00299999552608], "default sin p=3")
        a = angles(4) { rope.angles(position: 1000, cosines: $0, sines: $1) }
        assertClose(a.cos, [0.562379076291, 0.862318872288, -0.839071529076, 0.540302305868], "default cos p=1000")
        assertClose(a.sin, [0.826879540532, -0.50636564111, -0.544021110889, 0.841470984808], "default sin p=1000")

        let linear = try RotaryEmbedding(kind: .linear(factor: 4), headDim: 8, theta: 10000)
        assertClose(linear.inverseFrequencies, [0.25, 0.025, 0.0025, 0.00025], "linear inv")
        a = angles(4) { linear.angles(position: 3, cosines: $0, sines: $1) }
        assertClose(a.cos, [0.731688868874, 0.997188817889, 0.999971875133, 0.99999971875], "linear cos p=3")
        assertClose(a.sin, [0.681638760023, 0.0749297102446, 0.00749992952006, 0.000749999936207], "linear sin p=3")
        a = angles(4) { linear.angles(position: 1000, cosines: $0, sines: $1) }
        assertClose(a.cos, [0.240988305285, 0.991202811863, -0.801143615547, 0.968912421711], "linear cos p=1000")
        assertClose(a.sin, [-0.970528019542, -0.132351750098, 0.598472144104, 0.247403959255], "linear sin p=1000")
    }

    /// rotate-half on two heads of width 4 with angles (0.5, 1.0): `x[i]·c − x[i+2]·s`, `x[i+2]·c + x[i]·s`,
    /// evaluated in fp64 (transformers `apply_rotary_pos_emb` gives the same to fp32 rounding).
    func testRotateHalfClosedForm() {
        var v: [Float] = [1, 2, 0.5, 0.25, -1, 3, 2, -0.5]
        let c: [Float] = [cos(0.5), cos(1.0)], s: [Float] = [sin(0.5), sin(1.0)]
        v.withUnsafeMutableBufferPointer {
            RotaryEmbedding.rotate($0.baseAddress!, heads: 2, headDim: 4, cosines: c, sines: s)
        }
        assertClose(
            v,
            [
                0.637869792588, 0.870236865534, 0.918216819549, 1.81801754608,
                -1.8364336391, 2.04164241001, 1.27573958518, 2.25426180149
            ], "rotated")
    }

    // MARK: dynamic NTK

    /// InternLM2.5-7B's shape: head_dim 128, θ = 1e6, `max_position_embeddings` 32768, factor 2.
    /// Closed form (transformers `_compute_dynamic_ntk_parameters`): for a call over L > M positions
    /// `base = θ·(f·L/M − (f − 1))^(d/(d−2))`, `inv[i] = base^(−2i/d)`; at L ≤ M the default frequencies.
    /// fp64 bases: 1449795.7419935765 (L = 40000), 5237276.124118846 (L = 100000); fp32 path 1449795.75, 5237276.0.
    func testDynamicNTKClosedForm() throws {
        let rope = try RotaryEmbedding(kind: .dynamicNTK(factor: 2, maxPositionEmbeddings: 32768), headDim: 128, theta: 1e6)
        let plain = try RotaryEmbedding(kind: .default, headDim: 128, theta: 1e6)
        XCTAssertEqual(bits(rope.inverseFrequencies), bits(plain.inverseFrequencies))
        var buffer = [Float](repeating: .nan, count: 64)
        for length in [1, 100, 32767, 32768] {
            buffer.withUnsafeMutableBufferPointer { rope.inverseFrequencies(sequenceLength: length, into: $0.baseAddress!) }
            XCTAssertEqual(bits(buffer), bits(plain.inverseFrequencies), "L \(length) ≤ M keeps the default frequencies")
            let got = angles(64) { rope.angles(position: length - 1, sequenceLength: length, cosines: $0, sines: $1) }
            let want = angles(64) { plain.angles(position: length - 1, cosines: $0, sines: $1) }
            XCTAssertEqual(bits(got.cos), bits(want.cos))
            XCTAssertEqual(bits(got.sin), bits(want.sin))
        }
        let sel = [0, 1, 16, 32, 63]
        struct Case {
            let length: Int
            let inv: [Double]
            let positions: [(Int, cos: [Double], sin: [Double])]
        }
        let cases = [
            Case(
                length: 40000, inv: [1, 0.801179043577, 0.0288186276009, 0.000830513296801, 8.60921590115e-07],
                positions: [
                    (
                        39999, [0.970780412992, -0.518815824491, -0.969357340008, -0.230878822528, 0.99940713946],
                        [0.239969560049, 0.85488603934, 0.245654935576, 0.972982512334, 0.0344291968557]
                    ),
                    (
                        5, [0.283662185463, -0.649170833827, 0.989636533239, 0.999991378107, 0.999999999991],
                        [-0.958924274663, -0.76064264179, 0.143595028043, 0.00415255472586, 4.30460750066e-06]
                    )
                ]),
            Case(
                length: 100000, inv: [1, 0.785260906444, 0.0209037225303, 0.000436965615623, 2.43153514545e-07],
                positions: [
                    (
                        99999, [-0.509875372418, -0.365793551741, -0.369613104186, 0.959331443312, 0.99970440229],
                        [0.86024828079, -0.930696017777, -0.929185747423, -0.282282096268, 0.024312713599]
                    ),
                    (
                        5, [0.283662185463, -0.707591858341, 0.994542900148, 0.999997613264, 0.999999999999],
                        [-0.958924274663, -0.706621371039, 0.104328422612, 0.00218482653947, 1.21576761103e-06]
                    )
                ])
        ]
        for c in cases {
            buffer.withUnsafeMutableBufferPointer { rope.inverseFrequencies(sequenceLength: c.length, into: $0.baseAddress!) }
            assertClose(picked(buffer, sel), c.inv, "inv L=\(c.length)")
            // Every frequency grows no faster than the base: inv[i] ≤ default inv[i], equal at i = 0.
            XCTAssertEqual(buffer[0], 1)
            XCTAssertTrue(zip(buffer, plain.inverseFrequencies).dropFirst().allSatisfy { $0 < $1 })
            for (p, cosines, sines) in c.positions {
                let oneStep = angles(64) { rope.angles(position: p, sequenceLength: c.length, cosines: $0, sines: $1) }
                let twoStep = angles(64) { cosines, sines in
                    buffer.withUnsafeBufferPointer {
                        rope.angles(position: p, inverseFrequencies: $0.baseAddress!, cosines: cosines, sines: sines)
                    }
                }
                assertClose(picked(oneStep.cos, sel), cosines, "cos L=\(c.length) p=\(p)")
                assertClose(picked(oneStep.sin, sel), sines, "sin L=\(c.length) p=\(p)")
                XCTAssertEqual(bits(oneStep.cos), bits(twoStep.cos))
                XCTAssertEqual(bits(oneStep.sin), bits(twoStep.sin))
            }
        }
    }

    // MARK: longrope

    /// Phi-3 style longrope: head_dim 16, θ = 10000, `original_max_position_embeddings` 4096,
    /// `max_position_embeddings` 131072, short factors 1…2, long factors 1…32 (made up, 8 each).
    /// Closed form (transformers `_compute_longrope_parameters`): `inv[i] = 1 / (f[i]·θ^(2i/d))`, short
    /// factors while the call's length ≤ 4096, long above; cos/sin × `√(1 + ln(131072/4096)/ln 4096)` =
    /// 1.1902380714238083 (the value FAMILIES.md gives for Phi-3-mini-128k).
    func testLongRoPEClosedForm() throws {
        let short: [Float] = [1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.6, 2.0]
        let long: [Float] = [1.0, 1.5, 2.5, 4.0, 7.0, 12.0, 20.0, 32.0]
        let kind = RotaryEmbedding.Kind.longRoPE(shortFactor: short, longFactor: long, originalMaxPositionEmbeddings: 4096)
        let rope = try RotaryEmbedding(kind: kind, headDim: 16, theta: 10000, maxPositionEmbeddings: 131072)
        assertClose([rope.attentionScaling], [1.1902380714238083], "attention factor")
        let shortInv: [Double] = [
            1, 0.310027221585, 0.0952380952381, 0.0287479787288, 0.00833333333333,
            0.00234242789642, 0.000625, 0.000158113883008
        ]
        let longInv: [Double] = [
            1, 0.210818510678, 0.04, 0.00790569415042, 0.00142857142857,
            0.000263523138347, 5e-05, 9.88211768803e-06
        ]
        assertClose(rope.inverseFrequencies, shortInv, "short inv")
        var buffer = [Float](repeating: .nan, count: 8)
        for (length, want) in [(1, shortInv), (4096, shortInv), (4097, longInv), (131072, longInv)] {
            buffer.withUnsafeMutableBufferPointer { rope.inverseFrequencies(sequenceLength: length, into: $0.baseAddress!) }
            assertClose(buffer, want, "inv L=\(length)")
        }
        // (position, call length, cos, sin): the call over 4096 positions still uses the short factors
        // (transformers#33129 / llama.cpp#24875: the switch is at 4097).
        let cases: [(Int, Int, [Double], [Double])] = [
            (0, 1, Array(repeating: 1.19023807142, count: 8), Array(repeating: 0, count: 8)),
            (
                1, 2,
                [0.643088374522, 1.13349379072, 1.18484424495, 1.18974627135, 1.19019674396, 1.19023480603, 1.19023783896, 1.19023805655],
                [
                    1.00155080212, 0.363123247771, 0.113184724536, 0.0342122268562, 0.00991853520522, 0.00278804453161, 0.000743898729582,
                    0.00018819317443
                ]
            ),
            (
                4095, 4096,
                [
                    -0.0785271429035, 1.11478917865, 1.07559350411, -0.103121116098, -1.08063034595, -1.17358716206, -0.994140746736,
                    0.949344033032
                ],
                [
                    -1.18764479306, 0.417027281891, 0.50967173806, -1.18576249818, 0.498903519806, -0.198393144341, 0.654485173511,
                    0.717922400829
                ]
            ),
            (
                4096, 4097,
                [
                    0.956940237238, -1.08415340348, 1.05728177626, 0.676959879643, 1.08101229146, 0.561632272936, 1.16536409464,
                    1.18926316139
                ],
                [
                    -0.707765532518, 0.491200635585, 0.546646057561, 0.978974968026, -0.498075388241, 1.04939785433, 0.242060309805,
                    0.0481642982744
                ]
            ),
            (
                10000, 10001,
                [
                    -1.13329156921, -1.17177024489, -0.625227701032, -1.03460482183, -0.176157016217, -1.04088133367, 1.04453217598,
                    1.18443108912
                ],
                [
                    -0.36375388083, -0.208856792693, -1.01279661755, -0.588438211984, 1.17713014247, 0.577263125353, 0.57063052846,
                    0.117429390699
                ]
            )
        ]
        for (p, length, cosines, sines) in cases {
            let a = angles(8) { rope.angles(position: p, sequenceLength: length, cosines: $0, sines: $1) }
            assertClose(a.cos, cosines, "cos p=\(p) L=\(length)")
            assertClose(a.sin, sines, "sin p=\(p) L=\(length)")
        }
        // Without a length: the short set (what transformers builds at init).
        let a = angles(8) { rope.angles(position: 4095, cosines: $0, sines: $1) }
        assertClose(a.cos, cases[2].2, "cos p=4095, short set")

        // Attention factor: explicit, from an explicit `factor`, and 1 when the factor is ≤ 1.
        XCTAssertEqual(try RotaryEmbedding(kind: kind, headDim: 16, theta: 10000, attentionFactor: 1.25).attentionScaling, 1.25)
        assertClose(
            [try RotaryEmbedding(kind: kind, headDim: 16, theta: 10000, scalingFactor: 8).attentionScaling],
            [(1 + log(8.0) / log(4096.0)).squareRoot()], "attention factor from factor 8")
        XCTAssertEqual(try RotaryEmbedding(kind: kind, headDim: 16, theta: 10000, maxPositionEmbeddings: 4096).attentionScaling, 1)
        XCTAssertEqual(try RotaryEmbedding(kind: kind, headDim: 16, theta: 10000).attentionScaling, 1)
    }

    // MARK: multi-axis (Qwen2-VL M-RoPE)

    /// Qwen2-VL-7B text rotary: head_dim 128, θ = 1e6, `mrope_section` [16, 24, 24]; closed form
    /// `inv[i] = θ^(−2i/128)` and angle `i` = (t if i < 16, h if 16 ≤ i < 40, w if i ≥ 40)·inv[i]
    /// (transformers `Qwen2VLRotaryEmbedding.recomposition_frequencies`). (6, 8, 9) is FAMILIES.md's worked
    /// example: the token at merged row 2, column 3 of a 4×5 grid starting at position 6.
    func testMultiAxisClosedForm() throws {
        let rope = try RotaryEmbedding(kind: .multiAxis(sections: [16, 24, 24]), headDim: 128, theta: 1e6)
        let plain = try RotaryEmbedding(kind: .default, headDim: 128, theta: 1e6)
        let sel = [0, 15, 16, 39, 40, 63]
        assertClose(
            picked(rope.inverseFrequencies, sel),
            [1, 0.0392418975848, 0.0316227766017, 0.000220673406908, 0.000177827941004, 1.24093776075e-06], "inv")
        let cases: [((t: Int, h: Int, w: Int), [Double], [Double])] = [
            (
                (6, 8, 9), [0.96017028665, 0.972409136867, 0.968170298944, 0.999998441704, 0.999998719278, 0.999999999938],
                [-0.279415498199, 0.233281955021, 0.250292373522, 0.0017653864486, 0.00160045073495, 1.11684403234e-05]
            ),
            (
                (3, 700, 20000), [-0.9899924966, 0.993078329455, -0.989535391848, 0.988092998457, -0.915129950276, 0.999692030492],
                [0.14112000806, 0.117453955092, -0.144290361011, 0.153857812283, -0.403158993584, 0.0248162078273]
            )
        ]
        for (thw, cosines, sines) in cases {
            let a = angles(64) { rope.angles(positions: thw, cosines: $0, sines: $1) }
            assertClose(picked(a.cos, sel), cosines, "cos \(thw)")
            assertClose(picked(a.sin, sel), sines, "sin \(thw)")
            // Each section is the 1-D rotary at its own axis, bit for bit.
            for (range, p) in [(0..<16, thw.t), (16..<40, thw.h), (40..<64, thw.w)] {
                let axis = angles(64) { plain.angles(position: p, cosines: $0, sines: $1) }
                XCTAssertEqual(bits(Array(a.cos[range])), bits(Array(axis.cos[range])), "\(thw) \(range)")
                XCTAssertEqual(bits(Array(a.sin[range])), bits(Array(axis.sin[range])), "\(thw) \(range)")
            }
        }
        // A text token (t = h = w) is the 1-D default rotary, bit for bit, and so is a scalar position.
        for p in [0, 1, 31, 5000, 100_000] {
            let a = angles(64) { rope.angles(positions: (p, p, p), cosines: $0, sines: $1) }
            let b = angles(64) { rope.angles(position: p, cosines: $0, sines: $1) }
            let want = angles(64) { plain.angles(position: p, cosines: $0, sines: $1) }
            XCTAssertEqual(bits(a.cos), bits(want.cos))
            XCTAssertEqual(bits(a.sin), bits(want.sin))
            XCTAssertEqual(bits(b.cos), bits(want.cos))
            XCTAssertEqual(bits(b.sin), bits(want.sin))
        }
    }

    // MARK: 2-D vision rotary (Qwen2-VL ViT)

    /// Patch order of transformers 5.24 `vision_utils.get_vision_position_ids(grid_thw, 2)`: 2×2 merge
    /// blocks in raster order, the block's patches TL, TR, BL, BR; frames repeat it.
    func testVisionPatchOrder() {
        func order(_ h: Int, _ w: Int, frames: Int = 1) -> [[Int]] {
            (0..<(frames * h * w)).map {
                let p = RotaryEmbedding.patchPosition(index: $0 % (h * w), gridWidth: w, mergeSize: 2)
                return [p.row, p.column]
            }
        }
        XCTAssertEqual(
            order(4, 4),
            [
                [0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3],
                [2, 0], [2, 1], [3, 0], [3, 1], [2, 2], [2, 3], [3, 2], [3, 3]
            ])
        XCTAssertEqual(order(2, 4), [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3]])
        XCTAssertEqual(order(2, 2, frames: 2), [[0, 0], [0, 1], [1, 0], [1, 1], [0, 0], [0, 1], [1, 0], [1, 1]])
        // FAMILIES.md's formula: row ((bh·(gw/2) + bw)·2 + mh)·2 + mw holds the patch at (2bh+mh, 2bw+mw).
        let gh = 6, gw = 10
        for bh in 0..<(gh / 2) {
            for bw in 0..<(gw / 2) {
                for mh in 0..<2 {
                    for mw in 0..<2 {
                        let p = RotaryEmbedding.patchPosition(index: ((bh * (gw / 2) + bw) * 2 + mh) * 2 + mw, gridWidth: gw, mergeSize: 2)
                        XCTAssertEqual([p.row, p.column], [2 * bh + mh, 2 * bw + mw])
                    }
                }
            }
        }
    }

    /// Qwen2-VL ViT: head_dim 80, θ = 10000; closed form `inv[j] = 10000^(−2j/40)` (j < 20), angle j =
    /// row·inv[j] for j < 20 and column·inv[j − 20] for 20 ≤ j < 40 (transformers
    /// `Qwen2VLVisionRotaryEmbedding`); patches 13 and 15 of a 4×4 grid with merge 2 sit at (2, 3) and (3, 3).
    func testVision2DClosedForm() throws {
        let rope = try RotaryEmbedding(kind: .vision2D, headDim: 80, theta: 10000)
        XCTAssertEqual(rope.pairs, 40)
        assertClose(rope.inverseFrequencies, (0..<20).map { pow(10000, -Double(2 * $0) / 40) }, "inv")
        assertClose(picked(rope.inverseFrequencies, [1, 5, 19]), [0.63095734448, 0.1, 0.000158489319246], "inv listed")
        let sel = [0, 1, 7, 19, 20, 21, 27, 39]
        let cases: [(Int, [Double], [Double])] = [
            (
                13,
                [
                    -0.416146836547, 0.30399346646, 0.996831887252, 0.999999949762, -0.9899924966, -0.31653604814, 0.992876452427,
                    0.999999886965
                ],
                [
                    0.909297426826, 0.952674116553, 0.0795373406551, 0.000316978659761, 0.14112000806, 0.948580481682, 0.119148437738,
                    0.000475467979688
                ]
            ),
            (
                15,
                [
                    -0.9899924966, -0.31653604814, 0.992876452427, 0.999999886965, -0.9899924966, -0.31653604814, 0.992876452427,
                    0.999999886965
                ],
                [
                    0.14112000806, 0.948580481682, 0.119148437738, 0.000475467979688, 0.14112000806, 0.948580481682, 0.119148437738,
                    0.000475467979688
                ]
            )
        ]
        let rows = try RotaryEmbedding(kind: .default, headDim: 40, theta: 10000)
        for (index, cosines, sines) in cases {
            let p = RotaryEmbedding.patchPosition(index: index, gridWidth: 4, mergeSize: 2)
            let a = angles(40) { rope.angles(row: p.row, column: p.column, cosines: $0, sines: $1) }
            assertClose(picked(a.cos, sel), cosines, "cos patch \(index)")
            assertClose(picked(a.sin, sel), sines, "sin patch \(index)")
            // First half: the 1-D rotary of a 40-wide head at the row; second half: at the column.
            let r = angles(20) { rows.angles(position: p.row, cosines: $0, sines: $1) }
            let c = angles(20) { rows.angles(position: p.column, cosines: $0, sines: $1) }
            XCTAssertEqual(bits(a.cos), bits(r.cos + c.cos))
            XCTAssertEqual(bits(a.sin), bits(r.sin + c.sin))
        }
        // Every patch of the 4×4 grid: angle j < 20 follows the row, j ≥ 20 the column.
        for index in 0..<16 {
            let p = RotaryEmbedding.patchPosition(index: index, gridWidth: 4, mergeSize: 2)
            let a = angles(40) { rope.angles(row: p.row, column: p.column, cosines: $0, sines: $1) }
            assertClose(
                [a.cos[1], a.cos[21]],
                [
                    cos(Double(Float(p.row) * rope.inverseFrequencies[1])),
                    cos(Double(Float(p.column) * rope.inverseFrequencies[1]))
                ], "patch \(index)")
        }
    }

    // MARK: config.json parsing

    func testParsesEachFamilyConfig() throws {
        // LLaVA-1.5 (llava-hf, Vicuna): no rope keys.
        var rope = try RotaryEmbedding(config: try json(#"{"hidden_size": 4096, "rope_scaling": null}"#), headDim: 128)
        XCTAssertEqual(rope.kind, .default)
        XCTAssertEqual(rope.theta, 10000)
        // 4.x linear and 5.x rope_parameters (θ inside the dictionary wins, as standardize_rope_params does).
        rope = try RotaryEmbedding(
            config: try json(#"{"rope_theta": 500000.0, "rope_scaling": {"type": "linear", "factor": 2.0}}"#), headDim: 64)
        XCTAssertEqual(rope.kind, .linear(factor: 2))
        XCTAssertEqual(rope.theta, 500000)
        rope = try RotaryEmbedding(
            config: try json(#"{"rope_theta": 1.0, "rope_parameters": {"rope_type": "linear", "factor": 3, "rope_theta": 20000}}"#),
            headDim: 64)
        XCTAssertEqual(rope.kind, .linear(factor: 3))
        XCTAssertEqual(rope.theta, 20000)
        // An empty rope_scaling falls through to rope_parameters (transformers: `rope_scaling or rope_parameters`).
        rope = try RotaryEmbedding(
            config: try json(#"{"rope_scaling": {}, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000}}"#), headDim: 64)
        XCTAssertEqual(rope.kind, .default)
        XCTAssertEqual(rope.theta, 1e6)
        // InternLM2.5-7B.
        rope = try RotaryEmbedding(
            config: try json(
                #"{"rope_theta": 1000000, "max_position_embeddings": 32768, "rope_scaling": {"type": "dynamic", "factor": 2.0}}"#),
            headDim: 128)
        XCTAssertEqual(rope.kind, .dynamicNTK(factor: 2, maxPositionEmbeddings: 32768))
        // Phi-3-mini-128k shape: original_max_position_embeddings at the top level, old type "su".
        let factors = "[" + Array(repeating: "1.5", count: 48).joined(separator: ", ") + "]"
        rope = try RotaryEmbedding(
            config: try json(
                """
                {"rope_theta": 10000.0, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
                 "rope_scaling": {"type": "su", "short_factor": \(factors), "long_factor": \(factors)}}
                """), headDim: 96)
        XCTAssertEqual(
            rope.kind,
            .longRoPE(
                shortFactor: Array(repeating: 1.5, count: 48), longFactor: Array(repeating: 1.5, count: 48),
                originalMaxPositionEmbeddings: 4096))
        assertClose([rope.attentionScaling], [1.1902380714238083], "Phi-3 attention factor")
        // 5.x longrope with everything inside the dictionary, explicit factor and attention factor.
        rope = try RotaryEmbedding(
            config: try json(
                """
                {"rope_parameters": {"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 1.0,
                 "original_max_position_embeddings": 8192, "factor": 4, "attention_factor": 1.5,
                 "short_factor": \(factors), "long_factor": \(factors)}}
                """), headDim: 96)
        XCTAssertEqual(
            rope.kind,
            .longRoPE(
                shortFactor: Array(repeating: 1.5, count: 48), longFactor: Array(repeating: 1.5, count: 48),
                originalMaxPositionEmbeddings: 8192))
        XCTAssertEqual(rope.attentionScaling, 1.5)
        // Qwen2-VL text: 4.x and the dictionary 5.24 writes (`type` mrope + `rope_type` default).
        for text in [
            #"{"rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}"#,
            #"{"rope_parameters": {"type": "mrope", "mrope_section": [16, 24, 24], "rope_theta": 1000000.0, "rope_type": "default"}}"#
        ] {
            rope = try RotaryEmbedding(config: try json(text), headDim: 128)
            XCTAssertEqual(rope.kind, .multiAxis(sections: [16, 24, 24]))
            XCTAssertEqual(rope.theta, 1e6)
        }
        // Qwen2-VL vision_config as 5.24 writes it.
        rope = try RotaryEmbedding(
            config: try json(#"{"embed_dim": 1280, "num_heads": 16, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"}}"#),
            headDim: 80)
        XCTAssertEqual(rope.kind, .vision2D)
        XCTAssertEqual(rope.inverseFrequencies.count, 20)
        // Swift values instead of JSONSerialization's NSNumbers.
        rope = try RotaryEmbedding(
            config: ["rope_theta": 10000, "rope_scaling": ["rope_type": "linear", "factor": 2] as [String: Any]], headDim: 8)
        XCTAssertEqual(rope.kind, .linear(factor: 2))
    }

    func testParseErrorsNameTheKeyAndWhatIsAllowed() throws {
        func message(_ text: String, headDim: Int = 128, keyPath: String = "") -> String {
            do {
                let config = try json(text)
                _ = try RotaryEmbedding(config: config, headDim: headDim, keyPath: keyPath)
                return "no error"
            } catch let error as RotaryConfigurationError {
                return error.description
            } catch {
                return "unexpected \(error)"
            }
        }
        let supported = "default, linear, dynamic, longrope, su, mrope, axial"
        XCTAssertEqual(
            message(#"{"rope_scaling": {"rope_type": "yarn", "factor": 4}}"#),
            "rope_scaling.rope_type \"yarn\" is not supported (supported: \(supported))")
        XCTAssertEqual(
            message(#"{"rope_parameters": {"type": "llama3"}}"#, keyPath: "text_config."),
            "text_config.rope_parameters.type \"llama3\" is not supported (supported: \(supported))")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear"}}"#),
            "rope_scaling.factor is required for rope_type \"linear\"")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear", "factor": -2}}"#),
            "rope_scaling.factor must be a positive number within fp32's range, found -2")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear", "factor": 0}}"#),
            "rope_scaling.factor must be a positive number within fp32's range, found 0")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear", "factor": "2"}}"#),
            "rope_scaling.factor must be a number, found \"2\"")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear", "factor": true}}"#),
            "rope_scaling.factor must be a number, found true")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "dynamic", "factor": 2}}"#),
            "max_position_embeddings is required for rope_type \"dynamic\"")
        XCTAssertEqual(
            message(#"{"max_position_embeddings": 0, "rope_scaling": {"type": "dynamic", "factor": 2}}"#),
            "max_position_embeddings must be a positive integer, found 0")
        XCTAssertEqual(
            message(#"{"max_position_embeddings": 4096.5, "rope_scaling": {"type": "dynamic", "factor": 2}}"#),
            "max_position_embeddings must be a positive integer, found 4096.5")
        XCTAssertEqual(message(#"{"rope_theta": 1e300}"#), "rope_theta must be a positive number within fp32's range, found 1e+300")
        XCTAssertEqual(
            message(#"{"rope_parameters": {"rope_theta": -1}}"#),
            "rope_parameters.rope_theta must be a positive number within fp32's range, found -1")
        XCTAssertEqual(
            message(#"{"rope_scaling": [1, 2]}"#),
            "rope_scaling must be an object such as {\"rope_type\": \"linear\", \"factor\": 2}, found an array")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"rope_type": 3}}"#),
            "rope_scaling.rope_type must be a string (\(supported)), found 3")
        // longrope
        XCTAssertEqual(
            message(#"{"max_position_embeddings": 131072, "rope_scaling": {"type": "longrope", "long_factor": [1, 1]}}"#, headDim: 4),
            "rope_scaling.short_factor is required for rope_type \"longrope\"")
        XCTAssertEqual(
            message(
                #"{"max_position_embeddings": 131072, "rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [1, 1, 1]}}"#,
                headDim: 4),
            "rope_scaling.long_factor must be head_dim / 2 = 2 numbers, found 3 numbers")
        XCTAssertEqual(
            message(
                #"{"max_position_embeddings": 131072, "rope_scaling": {"type": "longrope", "short_factor": [1, -1], "long_factor": [1, 1]}}"#,
                headDim: 4),
            "rope_scaling.short_factor[1] must be a positive number within fp32's range, found -1")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [1, 1]}}"#, headDim: 4),
            "original_max_position_embeddings is required for rope_type \"longrope\"")
        XCTAssertEqual(
            message(
                #"{"original_max_position_embeddings": 4096, "rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [1, 1], "attention_factor": 0}}"#,
                headDim: 4),
            "rope_scaling.attention_factor must be a positive number within fp32's range, found 0")
        // mrope
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "mrope"}}"#),
            "rope_scaling.mrope_section is required for rope_type \"mrope\"")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 16]}}"#),
            "rope_scaling.mrope_section must be three non-negative sizes (t, h, w) summing to head_dim / 2 = 64, found [16, 24, 16]")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "mrope", "mrope_section": [16, 24.5, 24]}}"#),
            "rope_scaling.mrope_section[1] must be a non-negative integer, found 24.5")
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "linear", "factor": 2, "mrope_section": [16, 24, 24]}}"#),
            "rope_scaling.mrope_section must be absent for rope_type \"linear\" (M-RoPE combines only with default frequencies), found [16, 24, 24]"
        )
        XCTAssertEqual(
            message(#"{"rope_scaling": {"type": "mrope", "mrope_section": [24, 20, 20], "mrope_interleaved": true}}"#),
            "rope_scaling.mrope_interleaved true is not supported (supported: false (Qwen2-VL's sectioned M-RoPE))")
        // shared keys
        XCTAssertEqual(
            message(#"{"partial_rotary_factor": 0.5}"#),
            "partial_rotary_factor must be 1 (partial rotary embeddings are not supported), found 0.5")
        XCTAssertEqual(message(#"{}"#, headDim: 7), "head_dim must be a positive even number, found 7")
        XCTAssertEqual(
            message(#"{"rope_parameters": {"rope_type": "axial"}}"#, headDim: 6),
            "head_dim must be a positive multiple of 4 for the 2-D vision rotary, found 6")
        // Swift Bool is no number either.
        XCTAssertThrowsError(try RotaryEmbedding(config: ["rope_scaling": ["type": "linear", "factor": true] as [String: Any]], headDim: 8))
        {
            XCTAssertEqual(($0 as? RotaryConfigurationError)?.description, "rope_scaling.factor must be a number, found true")
        }
        // The designated initializer names the same keys.
        XCTAssertThrowsError(try RotaryEmbedding(kind: .linear(factor: .infinity), headDim: 8, theta: 10000)) {
            XCTAssertEqual(
                ($0 as? RotaryConfigurationError)?.description, "factor must be a positive number within fp32's range, found inf")
        }
        XCTAssertThrowsError(try RotaryEmbedding(kind: .default, headDim: 8, theta: 10000, attentionFactor: 2)) {
            XCTAssertEqual(
                ($0 as? RotaryConfigurationError)?.description, "attention_factor must be absent: only longrope defines one, found 2.0")
        }
    }
}
