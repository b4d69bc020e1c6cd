import ArgumentParser
import Foundation

/// The version `yopo --version` prints.
let yopoVersion = "0.1.0"

/// A one-line argument error.
struct ArgumentError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `text` on one line: line breaks become spaces (the CLI prints exactly one `error:` line).
func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " ")
}

// MARK: - The shape of the command line

/// Checks the shape of a command line before ArgumentParser sees it, so every mistake gets one line
/// naming the word at fault: an unknown command word (the default subcommand would otherwise answer
/// "Missing expected argument '--model'"), unknown options, options given twice (ArgumentParser keeps
/// the last), a missing value, a value for a flag, an empty value, stray words, a missing required
/// option. The options come from ArgumentParser's own description of the commands, so they cannot
/// drift from the declarations. Every option takes the next word as its value (`.unconditional`), so
/// `--max-tokens -1` reaches its range check.
enum CommandLineShape {
    /// The subcommand words, in help order (from the root command's declaration).
    static let commands = YOPOCommand.configuration.subcommands.map { $0._commandName }
    static var commandList: String { commands.joined(separator: ", ") }

    /// One option or flag as ArgumentParser declares it.
    struct OptionShape {
        var name: String
        var takesValue: Bool
        var repeating: Bool
        var required: Bool
        var abstract: String
        /// Position in the command's declaration (required options are reported in this order).
        var order: Int
    }

    /// What `check` decided.
    enum Outcome: Equatable {
        /// The line is well formed; parse it.
        case parse
        /// A help request (`--help`, `-h`, `help …`) or another request ArgumentParser answers itself.
        case parserHandles
        /// `yopo --version`.
        case version
    }

    /// Options of every subcommand (long names without `--`), read from ArgumentParser's help dump.
    static func optionTable() -> [String: [String: OptionShape]] {
        guard let data = YOPOCommand._dumpHelp().data(using: .utf8),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let command = root["command"] as? [String: Any],
            let subcommands = command["subcommands"] as? [[String: Any]]
        else { return [:] }
        var table: [String: [String: OptionShape]] = [:]
        for sub in subcommands {
            guard let name = sub["commandName"] as? String else { continue }
            var options: [String: OptionShape] = [:]
            for (order, argument) in (sub["arguments"] as? [[String: Any]] ?? []).enumerated() {
                let kind = argument["kind"] as? String
                guard kind == "option" || kind == "flag" else { continue }
                for n in argument["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
                    guard let long = n["name"] as? String else { continue }
                    options[long] = OptionShape(
                        name: long, takesValue: kind == "option", repeating: argument["isRepeating"] as? Bool ?? false,
                        required: kind == "option" && !(argument["isOptional"] as? Bool ?? true),
                        abstract: argument["abstract"] as? String ?? "", order: order)
                }
            }
            table[name] = options
        }
        return table
    }

    /// Checks `arguments` (without the program name). Throws `ArgumentError` for the first problem.
    static func check(_ arguments: [String]) throws -> Outcome {
        guard let first = arguments.first else {
            throw ArgumentError(
                "no command given: yopo generate --model DIR --image FILE --prompt TEXT answers a prompt about an image (commands: \(commandList); see yopo --help)")
        }
        if arguments == ["--version"] { return .version }
        if first == "help" {
            if arguments.count > 1, !(commands + ["help"]).contains(arguments[1]), !arguments[1].hasPrefix("-") {
                throw unknownCommand(arguments[1])
            }
            return .parserHandles
        }
        let command: String, rest: [String]
        if first.hasPrefix("-") {
            // No command word: generate, the default (`yopo --model … --image … --prompt …`).
            if ["-h", "--help"].contains(first) { return .parserHandles }
            command = "generate"
            rest = arguments
        } else {
            guard commands.contains(first) else { throw unknownCommand(first) }
            command = first
            rest = Array(arguments.dropFirst())
        }
        let table = optionTable()
        guard let options = table[command] else { return .parse }
        return try check(rest, command: command, options: options)
    }

    static func check(_ words: [String], command: String, options: [String: OptionShape]) throws -> Outcome {
        var counts: [String: Int] = [:]
        var i = 0
        while i < words.count {
            let word = words[i]
            if word == "-h" || word == "--help" || word.hasPrefix("--experimental-") || word.hasPrefix("--generate-completion") {
                return .parserHandles
            }
            if word == "--" {
                guard i + 1 < words.count else { break }
                throw ArgumentError("unexpected argument '\(words[i + 1])' after --: yopo \(command) takes options only (see yopo \(command) --help)")
            }
            guard word.hasPrefix("--") else {
                if word.hasPrefix("-") && word.count > 1 {
                    throw ArgumentError("unknown option '\(word)' for \(command): options are spelled --name (see yopo \(command) --help)")
                }
                throw ArgumentError(
                    "unexpected argument '\(word.isEmpty ? "\"\"" : word)' for \(command): every value follows its option, e.g. --image FILE (see yopo \(command) --help)")
            }
            let body = word.dropFirst(2)
            let name: String, inline: String?
            if let eq = body.firstIndex(of: "=") {
                name = String(body[..<eq])
                inline = String(body[body.index(after: eq)...])
            } else {
                name = String(body)
                inline = nil
            }
            guard let option = options[name] else { throw unknownOption(word: "--" + name, command: command, options: options) }
            if option.takesValue {
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard i + 1 < words.count else {
                        throw ArgumentError("--\(name) needs a value and nothing follows it; expected \(describe(option.abstract))")
                    }
                    value = words[i + 1]
                    if value.hasPrefix("--"), options[String(value.dropFirst(2).prefix { $0 != "=" })] != nil || value == "--" {
                        throw ArgumentError(
                            "--\(name) needs a value but the next word is the option \(value); expected \(describe(option.abstract)) (write --\(name)=\(value) if that is the value)")
                    }
                    i += 1
                }
                if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    if name == "prompt" { _ = try OptionValue.prompt(value) }  // its own wording
                    throw ArgumentError("--\(name) is empty; expected \(describe(option.abstract))")
                }
            } else if let inline {
                throw ArgumentError("--\(name) is a flag and takes no value (got --\(name)=\(inline))")
            }
            counts[name, default: 0] += 1
            if counts[name]! > 1 && !option.repeating {
                if name == "image" { throw ArgumentError("only one --image is supported for now (--image is given twice)") }
                throw ArgumentError("--\(name) is given twice; give it once")
            }
            i += 1
        }
        for option in options.values.sorted(by: { $0.order < $1.order }) where option.required && counts[option.name] == nil {
            throw missing(option, command: command)
        }
        return .parse
    }

    /// `Checkpoint directory (config.json + safetensors).` → `checkpoint directory (config.json + safetensors)`.
    static func describe(_ abstract: String) -> String {
        var text = abstract.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(".") { text.removeLast() }
        // Lower-case the first word unless it is an acronym (CLIP, JSONL).
        let firstWord = text.prefix { $0.isLetter }
        if let first = firstWord.first, first.isUppercase, firstWord.count == 1 || firstWord.dropFirst().first!.isLowercase {
            text = first.lowercased() + text.dropFirst()
        }
        return text.isEmpty ? "a value" : text
    }

    static func missing(_ option: OptionShape, command: String) -> ArgumentError {
        let hint: String
        switch option.name {
        case "model": hint = "DIR: the LLaVA-1.5 checkpoint directory (config.json + safetensors)"
        case "image": hint = "FILE: the JPEG or PNG image the prompt asks about"
        case "prompt": hint = "TEXT: the question or instruction (--prompt - reads it from stdin)"
        default: hint = "VALUE: \(describe(option.abstract))"
        }
        return ArgumentError("yopo \(command) needs --\(option.name) \(hint)")
    }

    static func unknownCommand(_ word: String) -> ArgumentError {
        if word.trimmingCharacters(in: .whitespaces).isEmpty {
            return ArgumentError("empty command word (commands: \(commandList))")
        }
        let shown = word
        let near = closest(word, among: commands + ["help"])
        return ArgumentError("unknown command '\(shown)' (commands: \(commandList))" + (near.map { "; did you mean '\($0)'?" } ?? ""))
    }

    static func unknownOption(word: String, command: String, options: [String: OptionShape]) -> ArgumentError {
        if word == "--version" {
            return ArgumentError("unknown option '--version' for \(command) (yopo --version, alone, prints the version)")
        }
        let names = options.keys.filter { $0 != "help" }
        if let near = closest(String(word.dropFirst(2)), among: names) {
            return ArgumentError("unknown option '\(word)' for \(command); did you mean '--\(near)'?")
        }
        return ArgumentError("unknown option '\(word)' for \(command) (see yopo \(command) --help)")
    }

    /// The candidate nearest to `word` when it is close (edit distance ≤ 2, or a prefix of at least 3 letters).
    static func closest(_ word: String, among candidates: [String]) -> String? {
        let w = word.lowercased()
        guard !w.isEmpty else { return nil }
        let scored = candidates.map { ($0, editDistance(w, $0)) }.filter { $0.1 <= 2 }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        if let best = scored.first { return best.0 }
        if w.count >= 3 { return candidates.sorted().first { $0.hasPrefix(w) } }
        return nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// One line for an error ArgumentParser reports (the shape check catches nearly all first).
    static func message(for error: Error) -> String {
        var text = oneLine(YOPOCommand.message(for: error))
        if text.hasPrefix("Error: ") { text.removeFirst(7) }
        if let first = text.first, first.isUppercase { text = first.lowercased() + text.dropFirst() }
        return text.isEmpty ? "invalid command line (see yopo --help)" : text
    }
}

// MARK: - Option values

/// Option values the commands declare as text and parse here: ArgumentParser would read `-1` as an
/// unknown option ("Missing value"), so the value reaches its range check instead, and every bad value
/// gets one line naming the option and what is allowed.
enum OptionValue {
    /// An integer in `min ... max`. Throws `ArgumentError`: empty, not an integer, below or above the range
    /// (also for digits beyond 64 bits).
    static func integer(_ text: String, _ option: String, min: Int, max: Int) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let allowed = "allowed: \(min) to \(max)"
        guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (\(allowed))") }
        if let v = Int(t) {
            guard v >= min else { throw ArgumentError("--\(option) must be at least \(min) (got \(t))") }
            guard v <= max else { throw ArgumentError("--\(option) must be at most \(max) (got \(t))") }
            return v
        }
        if isInteger(t) {
            // Digits beyond Int: out of range on their side.
            throw ArgumentError(t.hasPrefix("-") ? "--\(option) must be at least \(min) (got \(t))" : "--\(option) must be at most \(max) (got \(t))")
        }
        throw ArgumentError("--\(option) '\(text)' is not an integer (\(allowed))")
    }

    /// An optional integer option.
    static func optionalInteger(_ text: String?, _ option: String, min: Int, max: Int) throws -> Int? {
        try text.map { try integer($0, option, min: min, max: max) }
    }

    /// Any 64-bit unsigned integer (a seed).
    static func unsigned(_ text: String, _ option: String) throws -> UInt64 {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let allowed = "allowed: 0 to \(UInt64.max)"
        guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (\(allowed))") }
        if let v = UInt64(t) { return v }
        if isInteger(t) {
            throw ArgumentError(t.hasPrefix("-") ? "--\(option) must be at least 0 (got \(t))" : "--\(option) must be at most \(UInt64.max) (got \(t))")
        }
        throw ArgumentError("--\(option) '\(text)' is not an integer (\(allowed))")
    }

    /// A finite Float. `check` returns the range phrase (`must be at least 0`) when the value is out
    /// of range; `allowed` names the range for values that are not numbers.
    static func number(_ text: String, _ option: String, allowed: String, check: (Float) -> String?) throws -> Float {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty else { throw ArgumentError("--\(option) is empty (allowed: \(allowed))") }
        guard let v = Double(t) else { throw ArgumentError("--\(option) '\(text)' is not a number (allowed: \(allowed))") }
        guard v.isFinite, Float(v).isFinite else {
            throw ArgumentError("--\(option) must be a finite number (got \(t); allowed: \(allowed))")
        }
        let f = Float(v)
        if let problem = check(f) { throw ArgumentError("--\(option) \(problem) (got \(t))") }
        return f
    }

    /// Optional sign, then digits only.
    static func isInteger(_ t: String) -> Bool {
        let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Most bytes `--prompt -` reads from stdin.
    static let maxStdinPromptBytes = 1 << 20

    /// The prompt: `text`, or stdin when `text` is `-`. Throws `ArgumentError` for an empty prompt, an
    /// empty or oversized stdin, or stdin that is not UTF-8.
    static func prompt(_ text: String, _ option: String = "prompt") throws -> String {
        guard text == "-" else {
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ArgumentError("--\(option) is empty; give the question or instruction (or - to read it from stdin)")
            }
            return text
        }
        var data = Data()
        let input = FileHandle.standardInput
        while data.count <= maxStdinPromptBytes {
            guard let chunk = try? input.read(upToCount: 1 << 16), !chunk.isEmpty else { break }
            data.append(chunk)
        }
        guard data.count <= maxStdinPromptBytes else {
            throw ArgumentError("--\(option) -: stdin holds more than \(maxStdinPromptBytes / 1024) KiB; a prompt must be shorter")
        }
        guard let decoded = String(data: data, encoding: .utf8) else {
            throw ArgumentError("--\(option) -: stdin is not UTF-8 text")
        }
        let prompt = decoded.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            throw ArgumentError("--\(option) -: stdin is empty; pipe the question in (e.g. echo 'What is shown?' | yopo generate … --prompt -)")
        }
        return prompt
    }
}
