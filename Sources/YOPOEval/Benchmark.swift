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

/// One model run of a benchmark: what LLaVA's eval script feeds the model for one line (or one
/// round of an MMBench row) and what it needs to write the answer line.
public struct BenchmarkQuestion: Sendable, Equatable {
    /// `question_id` as in the question file (a number or a string), written back unchanged.
    public var questionID: JSONValue
    /// nil for text-only questions (ScienceQA items without an image).
    public var image: BenchmarkImage?
    /// The user turn's text after the image (`<image>\n` goes before it when there is an image),
    /// suffix included, exactly as the reference script gives it to the `vicuna_v1` template.
    public var prompt: String
    /// The greedy decoding budget of the reference script (128 or 1024).
    public var maxNewTokens: Int
    /// The answer line's fields other than `text`, `answer_id` and `model_id`, in the reference
    /// script's order, with the placeholders "text", "answer_id" and "model_id" standing where those go.
    public var answerLayout: [JSONMember]

    public init(questionID: JSONValue, image: BenchmarkImage?, prompt: String, maxNewTokens: Int, answerLayout: [JSONMember]) {
        self.questionID = questionID
        self.image = image
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.answerLayout = answerLayout
    }
}
