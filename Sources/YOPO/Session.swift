import Foundation
import Logging
import YOPOCore
import YOPOFormats
import YOPOImage
import YOPOModels
import YOPOPruning
import YOPOText

/// A checkpoint loaded once, serving many requests: images (files or bytes) and a conversation in,
/// tokens streamed out, cancellable between decode steps. `yopo generate`, `compare` and
/// `bench --model` run through it; a server keeps one per model.
///
/// Holds the model (through `ModelRegistry`: LLaVA-1.5 in both layouts, Qwen2-VL, Qwen2.5-VL),
/// its tokenizer, prompt template and image processor, each as the family says (REFERENCE.md: the
/// original stack for `LlavaLlamaForCausalLM` checkpoints, transformers' otherwise).
///
/// **One request at a time.** A session runs its requests one after another, never interleaved:
/// the synchronous calls (`generate(_:cancellation:onEvent:)`, `score`, …) wait until the request
/// before them is done; `stream(_:)` and `generate(_:) async` queue theirs on the session's own
/// serial queue (first come, first served) and neither block the caller nor occupy a thread of the
/// Swift concurrency pool while they compute. Every request runs under the session's
/// `ExecutionContext`. So concurrent callers on one session get the results each would get alone
/// (two sessions may run at once, each under its own context).
public final class Session: @unchecked Sendable {
    /// The checkpoint directory as given.
    public let modelDirectory: String
    /// The loaded checkpoint, through its family (`ModelRegistry`): LLaVA-1.5, Qwen2-VL, Qwen2.5-VL.
    public let model: any VisionLanguageModel
    public let tokenizer: any Tokenizer
    public let template: PromptTemplate
    /// The system prompt a llava-hf checkpoint's chat template writes when a conversation has none
    /// (`PromptTemplate.defaultSystemPrompt(inChatTemplate:)`), prepended under the llava-hf
    /// template; nil for the original layout (vicuna_v1 brings its own) and for llava-hf's checkpoints.
    public let defaultSystemPrompt: String?
    /// The checkpoint's image processor (CLIP's in the checkpoint's or the options' square mode;
    /// Qwen2-VL's dynamic resolution).
    public let imageFront: any ImageFront
    /// The image preprocessing options the session was loaded with (part of a `PrefixCache` key).
    public let imageFrontOptions: ImageFrontOptions
    /// Ids that end generation: the tokenizer's EOS and the family's stop tokens.
    let stopTokens: Set<Int>
    /// Threads, precision and kernel settings every request of this session runs under (bound to
    /// the thread that runs it, for its duration).
    public let context: ExecutionContext
    /// Time spent in `init`, in milliseconds.
    public let loadMilliseconds: Double
    let logger = Logger(label: "yopo.session")

    /// Held while a request runs (requests never interleave).
    private let turn = NSLock()
    /// Where `stream` and `generate(_:) async` requests wait, in order.
    private let queue = DispatchQueue(label: "yopo.session", qos: .userInitiated)
    private let statusLock = NSLock()
    private var current = Status(running: false, waiting: 0)

    /// What a session is doing, for a server's health and metrics.
    public struct Status: Sendable, Equatable {
        /// Whether a request is running.
        public var running: Bool
        /// Requests waiting for their turn.
        public var waiting: Int

        public init(running: Bool, waiting: Int) {
            self.running = running
            self.waiting = waiting
        }
    }

    public var status: Status {
        statusLock.lock()
        defer { statusLock.unlock() }
        return current
    }

    /// Loads a checkpoint directory of any registered family with its tokenizer and image
    /// processor. Throws `GenerationError` for unusable execution options (before anything is
    /// read), then `ModelError`, `FormatError` or `TokenizerError`, each naming the problem.
    public init(modelDirectory: String, options: SessionOptions = SessionOptions()) throws {
        let start = DispatchTime.now()
        try options.validate()
        try checkModelDirectory(modelDirectory)
        self.modelDirectory = modelDirectory
        // On a terminal, a progress line while the weights are mapped.
        var lastPercent = -1
        let progress: ((Int, Int) -> Void)? =
            options.showProgress
            ? { done, total in
                let percent = total > 0 ? 100 * done / total : 100
                guard percent != lastPercent else { return }
                lastPercent = percent
                FileHandle.standardError.write(Data("\rloading \(modelDirectory): \(percent)%".utf8))
            } : nil
        // The family registry picks the loader from config.json; the family brings its processor,
        // template, tokenizer kind and rotary positions.
        model = try ModelRegistry.load(directory: modelDirectory, visionTower: options.visionTower, progress: progress)
        context = options.context(weights: model.decoder.embedTokens.dtype)
        tokenizer = try loadTokenizer(
            directory: URL(fileURLWithPath: modelDirectory), preferSentencePiece: model.prefersSentencePieceTokenizer)
        template = options.template ?? model.defaultTemplate
        defaultSystemPrompt = template == .llavaHF ? try Session.loadDefaultSystemPrompt(modelDirectory) : nil
        stopTokens = Set(model.stopTokenIDs + [tokenizer.eosTokenID].compactMap { $0 })
        imageFrontOptions = ImageFrontOptions(
            squareMode: options.imageAspectMode, minPixels: options.minPixels, maxPixels: options.maxPixels)
        imageFront = try model.imageFront(imageFrontOptions)
        loadMilliseconds = millisecondsSince(start)
        if options.showProgress {
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        }
        logger.debug(
            "loaded",
            metadata: [
                "family": "\(model.family)", "template": "\(template.rawValue)", "threads": "\(context.threads)"
            ])
    }

    // MARK: requests

    /// Runs one request: reads and encodes its images, prefills, then decodes until EOS,
    /// `maxTokens`, a full context or `cancellation`, calling `onEvent` with each token (its id and
    /// the text it completed) and finally `.finished`. Waits for the session's current request first.
    /// Throws `GenerationError`, `PromptError`, `PruningSpecError`, `ImageError` or `ModelError`
    /// for a request that cannot run; the session stays usable. Cancellation is not an error: the
    /// result has finish reason `cancelled` and what was generated before it (nothing when the
    /// token was set before the request started; the prefill, once begun, runs to its end).
    /// `prefixCache`: the request's prompt prefix through its last image is taken from it when
    /// there, and kept there otherwise (`PrefixCache`; the result's `prefixCache` says which).
    public func generate(
        _ request: GenerationRequest, prefixCache: PrefixCache? = nil, cancellation: CancellationToken? = nil,
        onEvent: (GenerationEvent) -> Void = { _ in }
    ) throws -> GenerationResult {
        try exclusive { try run(request, prefixCache: prefixCache, cancellation: cancellation, onEvent: onEvent) }
    }

    /// Checks `request` as `generate` does before any model work — parameters, pruning for this
    /// checkpoint, the conversation's shape, every image decoded and preprocessed, the prompt within
    /// the context — without waiting for the session's turn (a server answers 400 before it queues).
    /// Throws what `generate` throws for a request that cannot run.
    public func check(_ request: GenerationRequest) throws {
        let (plan, _, _) = try execution(for: request)
        _ = try tokenizeChecked(request, plan: plan, images: try decodeImages(request).images)
    }

    /// Queues `request` and streams its events: `.token` per generated token, then `.finished`
    /// with the result. Cancelling the consuming task (or dropping the stream, or `cancellation`)
    /// stops generation between decode steps; errors end the stream. See
    /// `generate(_:prefixCache:cancellation:onEvent:)`.
    public func stream(
        _ request: GenerationRequest, prefixCache: PrefixCache? = nil, cancellation: CancellationToken? = nil
    ) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let token = cancellation ?? CancellationToken()
        return AsyncThrowingStream { continuation in
            continuation.onTermination = { termination in
                if case .cancelled = termination { token.cancel() }
            }
            enqueue {
                do {
                    _ = try self.run(request, prefixCache: prefixCache, cancellation: token) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    /// Queues `request` and returns its result; cancelling the calling task stops it between
    /// decode steps (the result then has finish reason `cancelled`).
    public func generate(_ request: GenerationRequest) async throws -> GenerationResult {
        let token = CancellationToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<GenerationResult, any Error>) in
                enqueue { done.resume(with: Result { try self.run(request, cancellation: token) { _ in } }) }
            }
        } onCancel: {
            token.cancel()
        }
    }

    /// Runs several requests as one batch: every sequence is prefilled, then they decode in lock
    /// step, each with its own KV cache and plan. Results are those of running each alone.
    public func generate(batch requests: [GenerationRequest]) throws -> [GenerationResult] {
        try exclusive {
            var sequences = try requests.map { try start($0) }
            while sequences.contains(where: { !$0.finished }) {
                for i in sequences.indices where !sequences[i].finished { _ = step(&sequences[i]) }
            }
            return sequences.map { s in
                var s = s
                s.text += s.detokenizer.finish()
                return finish(s)
            }
        }
    }

    /// Runs `body` as this session's request: after the one before it, under the session's
    /// execution context. `queued`: the request was counted as waiting when it was queued.
    func exclusive<T>(queued: Bool = false, _ body: () throws -> T) rethrows -> T {
        if !queued { updateStatus { $0.waiting += 1 } }
        turn.lock()
        updateStatus {
            $0.waiting -= 1
            $0.running = true
        }
        defer {
            updateStatus { $0.running = false }
            turn.unlock()
        }
        return try context.run(body)
    }

    /// Runs `job` on the session's queue as a request counted from now.
    private func enqueue(_ job: @escaping @Sendable () -> Void) {
        updateStatus { $0.waiting += 1 }
        queue.async { self.exclusive(queued: true, job) }
    }

    private func updateStatus(_ change: (inout Status) -> Void) {
        statusLock.lock()
        change(&current)
        statusLock.unlock()
    }

    /// One request, inside `exclusive`: the events of `generate(_:cancellation:onEvent:)`.
    func run(
        _ request: GenerationRequest, prefixCache: PrefixCache? = nil, cancellation: CancellationToken?,
        onEvent: (GenerationEvent) -> Void
    ) throws -> GenerationResult {
        if cancellation?.isCancelled == true {
            let result = notStarted(request)
            onEvent(.finished(result, trailingText: ""))
            return result
        }
        var sequence = try start(request, cache: prefixCache)
        while !sequence.finished {
            if cancellation?.isCancelled == true {
                sequence.finished = true
                sequence.finishReason = .cancelled
                break
            }
            if let (id, piece) = step(&sequence) { onEvent(.token(id: id, text: piece)) }
        }
        let tail = sequence.detokenizer.finish()
        sequence.text += tail
        let result = finish(sequence)
        onEvent(.finished(result, trailingText: tail))
        return result
    }

    /// The result of a request cancelled before it started: nothing ran.
    func notStarted(_ request: GenerationRequest) -> GenerationResult {
        var timings = Timings()
        timings.load = loadMilliseconds
        return GenerationResult(
            text: "", tokenIDs: [], promptTokens: 0, visualTokens: 0, generatedTokens: 0, timingsMS: timings,
            finishReason: .cancelled, contextLength: model.contextLength,
            prune: PruningReport(spec: request.prune.description), flops: ExecutedFLOPs(FLOPCounter()),
            visualKVCache: VisualKVReport(visualBytes: 0, denseVisualBytes: 0))
    }

    // MARK: checkpoint facts

    /// The checkpoint's cost shape for the FLOPs model (its family's, `costShape(name:)`), named
    /// after its directory. Throws `ModelError.invalidConfiguration` as the family's cost shape does.
    public func dimensions() throws -> ModelDimensions {
        try model.costShape(name: URL(fileURLWithPath: modelDirectory).standardizedFileURL.lastPathComponent)
    }

    /// The decoder shape token-pruning settings are checked against.
    public var decoderShape: DecoderShape {
        model.decoder.spec.shape
    }

    /// Who the model is for YOPO's presets and official head masks: the loading family's id, the
    /// checkpoint directory's name and the decoder shape.
    public var identity: ModelIdentity {
        ModelIdentity(
            family: model.family, name: URL(fileURLWithPath: modelDirectory).standardizedFileURL.lastPathComponent,
            shape: decoderShape)
    }

    // MARK: prompt and images

    /// The conversation as ids with image spans located in the stream (each message's images
    /// before its text unless it places them with `<image>`). Throws `GenerationError` for a
    /// conversation of the wrong shape, `PromptError` (placeholder/image count mismatch, prompt
    /// longer than the context).
    public func tokenize(_ messages: [ChatMessage]) throws -> PromptTokens {
        let request = GenerationRequest(messages: messages)
        return try tokenize(turns: request.chatTurns(), images: request.images.count)
    }

    /// One question as ids: `<image>` in `prompt` places the image explicitly; otherwise it is put
    /// before the question, as LLaVA's training data does. Throws `PromptError`.
    public func tokenize(_ prompt: String, images: Int) throws -> PromptTokens {
        let explicit = prompt.contains(PromptTemplate.imagePlaceholder)
        return try tokenize(turns: [ChatTurn.user(prompt, images: explicit ? 0 : images)], images: images)
    }

    /// `tokenCounts`: each image's token count, for a family whose count depends on the image
    /// (`VisionLanguageModel.fixedTokensPerImage` nil); without it such a prompt with images throws
    /// `GenerationError.invalidOption`.
    func tokenize(turns: [ChatTurn], images: Int, tokenCounts: [Int]? = nil) throws -> PromptTokens {
        let fixed = model.fixedTokensPerImage
        if fixed == nil && tokenCounts == nil && images > 0 {
            throw GenerationError.invalidOption(
                "this model's image token count depends on the image; tokenize the request with its images")
        }
        var turns = turns
        if let defaultSystemPrompt, turns.first?.role != .system {
            turns.insert(.system(defaultSystemPrompt), at: 0)
        }
        var tokens = try tokenizePrompt(
            template.render(turns), tokenizer: tokenizer, imageTokenization: template.imageTokenization,
            images: images, tokensPerImage: fixed ?? 1, imageTokenCounts: fixed == nil ? tokenCounts : nil,
            contextLength: model.contextLength)
        // The template's image marker (−200 for the original chunked path, 32000 for llava-hf)
        // becomes the id this checkpoint's embedding step looks for.
        if tokens.imageTokenID != model.imageTokenIndex {
            tokens.ids = tokens.ids.map { $0 == tokens.imageTokenID ? model.imageTokenIndex : $0 }
            tokens.imageTokenID = model.imageTokenIndex
        }
        return tokens
    }

    /// Decodes and preprocesses one image file: the family's pixels (`[3, S, S]` for LLaVA). Throws `ImageError`.
    public func pixels(contentsOf path: String) throws -> Tensor {
        try prepare(.path(path)).pixels
    }

    /// Decodes and preprocesses one image (a file, or JPEG/PNG bytes) with the checkpoint's
    /// processor (`imageFront`). Bytes are decoded as a file with the same contents would be, and
    /// bounded the same way (`ImageDecoder.defaultMaxFileSize`); their messages name them
    /// `<image N: B bytes>` with `index` + 1 as N. Throws `ImageError`.
    public func prepare(_ image: ImageInput, index: Int = 0) throws -> PreparedImage {
        let decoder = ImageDecoder()
        switch image {
        case .path(let path):
            return try imageFront.prepare(try decoder.decode(contentsOf: path), source: path)
        case .data(let data):
            let label = "<image \(index + 1): \(data.count) bytes>"
            guard data.count <= decoder.maxFileSize else { throw ImageError.fileTooLarge(path: label, limit: decoder.maxFileSize) }
            return try imageFront.prepare(try decoder.decode([UInt8](data), source: label), source: label)
        }
    }

    /// `prepare(image, index:).pixels`.
    public func pixels(of image: ImageInput, index: Int = 0) throws -> Tensor {
        try prepare(image, index: index).pixels
    }

    // MARK: one sequence

    /// One sequence in flight.
    struct Sequence {
        let request: GenerationRequest
        let cache: KVCache
        let execution: DecoderExecution
        let counter: FLOPCounter
        let promptTokens: Int
        let visualTokens: Int
        let report: PruningReport
        var sampler: Sampler
        var detokenizer: StreamingDetokenizer
        var logits: Tensor
        var generated: [Int] = []
        var text = ""
        var finished = false
        var finishReason = FinishReason.length
        var timings = Timings()
        var decodeStart = DispatchTime.now()
        var prefixCache: PrefixCacheUse?
    }

    /// Validates, reads the images, tokenizes, encodes the images and prefills: the whole prompt in
    /// one call, or, given a `prefix` made for the same images and pruning (`makePrefix`), the rest
    /// of the prompt after it (the prefix's image and prefill work is not repeated); given a
    /// `cache`, the prefix found there or made and kept there (`cachedPrefix`).
    func start(_ request: GenerationRequest, prefix: PromptPrefix? = nil, cache: PrefixCache? = nil) throws -> Sequence {
        let (plan, pruner, execution) = try execution(for: request)
        var timings = Timings()
        timings.load = loadMilliseconds
        var given = prefix
        var cacheUse: PrefixCacheUse?
        // A prefix made for this request counts its image, vision and prefill time here.
        var prefixPrefill = 0.0
        if given == nil, let cache, let (found, hit, imageMilliseconds) = try cachedPrefix(request, cache: cache) {
            given = found
            cacheUse = PrefixCacheUse(hit: hit, prefixTokens: found.tokenIDs.count, prefixFLOPs: found.counter.total)
            timings.image = imageMilliseconds
            if !hit {
                timings.vision = found.visionMilliseconds
                prefixPrefill = found.prefillMilliseconds
            }
        }
        let counter = FLOPCounter()
        let prompt: PromptTokens
        let shared: PromptPrefix?
        var features: [Tensor] = []
        var images: [PreparedImage] = []
        if let given {
            try given.check(request)
            prompt = try tokenizeChecked(request, plan: plan, tokenCounts: given.imageTokenCounts)
            guard prompt.ids.count > given.tokenIDs.count, prompt.ids.starts(with: given.tokenIDs) else {
                throw GenerationError.invalidOption(
                    "the prompt does not continue the given prefix (\(given.tokenIDs.count) tokens through its last image)")
            }
            shared = given
        } else {
            let prepared = try prepare(request, plan: plan, counter: counter)
            prompt = prepared.prompt
            features = prepared.features
            images = prepared.images
            timings.image = prepared.imageMilliseconds
            timings.vision = prepared.visionMilliseconds
            shared = nil
        }

        let prefillStart = DispatchTime.now()
        let limit = model.contextLength
        // The prompt fits the context (tokenize checked it); maxTokens may be anything up to Int.max.
        // The cache grows as decode needs; up front it holds at most 4096 new tokens (Qwen2.5-VL's
        // context is 128k positions: a whole-context 7B cache would be ~15 GB before the first token).
        let capacity = prompt.ids.count + min(request.parameters.maxTokens, limit - prompt.ids.count, 4096)
        counter.stage = .prefill
        let logits: Tensor, cache: KVCache
        if let shared {
            counter.add(shared.counter)
            let rest = model.decoder.embed(Array(prompt.ids[shared.tokenIDs.count...]))
            (logits, cache) = model.decoder.forward(
                continuing: shared.decoderPrefix, rest, plan: execution, capacity: capacity, counter: counter)
        } else {
            let embeddings = try model.inputEmbeddings(ids: prompt.ids, images: features)
            cache = model.decoder.makeCache(capacity: capacity)
            logits = model.decoder.forward(
                embeddings, cache: cache, images: layouts(prompt, images: images), plan: execution, counter: counter,
                rotaryPositions: try model.rotaryPositions(ids: prompt.ids, images: images))
        }
        timings.prefill = millisecondsSince(prefillStart) + prefixPrefill

        let report = PruningReport(
            spec: request.prune.description, mode: plan == nil ? nil : request.yopoMode, window: plan?.window,
            keptLayers: plan?.keptLayers,
            keptHeadsPerLayer: plan.map { p in (0..<p.shape.numHiddenLayers).map { p.keptHeads(layer: $0).count } },
            visualFFNWidth: plan?.visualFFNWidth, keptImageTokens: pruner?.keptIndices.map(\.count))
        return Sequence(
            request: request, cache: cache, execution: execution, counter: counter, promptTokens: prompt.ids.count,
            visualTokens: prompt.imageSpans.reduce(0) { $0 + $1.length }, report: report,
            sampler: Sampler(parameters: request.parameters),
            detokenizer: tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true), logits: logits,
            timings: timings, prefixCache: cacheUse)
    }

    /// A request's checked parameters and pruning: its YOPO plan, its token pruner (a fresh one:
    /// hooks keep per-sequence state) and the decoder execution of the two. Throws
    /// `GenerationError`, `PruningSpecError` for pruning this checkpoint cannot run.
    func execution(for request: GenerationRequest) throws -> (YOPOPlan?, TokenPruner?, DecoderExecution) {
        try request.parameters.validate()
        let plan = try request.prune.resolve(for: identity)
        let pruner = try request.prune.makePruner(for: decoderShape)
        if plan != nil && !model.supportsYOPO {
            throw GenerationError.invalidOption("YOPO pruning needs the patch grid; this checkpoint keeps the CLS token")
        }
        return (
            plan, pruner,
            pruner.map { DecoderExecution.tokenPruning($0) }
                ?? DecoderExecution(plan: plan, mode: request.yopoMode, simulated: model.simulatedSemantics)
        )
    }

    /// Samples the next token of `s` and runs the decoder on it unless the sequence ends. Returns
    /// the token and the text it completed, or nil at end of sequence.
    func step(_ s: inout Sequence) -> (id: Int, text: String)? {
        if s.generated.isEmpty { s.decodeStart = DispatchTime.now() }
        let logits = s.logits
        let next = s.sampler.next(UnsafeBufferPointer(start: logits.data, count: logits.count))
        if stopTokens.contains(next) {
            s.finished = true
            s.finishReason = .stop
            return nil
        }
        s.generated.append(next)
        let piece = s.detokenizer.append(next)
        s.text += piece
        if s.generated.count >= s.request.parameters.maxTokens {
            s.finished = true
            s.finishReason = .length
        } else if s.cache.length >= model.contextLength {
            s.finished = true
            s.finishReason = .context
        } else {
            s.counter.stage = .decode
            // The cache's decode workspace holds these logits until the next step (no allocation).
            s.logits = model.decoder.decode(token: next, cache: s.cache, plan: s.execution, counter: s.counter)
        }
        return (next, piece)
    }

    func finish(_ s: Sequence) -> GenerationResult {
        var timings = s.timings
        // One token comes from the prefill's logits: no decode step ran.
        timings.decode = s.generated.count <= 1 ? 0 : millisecondsSince(s.decodeStart)
        return GenerationResult(
            text: s.text, tokenIDs: s.generated, promptTokens: s.promptTokens, visualTokens: s.visualTokens,
            generatedTokens: s.generated.count, timingsMS: timings, finishReason: s.finishReason,
            contextLength: model.contextLength, prune: s.report, flops: ExecutedFLOPs(s.counter),
            visualKVCache: VisualKVReport(visualBytes: s.cache.visualBytesUsed, denseVisualBytes: s.cache.denseVisualBytes),
            prefixCache: s.prefixCache)
    }
}

extension Session {
    /// The default system prompt of the checkpoint's chat template, read from the first of
    /// `chat_template.json`, `chat_template.jinja` and `tokenizer_config.json` that has one (each
    /// bounded to 16 MiB); nil when none does. Throws `ModelError.invalidConfiguration` for a file
    /// that is not what its name says.
    static func loadDefaultSystemPrompt(_ directory: String) throws -> String? {
        func read(_ name: String) throws -> (path: String, data: Data)? {
            let path = (directory as NSString).appendingPathComponent(name)
            do {
                return (path, try readSmallFile(path, limit: 16 << 20, kind: "chat template"))
            } catch FormatError.fileNotFound {
                return nil
            }
        }
        for name in ["chat_template.json", "chat_template.jinja", "tokenizer_config.json"] {
            guard let (path, data) = try read(name) else { continue }
            let source: String?
            if name.hasSuffix(".jinja") {
                guard let text = String(data: data, encoding: .utf8) else {
                    throw ModelError.invalidConfiguration("\(path) is not UTF-8 text")
                }
                source = text
            } else {
                guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw ModelError.invalidConfiguration("\(path) must hold a JSON object")
                }
                source = object["chat_template"] as? String
            }
            if let source { return PromptTemplate.defaultSystemPrompt(inChatTemplate: source) }
        }
        return nil
    }
}
