import Foundation
import YOPOCore
import YOPOModels
import YOPOText
import YOPOPruning

// Scoring a pruned run against the dense one (`yopo compare`): the logits before the first answer
// token, and teacher forcing — every method is fed the same continuation (the dense model's greedy
// answer) and its argmax is read at each step, so one early disagreement does not derail the rest.

/// One request run with teacher forcing (or greedily, when nothing is forced).
public struct TeacherForcedRun: Sendable {
    /// Logits after the prefill (those that pick the first answer token), `vocab_size` values.
    public var firstLogits: [Float]
    /// Argmax of the logits at each step (step 0 = after the prefill; step j after feeding token j − 1).
    public var argmax: [Int]
    /// The tokens fed after steps 0…argmax.count − 2 (the forced ones, or the argmax when greedy).
    public var fed: [Int]
    public var promptTokens: Int
    public var visualTokens: Int
    /// Executed FLOPs of the whole run (prefill and every decode call made), docs/FLOPS.md `full` rules.
    public var flops: ExecutedFLOPs
    /// Wall-clock milliseconds of the prefill (input embeddings + decoder) and of the decode calls.
    public var timingsMS: Timings
    public var visualKVCache: VisualKVReport
    public var prune: PruningReport

    /// Executed FLOPs up to the first answer token: vision tower, projector and decoder prefill
    /// (the LM head of the last prompt row included).
    public var prefillPhaseFLOPs: Int { flops.vision + flops.projector + flops.prefill }
}

extension Session {
    /// The logits `generate` picks its first token from (after the prefill), `vocab_size` values.
    /// Throws as `generate(_:onText:)`.
    public func prefillLogits(_ request: GenerationRequest) throws -> [Float] {
        try exclusive {
            let sequence = try start(request)
            return Array(UnsafeBufferPointer(start: sequence.logits.data, count: sequence.logits.count))
        }
    }

    /// Runs `request`'s prefill, then up to `steps` steps: at each the argmax of the current logits is
    /// recorded, then the next token is fed — `forcing[j]` when given (teacher forcing), else the
    /// argmax itself (greedy; it stops after an end-of-sequence argmax). With `forcing`, `steps` is
    /// `forcing.count` and only `forcing[0..<count − 1]` is fed. The request's sampling parameters
    /// are ignored. Stops early when the context is full.
    /// Throws `GenerationError.invalidParameter` for `steps` < 1 (or an empty `forcing`), else as
    /// `generate(_:onText:)`.
    public func score(_ request: GenerationRequest, steps: Int, forcing: [Int]? = nil) throws -> TeacherForcedRun {
        try exclusive { try teacherForced(request, steps: steps, forcing: forcing) }
    }

    func teacherForced(_ request: GenerationRequest, steps: Int, forcing: [Int]?) throws -> TeacherForcedRun {
        let steps = forcing?.count ?? steps
        guard steps >= 1 else { throw GenerationError.invalidParameter("teacher forcing needs at least one step") }
        let vocabulary = model.decoder.spec.vocabSize
        if let bad = forcing?.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw GenerationError.invalidParameter("forced token \(bad) is outside the vocabulary [0, \(vocabulary))")
        }
        var request = request
        request.parameters = GenerationParameters(maxTokens: steps, temperature: 0)
        var s = try start(request)
        let first = Array(UnsafeBufferPointer(start: s.logits.data, count: s.logits.count))
        var argmax: [Int] = [], fed: [Int] = []
        let decodeStart = DispatchTime.now()
        for j in 0..<steps {
            let a = Sampler.argmax(UnsafeBufferPointer(start: s.logits.data, count: s.logits.count))
            argmax.append(a)
            let next = forcing?[j] ?? a
            if j == steps - 1 || (forcing == nil && stopTokens.contains(next))
                || s.cache.length >= model.contextLength
            {
                break
            }
            fed.append(next)
            s.counter.stage = .decode
            s.logits = model.decoder.decode(token: next, cache: s.cache, plan: s.execution, counter: s.counter)
        }
        var timings = s.timings
        timings.decode = fed.isEmpty ? 0 : millisecondsSince(decodeStart)
        return TeacherForcedRun(
            firstLogits: first, argmax: argmax, fed: fed, promptTokens: s.promptTokens, visualTokens: s.visualTokens,
            flops: ExecutedFLOPs(s.counter), timingsMS: timings,
            visualKVCache: VisualKVReport(visualBytes: s.cache.visualBytesUsed, denseVisualBytes: s.cache.denseVisualBytes),
            prune: s.report)
    }

    /// Where the tokens of `prompt` about one image are, for the FLOPs model: the text before the
    /// image, the image's token grid, the text after it. A family with a fixed grid (LLaVA: the
    /// vision tower's) needs no image; a dynamic-resolution one (Qwen2-VL) reads the grid from
    /// `image`, decoded and preprocessed with the session's options.
    /// Throws `GenerationError.invalidOption` when such a family gets no image, `ImageError` for the
    /// image, `PromptError` as `tokenize(_:images:)`.
    public func promptLayout(_ prompt: String, image: ImageInput? = nil) throws -> PromptLayout {
        let dims = try dimensions()
        let grid: VisualGrid
        if model.fixedTokensPerImage != nil {
            grid = dims.vision.grid
        } else if let image {
            grid = try prepare(image).tokenGrid
        } else {
            throw GenerationError.invalidOption("\(model.family): the token grid depends on the image; give the image")
        }
        let explicit = prompt.contains(PromptTemplate.imagePlaceholder)
        let tokens = try tokenize(turns: [ChatTurn.user(prompt, images: explicit ? 0 : 1)], images: 1, tokenCounts: [grid.cells])
        let span = tokens.imageSpans[0]
        return PromptLayout(systemTokens: span.start, grid: grid, textTokens: tokens.ids.count - span.range.upperBound)
    }
}

/// KL(P ‖ Q) in nats between the softmax distributions of two logit vectors, computed in Double
/// (log-softmax with the maximum subtracted). Exactly 0 for identical logits; rounding below 0 is
/// clamped to 0. Precondition: equal, non-zero lengths.
public func klDivergence(logits p: [Float], _ q: [Float]) -> Double {
    precondition(p.count == q.count && !p.isEmpty, "KL needs two logit vectors of the same length")
    func logSoftmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max()!)
        let logSum = log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
        return x.map { Double($0) - m - logSum }
    }
    let lp = logSoftmax(p), lq = logSoftmax(q)
    var kl = 0.0
    for i in lp.indices {
        let pi = exp(lp[i])
        if pi > 0 { kl += pi * (lp[i] - lq[i]) }
    }
    return max(kl, 0)
}
