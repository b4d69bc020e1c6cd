import Foundation
import YOPOCore
import YOPOPruning

// What a request produces: the result `yopo generate --json` prints and its parts.

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

    enum CodingKeys: String, CodingKey {
        case visualBytes = "visual_bytes", denseVisualBytes = "dense_visual_bytes", savedBytes = "saved_bytes"
    }

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
    /// Loading the checkpoint (the session's `init`; every request of a session reports it).
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
    /// The caller cancelled the request (`CancellationToken`, or the consuming task); the result
    /// holds what was generated until then.
    case cancelled
}

/// What `yopo generate --json` prints.
public struct GenerationResult: Codable, Sendable, Equatable {
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
    /// How the request used a `PrefixCache`; nil when it ran without one, or had no prefix to share.
    public var prefixCache: PrefixCacheUse? = nil

    /// Decode steps per second (tokens after the first, which the prefill produces); 0 without a decode step.
    public var decodeTokensPerSecond: Double {
        timingsMS.decode > 0 ? Double(max(generatedTokens - 1, 0)) / (timingsMS.decode / 1000) : 0
    }

    /// The one-line timing summary `yopo generate` prints on stderr, e.g.
    /// `load 120 ms | image 4 ms | vision 21 ms | prefill 18 ms (591 tokens, 576 visual) | decode 5 ms (19 steps, 3800 tok/s)`.
    /// A run that stopped at the context says so; a one-token run says that it had no decode step.
    public var timingLine: String {
        let t = timingsMS
        var line = String(
            format: "load %.0f ms | image %.0f ms | vision %.0f ms | prefill %.0f ms (%d tokens, %d visual)",
            t.load, t.image, t.vision, t.prefill, promptTokens, visualTokens)
        let steps = max(generatedTokens - 1, 0)
        if steps == 0 {
            line += generatedTokens == 1 ? " | 1 token, from the prefill (no decode step)" : " | no token generated"
        } else {
            line += String(
                format: " | decode %.0f ms (%d tokens, %d step%@, %.1f tok/s)", t.decode, generatedTokens, steps,
                steps == 1 ? "" : "s", decodeTokensPerSecond)
        }
        if finishReason == .context { line += " | stopped: the context of \(contextLength) tokens is full" }
        if finishReason == .cancelled { line += " | stopped: cancelled" }
        return line
    }

    enum CodingKeys: String, CodingKey {
        case text, tokenIDs = "token_ids", promptTokens = "prompt_tokens", visualTokens = "visual_tokens"
        case generatedTokens = "generated_tokens", timingsMS = "timings_ms"
        case finishReason = "finish_reason", contextLength = "context_length"
        case prune, flops, visualKVCache = "visual_kv_cache", prefixCache = "prefix_cache"
    }
}

/// Milliseconds elapsed since `start`.
func millisecondsSince(_ start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
