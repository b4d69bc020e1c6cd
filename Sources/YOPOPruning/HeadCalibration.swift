import Foundation

// Head-mask calibration (issue 14, METHOD.md §4.2): from the attention a few calibration samples pay to
// visual keys, which heads stay active for visual tokens. The rules only; collecting the masses from
// the engine's attention and the `yopo calibrate` command come next.

/// The attention mass one calibration sample's saved query rows pay, in one layer and head, to each
/// key group (`res_v`, `res_t`, `res_s` of the official `gen_mask_llava.py`).
public struct VisualAttentionMass: Sendable, Equatable {
    public var visual: Double
    public var text: Double
    public var system: Double

    public init(visual: Double, text: Double, system: Double) {
        self.visual = visual
        self.text = text
        self.system = system
    }

    /// `visual / (text + system)`, IEEE: `x/0` is ∞, `0/0` NaN (numpy's result, which the official
    /// comparisons then see).
    public var ratio: Double { visual / (text + system) }
}

/// How a head mask is chosen from calibration samples.
public enum HeadMaskRule: Sendable, Equatable {
    /// The official LLaVA rule (`gen_mask_llava.py`): in each sample a head is active when its ratio
    /// is above `alpha` — in the first `alwaysKeptLayers` layers when it is ≥ 0 (so a NaN ratio is
    /// never active) — and a head is kept when active in more than `votes` samples (official: α from
    /// 0.035 to 0.2, 40 votes of 100 samples, 2 layers).
    case llavaVote(alpha: Double, votes: Int, alwaysKeptLayers: Int)
    /// The `fraction` of all heads (rounded down) with the highest mean ratio over the samples (a NaN
    /// ratio counts 0), ties to the lower (layer, head); a way to reach a target budget.
    case keepFraction(Double)
}

public enum HeadCalibrationError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let s): return s
        }
    }
}

public enum HeadCalibration {
    /// The mask `[layers][heads]` (true = the head keeps its visual work) chosen by `rule` from
    /// `samples`, each `[layers][heads]` masses. Throws `HeadCalibrationError.invalid` for no samples,
    /// samples of different shapes, or a rule setting out of range (α not finite, votes < 0,
    /// alwaysKeptLayers < 0, fraction outside [0, 1]).
    public static func mask(_ samples: [[[VisualAttentionMass]]], rule: HeadMaskRule) throws -> [[Bool]] {
        guard let first = samples.first, !first.isEmpty, !first[0].isEmpty else {
            throw HeadCalibrationError.invalid("calibration needs at least one sample with at least one layer and head")
        }
        let layers = first.count, heads = first[0].count
        for (i, s) in samples.enumerated() where s.count != layers || s.contains(where: { $0.count != heads }) {
            throw HeadCalibrationError.invalid("sample \(i + 1) is not \(layers) layers × \(heads) heads like the first")
        }
        switch rule {
        case .llavaVote(let alpha, let votes, let alwaysKept):
            guard alpha.isFinite, votes >= 0, alwaysKept >= 0 else {
                throw HeadCalibrationError.invalid("llava rule: alpha must be finite, votes and always-kept layers at least 0")
            }
            return (0..<layers).map { l in
                (0..<heads).map { h in
                    let active = samples.filter { s in
                        let r = s[l][h].ratio
                        return l < alwaysKept ? r >= 0 : r > alpha
                    }.count
                    return active > votes
                }
            }
        case .keepFraction(let fraction):
            guard fraction >= 0, fraction <= 1 else { throw HeadCalibrationError.invalid("keep fraction must be in [0, 1]") }
            var mean = [Double](repeating: 0, count: layers * heads)
            for s in samples {
                for l in 0..<layers {
                    for h in 0..<heads {
                        let r = s[l][h].ratio
                        mean[l * heads + h] += r.isNaN ? 0 : r
                    }
                }
            }
            for i in mean.indices { mean[i] /= Double(samples.count) }
            let keep = Int((Double(layers * heads) * fraction).rounded(.down))
            let chosen = Set(mean.indices.sorted { mean[$0] != mean[$1] ? mean[$0] > mean[$1] : $0 < $1 }.prefix(keep))
            return (0..<layers).map { l in (0..<heads).map { h in chosen.contains(l * heads + h) } }
        }
    }

    /// The mask as a NumPy `.npy` file (version 1.0, `|b1`, C order, shape `(layers, heads)`), the
    /// official masks' format (METHOD.md §4.1): `np.load` reads it, and so does `yopo` (`heads=FILE`).
    public static func npyData(_ mask: [[Bool]]) -> Data {
        let layers = mask.count, heads = mask.first?.count ?? 0
        var header = "{'descr': '|b1', 'fortran_order': False, 'shape': (\(layers), \(heads)), }"
        // magic (6) + version (2) + length (2) + header + "\n", padded with spaces to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let length = UInt16(header.utf8.count)
        data += Data([UInt8(length & 0xFF), UInt8(length >> 8)])
        data += Data(header.utf8)
        for row in mask { data += Data(row.map { $0 ? 1 : 0 }) }
        return data
    }
}
