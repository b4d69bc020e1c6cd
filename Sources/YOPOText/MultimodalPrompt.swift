/// How a prompt containing `<image>` becomes ids.
public enum ImageTokenization: Sendable, Equatable {
    /// Original LLaVA `tokenizer_image_token`: split the text at `<image>`, encode each chunk on its
    /// own (with BOS if the tokenizer adds one), keep the first chunk's BOS and drop the others',
    /// and put the image between chunks. Image positions hold `placeholderID` (−200).
    case chunks(placeholderID: Int)
    /// llava-hf: encode the whole text, where the spelling is an added special token (`<image>`,
    /// 32000); each occurrence stands for one image. Image positions hold that token's id.
    case specialToken(String)
}

/// Where one image's visual tokens sit in a prompt: positions `start ..< start + length`.
public struct ImageSpan: Sendable, Equatable {
    public var start: Int
    public var length: Int
    public var range: Range<Int> { start..<(start + length) }

    public init(start: Int, length: Int) {
        self.start = start
        self.length = length
    }
}

/// A tokenised multimodal prompt: one id per decoder position.
public struct PromptTokens: Sendable, Equatable {
    /// Token ids, with each image expanded to `tokensPerImage` copies of `imageTokenID`.
    public var ids: [Int]
    /// One span per image, in order, located by scanning `ids` for `imageTokenID`.
    public var imageSpans: [ImageSpan]
    /// −200 for the original stack, the `<image>` token id (32000) for llava-hf.
    public var imageTokenID: Int
}

/// Why a prompt cannot be run. Each message is one line.
public enum PromptError: Error, CustomStringConvertible, Equatable {
    /// Images were given but the prompt has no `<image>`.
    case missingImagePlaceholder(images: Int)
    /// The prompt has more `<image>` placeholders than images were given.
    case tooManyImagePlaceholders(placeholders: Int, images: Int)
    /// The prompt has some `<image>` placeholders, but fewer than the images given.
    case tooFewImagePlaceholders(placeholders: Int, images: Int)
    /// The tokenizer has no added token for the placeholder (llava-hf needs `<image>` = 32000).
    case imageTokenNotInVocabulary(String)
    /// Text plus visual tokens exceed the model's context.
    case contextOverflow(tokens: Int, contextLength: Int)
    case invalidTokensPerImage(Int)
    /// `imageTokenCounts` does not give one count per image.
    case imageTokenCountsMismatch(counts: Int, images: Int)

    public var description: String {
        switch self {
        case .missingImagePlaceholder(let n):
            return "the prompt has no <image> placeholder but \(n) image(s) were given"
        case .tooManyImagePlaceholders(let p, let n):
            return "the prompt has \(p) <image> placeholder(s) but only \(n) image(s) were given"
        case .tooFewImagePlaceholders(let p, let n):
            return "the prompt has \(p) <image> placeholder(s) but \(n) images were given"
        case .imageTokenNotInVocabulary(let s):
            return "the tokenizer has no added token \(s) for images"
        case .contextOverflow(let t, let c):
            return "the prompt needs \(t) tokens (text and image) but the context holds \(c)"
        case .invalidTokensPerImage(let n):
            return "tokens per image must be positive, got \(n)"
        case .imageTokenCountsMismatch(let c, let n):
            return "\(c) image token counts were given for \(n) image(s); give one per image"
        }
    }
}

/// Turns a rendered prompt into decoder ids and image spans, the way the chosen stack does.
///
/// - Parameters:
///   - prompt: text with one `<image>` per image (e.g. `PromptTemplate.render`).
///   - images: number of images supplied with the prompt (0 for a text-only prompt).
///   - tokensPerImage: visual tokens per image: (336 / 14)² = 576 for LLaVA-1.5.
///   - imageTokenCounts: visual tokens of each image in order, for families whose count depends on
///     the image (Qwen2-VL: its merged grid); replaces `tokensPerImage` when given.
///   - contextLength: when given, the total length (text + images) must not exceed it.
/// - Throws: `PromptError` when placeholders and images disagree, the image token is missing from
///   the tokenizer, a count is not positive, or the prompt exceeds `contextLength`.
public func tokenizePrompt(
    _ prompt: String, tokenizer: any Tokenizer, imageTokenization: ImageTokenization, images: Int,
    tokensPerImage: Int = 576, imageTokenCounts: [Int]? = nil, contextLength: Int? = nil
) throws -> PromptTokens {
    let counts = imageTokenCounts ?? Array(repeating: tokensPerImage, count: images)
    if let bad = counts.first(where: { $0 <= 0 }) ?? (tokensPerImage > 0 ? nil : tokensPerImage) {
        throw PromptError.invalidTokensPerImage(bad)
    }
    guard counts.count == images else { throw PromptError.imageTokenCountsMismatch(counts: counts.count, images: images) }
    var ids: [Int] = []
    var spans: [ImageSpan] = []
    func appendImage(_ id: Int) {
        let n = counts[spans.count]
        spans.append(ImageSpan(start: ids.count, length: n))
        ids += Array(repeating: id, count: n)
    }
    let imageID: Int
    switch imageTokenization {
    case .chunks(let placeholder):
        imageID = placeholder
        let chunks = prompt.components(separatedBy: PromptTemplate.imagePlaceholder)
        try checkPlaceholders(chunks.count - 1, images: images)
        let addBOS = tokenizer.addsBOSByDefault
        for (i, chunk) in chunks.enumerated() {
            var chunkIDs = tokenizer.encode(chunk, addBOS: addBOS)
            if i > 0 {
                appendImage(placeholder)
                if addBOS, let bos = tokenizer.bosTokenID, chunkIDs.first == bos { chunkIDs.removeFirst() }
            }
            ids += chunkIDs
        }
    case .specialToken(let spelling):
        guard let id = tokenizer.tokenID(for: spelling), tokenizer.addedTokens.contains(where: { $0.id == id }) else {
            throw PromptError.imageTokenNotInVocabulary(spelling)
        }
        imageID = id
        let encoded = tokenizer.encode(prompt, addBOS: tokenizer.addsBOSByDefault)
        try checkPlaceholders(encoded.lazy.filter { $0 == id }.count, images: images)
        ids.reserveCapacity(encoded.count + counts.reduce(0, +))
        for t in encoded {
            if t == id { appendImage(id) } else { ids.append(t) }
        }
    }
    if let contextLength, ids.count > contextLength {
        throw PromptError.contextOverflow(tokens: ids.count, contextLength: contextLength)
    }
    return PromptTokens(ids: ids, imageSpans: spans, imageTokenID: imageID)
}

/// Spans of `tokensPerImage` consecutive `imageTokenID`s, scanning left to right (a run of k·N
/// copies is k adjacent images).
public func locateImageSpans(_ ids: [Int], imageTokenID: Int, tokensPerImage: Int) -> [ImageSpan] {
    var spans: [ImageSpan] = []
    var i = 0
    while i < ids.count {
        guard ids[i] == imageTokenID else {
            i += 1
            continue
        }
        var j = i
        while j < ids.count && ids[j] == imageTokenID { j += 1 }
        var s = i
        while s + tokensPerImage <= j {
            spans.append(ImageSpan(start: s, length: tokensPerImage))
            s += tokensPerImage
        }
        i = j
    }
    return spans
}

private func checkPlaceholders(_ placeholders: Int, images: Int) throws {
    if placeholders == images { return }
    if placeholders == 0 { throw PromptError.missingImagePlaceholder(images: images) }
    if placeholders > images { throw PromptError.tooManyImagePlaceholders(placeholders: placeholders, images: images) }
    throw PromptError.tooFewImagePlaceholders(placeholders: placeholders, images: images)
}
