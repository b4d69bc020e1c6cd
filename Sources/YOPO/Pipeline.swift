import Foundation
import Logging
import YOPOCore
import YOPOFormats
import YOPOImage
import YOPOModels
import YOPOPruning
import YOPOText

/// Errors of a generation request, one line each.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .invalidParameter(let s): return "invalid parameter: \(s)"
        case .invalidOption(let s): return "invalid option: \(s)"
        }
    }
}

/// How a checkpoint is run, beyond what its files say.
public struct PipelineOptions: Sendable {
    /// CLIP directory for the original layout (else `mm_vision_tower` when it is local).
    public var visionTower: String?
    /// Prompt template override (default: vicuna_v1 for original checkpoints, llava-hf otherwise).
    public var template: PromptTemplate?
    /// Image squaring override (default: from the checkpoint).
    public var imageAspectMode: SquareMode?
    /// Compute threads (default: physical cores).
    public var threads: Int?
    /// Precision of the matrix products (default: bf16 for BF16 checkpoints when the CPU and oneDNN
    /// support it, else fp32; see `ComputePrecision`).
    public var compute: ComputePrecision?
    /// Print a progress line while loading weights.
    public var showProgress: Bool
    /// The rest of the execution context (kernel level, the sizes from which work is shared out);
    /// its threads and precision are replaced by `threads` and `compute` when those are given.
    public var execution = ExecutionContext()

    /// Defaults: everything from the checkpoint, physical-core threads, no progress line.
    public init() { showProgress = false }

    /// Parses string forms as the CLI passes them. Throws `GenerationError.invalidOption` naming the value.
    public init(
        visionTower: String? = nil, template: String? = nil, imageAspect: String? = nil,
        threads: Int? = nil, compute: String? = nil, showProgress: Bool = false
    ) throws {
        self.visionTower = visionTower
        self.compute = try ComputePrecision(option: compute)
        if let template {
            guard let t = PromptTemplate(rawValue: template) else {
                throw GenerationError.invalidOption(
                    "unknown template \(template) (choose from \(PromptTemplate.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            self.template = t
        }
        if let imageAspect {
            guard let m = SquareMode(rawValue: imageAspect) else {
                throw GenerationError.invalidOption("unknown image aspect mode \(imageAspect) (choose from pad, crop)")
            }
            imageAspectMode = m
        }
        self.threads = threads
        self.showProgress = showProgress
    }
}

/// One prompt about zero or more images.
public struct GenerationRequest: Sendable {
    public var prompt: String
    public var imagePaths: [String]
    public var parameters: GenerationParameters
    /// Visual-computation pruning (`none` by default).
    public var prune: PruningSpec
    /// How a YOPO plan runs: `skip` (default) or `simulate`.
    public var yopoMode: YOPOMode

    public init(
        prompt: String, imagePaths: [String], parameters: GenerationParameters = .init(),
        prune: PruningSpec = .none, yopoMode: YOPOMode = .skip
    ) {
        self.prompt = prompt
        self.imagePaths = imagePaths
        self.parameters = parameters
        self.prune = prune
        self.yopoMode = yopoMode
    }
}

/// What ran: the pruning plan as resolved for the model.
public struct PruningReport: Codable, Sendable, Equatable {
    /// The spec as given (`none`, `yopo-25`, `yopo:window=5,...`).
    public var spec: String
    public var mode: YOPOMode?
    public var window: Int?
    /// K, layers keeping visual computation.
    public var keptLayers: Int?
    /// Heads doing visual work per layer (after layer drop).
    public var keptHeadsPerLayer: [Int]?
    public var visualFFNWidth: Int?
    /// Token-pruning baselines: image tokens kept at each pruning point (recycled ones included).
    public var keptImageTokens: [Int]?

    enum CodingKeys: String, CodingKey {
        case spec, mode, window, keptLayers = "kept_layers", keptHeadsPerLayer = "kept_heads_per_layer"
        case visualFFNWidth = "visual_ffn_width", keptImageTokens = "kept_image_tokens"
    }
}

/// Executed FLOPs of one request (docs/FLOPS.md `full` rules), by stage.
public struct ExecutedFLOPs: Codable, Sendable, Equatable {
    public var total: Int
    public var vision: Int
    public var projector: Int
    public var prefill: Int
    public var decode: Int
    /// Prefill FLOPs by token group (`system`, `visual`, `text`).
    public var prefillByGroup: [String: Int]

    init(_ counter: FLOPCounter) {
        total = counter.total
        vision = counter.total(.vision)
        projector = counter.total(.projector)
        prefill = counter.total(.prefill)
        decode = counter.total(.decode)
        var groups: [String: Int] = [:]
        for (key, value) in counter.counts where key.stage == .prefill { groups[key.group.rawValue, default: 0] += value }
        prefillByGroup = groups
    }

    enum CodingKeys: String, CodingKey {
        case total, vision, projector, prefill, decode, prefillByGroup = "prefill_by_group"
    }
}

/// KV-cache use of the visual positions (fp32 bytes).
public struct VisualKVReport: Codable, Sendable, Equatable {
    /// Bytes the run holds for visual keys and values.
    public var visualBytes: Int
    /// Bytes a dense run holds for them.
    public var denseVisualBytes: Int
    public var savedBytes: Int { denseVisualBytes - visualBytes }

    enum CodingKeys: String, CodingKey { case visualBytes = "visual_bytes", denseVisualBytes = "dense_visual_bytes", savedBytes = "saved_bytes" }

    public init(visualBytes: Int, denseVisualBytes: Int) {
        self.visualBytes = visualBytes
        self.denseVisualBytes = denseVisualBytes
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        visualBytes = try c.decode(Int.self, forKey: .visualBytes)
        denseVisualBytes = try c.decode(Int.self, forKey: .denseVisualBytes)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(visualBytes, forKey: .visualBytes)
        try c.encode(denseVisualBytes, forKey: .denseVisualBytes)
        try c.encode(savedBytes, forKey: .savedBytes)
    }
}

/// Wall-clock times of one request, in milliseconds.
public struct Timings: Codable, Sendable, Equatable {
    /// Loading the checkpoint (the pipeline's `init`).
    public var load: Double = 0
    /// Reading, decoding, squaring, resizing and normalising the image files.
    public var image: Double = 0
    /// The vision tower and projector.
    public var vision: Double = 0
    /// Embedding the prompt and the prefill forward pass.
    public var prefill: Double = 0
    /// From the first sampled token to the last (0 when only the prefill's token was generated).
    public var decode: Double = 0
}

/// Why generation stopped (OpenAI's `finish_reason` words where they exist).
public enum FinishReason: String, Codable, Sendable, Equatable {
    /// The model produced its end-of-sequence token.
    case stop
    /// `maxTokens` tokens were generated.
    case length
    /// The context (`max_position_embeddings`, or the tokenizer's `model_max_length`) is full.
    case context
}

/// What `yopo generate --json` prints.
public struct GenerationResult: Codable, Sendable {
    public var text: String
    /// Generated ids (EOS excluded).
    public var tokenIDs: [Int]
    public var promptTokens: Int
    public var visualTokens: Int
    public var generatedTokens: Int
    public var timingsMS: Timings
    /// Why generation stopped.
    public var finishReason: FinishReason
    /// The context length the run was bounded by, in tokens.
    public var contextLength: Int
    public var prune: PruningReport
    public var flops: ExecutedFLOPs
    public var visualKVCache: VisualKVReport

    /// Decode steps per second (tokens after the first, which the prefill produces); 0 without a decode step.
    public var decodeTokensPerSecond: Double {
        timingsMS.decode > 0 ? Double(max(generatedTokens - 1, 0)) / (timingsMS.decode / 1000) : 0
    }

    /// The one-line timing summary `yopo generate` prints on stderr, e.g.
    /// `load 120 ms | image 4 ms | vision 21 ms | prefill 18 ms (591 tokens, 576 visual) | decode 5 ms (19 steps, 3800 tok/s)`.
    /// A run that stopped at the context says so; a one-token run says that it had no decode step.
    public var timingLine: String {
        let t = timingsMS
        var line = String(format: "load %.0f ms | image %.0f ms | vision %.0f ms | prefill %.0f ms (%d tokens, %d visual)",
                          t.load, t.image, t.vision, t.prefill, promptTokens, visualTokens)
        let steps = max(generatedTokens - 1, 0)
        if steps == 0 {
            line += generatedTokens == 1 ? " | 1 token, from the prefill (no decode step)" : " | no token generated"
        } else {
            line += String(format: " | decode %.0f ms (%d tokens, %d step%@, %.1f tok/s)", t.decode, generatedTokens, steps,
                           steps == 1 ? "" : "s", decodeTokensPerSecond)
        }
        if finishReason == .context { line += " | stopped: the context of \(contextLength) tokens is full" }
        return line
    }

    enum CodingKeys: String, CodingKey {
        case text, tokenIDs = "token_ids", promptTokens = "prompt_tokens", visualTokens = "visual_tokens"
        case generatedTokens = "generated_tokens", timingsMS = "timings_ms"
        case finishReason = "finish_reason", contextLength = "context_length"
        case prune, flops, visualKVCache = "visual_kv_cache"
    }
}

/// Milliseconds elapsed since `start`.
func millisecondsSince(_ start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Physical cores (Linux: distinct core ids in /proc/cpuinfo), else active processors.
extension ComputePrecision {
    /// Parses the CLI form: nil or `auto` → nil (automatic), `fp32`, `bf16`.
    /// Throws `GenerationError.invalidOption` naming the value; `bf16` needs oneDNN with native bf16.
    public init?(option: String?) throws {
        guard let option, option != "auto" else { return nil }
        guard let p = ComputePrecision(rawValue: option) else {
            throw GenerationError.invalidOption("unknown compute precision \(option) (choose from auto, fp32, bf16)")
        }
        if p == .bf16 && !MatMul.bf16Available {
            throw GenerationError.invalidOption("compute bf16 needs oneDNN and a CPU with AVX512_BF16; this machine has neither (use fp32)")
        }
        self = p
    }

    /// bf16 for BF16 weights when oneDNN's native bf16 matmul is available, else fp32 (F16 weights
    /// keep fp32 compute: rounding them to bf16 would drop three mantissa bits).
    public static func automatic(for weights: DType) -> ComputePrecision {
        weights == .bf16 && MatMul.bf16Available ? .bf16 : .fp32
    }
}

public func physicalCoreCount() -> Int {
    #if os(Linux)
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
        var cores = Set<String>()
        var physical = "0"
        for line in info.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "physical id" { physical = parts[1] }
            if parts[0] == "core id" { cores.insert(physical + "/" + parts[1]) }
        }
        if !cores.isEmpty { return cores.count }
    }
    #endif
    return ProcessInfo.processInfo.activeProcessorCount
}

/// LLaVA-1.5 end to end: image file + prompt → streamed answer. Holds the model, tokenizer,
/// prompt template and image preprocessor of one checkpoint (REFERENCE.md: the original stack for
/// `LlavaLlamaForCausalLM` checkpoints, transformers' for llava-hf ones).
public final class LLaVAPipeline {
    public let model: LLaVAModel
    public let tokenizer: any Tokenizer
    public let template: PromptTemplate
    public let preprocessor: ImagePreprocessor
    public let squareMode: SquareMode
    /// Time spent in `init`, in milliseconds.
    public let loadMilliseconds: Double
    /// Threads and precision every request runs under (bound around each call).
    public let context: ExecutionContext
    let logger = Logger(label: "yopo.pipeline")

    /// Loads a checkpoint directory (either layout) with its tokenizer and image preprocessor.
    /// Throws `ModelError`, `FormatError`, `TokenizerError` or `GenerationError`, each naming the problem.
    public init(modelDirectory: String, options: PipelineOptions = PipelineOptions()) throws {
        let start = DispatchTime.now()
        try checkModelDirectory(modelDirectory)
        let threads = options.threads ?? physicalCoreCount()
        var context = options.execution
        context.threads = threads
        // On a terminal, a progress line while the weights are mapped.
        var lastPercent = -1
        let progress: ((Int, Int) -> Void)? = options.showProgress ? { done, total in
            let percent = total > 0 ? 100 * done / total : 100
            guard percent != lastPercent else { return }
            lastPercent = percent
            FileHandle.standardError.write(Data("\rloading \(modelDirectory): \(percent)%".utf8))
        } : nil
        // The family registry picks the loader from config.json; the pipeline's processor, prompt
        // and template are LLaVA's (families with other ones arrive with their own, issue 15).
        let loaded = try ModelRegistry.load(directory: modelDirectory, visionTower: options.visionTower, progress: progress)
        guard let llava = loaded as? LLaVAModel else {
            throw ModelError.invalidConfiguration("\(modelDirectory): generation runs LLaVA-shaped models; this one is \(type(of: loaded))")
        }
        model = llava
        context.precision = options.compute ?? .automatic(for: model.decoder.embedTokens.dtype)
        self.context = context
        let configuration = model.configuration
        tokenizer = try loadTokenizer(
            directory: URL(fileURLWithPath: modelDirectory), preferSentencePiece: configuration.layout == .original)
        template = options.template ?? (configuration.layout == .original ? .vicunaV1 : .llavaHF)
        let preprocessorConfig = try LLaVAPipeline.loadPreprocessorConfig(
            [modelDirectory, configuration.visionTowerDirectory])
        preprocessor = try ImagePreprocessor(config: preprocessorConfig)
        guard preprocessorConfig.cropHeight == configuration.vision.imageSize,
            preprocessorConfig.cropWidth == configuration.vision.imageSize
        else {
            throw ModelError.invalidConfiguration(
                "image processor crop size \(preprocessorConfig.cropHeight)×\(preprocessorConfig.cropWidth) does not match the vision tower's image_size \(configuration.vision.imageSize)")
        }
        squareMode = options.imageAspectMode ?? configuration.imageAspectMode
        loadMilliseconds = millisecondsSince(start)
        if options.showProgress {
            FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        }
        logger.debug(
            "loaded", metadata: [
                "layout": "\(configuration.layout.rawValue)", "template": "\(template.rawValue)",
                "image": "\(squareMode.rawValue)", "threads": "\(threads)",
            ])
    }

    /// The image processor settings: `preprocessor_config.json`, else the `image_processor` object of
    /// `processor_config.json` (transformers 5), searched in `directories` in order; CLIP ViT-L/14-336
    /// defaults when none exists (or `image_processor` is absent or null).
    ///
    /// The output must have a fixed size for the vision tower: a config with `do_center_crop` false
    /// and an exact `size` ({"height": h, "width": w}) is returned as the equivalent centre crop to
    /// h × w (a no-op crop, same pixels), so the caller's crop-size check covers it; one whose output
    /// would follow each image's shape is refused.
    /// - Throws: `ModelError.invalidConfiguration` naming the file and, for a bad value, its key
    ///   (e.g. `image_processor.size.shortest_edge`), the value and what is allowed; also for a file
    ///   that is not a regular file, is larger than 1 MiB or is not a JSON object.
    static func loadPreprocessorConfig(_ directories: [String]) throws -> ImagePreprocessorConfig {
        /// The file's bytes, nil when there is no such file; bounded (1 MiB), never blocks on a pipe.
        func read(_ path: String) throws -> Data? {
            do {
                return try readSmallFile(path, limit: 1 << 20, kind: "processor config")
            } catch FormatError.fileNotFound {
                return nil
            }
        }
        /// Decodes `data` (a JSON object) as a config; `prefix` is the key path of the config in the file.
        func decode(_ data: Data, path: String, prefix: String) throws -> ImagePreprocessorConfig? {
            guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
                throw ModelError.invalidConfiguration("\(path) is not valid JSON")
            }
            guard let object = json as? [String: Any] else {
                throw ModelError.invalidConfiguration("\(path) must hold a JSON object")
            }
            var config: ImagePreprocessorConfig
            do {
                if prefix.isEmpty {
                    config = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: data)
                } else {
                    guard let inner = object[prefix], !(inner is NSNull) else { return nil }
                    struct Wrapper: Decodable { var image_processor: ImagePreprocessorConfig }
                    config = try JSONDecoder().decode(Wrapper.self, from: data).image_processor
                }
            } catch let ImageError.invalidConfiguration(key, problem) {
                let name = [prefix, key].filter { !$0.isEmpty }.joined(separator: ".")
                throw ModelError.invalidConfiguration("\(path): \(name.isEmpty ? "the config" : name) \(problem)")
            } catch {
                throw ModelError.invalidConfiguration("\(path) is not a usable image processor config")
            }
            guard let output = config.fixedOutputSize else {
                let name = prefix.isEmpty ? "do_center_crop" : "\(prefix).do_center_crop"
                throw ModelError.invalidConfiguration(
                    "\(path): \(name) is false and size is not an exact {\"height\": h, \"width\": w}, so the "
                        + "image size would follow each input; the vision tower needs a fixed size (set do_center_crop "
                        + "to true or give size as height and width)")
            }
            if !config.doCenterCrop {
                config.doCenterCrop = true
                config.cropHeight = output.height
                config.cropWidth = output.width
            }
            return config
        }
        for directory in directories {
            let direct = (directory as NSString).appendingPathComponent("preprocessor_config.json")
            if let data = try read(direct), let config = try decode(data, path: direct, prefix: "") { return config }
            let processor = (directory as NSString).appendingPathComponent("processor_config.json")
            if let data = try read(processor), let config = try decode(data, path: processor, prefix: "image_processor") {
                return config
            }
        }
        return .clipViTLarge336
    }

    /// The prompt as ids with image spans located in the stream. `<image>` in `prompt` places the
    /// image explicitly; otherwise it is put before the question, as LLaVA's training data does.
    /// Throws `PromptError` (placeholder/image count mismatch, prompt longer than the context).
    public func tokenize(_ prompt: String, images: Int) throws -> PromptTokens {
        let explicit = prompt.contains(PromptTemplate.imagePlaceholder)
        let turn = ChatTurn.user(prompt, images: explicit ? 0 : images)
        let configuration = model.configuration
        var tokens = try tokenizePrompt(
            template.render([turn]), tokenizer: tokenizer, imageTokenization: template.imageTokenization,
            images: images, tokensPerImage: configuration.visualTokensPerImage,
            contextLength: configuration.contextLength)
        // The template's image marker (−200 for the original chunked path, 32000 for llava-hf)
        // becomes the id this checkpoint's embedding step looks for.
        if tokens.imageTokenID != configuration.imageTokenIndex {
            tokens.ids = tokens.ids.map { $0 == tokens.imageTokenID ? configuration.imageTokenIndex : $0 }
            tokens.imageTokenID = configuration.imageTokenIndex
        }
        return tokens
    }

    /// Decodes and preprocesses one image file into `[3, S, S]` pixels. Throws `ImageError`.
    public func pixels(contentsOf path: String) throws -> Tensor {
        let p = try preprocessor.preprocess(contentsOf: path, mode: squareMode)
        return Tensor(shape: p.shape, values: p.values)
    }

    /// The decoder shape pruning specs are resolved against.
    public var decoderShape: DecoderShape {
        let c = model.configuration.text
        return c.decoderSpec.shape
    }

    /// Runs one request: encode images, prefill, then decode until EOS or `maxTokens`, calling
    /// `onText` with each complete UTF-8 piece of the answer as it is produced.
    /// Throws `GenerationError`, `PromptError`, `PruningSpecError`, `ImageError` or `ModelError`;
    /// the pipeline stays usable.
    public func generate(_ request: GenerationRequest, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try context.run { try generateBound(request, onText: onText) }
    }

    private func generateBound(_ request: GenerationRequest, onText: (String) -> Void) throws -> GenerationResult {
        var sequence = try start(request)
        while !sequence.finished {
            let piece = step(&sequence)
            if !piece.isEmpty { onText(piece) }
        }
        let tail = sequence.detokenizer.finish()
        if !tail.isEmpty {
            sequence.text += tail
            onText(tail)
        }
        return finish(sequence)
    }

    /// Runs several requests as one batch: every sequence is prefilled, then they decode in lock
    /// step, each with its own KV cache and plan. Results are those of running each alone.
    public func generate(batch requests: [GenerationRequest]) throws -> [GenerationResult] {
        try context.run { try generateBound(batch: requests) }
    }

    private func generateBound(batch requests: [GenerationRequest]) throws -> [GenerationResult] {
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
    }

    /// Validates, reads the images, tokenizes, encodes the images and prefills.
    func start(_ request: GenerationRequest) throws -> Sequence {
        try request.parameters.validate()
        let configuration = model.configuration
        let plan = try request.prune.resolve(for: decoderShape)
        let pruner = try request.prune.makePruner(for: decoderShape)
        if plan != nil && !configuration.dropsCLS {
            throw GenerationError.invalidOption("YOPO pruning needs the patch grid; this checkpoint keeps the CLS token")
        }
        var timings = Timings()
        timings.load = loadMilliseconds
        // Read the images first: a bad file fails before any model work.
        let imageStart = DispatchTime.now()
        let pixelTensors = try request.imagePaths.map { try pixels(contentsOf: $0) }
        timings.image = millisecondsSince(imageStart)
        let prompt = try tokenize(request.prompt, images: request.imagePaths.count)
        if plan != nil, let last = prompt.imageSpans.last, last.range.upperBound == prompt.ids.count {
            throw GenerationError.invalidOption("YOPO pruning needs text after the last image (the prompt ends with an image)")
        }

        let counter = FLOPCounter()
        let visionStart = DispatchTime.now()
        let features = pixelTensors.map { model.imageFeatures($0, counter: counter) }
        timings.vision = millisecondsSince(visionStart)

        let prefillStart = DispatchTime.now()
        let embeddings = try model.inputEmbeddings(ids: prompt.ids, images: features)
        let limit = configuration.contextLength
        // The prompt fits the context (tokenize checked it); maxTokens may be anything up to Int.max.
        let cache = model.decoder.makeCache(capacity: prompt.ids.count + min(request.parameters.maxTokens, limit - prompt.ids.count))
        let grid = configuration.vision.gridSize
        let images = prompt.imageSpans.map { ImageLayout(start: $0.start, gridRows: grid, gridColumns: grid) }
        let execution = pruner.map { DecoderExecution.tokenPruning($0) } ?? DecoderExecution(plan: plan, mode: request.yopoMode)
        counter.stage = .prefill
        let logits = model.decoder.forward(embeddings, cache: cache, images: images, plan: execution, counter: counter)
        timings.prefill = millisecondsSince(prefillStart)

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
            timings: timings)
    }

    /// Samples the next token of `s`, runs the decoder on it unless the sequence ends, and returns
    /// the newly completed text.
    func step(_ s: inout Sequence) -> String {
        if s.generated.isEmpty { s.decodeStart = DispatchTime.now() }
        let logits = s.logits
        let next = s.sampler.next(UnsafeBufferPointer(start: logits.data, count: logits.count))
        if next == tokenizer.eosTokenID {
            s.finished = true
            s.finishReason = .stop
            return ""
        }
        s.generated.append(next)
        let piece = s.detokenizer.append(next)
        s.text += piece
        if s.generated.count >= s.request.parameters.maxTokens {
            s.finished = true
            s.finishReason = .length
        } else if s.cache.length >= model.configuration.contextLength {
            s.finished = true
            s.finishReason = .context
        } else {
            s.counter.stage = .decode
            // The cache's decode workspace holds these logits until the next step (no allocation).
            s.logits = model.decoder.decode(token: next, cache: s.cache, plan: s.execution, counter: s.counter)
        }
        return piece
    }

    func finish(_ s: Sequence) -> GenerationResult {
        var timings = s.timings
        // One token comes from the prefill's logits: no decode step ran.
        timings.decode = s.generated.count <= 1 ? 0 : millisecondsSince(s.decodeStart)
        return GenerationResult(
            text: s.text, tokenIDs: s.generated, promptTokens: s.promptTokens, visualTokens: s.visualTokens,
            generatedTokens: s.generated.count, timingsMS: timings, finishReason: s.finishReason,
            contextLength: model.configuration.contextLength, prune: s.report, flops: ExecutedFLOPs(s.counter),
            visualKVCache: VisualKVReport(visualBytes: s.cache.visualBytesUsed, denseVisualBytes: s.cache.denseVisualBytes))
    }
}
