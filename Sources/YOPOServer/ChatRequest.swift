import Foundation
import Hummingbird
import YOPO
import YOPOImage
import YOPOPruning
import YOPOText

/// An error as the client sees it: a status and OpenAI's error body.
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var type = "invalid_request_error"
    var param: String?
    var code: String?
    /// `Retry-After` seconds (503 when the queue is full).
    var retryAfter: Int?

    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    /// The error a library call threw, as a client error where the request is at fault.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as PromptError:
            if case .contextOverflow = e { return .invalid(e.description, param: "messages", code: "context_length_exceeded") }
            return .invalid(e.description, param: "messages")
        case let e as ImageError: return .invalid(e.description, param: "messages", code: "invalid_image")
        case let e as PruningSpecError: return .invalid(e.description, param: "yopo.prune")
        case let e as GenerationError: return .invalid(e.description)
        case let e as DecodingError: return .invalid("invalid request body: \(describe(e))")
        default: return APIError(status: .internalServerError, message: "\(error)", type: "server_error")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "the body" : text)
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])) is missing"
        case .typeMismatch(let type, let c): return "\(path(c.codingPath)) must be \(type)"
        case .valueNotFound(let type, let c): return "\(path(c.codingPath)) must be \(type), not null"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not JSON" : "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A chat completion request as the engine runs it, with what the HTTP side does itself.
struct ChatJob {
    var request: GenerationRequest
    var stops: [String]
    var stream: Bool
    var includeUsage: Bool
}

/// Turns a request body into a `GenerationRequest`: messages and their images (`data:` URIs; local
/// files only under `allowedImageDirectory`), sampling, pruning (the `yopo` extension over the
/// server's defaults). Throws `APIError` (400) naming the field.
struct ChatRequestReader {
    var configuration: ServerConfiguration

    func job(_ body: ChatCompletionRequest) throws -> ChatJob {
        if let model = body.model, !model.isEmpty, model != configuration.modelID {
            throw APIError(
                status: .notFound, message: "model '\(model)' is not served here (this server serves '\(configuration.modelID)')",
                type: "not_found_error", param: "model", code: "model_not_found")
        }
        if let n = body.n, n != 1 { throw APIError.invalid("n must be 1 (one choice per request)", param: "n") }
        guard !body.messages.isEmpty else { throw APIError.invalid("messages must not be empty", param: "messages") }
        var messages: [ChatMessage] = []
        for (i, message) in body.messages.enumerated() {
            messages.append(try chatMessage(message, index: i))
        }
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens ?? configuration.defaultMaxTokens
        guard maxTokens >= 1 else {
            throw APIError.invalid(
                "max_tokens must be at least 1", param: body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens")
        }
        let temperature = body.temperature ?? 0
        guard temperature.isFinite, temperature >= 0 else {
            throw APIError.invalid("temperature must be a finite number ≥ 0", param: "temperature")
        }
        let topP = body.topP ?? 1
        guard topP > 0, topP <= 1 else { throw APIError.invalid("top_p must be in (0, 1]", param: "top_p") }
        let topK = body.topK ?? 0
        guard topK >= 0 else { throw APIError.invalid("top_k must be ≥ 0", param: "top_k") }
        let stops = body.stop ?? []
        guard stops.count <= 4 else { throw APIError.invalid("stop takes at most 4 sequences", param: "stop") }
        guard !stops.contains(where: \.isEmpty) else { throw APIError.invalid("stop sequences must not be empty", param: "stop") }
        var prune = configuration.defaultPrune
        if let text = body.yopo?.prune {
            prune = try PruningSpec(parsing: text)
            if case .yopo(let spec) = prune, spec.headsPath != nil {
                throw APIError.invalid(
                    "yopo.prune: heads=PATH is not taken from a request (the server reads no files for clients); use heads-keep= or the server's --prune",
                    param: "yopo.prune")
            }
        }
        var mode = configuration.defaultMode
        if let text = body.yopo?.mode {
            guard let m = YOPOMode(rawValue: text) else {
                throw APIError.invalid(
                    "yopo.mode '\(text)' is not a mode (\(YOPOMode.allCases.map(\.rawValue).joined(separator: ", ")))", param: "yopo.mode")
            }
            mode = m
        }
        let parameters = GenerationParameters(
            maxTokens: maxTokens, temperature: Float(temperature), topP: Float(topP), topK: topK,
            seed: UInt64(bitPattern: body.seed ?? 0))
        return ChatJob(
            request: GenerationRequest(messages: messages, parameters: parameters, prune: prune, yopoMode: mode), stops: stops,
            stream: body.stream ?? false, includeUsage: body.streamOptions?.includeUsage ?? false)
    }

    /// One message: text parts joined by newlines; images first when every image part comes before
    /// the text (LLaVA's order, as `yopo generate` puts them), otherwise `<image>` where each is.
    func chatMessage(_ message: ChatCompletionRequest.Message, index: Int) throws -> ChatMessage {
        let role: ChatRole
        switch message.role {
        case "system", "developer": role = .system
        case "user": role = .user
        case "assistant": role = .assistant
        default:
            throw APIError.invalid(
                "messages[\(index)].role '\(message.role)' is not supported (system, developer, user, assistant)",
                param: "messages[\(index)].role")
        }
        var images: [ImageInput] = []
        var pieces: [String] = []
        var imagesFirst = true
        var seenText = false
        for (j, part) in message.content.enumerated() {
            switch part {
            case .text(let text):
                pieces.append(text)
                seenText = true
            case .imageURL(let url):
                if seenText { imagesFirst = false }
                images.append(try image(url, param: "messages[\(index)].content[\(j)].image_url"))
                pieces.append(PromptTemplate.imagePlaceholder)
            }
        }
        let text =
            imagesFirst
            ? pieces.filter { $0 != PromptTemplate.imagePlaceholder }.joined(separator: "\n")
            : pieces.joined(separator: "\n")
        return ChatMessage(role: role, text: text, images: images)
    }

    /// The bytes of an `image_url`: a base64 `data:` URI, or a local file under the allowed directory.
    func image(_ url: String, param: String) throws -> ImageInput {
        if url.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
                throw APIError.invalid("\(param) is not a base64 data: URI (data:image/png;base64,...)", param: param)
            }
            let payload = url[url.index(after: comma)...].filter { !$0.isWhitespace }
            guard let data = Data(base64Encoded: String(payload)), !data.isEmpty else {
                throw APIError.invalid("\(param): the data: URI's base64 payload does not decode", param: param)
            }
            return .data(data)
        }
        if url.hasPrefix("http://") || url.hasPrefix("https://") {
            throw APIError.invalid("\(param): remote image URLs are not fetched; send the image as a data: URI", param: param)
        }
        guard let allowed = configuration.allowedImageDirectory else {
            throw APIError.invalid(
                "\(param): local image files are off (start the server with --allowed-image-dir); send a data: URI", param: param)
        }
        let path = url.hasPrefix("file://") ? String(url.dropFirst("file://".count)) : url
        let root = URL(fileURLWithPath: allowed).standardizedFileURL.resolvingSymlinksInPath().path
        let file = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: root + "/")).standardizedFileURL
            .resolvingSymlinksInPath().path
        guard file.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw APIError.invalid("\(param): \(path) is outside the allowed image directory", param: param)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        guard let size else { throw APIError.invalid("\(param): no image file \(path)", param: param) }
        guard size <= ImageDecoder.defaultMaxFileSize else {
            throw APIError.invalid("\(param): \(path) is \(size) bytes (at most \(ImageDecoder.defaultMaxFileSize))", param: param)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw APIError.invalid("\(param): \(path) cannot be read", param: param)
        }
        return .data(data)
    }
}

/// Cuts streamed text at the first of the stop sequences, holding back a tail that could still
/// become one.
struct StopMatcher {
    let stops: [String]
    private var pending = ""

    init(_ stops: [String]) { self.stops = stops }

    /// The text safe to send now, and whether a stop sequence ended the answer.
    mutating func feed(_ piece: String) -> (text: String, stopped: Bool) {
        guard !stops.isEmpty else { return (piece, false) }
        let all = pending + piece
        if let hit = stops.compactMap({ all.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            pending = ""
            return (String(all[..<hit.lowerBound]), true)
        }
        // Longest suffix of `all` that is a proper prefix of a stop sequence.
        var keep = 0
        for stop in stops {
            for n in stride(from: min(stop.count - 1, all.count), to: keep, by: -1) where all.hasSuffix(stop.prefix(n)) {
                keep = n
                break
            }
        }
        pending = String(all.suffix(keep))
        return (String(all.dropLast(keep)), false)
    }

    /// What is held back, at the end of the answer.
    mutating func flush() -> String {
        defer { pending = "" }
        return pending
    }
}
