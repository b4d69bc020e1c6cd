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
        /// The values a word-list option takes (`ExpressibleByArgument` enums), else empty.
        var allowed: [String]
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
        // A command group's own subcommands are "group sub" (`eval score`).
        var all: [(String, [String: Any])] = []
        for sub in subcommands {
            guard let name = sub["commandName"] as? String else { continue }
            all.append((name, sub))
            for nested in sub["subcommands"] as? [[String: Any]] ?? [] {
                if let inner = nested["commandName"] as? String { all.append(("\(name) \(inner)", nested)) }
            }
        }
        for (name, sub) in all {
            var options: [String: OptionShape] = [:]
            for (order, argument) in (sub["arguments"] as? [[String: Any]] ?? []).enumerated() {
                let kind = argument["kind"] as? String
                guard kind == "option" || kind == "flag" else { continue }
                for n in argument["names"] as? [[String: Any]] ?? [] where n["kind"] as? String == "long" {
                    guard let long = n["name"] as? String else { continue }
                    options[long] = OptionShape(
                        name: long, takesValue: kind == "option", repeating: argument["isRepeating"] as? Bool ?? false,
                        required: kind == "option" && !(argument["isOptional"] as? Bool ?? true),
                        abstract: argument["abstract"] as? String ?? "", allowed: argument["allValues"] as? [String] ?? [],
                        order: order)
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
                "no command given: yopo generate --model DIR --image FILE --prompt TEXT answers a prompt about an image (commands: \(commandList); see yopo --help)"
            )
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
        // A group's subcommand word, or its default (`yopo eval --model …` runs `eval run`).
        var key = command, words = rest
        if let first = rest.first, table["\(command) \(first)"] != nil {
            key = "\(command) \(first)"
            words = Array(rest.dropFirst())
        } else if let group = YOPOCommand.configuration.subcommands.first(where: { $0._commandName == command }),
            let fallback = group.configuration.defaultSubcommand
        {
            key = "\(command) \(fallback._commandName)"
        }
        guard let options = table[key] else { return .parse }
        return try check(words, command: key, options: options)
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
                throw ArgumentError(
                    "unexpected argument '\(words[i + 1])' after --: yopo \(command) takes options only (see yopo \(command) --help)")
            }
            guard word.hasPrefix("--") else {
                if word.hasPrefix("-") && word.count > 1 {
                    throw ArgumentError("unknown option '\(word)' for \(command): options are spelled --name (see yopo \(command) --help)")
                }
                throw ArgumentError(
                    "unexpected argument '\(word.isEmpty ? "\"\"" : word)' for \(command): every value follows its option, e.g. --image FILE (see yopo \(command) --help)"
                )
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
                            "--\(name) needs a value but the next word is the option \(value); expected \(describe(option.abstract)) (write --\(name)=\(value) if that is the value)"
                        )
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
        // The default (help only) is not what the option expects.
        if text.hasSuffix(")"), let start = text.range(of: " (default: ", options: .backwards) {
            text = String(text[..<start.lowerBound])
        }
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
        case "model": hint = "DIR: the checkpoint directory (config.json + safetensors)"
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

    /// One line for an error ArgumentParser reports while parsing `arguments` (the shape check
    /// catches the shape first; what is left are values the options' types refuse).
    static func message(for error: Error, arguments: [String]) -> String {
        var text = oneLine(YOPOCommand.message(for: error))
        if text.hasPrefix("Error: ") { text.removeFirst(7) }
        if let options = optionTable()[command(of: arguments)], let value = valueMessage(text, options: options) { return value }
        if let first = text.first, first.isUppercase { text = first.lowercased() + text.dropFirst() }
        return text.isEmpty ? "invalid command line (see yopo --help)" : text
    }

    /// The subcommand `arguments` run (generate when they start with an option).
    static func command(of arguments: [String]) -> String {
        guard let first = arguments.first, commands.contains(first) else { return "generate" }
        let table = optionTable()
        if arguments.count > 1, table["\(first) \(arguments[1])"] != nil { return "\(first) \(arguments[1])" }
        if let group = YOPOCommand.configuration.subcommands.first(where: { $0._commandName == first }),
            let fallback = group.configuration.defaultSubcommand
        {
            return "\(first) \(fallback._commandName)"
        }
        return first
    }

    /// ArgumentParser's "The value 'V' is invalid for '--NAME <v>'…" in this command line's words:
    /// the option's own message when its transform threw one (it names the option, the value and what
    /// is allowed), "unknown --NAME V (choose from …)" for a word-list option, else "--NAME 'V' is not
    /// valid; expected …" with the option's help. Nil for any other message.
    static func valueMessage(_ text: String, options: [String: OptionShape]) -> String? {
        let prefix = "The value '"
        guard text.hasPrefix(prefix) else { return nil }
        // Longest names first, so --visual-tokens is not taken for a --visual option.
        for option in options.values.sorted(by: { $0.name.count > $1.name.count }) {
            guard let marker = text.range(of: "' is invalid for '--\(option.name)") else { continue }
            let rest = text[marker.upperBound...]
            guard let end = rest.firstIndex(of: "'"), rest.first == " " || rest.first == "'" else { continue }
            let value = String(text[text.index(text.startIndex, offsetBy: prefix.count)..<marker.lowerBound])
            let detail = rest[rest.index(after: end)...]
            if detail.hasPrefix(": ") { return String(detail.dropFirst(2)) }
            if !option.allowed.isEmpty {
                return "unknown --\(option.name) \(value) (choose from \(option.allowed.joined(separator: ", ")))"
            }
            return "--\(option.name) '\(value)' is not valid; expected \(describe(option.abstract))"
        }
        return nil
    }
}
