import Foundation
import YOPOText

/// Answer files (jsonl, one `BenchmarkQuestion.answerLine` per line): reading, resuming an
/// interrupted run, and merging shards back into question order (LLaVA's eval scripts `cat` the
/// chunk files in chunk order; for contiguous shards the merge here gives the same bytes).
///
/// An answer line belongs to the question whose `question_id` (and, for MMBench, `round_id`) it
/// carries; when the question file repeats an id (TextVQA and MME ask two questions per image and
/// use the image as the id), the line's `prompt` picks the question, and identical repeats are
/// taken in file order.
public enum AnswerFile {
    /// Every line of the file, parsed, in order. Throws `EvalError.missing` for an unreadable file,
    /// `.tooLarge`, or `.malformed` naming the 1-based line that is not a JSON object (a truncated
    /// last line included: `resumeState` is the reader that tolerates one).
    public static func read(_ path: String) throws -> [JSONValue] {
        try jsonLines(readBenchmarkFile(path)).map { try parseObjectLine($0, file: path) }
    }

    /// What an existing answer file holds for a resumed run.
    public struct ResumeState: Sendable, Equatable {
        /// Keys of the questions the file answers.
        public var completedKeys: Set<String>
        /// The length of the file's complete lines: a resumed run cuts the file there before it
        /// appends (`prepareForResume` does).
        public var validBytes: Int
        /// The last line did not parse and had no newline: a write cut short by the interruption.
        /// It is not counted as answered (its question is asked again) and is dropped on resume.
        public var droppedPartialLine: Bool
        /// The last line parsed but had no newline; resuming adds the newline.
        public var missingNewline: Bool
    }

    /// Reads an answer file written by an interrupted run of `questions`. A missing file is an empty
    /// state. Throws `EvalError.malformed` (file and line) for a line before the last that is not
    /// JSON, a line whose question is not among `questions`, or a question answered twice.
    public static func resumeState(_ path: String, questions: [BenchmarkQuestion]) throws -> ResumeState {
        guard FileManager.default.fileExists(atPath: path) else {
            return ResumeState(completedKeys: [], validBytes: 0, droppedPartialLine: false, missingNewline: false)
        }
        let data = try readBenchmarkFile(path)
        var lines = jsonLines(data)
        var state = ResumeState(completedKeys: [], validBytes: data.count, droppedPartialLine: false, missingNewline: false)
        if let last = lines.last, !last.hasNewline {
            if (try? parseObjectLine(last, file: path)) == nil {
                state.droppedPartialLine = true
                state.validBytes = last.start
                lines.removeLast()
            } else {
                state.missingNewline = true
            }
        }
        var matcher = AnswerMatcher(questions: questions)
        for line in lines {
            let position = try matcher.match(parseObjectLine(line, file: path), file: path, line: line.number)
            state.completedKeys.insert(questions[position].key)
        }
        return state
    }

    /// The keys of the questions an existing answer file already answers (`resumeState`); the
    /// file is not changed.
    public static func completedKeys(_ path: String, questions: [BenchmarkQuestion]) throws -> Set<String> {
        try resumeState(path, questions: questions).completedKeys
    }

    /// `resumeState`, then makes the file ready for appending: a partial last line is cut off, a
    /// missing final newline added. Returns the state read (the keys not to ask again).
    @discardableResult
    public static func prepareForResume(_ path: String, questions: [BenchmarkQuestion]) throws -> ResumeState {
        let state = try resumeState(path, questions: questions)
        guard state.droppedPartialLine || state.missingNewline else { return state }
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw EvalError.missing(file: path, what: "file (cannot write)") }
        defer { try? handle.close() }
        do {
            if state.droppedPartialLine { try handle.truncate(atOffset: UInt64(state.validBytes)) }
            if state.missingNewline {
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("\n".utf8))
            }
        } catch {
            throw EvalError.malformed(file: path, line: 0, message: "cannot repair for resume: \(error.localizedDescription)")
        }
        return state
    }

    /// The merged answer file: every question's line, in the order of `questions`, each line's bytes
    /// as in its shard file, each followed by `\n`. Shard files may come in any order. Throws
    /// `EvalError.malformed` (file and line) for a line that is not JSON (a truncated shard included),
    /// an answer to a question not in `questions`, or one answered twice (naming both places), and
    /// `EvalError.missing` naming how many questions have no answer and the first of them.
    public static func merge(shardFiles: [String], questions: [BenchmarkQuestion]) throws -> String {
        var matcher = AnswerMatcher(questions: questions)
        var lines = [String?](repeating: nil, count: questions.count)
        for file in shardFiles {
            for line in jsonLines(try readBenchmarkFile(file)) {
                let position = try matcher.match(parseObjectLine(line, file: file), file: file, line: line.number)
                lines[position] = String(decoding: line.bytes, as: UTF8.self)
            }
        }
        let missing = lines.indices.filter { lines[$0] == nil }
        if let first = missing.first {
            throw EvalError.missing(
                file: shardFiles.joined(separator: ", "),
                what: "answers to \(missing.count) of \(questions.count) questions (the first: \(questions[first].key))")
        }
        return lines.map { $0! + "\n" }.joined()
    }
}

/// Finds the question an answer line answers and remembers which are answered.
struct AnswerMatcher {
    let questions: [BenchmarkQuestion]
    /// Base key (id and round) → positions of the questions with it, in file order.
    var byBaseKey: [String: [Int]] = [:]
    /// Position → where it was answered.
    var answered: [Int: String] = [:]

    init(questions: [BenchmarkQuestion]) {
        self.questions = questions
        for (position, question) in questions.enumerated() {
            byBaseKey[BenchmarkQuestion.baseKey(questionID: question.questionID, roundID: question.roundID), default: []].append(position)
        }
    }

    mutating func match(_ line: JSONValue, file: String, line number: Int) throws -> Int {
        func fail(_ message: String) -> EvalError { .malformed(file: file, line: number, message: message) }
        guard let id = line["question_id"] else { throw fail("missing \"question_id\"") }
        var round: Int?
        if let value = line["round_id"] {
            guard let r = value.int else { throw fail("\"round_id\" is \(value.summary), expected an integer") }
            round = r
        }
        let base = BenchmarkQuestion.baseKey(questionID: id, roundID: round)
        guard var candidates = byBaseKey[base] else {
            throw fail("question_id \(id.summary)\(round.map { " round \($0)" } ?? "") is not in the question file")
        }
        if candidates.count > 1 {
            let prompt = line["prompt"]?.string
            candidates = candidates.filter { questions[$0].recordedPrompt == prompt }
            if candidates.isEmpty { throw fail("no question with question_id \(id.summary) has this line's prompt") }
        }
        guard let position = candidates.first(where: { answered[$0] == nil }) else {
            let first = answered[candidates[0]] ?? "?"
            throw fail("question \(questions[candidates[0]].key) is answered twice (first at \(first))")
        }
        answered[position] = "\(file):\(number)"
        return position
    }
}
