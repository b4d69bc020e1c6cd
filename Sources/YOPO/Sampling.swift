import Foundation

/// Decoding settings, as transformers' `GenerationConfig` names them.
public struct GenerationParameters: Sendable, Equatable, Codable {
    /// Upper bound on generated tokens (`max_new_tokens`).
    public var maxTokens: Int
    /// 0 = greedy (argmax); otherwise logits are divided by it before sampling.
    public var temperature: Float
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP` (1 = off).
    public var topP: Float
    /// Keep only the `topK` most likely tokens (0 = off).
    public var topK: Int
    /// Seed of the sampling RNG; the same seed and inputs give the same tokens.
    public var seed: UInt64

    public init(maxTokens: Int = 128, temperature: Float = 0, topP: Float = 1, topK: Int = 0, seed: UInt64 = 0) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
    }

    /// Throws `GenerationError.invalidParameter` naming the field when a value is out of range.
    public func validate() throws {
        guard maxTokens >= 1 else { throw GenerationError.invalidParameter("max-tokens must be at least 1") }
        guard temperature >= 0, temperature.isFinite else {
            throw GenerationError.invalidParameter("temperature must be a finite number ≥ 0")
        }
        guard topP > 0, topP <= 1 else { throw GenerationError.invalidParameter("top-p must be in (0, 1]") }
        guard topK >= 0 else { throw GenerationError.invalidParameter("top-k must be ≥ 0") }
    }
}

/// xoshiro256** seeded through SplitMix64: a small, fast, reproducible generator.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        func rotl(_ v: UInt64, _ k: UInt64) -> UInt64 { (v << k) | (v >> (64 - k)) }
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }
}

/// Picks the next token from logits: argmax when `temperature == 0`, else temperature → top-k →
/// top-p → sample (the order of transformers' logits warpers).
public struct Sampler {
    public let parameters: GenerationParameters
    private var generator: SeededGenerator

    public init(parameters: GenerationParameters) {
        self.parameters = parameters
        generator = SeededGenerator(seed: parameters.seed)
    }

    /// Index of the first maximum (as `torch.argmax`).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var value = -Float.infinity
        for (i, v) in logits.enumerated() where v > value {
            value = v
            best = i
        }
        return best
    }

    /// The next token id for one row of logits `[vocab_size]`.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if parameters.temperature == 0 { return Sampler.argmax(logits) }
        let t = parameters.temperature
        // Candidates in a total order: descending logit, ties by the lower id, NaN as −∞ (a comparison
        // with NaN would break the sort's ordering). Probabilities are summed in this order, one
        // thread, so a seed gives the same tokens on every machine that computes the same logits.
        var order = Array(0..<logits.count)
        order.sort { i, j in
            let a = logits[i].isNaN ? -Float.infinity : logits[i], b = logits[j].isNaN ? -Float.infinity : logits[j]
            return a > b || (a == b && i < j)
        }
        var keep = order.count
        if parameters.topK > 0, parameters.topK < keep {
            // Tokens tied with the k-th logit stay, as in transformers' TopKLogitsWarper.
            let threshold = logits[order[parameters.topK - 1]]
            keep = parameters.topK
            while keep < order.count && logits[order[keep]] == threshold { keep += 1 }
        }
        let maxLogit = logits[order[0]] / t
        var probabilities = [Double](repeating: 0, count: keep)
        var sum = 0.0
        for i in 0..<keep {
            let p = Double(exp(logits[order[i]] / t - maxLogit))
            probabilities[i] = p
            sum += p
        }
        if parameters.topP < 1 {
            // Smallest prefix whose mass reaches top_p (at least one token).
            var cumulative = 0.0
            var cut = keep
            for i in 0..<keep {
                cumulative += probabilities[i] / sum
                if cumulative >= Double(parameters.topP) {
                    cut = i + 1
                    break
                }
            }
            keep = cut
            sum = probabilities[0..<keep].reduce(0, +)
        }
        let u = Double(generator.next() >> 11) * 0x1.0p-53 * sum
        var acc = 0.0
        for i in 0..<keep {
            acc += probabilities[i]
            if u < acc { return order[i] }
        }
        return order[keep - 1]
    }
}
