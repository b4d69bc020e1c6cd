import Foundation

/// Why a benchmark file, a ground truth or an answer file could not be read or scored. Every case
/// describes itself in one line naming the file and the problem.
public enum EvalError: Error, CustomStringConvertible, Equatable {
    /// The file's content is not what its format allows; `line` is 1-based (0 when not line-based).
    case malformed(file: String, line: Int, message: String)
    /// A file, field, column or entry the format requires is absent.
    case missing(file: String, what: String)
    /// A file exceeds the reader's size limit (bytes).
    case tooLarge(file: String, bytes: Int, limit: Int)
    /// Input the reference scorer does not handle either (named in the message).
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let file, let line, let message):
            return line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
        case .missing(let file, let what):
            return "\(file): missing \(what)"
        case .tooLarge(let file, let bytes, let limit):
            return "\(file): \(bytes) bytes is over the limit of \(limit) bytes"
        case .unsupported(let message):
            return "unsupported: \(message)"
        }
    }
}
