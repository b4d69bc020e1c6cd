import Foundation
import YOPOText

// MMBench's tsv as `model_vqa_mmbench.py` reads it (`pd.read_table`, one row per question, the image
// as base64) and builds its prompts (`--single-pred-prompt --lang en`, optionally `--all-rounds`).

/// The option columns `model_vqa_mmbench.py` reads, in order.
let mmbenchOptionColumns = ["A", "B", "C", "D"]

/// The reference's `is_none`: pandas' missing value, or a string that is `nan` or `none` in any case
/// (pandas already reads `nan`, `NaN`, `None` as missing; `NONE` and `none` it keeps as text, and
/// LLaVA then drops them too).
func mmbenchIsNone(_ value: String?) -> Bool {
    guard let value else { return true }
    let lower = value.lowercased()
    return lower == "nan" || lower == "none"
}

/// The questions of an MMBench tsv (columns `index`, `question`, `hint`, `A`–`D`, `image` required,
/// others ignored), in row order.
///
/// Per row, as `model_vqa_mmbench.py`: the options are `A`, `B`, … up to the first missing one
/// (`mmbenchIsNone`); the recorded prompt is `hint + "\n"` (unless the hint is missing) + question
/// + `"\nA. " + option` for each option; the prompt fed to the model adds the `--single-pred-prompt`
/// suffix; 1024 new tokens; the image is the base64 column decoded (`.data`). With `allRounds`
/// (LLaVA's `--all-rounds`) the row gives one question per option, round r having the options rotated
/// left r times under the same letters `A`, `B`, …, and the answer line records the rotated
/// `options` and `option_char`; without it, one question (round 0). A row without options gives no
/// question with `allRounds` (zero rounds, as the reference). `question_id` is the integer `index`.
///
/// Throws `EvalError.missing` for a missing column, `.malformed` (1-based file line of the row's
/// record, counting the header as line 1, exact for records without embedded line breaks) for a
/// non-integer index, a missing question, or an image that is not base64.
func loadMMBenchQuestions(_ table: TSVTable, file: String, allRounds: Bool) throws -> [BenchmarkQuestion] {
    var columns: [String: Int] = [:]
    for name in ["index", "question", "hint", "image"] + mmbenchOptionColumns {
        guard let column = table.column(name) else { throw EvalError.missing(file: file, what: "column \"\(name)\"") }
        columns[name] = column
    }
    var questions: [BenchmarkQuestion] = []
    for (rowNumber, row) in table.rows.enumerated() {
        let line = rowNumber + 2
        func cell(_ name: String) -> String? { row[columns[name]!] }
        guard let indexText = cell("index"), let index = Int(indexText) else {
            throw EvalError.malformed(
                file: file, line: line, message: "index \(cell("index").map { "\"\($0)\"" } ?? "(missing)") is not an integer")
        }
        guard let questionText = cell("question") else {
            throw EvalError.malformed(file: file, line: line, message: "index \(index): the question is missing")
        }
        guard let base64 = cell("image"), let image = Data(base64Encoded: base64, options: .ignoreUnknownCharacters), !image.isEmpty
        else {
            throw EvalError.malformed(file: file, line: line, message: "index \(index): the image is missing or not base64")
        }
        var options: [String] = []
        for name in mmbenchOptionColumns {
            guard !mmbenchIsNone(cell(name)), let option = cell(name) else { break }
            options.append(option)
        }
        var letters = Array(mmbenchOptionColumns.prefix(options.count))
        let hint = cell("hint")
        let rounds = allRounds ? options.count : 1
        for round in 0..<rounds {
            var recorded = questionText
            if !mmbenchIsNone(hint), let hint { recorded = hint + "\n" + recorded }
            for (letter, option) in zip(mmbenchOptionColumns, options) { recorded += "\n" + letter + ". " + option }
            let id = JSONValue.number(Double(index))
            let layout = [
                JSONMember("question_id", id), JSONMember("round_id", .number(Double(round))), JSONMember("prompt", .string(recorded)),
                JSONMember("text", .null), JSONMember("options", .array(options.map { .string($0) })),
                JSONMember("option_char", .array(letters.map { .string($0) })), JSONMember("answer_id", .null),
                JSONMember("model_id", .null), JSONMember("metadata", .object([]))
            ]
            questions.append(
                BenchmarkQuestion(
                    questionID: id, image: .data(image), prompt: recorded + singlePredictionSuffix, maxNewTokens: 1024,
                    answerLayout: layout, roundID: round))
            options = Array(options.dropFirst()) + options.prefix(1)
            letters = Array(letters.dropFirst()) + letters.prefix(1)
        }
    }
    return questions
}
