import Foundation
import YOPOPruning
import YOPOText

// What a `Session` is asked to do: a conversation (or one prompt) about images, the pruning to run
// it with and how to sample, and what it streams back.

/// An image of a request: a file, or the encoded bytes of one (PNG or JPEG, as read from a file or
/// a `data:` URI). Both go through the same decoder, so the same bytes give the same pixels.
public enum ImageInput: Sendable, Equatable {
    /// A JPEG or PNG file.
    case path(String)
    /// JPEG or PNG bytes held in memory (at most `ImageDecoder.defaultMaxFileSize`, as files).
    case data(Data)
}

/// One turn of a conversation: who speaks, the text, and the images it carries (user turns only).
/// A turn's images go before its text, unless the text places them with `<image>` placeholders,
/// one per image.
public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    public var text: String
    public var images: [ImageInput]

    public init(role: ChatRole, text: String, images: [ImageInput] = []) {
        self.role = role
        self.text = text
        self.images = images
    }

    public static func user(_ text: String, images: [ImageInput] = []) -> ChatMessage {
        ChatMessage(role: .user, text: text, images: images)
    }

    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: .assistant, text: text) }

    /// Replaces the template's built-in system prompt; only as the first message.
    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, text: text) }
}

/// One request: a conversation about zero or more images, the pruning to run it with, sampling.
public struct GenerationRequest: Sendable, Equatable {
    /// The conversation: an optional leading system message, then user and assistant turns
    /// alternating, starting and ending with a user turn (the answer continues it).
    public var messages: [ChatMessage]
    public var parameters: GenerationParameters
    /// Visual-computation pruning (`none` by default).
    public var prune: PruningSpec
    /// How a YOPO plan runs: `skip` (default) or `simulate`.
    public var yopoMode: YOPOMode

    public init(
        messages: [ChatMessage], parameters: GenerationParameters = .init(), prune: PruningSpec = .none,
        yopoMode: YOPOMode = .skip
    ) {
        self.messages = messages
        self.parameters = parameters
        self.prune = prune
        self.yopoMode = yopoMode
    }

    /// One question about `images`: a single user turn. `<image>` in `prompt` places the images
    /// explicitly; otherwise they go first, as LLaVA's training data has them.
    public init(
        prompt: String, images: [ImageInput] = [], parameters: GenerationParameters = .init(),
        prune: PruningSpec = .none, yopoMode: YOPOMode = .skip
    ) {
        self.init(messages: [.user(prompt, images: images)], parameters: parameters, prune: prune, yopoMode: yopoMode)
    }

    /// One question about image files.
    public init(
        prompt: String, imagePaths: [String], parameters: GenerationParameters = .init(), prune: PruningSpec = .none,
        yopoMode: YOPOMode = .skip
    ) {
        self.init(prompt: prompt, images: imagePaths.map(ImageInput.path), parameters: parameters, prune: prune, yopoMode: yopoMode)
    }

    /// Every image of the conversation, in order.
    public var images: [ImageInput] { messages.flatMap(\.images) }

    /// The turns as the prompt templates render them, after checking the conversation's shape.
    /// Throws `GenerationError.invalidParameter` naming the message at fault (1-based), or
    /// `PromptError` when a turn's `<image>` placeholders and images disagree.
    func chatTurns() throws -> [ChatTurn] {
        guard !messages.isEmpty else { throw GenerationError.invalidParameter("the request has no messages") }
        var turns: [ChatTurn] = []
        var expected = ChatRole.user
        for (i, message) in messages.enumerated() {
            let n = i + 1
            if message.role == .system {
                guard i == 0 else {
                    throw GenerationError.invalidParameter("message \(n) is a system message; only the first may be")
                }
            } else {
                guard message.role == expected else {
                    throw GenerationError.invalidParameter(
                        "message \(n) is a \(message.role.rawValue) turn where a \(expected.rawValue) turn was expected (user and assistant turns alternate, starting with user)"
                    )
                }
                expected = expected == .user ? .assistant : .user
            }
            if message.role != .user && !message.images.isEmpty {
                throw GenerationError.invalidParameter(
                    "message \(n) is a \(message.role.rawValue) turn with images; images go with user turns")
            }
            // Placeholders place this turn's own images: their counts must agree turn by turn (the
            // prompt-wide count could agree while images land in the wrong turn).
            let placeholders = message.text.components(separatedBy: PromptTemplate.imagePlaceholder).count - 1
            if placeholders > message.images.count {
                throw PromptError.tooManyImagePlaceholders(placeholders: placeholders, images: message.images.count)
            }
            if placeholders > 0 && placeholders < message.images.count {
                throw PromptError.tooFewImagePlaceholders(placeholders: placeholders, images: message.images.count)
            }
            turns.append(ChatTurn(role: message.role, text: message.text, imageCount: placeholders > 0 ? 0 : message.images.count))
        }
        guard messages.last?.role == .user else {
            throw GenerationError.invalidParameter("the last message must be a user turn (the answer follows it)")
        }
        return turns
    }
}

/// What a streamed request reports.
public enum GenerationEvent: Sendable, Equatable {
    /// A generated token: its id and the text it completed (empty while a character is incomplete).
    case token(id: Int, text: String)
    /// The run ended. `trailingText` is what the detokenizer released after the last token (an
    /// unfinished character as U+FFFD; usually empty): the token texts followed by it are
    /// `result.text`.
    case finished(GenerationResult, trailingText: String)
}

/// Stops a request between decode steps when set: the result then has finish reason `cancelled`
/// and the tokens generated so far. Thread-safe; cancelling twice is harmless.
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }
}
