import Foundation
import YOPOText

// The benchmarks LLaVA-1.5 is evaluated on, as its eval scripts run them (docs/EVAL.md): the question
// files in their shipped formats, the prompts, the answer files, and each benchmark's metric. This
// module knows no model: it reads and writes files and scores answers. Running a model over a
// benchmark is `YOPO`'s `Evaluation`.

/// A benchmark of the paper's Table 2, named as on the command line.
public enum BenchmarkName: String, CaseIterable, Sendable, Codable {
    case gqa, vqav2, pope, mmbench, scienceqa, textvqa, mme
}

/// The image of a question: a file named relative to the `--images` directory, or bytes carried by
/// the question file itself (MMBench's base64 column).
public enum BenchmarkImage: Sendable, Equatable, Hashable {
    case file(String)
    case data(Data)
}

/// The answer text LLaVA's eval scripts store for a model output: `outputs.strip()` (Python's
/// whitespace, which includes U+001C…U+001F).
public func benchmarkAnswerText(_ output: String) -> String { PythonText.strip(output) }

/// One model run of a benchmark: what LLaVA's eval script feeds the model for one line (or one
/// round of an MMBench row) and what it needs to write the answer line.
public struct BenchmarkQuestion: Sendable, Equatable {
    /// `question_id` as in the question file (a number or a string), written back unchanged
    /// (ScienceQA's `id`, MMBench's `index`).
    public var questionID: JSONValue
    /// nil for text-only questions (ScienceQA items without an image).
    public var image: BenchmarkImage?
    /// The user turn's text after the image (`<image>\n` goes before it when there is an image),
    /// suffix included, exactly as the reference script gives it to the `vicuna_v1` template.
    public var prompt: String
    /// The greedy decoding budget of the reference script (128 or 1024).
    public var maxNewTokens: Int
    /// The answer line's fields in the reference script's order. The members named "text",
    /// "answer_id" and "model_id" are placeholders that `answerLine(text:modelID:)` fills in.
    public var answerLayout: [JSONMember]
    /// Identifies this question within its question file, stable across runs and shards: the
    /// `question_id` as JSON (`1`, `"201307251"`), then `@r<round>` for an MMBench round, then
    /// `#<n>` (0-based occurrence) when the file repeats that id (and round), as TextVQA and MME do
    /// (two questions per image, the image being the id). Resume and merge match answers by it.
    public var key: String
    /// MMBench's `round_id` (rotation of the options), nil for every other benchmark.
    public var roundID: Int?

    public init(
        questionID: JSONValue, image: BenchmarkImage?, prompt: String, maxNewTokens: Int, answerLayout: [JSONMember],
        key: String? = nil, roundID: Int? = nil
    ) {
        self.questionID = questionID
        self.image = image
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.answerLayout = answerLayout
        self.key = key ?? Self.baseKey(questionID: questionID, roundID: roundID)
        self.roundID = roundID
    }

    /// The answer line's `prompt`: the reference script's `cur_prompt`, which is not always the
    /// text fed to the model (MMBench records it without the suffix, ScienceQA with `<image>\n`).
    public var recordedPrompt: String {
        answerLayout.first { $0.key == "prompt" }?.value.string ?? prompt
    }

    /// The key before any occurrence suffix: the id as JSON and, for MMBench, the round.
    static func baseKey(questionID: JSONValue, roundID: Int?) -> String {
        questionID.pythonJSON + (roundID.map { "@r\($0)" } ?? "")
    }
}

extension BenchmarkQuestion {
    /// One answer-file line, without its newline, as the reference script writes it with
    /// `json.dumps`: `{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}`
    /// (`model_vqa_loader.py`, `model_vqa_science.py`), or `{"question_id", "round_id", "prompt",
    /// "text", "options", "option_char", "answer_id", "model_id", "metadata"}` (`model_vqa_mmbench.py`).
    ///
    /// `answer_id` is LLaVA's random `shortuuid.uuid()` there; here it is `AnswerID.make`, a function
    /// of `modelID`, `key` and `text`, so the same run gives the same bytes (shards merge byte for byte).
    public func answerLine(text: String, modelID: String) -> String {
        let members = answerLayout.map { member -> JSONMember in
            switch member.key {
            case "text": return JSONMember("text", .string(text))
            case "answer_id": return JSONMember("answer_id", .string(AnswerID.make(modelID: modelID, key: key, text: text)))
            case "model_id": return JSONMember("model_id", .string(modelID))
            default: return member
            }
        }
        return JSONValue.object(members).pythonJSON
    }
}

/// Deterministic answer ids in the shape of `shortuuid.uuid()`: 22 characters of shortuuid's
/// 57-letter alphabet (no `0 1 I O l`), encoding 128 bits.
public enum AnswerID {
    /// shortuuid's default alphabet.
    public static let alphabet = Array("23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")

    /// The id of an answer. The 128 bits are two 64-bit FNV-1a hashes (offset basis
    /// 0xcbf29ce484222325, prime 0x100000001b3) of the UTF-8 bytes of `modelID`, NUL, `key`, NUL,
    /// `text`, the first over those bytes after a leading `1`, the second after a leading `2`; the
    /// high word is the first hash. Written most significant digit first in base 57, padded with
    /// the alphabet's first letter to 22 characters.
    public static func make(modelID: String, key: String, text: String) -> String {
        var bytes = Array(modelID.utf8)
        bytes.append(0)
        bytes += key.utf8
        bytes.append(0)
        bytes += text.utf8
        var high = fnv1a([UInt8(ascii: "1")] + bytes)
        var low = fnv1a([UInt8(ascii: "2")] + bytes)
        var digits: [Character] = []
        for _ in 0..<22 {
            // (high, low) /= 57, remainder is the next digit (least significant first).
            let (qHigh, rHigh) = high.quotientAndRemainder(dividingBy: 57)
            let (qLow, rLow) = UInt64(57).dividingFullWidth((rHigh, low))
            high = qHigh
            low = qLow
            digits.append(alphabet[Int(rLow)])
        }
        return String(digits.reversed())
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
