import Foundation
import YOPOCore
import YOPOModels
import YOPOPruning
import YOPOText

/// A prompt's start that several requests share — its tokens through the end of its last image —
/// with the images' features and the decoder's reusable work on those rows (`DecoderPrefix`) done
/// once: every layer for dense and YOPO, the layers before the first pruning layer for FastV,
/// PyramidDrop and SparseVLM. `Session.generate(_:prefix:)` continues it with a request that has
/// the same images, the same pruning and a prompt that starts with these tokens (an eval's
/// questions about one image). A continued request gets the result of making its own prefix and
/// continuing it, bit for bit; against one prefill of the whole prompt (`generate` without a
/// prefix) the logits agree to float rounding (the engine's attention blocks restart at the split:
/// `DecoderPrefix`), so the pruning decisions are the same up to near-ties in a ranking.
///
/// Immutable once made; holds `bytes` of memory until released.
public final class PromptPrefix: @unchecked Sendable {
    /// Prompt tokens through the last image (image tokens expanded).
    public let tokenIDs: [Int]
    public let images: [ImageInput]
    public let prune: PruningSpec
    public let yopoMode: YOPOMode
    let decoderPrefix: DecoderPrefix
    /// What making it executed (vision, projector, the prefix's layers), added to each result.
    let counter: FLOPCounter
    /// Each image's token count (what tokenizing a continued request needs when the count depends on the image).
    let imageTokenCounts: [Int]
    public let imageMilliseconds: Double
    public let visionMilliseconds: Double
    public let prefillMilliseconds: Double

    init(
        tokenIDs: [Int], request: GenerationRequest, decoderPrefix: DecoderPrefix, counter: FLOPCounter, imageTokenCounts: [Int],
        imageMilliseconds: Double, visionMilliseconds: Double, prefillMilliseconds: Double
    ) {
        self.tokenIDs = tokenIDs
        self.imageTokenCounts = imageTokenCounts
        images = request.images
        prune = request.prune
        yopoMode = request.yopoMode
        self.decoderPrefix = decoderPrefix
        self.counter = counter
        self.imageMilliseconds = imageMilliseconds
        self.visionMilliseconds = visionMilliseconds
        self.prefillMilliseconds = prefillMilliseconds
    }

    /// Decoder layers whose work on the prefix is reused.
    public var reusedLayers: Int { decoderPrefix.layers }
    /// Bytes held: keys, values and hidden states (fp32).
    public var bytes: Int { decoderPrefix.bytesUsed }
    /// Executed FLOPs of making it (each continuation's result counts them too).
    public var flops: ExecutedFLOPs { ExecutedFLOPs(counter) }

    /// Throws `GenerationError.invalidOption` unless `request` has this prefix's images and pruning.
    func check(_ request: GenerationRequest) throws {
        guard request.images == images else {
            throw GenerationError.invalidOption("the request's images are not the prefix's (\(images.count) image(s))")
        }
        guard request.prune == prune, request.yopoMode == yopoMode else {
            throw GenerationError.invalidOption(
                "the request prunes with \(request.prune.description) (\(request.yopoMode.rawValue)); the prefix was made for \(prune.description) (\(yopoMode.rawValue))"
            )
        }
    }
}

/// Images read, preprocessed and through the vision tower and projector once, for prefixes of
/// several pruning plans (`Session.makePrefix(_:images:)`).
public final class EncodedImages: @unchecked Sendable {
    public let images: [ImageInput]
    /// Each image as the processor left it (its token grid).
    let prepared: [PreparedImage]
    /// `[visual tokens, hidden_size]` per image.
    let features: [Tensor]
    /// The vision tower's and projector's FLOPs (each prefix made from these counts them).
    let counter: FLOPCounter
    public let imageMilliseconds: Double
    public let visionMilliseconds: Double

    init(
        images: [ImageInput], prepared: [PreparedImage], features: [Tensor], counter: FLOPCounter, imageMilliseconds: Double,
        visionMilliseconds: Double
    ) {
        self.images = images
        self.prepared = prepared
        self.features = features
        self.counter = counter
        self.imageMilliseconds = imageMilliseconds
        self.visionMilliseconds = visionMilliseconds
    }
}

extension Session {
    /// Reads and encodes `images` once. Throws `ImageError` for an image that cannot be read.
    public func encodeImages(_ images: [ImageInput]) throws -> EncodedImages {
        try exclusive {
            let imageStart = DispatchTime.now()
            let prepared = try images.enumerated().map { try prepare($1, index: $0) }
            let imageMilliseconds = millisecondsSince(imageStart)
            let counter = FLOPCounter()
            let visionStart = DispatchTime.now()
            let features = prepared.map { model.imageFeatures($0, counter: counter) }
            return EncodedImages(
                images: images, prepared: prepared, features: features, counter: counter, imageMilliseconds: imageMilliseconds,
                visionMilliseconds: millisecondsSince(visionStart))
        }
    }

    /// Makes the shared start of `request`'s prompt (through its last image) for requests that
    /// differ only in what follows, from `images` when given (they must be the request's).
    /// Returns nil when the prompt has no image with text after it (nothing to share). Throws what
    /// `generate` throws for a request that cannot run, `GenerationError.invalidOption` for
    /// encoded images that are not the request's.
    public func makePrefix(_ request: GenerationRequest, images encoded: EncodedImages? = nil) throws -> PromptPrefix? {
        try exclusive {
            let (plan, _, execution) = try execution(for: request)
            let counter = FLOPCounter()
            var prepared: PreparedPrompt
            if let encoded {
                guard encoded.images == request.images else {
                    throw GenerationError.invalidOption("the encoded images are not the request's")
                }
                prepared = PreparedPrompt(
                    prompt: try tokenizeChecked(request, plan: plan, images: encoded.prepared), images: encoded.prepared,
                    features: encoded.features,
                    imageMilliseconds: encoded.imageMilliseconds, visionMilliseconds: encoded.visionMilliseconds)
                counter.add(encoded.counter)
            } else {
                prepared = try prepare(request, plan: plan, counter: counter)
            }
            return try makePrefix(
                prepared.prompt, images: prepared.images, features: prepared.features, request: request, execution: execution,
                counter: counter
            )
            .map { p in
                PromptPrefix(
                    tokenIDs: p.tokenIDs, request: request, decoderPrefix: p.decoderPrefix, counter: p.counter,
                    imageTokenCounts: p.imageTokenCounts, imageMilliseconds: prepared.imageMilliseconds,
                    visionMilliseconds: prepared.visionMilliseconds,
                    prefillMilliseconds: p.prefillMilliseconds)
            }
        }
    }

    /// Runs `request` continuing `prefix` (made by `makePrefix` for a request with the same images
    /// and pruning); nil runs it alone, as `generate` does. Its FLOPs count the prefix's work.
    /// Throws `GenerationError.invalidOption` when the request does not continue the prefix.
    public func generate(_ request: GenerationRequest, prefix: PromptPrefix?) throws -> GenerationResult {
        try exclusive {
            var sequence = try start(request, prefix: prefix)
            while !sequence.finished { _ = step(&sequence) }
            sequence.text += sequence.detokenizer.finish()
            return finish(sequence)
        }
    }

    /// A request's images read and encoded, its prompt tokenized and checked.
    struct PreparedPrompt {
        var prompt: PromptTokens
        var images: [PreparedImage]
        var features: [Tensor]
        var imageMilliseconds: Double
        var visionMilliseconds: Double
    }

    /// Reads the images (a bad file fails before any model work) unless `decoded` holds them (with
    /// the milliseconds that took), tokenizes, runs the vision tower; vision FLOPs go to `counter`.
    func prepare(
        _ request: GenerationRequest, plan: YOPOPlan?, counter: FLOPCounter, decoded: (images: [PreparedImage], milliseconds: Double)? = nil
    ) throws -> PreparedPrompt {
        let (prepared, imageMilliseconds) = try decoded ?? decodeImages(request)
        let prompt = try tokenizeChecked(request, plan: plan, images: prepared)
        let visionStart = DispatchTime.now()
        let features = prepared.map { model.imageFeatures($0, counter: counter) }
        return PreparedPrompt(
            prompt: prompt, images: prepared, features: features, imageMilliseconds: imageMilliseconds,
            visionMilliseconds: millisecondsSince(visionStart))
    }

    /// The request's images decoded and preprocessed, and the milliseconds that took.
    func decodeImages(_ request: GenerationRequest) throws -> (images: [PreparedImage], milliseconds: Double) {
        let start = DispatchTime.now()
        let images = try request.images.enumerated().map { try prepare($1, index: $0) }
        return (images, millisecondsSince(start))
    }

    /// The request's prompt (`images`: its prepared images, or `tokenCounts`: their token counts,
    /// which a family with image-dependent counts needs); throws for a YOPO plan when no text
    /// follows the last image.
    func tokenizeChecked(
        _ request: GenerationRequest, plan: YOPOPlan?, images: [PreparedImage]? = nil, tokenCounts: [Int]? = nil
    ) throws -> PromptTokens {
        let counts = images?.map(\.tokenCount) ?? tokenCounts
        let prompt = try tokenize(turns: request.chatTurns(), images: request.images.count, tokenCounts: counts)
        if plan != nil, let last = prompt.imageSpans.last, last.range.upperBound == prompt.ids.count {
            throw GenerationError.invalidOption("YOPO pruning needs text after the last image (the prompt ends with an image)")
        }
        return prompt
    }

    /// Image layouts of a prompt's image spans (each image's token grid).
    func layouts(_ prompt: PromptTokens, images: [PreparedImage]) -> [ImageLayout] {
        zip(prompt.imageSpans, images).map { span, image in
            ImageLayout(start: span.start, gridRows: image.tokenGrid.rows, gridColumns: image.tokenGrid.columns)
        }
    }

    /// The prompt's rows through its last image run through the reusable layers, FLOPs into
    /// `counter`; nil when no text follows the last image. M-RoPE families (Qwen2-VL) give the
    /// prefix rows the whole prompt's positions; the rest continue at `index + rope_delta`.
    func makePrefix(
        _ prompt: PromptTokens, images: [PreparedImage], features: [Tensor], request: GenerationRequest,
        execution: DecoderExecution, counter: FLOPCounter
    ) throws -> PromptPrefix? {
        guard let split = prompt.imageSpans.last?.range.upperBound, split < prompt.ids.count else { return nil }
        let start = DispatchTime.now()
        let ids = Array(prompt.ids[..<split])
        let rotary = try model.rotaryPositions(ids: prompt.ids, images: images).map { Array($0[..<split]) }
        let embeddings = try model.inputEmbeddings(ids: ids, images: features)
        counter.stage = .prefill
        let decoderPrefix = model.decoder.prefillPrefix(
            embeddings, images: layouts(prompt, images: images), plan: execution, counter: counter, rotaryPositions: rotary)
        return PromptPrefix(
            tokenIDs: ids, request: request, decoderPrefix: decoderPrefix, counter: counter, imageTokenCounts: images.map(\.tokenCount),
            imageMilliseconds: 0, visionMilliseconds: 0, prefillMilliseconds: millisecondsSince(start))
    }
}
