/// Who speaks a turn of a conversation.
public enum ChatRole: String, Sendable, Equatable {
    case system, user, assistant
}

/// One turn: its text and how many images it carries (rendered before the text).
public struct ChatTurn: Sendable, Equatable {
    public var role: ChatRole
    public var text: String
    public var imageCount: Int

    public init(role: ChatRole, text: String, imageCount: Int = 0) {
        self.role = role
        self.text = text
        self.imageCount = imageCount
    }

    public static func user(_ text: String, images: Int = 0) -> ChatTurn { .init(role: .user, text: text, imageCount: images) }
    public static func assistant(_ text: String) -> ChatTurn { .init(role: .assistant, text: text) }
    public static func system(_ text: String) -> ChatTurn { .init(role: .system, text: text) }
}

/// The conversation formats of LLaVA-1.5 (REFERENCE.md §3) and Qwen2-VL / Qwen2.5-VL (FAMILIES.md).
public enum PromptTemplate: String, CaseIterable, Sendable {
    /// Original LLaVA `conv_vicuna_v1` (`SeparatorStyle.TWO`), used by the v1.5 evaluation scripts.
    case vicunaV1 = "vicuna_v1"
    /// Original LLaVA `conv_llava_v1`: as vicuna_v1 with "human" in the system prompt; picked by
    /// LLaVA's `cli.py` / `run_llava.py` for model names containing "v1".
    case llavaV1 = "llava_v1"
    /// llava-hf's chat template: no system prompt, `USER: <image>\n{text} ASSISTANT:`.
    case llavaHF = "llava-hf"
    /// Qwen2-VL's and Qwen2.5-VL's ChatML template: a default system turn (`You are a helpful
    /// assistant.`) when the conversation has none, `<|im_start|>{role}\n…<|im_end|>\n` per turn, each
    /// image as `<|vision_start|><|image_pad|><|vision_end|>` where it sits (a turn's images before its
    /// text, or at its `<image>` markers), the open turn `<|im_start|>assistant\n`.
    case qwen2VL = "qwen2-vl"

    /// The text one image becomes in a Qwen2-VL prompt; `<|image_pad|>` is expanded to the image's
    /// merged-grid token count when tokenizing.
    public static let qwenImageMarkup = "<|vision_start|><|image_pad|><|vision_end|>"
    /// Qwen2-VL's image token.
    public static let qwenImagePad = "<|image_pad|>"

    /// The text that marks where an image goes.
    public static let imagePlaceholder = "<image>"
    /// The id the original LLaVA inserts for an image (`IMAGE_TOKEN_INDEX`).
    public static let originalImageTokenIndex = -200

    /// The built-in system prompt (nil for llava-hf).
    public var systemPrompt: String? {
        switch self {
        case .vicunaV1:
            return "A chat between a curious user and an artificial intelligence assistant. "
                + "The assistant gives helpful, detailed, and polite answers to the user's questions."
        case .llavaV1:
            return "A chat between a curious human and an artificial intelligence assistant. "
                + "The assistant gives helpful, detailed, and polite answers to the human's questions."
        case .llavaHF:
            return nil
        case .qwen2VL:
            return "You are a helpful assistant."
        }
    }

    /// The system prompt a checkpoint's chat template (its Jinja source, from `chat_template.json`,
    /// `chat_template.jinja` or `tokenizer_config.json`) writes when a conversation has none, or nil.
    /// Detected as llama.cpp detects templates, by the text the source contains: one of the
    /// built-in system prompts (vicuna_v1's, llava_v1's), quotes possibly escaped (`user\'s`). No
    /// llava-hf checkpoint has one; the demo model's template prepends vicuna_v1's, as LLaVA-1.5's
    /// training conversations do.
    public static func defaultSystemPrompt(inChatTemplate source: String) -> String? {
        let unescaped = source.replacingOccurrences(of: "\\'", with: "'")
        for template in [PromptTemplate.vicunaV1, .llavaV1] {
            if let prompt = template.systemPrompt, unescaped.contains(prompt) { return prompt }
        }
        return nil
    }

    /// How the stack that uses this template turns a rendered prompt into ids.
    public var imageTokenization: ImageTokenization {
        switch self {
        case .vicunaV1, .llavaV1: return .chunks(placeholderID: Self.originalImageTokenIndex)
        case .llavaHF: return .specialToken(Self.imagePlaceholder)
        case .qwen2VL: return .specialToken(Self.qwenImagePad)
        }
    }

    /// The prompt text for `turns`, ending with the open assistant turn (`ASSISTANT:`) when
    /// `addGenerationPrompt`. Each turn's images are written as `<image>\n` before its text.
    ///
    /// vicuna_v1 / llava_v1: `{system} USER: {text} ASSISTANT: {answer}</s>USER: … ASSISTANT:` —
    /// after the system prompt and " ", each turn is `ROLE: text` followed by " " after user turns
    /// and "</s>" after assistant turns. A leading `.system` turn replaces the built-in system prompt.
    /// llava-hf: each turn is `ROLE: ` (none for system), the images, the text and " ".
    public func render(_ turns: [ChatTurn], addGenerationPrompt: Bool = true) -> String {
        func body(_ t: ChatTurn) -> String {
            String(repeating: Self.imagePlaceholder + "\n", count: t.imageCount) + t.text
        }
        switch self {
        case .vicunaV1, .llavaV1:
            var system = systemPrompt ?? ""
            var messages = turns
            if let first = messages.first, first.role == .system {
                system = body(first)
                messages.removeFirst()
            }
            var out = system + " "
            for (i, t) in messages.enumerated() {
                let role = t.role == .assistant ? "ASSISTANT" : "USER"
                out += role + ": " + body(t) + (i % 2 == 0 ? " " : "</s>")
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
            return out
        case .llavaHF:
            var out = ""
            for t in turns {
                if t.role != .system { out += t.role.rawValue.uppercased() + ": " }
                out += String(repeating: Self.imagePlaceholder + "\n", count: t.imageCount)
                if !t.text.isEmpty { out += t.text + " " }
            }
            if addGenerationPrompt { out += "ASSISTANT:" }
            return out
        case .qwen2VL:
            var out = ""
            for (i, t) in turns.enumerated() {
                if i == 0 && t.role != .system { out += "<|im_start|>system\n\(systemPrompt!)<|im_end|>\n" }
                let images = String(repeating: Self.qwenImageMarkup, count: t.imageCount)
                let text = t.text.replacingOccurrences(of: Self.imagePlaceholder, with: Self.qwenImageMarkup)
                out += "<|im_start|>\(t.role.rawValue)\n" + images + text + "<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
            return out
        }
    }

    /// Renders `turns` and tokenises the result the way this template's stack does; the number of
    /// images is the sum of the turns' `imageCount`. See `tokenizePrompt`.
    public func tokenize(
        _ turns: [ChatTurn], tokenizer: any Tokenizer, tokensPerImage: Int = 576, contextLength: Int? = nil
    ) throws -> PromptTokens {
        try tokenizePrompt(
            render(turns), tokenizer: tokenizer, imageTokenization: imageTokenization,
            images: turns.reduce(0) { $0 + $1.imageCount }, tokensPerImage: tokensPerImage,
            contextLength: contextLength)
    }
}
