import Foundation
import YOPO
import YOPOPruning

// The wire format of OpenAI's chat completions API as llama.cpp's server, ollama and vLLM accept
// it (docs/SERVER.md, ../shared/docs/EVAL.md): what a client sends, what the server answers.
// Unknown request fields are ignored (clients pass extensions through `extra_body`).

/// `POST /v1/chat/completions` body.
struct ChatCompletionRequest: Decodable {
    var model: String?
    var messages: [Message]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    /// llama.cpp's and vLLM's extension.
    var topK: Int?
    var seed: Int64?
    /// A string or up to 4 strings.
    var stop: [String]?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    /// YOPO's extension: the request's pruning.
    var yopo: YOPOOptions?

    struct StreamOptions: Decodable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    /// `{"prune": "yopo-12", "mode": "skip"}`; either may be left out (the server's defaults).
    struct YOPOOptions: Decodable {
        var prune: String?
        var mode: String?
    }

    struct Message: Decodable {
        var role: String
        var content: [ContentPart]

        enum CodingKeys: String, CodingKey { case role, content }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(String.self, forKey: .role)
            if let text = try? c.decode(String.self, forKey: .content) {
                content = [.text(text)]
            } else {
                content = try c.decode([ContentPart].self, forKey: .content)
            }
        }
    }

    enum ContentPart: Decodable {
        case text(String)
        case imageURL(String)

        enum CodingKeys: String, CodingKey { case type, text, imageURL = "image_url" }
        struct ImageURL: Decodable { var url: String }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let type = try c.decode(String.self, forKey: .type)
            switch type {
            case "text":
                self = .text(try c.decode(String.self, forKey: .text))
            case "image_url":
                // OpenAI's `{"url": …}`; ollama also takes a bare string.
                if let url = try? c.decode(String.self, forKey: .imageURL) {
                    self = .imageURL(url)
                } else {
                    self = .imageURL(try c.decode(ImageURL.self, forKey: .imageURL).url)
                }
            default:
                throw DecodingError.dataCorruptedError(
                    forKey: .type, in: c, debugDescription: "unsupported content part type '\(type)' (allowed: text, image_url)")
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", temperature
        case topP = "top_p", topK = "top_k", seed, stop, n, stream, streamOptions = "stream_options", yopo
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        if let one = try? c.decodeIfPresent(String.self, forKey: .stop) {
            stop = [one]
        } else {
            stop = try c.decodeIfPresent([String].self, forKey: .stop)
        }
        n = try c.decodeIfPresent(Int.self, forKey: .n)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        yopo = try c.decodeIfPresent(YOPOOptions.self, forKey: .yopo)
    }
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
struct ErrorBody: Encodable {
    struct Detail: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            // OpenAI sends null rather than leaving the keys out.
            try c.encode(param, forKey: .param)
            try c.encode(code, forKey: .code)
        }
        enum CodingKeys: String, CodingKey { case message, type, param, code }
    }
    var error: Detail
}

/// `usage`: OpenAI's token counts, the prompt tokens served from the prefix cache, and YOPO's
/// report of what ran.
struct Usage: Encodable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: PromptTokensDetails
    var yopo: YOPOUsage

    struct PromptTokensDetails: Encodable {
        var cachedTokens: Int
        enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }

    /// What ran: visual tokens, executed FLOPs by stage, the plan, timings.
    struct YOPOUsage: Encodable {
        var visualTokens: Int
        var executedFLOPs: ExecutedFLOPs
        var prune: PruningReport
        var timingsMS: Timings
        var prefixCache: String
        enum CodingKeys: String, CodingKey {
            case visualTokens = "visual_tokens", executedFLOPs = "executed_flops", prune, timingsMS = "timings_ms"
            case prefixCache = "prefix_cache"
        }
    }

    init(_ result: GenerationResult, completionTokens: Int) {
        promptTokens = result.promptTokens
        self.completionTokens = completionTokens
        totalTokens = result.promptTokens + completionTokens
        promptTokensDetails = PromptTokensDetails(cachedTokens: result.prefixCache?.cachedTokens ?? 0)
        let cache = result.prefixCache.map { $0.hit ? "hit" : "miss" } ?? "none"
        yopo = YOPOUsage(
            visualTokens: result.visualTokens, executedFLOPs: result.flops, prune: result.prune, timingsMS: result.timingsMS,
            prefixCache: cache)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details", yopo
    }
}

/// A whole answer (`stream` false).
struct ChatCompletion: Encodable {
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage

    struct Choice: Encodable {
        var index = 0
        var message: AssistantMessage
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }

    struct AssistantMessage: Encodable {
        var role = "assistant"
        var content: String
    }
}

/// One server-sent event of a streamed answer.
struct ChatCompletionChunk: Encodable {
    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    /// Only in the last chunk, with `stream_options.include_usage` (and `choices` empty).
    var usage: Usage?

    struct Choice: Encodable {
        var index = 0
        var delta: Delta
        var finishReason: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finishReason, forKey: .finishReason)
        }
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
    }

    struct Delta: Encodable {
        var role: String?
        var content: String?
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        if let usage { try c.encode(usage, forKey: .usage) }
    }
    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }
}

/// `GET /v1/models`.
struct ModelList: Encodable {
    var object = "list"
    var data: [Entry]

    struct Entry: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "yopo"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
}
