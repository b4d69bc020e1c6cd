import Foundation
import YOPOText

// Question files as LLaVA ships them and as its eval scripts turn them into prompts:
// `model_vqa_loader.py` (GQA, VQAv2, POPE, TextVQA, MME: jsonl), `model_vqa_science.py` (ScienceQA:
// a json array), `model_vqa_mmbench.py` (MMBench: a tsv with base64 images, QuestionsMMBench.swift).

/// The suffix `--single-pred-prompt` appends (ScienceQA, MMBench with `--lang en`).
let singlePredictionSuffix = "\nAnswer with the option's letter from the given choices directly."

/// The largest question or answer file read (bytes): 2 GiB; the largest LLaVA ships (VQAv2 test2015
/// jsonl, MMBench test tsv with its images) are far below.
public let maximumBenchmarkFileBytes = 2 << 30

/// The questions of a benchmark's question file, in file order, one per model run.
///
/// - GQA, VQAv2, POPE, TextVQA, MME: a jsonl file, one object per line with `question_id` (string or
///   number), `image` (a path relative to the images directory) and `text` (question and suffix, as
///   LLaVA's files carry it); prompt and recorded prompt are `text`, 128 new tokens
///   (`model_vqa_loader.py`).
/// - ScienceQA: a json array of `{id, image?, conversations}`; the prompt is
///   `conversations[0].value` without `<image>`, stripped as Python strips, plus the
///   `--single-pred-prompt` suffix; the recorded prompt has `<image>\n` before it when the item has
///   an image; items without `image` are text-only (`image` nil); 1024 new tokens
///   (`model_vqa_science.py`, as `scripts/v1_5/eval/sqa.sh` runs it).
/// - MMBench: see `loadMMBenchQuestions` (`mmbenchAllRounds` is LLaVA's `--all-rounds`).
///
/// Every question gets a unique `key` (see `BenchmarkQuestion.key`). Throws `EvalError.missing` for
/// an unreadable file, `.tooLarge` over `maximumBenchmarkFileBytes`, `.malformed` naming the file and
/// the 1-based line (ScienceQA: the item) for a line that is not JSON or lacks a field.
public func loadBenchmarkQuestions(
    _ benchmark: BenchmarkName, questionsFile: String, mmbenchAllRounds: Bool = false
) throws
    -> [BenchmarkQuestion]
{
    switch benchmark {
    case .gqa, .vqav2, .pope, .textvqa, .mme:
        return assignKeys(try loadLoaderQuestions(readBenchmarkFile(questionsFile), file: questionsFile))
    case .scienceqa:
        return assignKeys(try loadScienceQAQuestions(readBenchmarkFile(questionsFile), file: questionsFile))
    case .mmbench:
        return assignKeys(try loadMMBenchQuestions(TSVTable(contentsOf: questionsFile), file: questionsFile, allRounds: mmbenchAllRounds))
    }
}

/// The file's bytes, after the size check.
func readBenchmarkFile(_ path: String) throws -> Data {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
        throw EvalError.missing(file: path, what: "file (cannot open)")
    }
    if let size = (attributes[.size] as? NSNumber)?.intValue, size > maximumBenchmarkFileBytes {
        throw EvalError.tooLarge(file: path, bytes: size, limit: maximumBenchmarkFileBytes)
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw EvalError.missing(file: path, what: "file (cannot read)") }
    return data
}

/// The lines of a jsonl file as Python's `for line in open(f)` gives them: split after each `\n`; a
/// last line without `\n` is a line too; `hasNewline` says whether the line ended with one.
/// `start` is the line's byte offset.
struct JSONLine {
    var number: Int
    var start: Int
    var bytes: Data
    var hasNewline: Bool
}

func jsonLines(_ data: Data) -> [JSONLine] {
    var lines: [JSONLine] = []
    var start = data.startIndex
    var number = 1
    while start < data.endIndex {
        if let newline = data[start...].firstIndex(of: 0x0A) {
            lines.append(JSONLine(number: number, start: start - data.startIndex, bytes: data[start..<newline], hasNewline: true))
            start = newline + 1
        } else {
            lines.append(JSONLine(number: number, start: start - data.startIndex, bytes: data[start...], hasNewline: false))
            start = data.endIndex
        }
        number += 1
    }
    return lines
}

/// Parses one jsonl line as an object (`json.loads`: surrounding whitespace allowed, an empty line is
/// an error as it is there).
func parseObjectLine(_ line: JSONLine, file: String) throws -> JSONValue {
    let value: JSONValue
    do {
        value = try JSONValue.parse(Data(line.bytes))
    } catch let error as JSONError {
        let message = line.bytes.allSatisfy({ [0x20, 0x09, 0x0D].contains($0) }) ? "empty line" : error.description
        throw EvalError.malformed(file: file, line: line.number, message: message)
    }
    guard value.members != nil else {
        throw EvalError.malformed(file: file, line: line.number, message: "expected a JSON object, found \(value.summary)")
    }
    return value
}

/// A `question_id` the answer line can carry back: a string or a number.
func questionIDField(_ object: JSONValue, _ name: String, file: String, line: Int) throws -> JSONValue {
    guard let id = object[name] else { throw EvalError.malformed(file: file, line: line, message: "missing \"\(name)\"") }
    switch id {
    case .string, .number: return id
    default: throw EvalError.malformed(file: file, line: line, message: "\"\(name)\" is \(id.summary), expected a string or a number")
    }
}

func stringField(_ object: JSONValue, _ name: String, file: String, line: Int) throws -> String {
    guard let value = object[name] else { throw EvalError.malformed(file: file, line: line, message: "missing \"\(name)\"") }
    guard let string = value.string else {
        throw EvalError.malformed(file: file, line: line, message: "\"\(name)\" is \(value.summary), expected a string")
    }
    return string
}

/// The answer layout of `model_vqa_loader.py` and `model_vqa_science.py`.
func plainAnswerLayout(questionID: JSONValue, recordedPrompt: String) -> [JSONMember] {
    [
        JSONMember("question_id", questionID), JSONMember("prompt", .string(recordedPrompt)), JSONMember("text", .null),
        JSONMember("answer_id", .null), JSONMember("model_id", .null), JSONMember("metadata", .object([]))
    ]
}

/// `model_vqa_loader.py`'s questions: one per jsonl line.
func loadLoaderQuestions(_ data: Data, file: String) throws -> [BenchmarkQuestion] {
    try jsonLines(data).map { line in
        let object = try parseObjectLine(line, file: file)
        let id = try questionIDField(object, "question_id", file: file, line: line.number)
        let image = try stringField(object, "image", file: file, line: line.number)
        let text = try stringField(object, "text", file: file, line: line.number)
        return BenchmarkQuestion(
            questionID: id, image: .file(image), prompt: text, maxNewTokens: 128,
            answerLayout: plainAnswerLayout(questionID: id, recordedPrompt: text))
    }
}

/// `model_vqa_science.py` with `--single-pred-prompt`: one question per array item.
func loadScienceQAQuestions(_ data: Data, file: String) throws -> [BenchmarkQuestion] {
    let document: JSONValue
    do { document = try JSONValue.parse(data) } catch let error as JSONError {
        throw EvalError.malformed(file: file, line: 0, message: error.description)
    }
    guard let items = document.array else {
        throw EvalError.malformed(file: file, line: 0, message: "expected a JSON array of questions, found \(document.summary)")
    }
    return try items.enumerated().map { index, item in
        func fail(_ message: String) -> EvalError {
            .malformed(file: file, line: 0, message: "item \(index)\(item["id"].map { " (id \($0.summary))" } ?? ""): \(message)")
        }
        guard item.members != nil else { throw fail("expected an object, found \(item.summary)") }
        guard let id = item["id"] else { throw fail("missing \"id\"") }
        switch id {
        case .string, .number: return try scienceQAQuestion(item, id: id, fail: fail)
        default: throw fail("\"id\" is \(id.summary), expected a string or a number")
        }
    }
}

private func scienceQAQuestion(_ item: JSONValue, id: JSONValue, fail: (String) -> EvalError) throws -> BenchmarkQuestion {
    guard let first = item["conversations"]?.array?.first else { throw fail("missing \"conversations\"[0]") }
    guard let value = first["value"]?.string else { throw fail("\"conversations\"[0] has no string \"value\"") }
    var image: BenchmarkImage?
    if let imageValue = item["image"] {
        guard let path = imageValue.string else { throw fail("\"image\" is \(imageValue.summary), expected a string") }
        image = .file(path)
    }
    let question = PythonText.strip(value.replacingOccurrences(of: "<image>", with: ""))
    let prompt = question + singlePredictionSuffix
    let recorded = (image == nil ? "" : "<image>\n") + prompt
    return BenchmarkQuestion(
        questionID: id, image: image, prompt: prompt, maxNewTokens: 1024,
        answerLayout: plainAnswerLayout(questionID: id, recordedPrompt: recorded))
}

/// Gives every question its final key: the base key, plus `#<n>` for every occurrence when the
/// file has that base key more than once.
func assignKeys(_ questions: [BenchmarkQuestion]) -> [BenchmarkQuestion] {
    var counts: [String: Int] = [:]
    for question in questions { counts[question.key, default: 0] += 1 }
    var seen: [String: Int] = [:]
    return questions.map { question in
        var question = question
        let base = question.key
        if counts[base, default: 0] > 1 {
            let n = seen[base, default: 0]
            seen[base] = n + 1
            question.key = base + "#\(n)"
        }
        return question
    }
}
