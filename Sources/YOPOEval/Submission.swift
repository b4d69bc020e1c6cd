import Foundation
import YOPOText

/// The files evaluation servers take, written from an answer file as LLaVA's conversion scripts
/// write them (Tools/reference/check_eval_conversions.py runs those scripts on the fixtures under
/// Tests/Fixtures/eval/formats/ and SubmissionTests compares).
public enum Submission {
    /// Writes the benchmark's submission file(s) into `outDirectory` (created if needed) and returns
    /// their paths.
    ///
    /// - GQA: `testdev_balanced_predictions.json`, as `scripts/convert_gqa_for_eval.py`: a JSON list,
    ///   in answer-file order, of `{"questionId": question_id, "prediction": text.rstrip('.').lower()}`,
    ///   written as `json.dump` (no newline). `questionsFile` is not read.
    /// - VQAv2: `<answers file name without .jsonl>.json`, as `scripts/convert_vqav2_for_submission.py`:
    ///   one `{"question_id", "answer"}` per question of `questionsFile` in its order (the reference
    ///   reads `llava_vqav2_mscoco_test2015.jsonl`, all of test2015, which EvalAI's test-dev phase
    ///   also takes; the test-dev file works as well), the answer `EvalAIAnswerProcessor` applied to
    ///   the text, `""` for a question without answer; a later answer to the same id wins.
    /// - MMBench: `<answers file name without .jsonl>.tsv`, the table
    ///   `scripts/convert_mmbench_for_submission.py` writes as xlsx: the question tsv without `hint`,
    ///   `category`, `source`, `image`, `comment`, `l2-category`, a `prediction` column inserted as the
    ///   7th, holding the text of the last answer line for the row's `index` (the last round with
    ///   `--all-rounds`), empty when none. Written as pandas' `to_csv(sep='\t', index=False)` writes
    ///   that table read back from the xlsx (missing values empty, fields with a tab, quote or line
    ///   break quoted with `"`, `""` for a quote; cells as in the question file). MMBench's server
    ///   takes the xlsx; converting the tsv is one `pd.read_table(f).to_excel(...)`.
    ///
    /// Stricter than the scripts (which skip or ignore them): an unparsable answer line, an answer
    /// to a question the question file does not have, a `question_id` of the wrong type are errors.
    /// Throws `EvalError.unsupported` for POPE, ScienceQA, TextVQA and MME (scored locally, no
    /// submission file), `.missing` for an absent file or column, `.malformed` naming file and line.
    public static func write(
        _ benchmark: BenchmarkName, answersFile: String, questionsFile: String, outDirectory: String
    ) throws
        -> [String]
    {
        let name: String
        let contents: String
        let stem = ((answersFile as NSString).lastPathComponent as NSString).deletingPathExtension
        switch benchmark {
        case .gqa:
            name = "testdev_balanced_predictions.json"
            contents = try gqaPredictions(answersFile: answersFile)
        case .vqav2:
            name = stem + ".json"
            contents = try vqav2Submission(answersFile: answersFile, questionsFile: questionsFile)
        case .mmbench:
            name = stem + ".tsv"
            contents = try mmbenchSubmission(answersFile: answersFile, questionsFile: questionsFile)
        case .pope, .scienceqa, .textvqa, .mme:
            throw EvalError.unsupported(
                "\(benchmark.rawValue) has no submission file (it is scored locally; submission files exist for gqa, vqav2, mmbench)")
        }
        let path = (outDirectory as NSString).appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(atPath: outDirectory, withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvalError.missing(file: path, what: "write access (\(error.localizedDescription))")
        }
        return [path]
    }

    /// `convert_gqa_for_eval.py`'s output.
    static func gqaPredictions(answersFile: String) throws -> String {
        let answers = try AnswerFile.read(answersFile)
        let items = try answers.enumerated().map { number, answer -> JSONValue in
            let id = try questionIDField(answer, "question_id", file: answersFile, line: number + 1)
            let text = try stringField(answer, "text", file: answersFile, line: number + 1)
            return .object([
                JSONMember("questionId", id), JSONMember("prediction", .string(PythonText.lower(PythonText.rstrip(text, ["."]))))
            ])
        }
        return JSONValue.array(items).pythonJSON
    }

    /// `convert_vqav2_for_submission.py`'s output for the questions of `questionsFile`.
    static func vqav2Submission(answersFile: String, questionsFile: String) throws -> String {
        var texts: [String: String] = [:]
        for (number, answer) in try AnswerFile.read(answersFile).enumerated() {
            let id = try questionIDField(answer, "question_id", file: answersFile, line: number + 1)
            texts[id.pythonJSON] = try stringField(answer, "text", file: answersFile, line: number + 1)
        }
        let questions = try jsonLines(readBenchmarkFile(questionsFile)).map { line -> JSONValue in
            let object = try parseObjectLine(line, file: questionsFile)
            return try questionIDField(object, "question_id", file: questionsFile, line: line.number)
        }
        let known = Set(questions.map(\.pythonJSON))
        if let stray = texts.keys.sorted().first(where: { !known.contains($0) }) {
            throw EvalError.malformed(file: answersFile, line: 0, message: "question_id \(stray) is not in \(questionsFile)")
        }
        let processor = EvalAIAnswerProcessor()
        let items = questions.map { id -> JSONValue in
            let answer = texts[id.pythonJSON].map { processor($0) } ?? ""
            return .object([JSONMember("question_id", id), JSONMember("answer", .string(answer))])
        }
        return JSONValue.array(items).pythonJSON
    }

    /// The columns `convert_mmbench_for_submission.py` drops.
    static let mmbenchDroppedColumns = ["hint", "category", "source", "image", "comment", "l2-category"]

    /// `convert_mmbench_for_submission.py`'s table, as tab-separated text.
    static func mmbenchSubmission(answersFile: String, questionsFile: String) throws -> String {
        let table = try TSVTable(contentsOf: questionsFile)
        for column in mmbenchDroppedColumns + ["index"] where table.column(column) == nil {
            throw EvalError.missing(file: questionsFile, what: "column \"\(column)\" (the MMBench submission needs it)")
        }
        let kept = table.header.indices.filter { !mmbenchDroppedColumns.contains(table.header[$0]) }
        guard kept.count >= 6 else {
            throw EvalError.malformed(file: questionsFile, line: 1, message: "fewer than 6 columns besides the dropped ones")
        }
        let indexColumn = table.column("index")!
        var rowsByIndex: [Int: [Int]] = [:]
        for (row, cells) in table.rows.enumerated() {
            if let text = cells[indexColumn], let index = Int(text) { rowsByIndex[index, default: []].append(row) }
        }
        var predictions = [String?](repeating: nil, count: table.rows.count)
        for (number, answer) in try AnswerFile.read(answersFile).enumerated() {
            let id = try questionIDField(answer, "question_id", file: answersFile, line: number + 1)
            let text = try stringField(answer, "text", file: answersFile, line: number + 1)
            guard let index = id.int, let rows = rowsByIndex[index] else {
                throw EvalError.malformed(
                    file: answersFile, line: number + 1, message: "question_id \(id.summary) is no index of \(questionsFile)")
            }
            for row in rows { predictions[row] = text }
        }
        var header = kept.map { table.header[$0] }
        header.insert("prediction", at: 6)
        var out = tsvRecord(header)
        for (row, cells) in table.rows.enumerated() {
            var fields = kept.map { cells[$0] ?? "" }
            fields.insert(predictions[row] ?? "", at: 6)
            out += tsvRecord(fields)
        }
        return out
    }

    /// One record as Python's csv writer (pandas `to_csv(sep='\t')`, QUOTE_MINIMAL) writes it.
    static func tsvRecord(_ fields: [String]) -> String {
        fields.map { field -> String in
            guard field.unicodeScalars.contains(where: { "\t\"\n\r".unicodeScalars.contains($0) }) else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: "\t") + "\n"
    }
}
