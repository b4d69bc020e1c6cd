import Foundation

// Python 3 `str` operations on Unicode scalars (code points), as the reference scorers apply them:
// `lower`, `strip`, `split()`, `replace`, `in`, slicing by code points. Swift's `Character` is a grapheme
// cluster, so these work on `unicodeScalars` to count and match the way Python does.
enum PythonText {
    /// `str.isspace` for one code point: Unicode White_Space plus the separators U+001C…U+001F.
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        u.properties.isWhitespace || (0x1C...0x1F).contains(u.value)
    }

    /// `\d` in a Python 3 `str` pattern: a Unicode decimal digit (general category Nd).
    static func isDecimalDigit(_ u: Unicode.Scalar) -> Bool { u.properties.generalCategory == .decimalNumber }

    /// `\d` in a Python 2 pattern without `re.UNICODE`: 0–9 only.
    static func isASCIIDigit(_ u: Unicode.Scalar) -> Bool { (0x30...0x39).contains(u.value) }

    /// `s.lower()`: each code point's full lowercase mapping (`İ` → `i̇`), as Python; its final-sigma
    /// rule (`Σ` at a word's end → `ς`) is not applied (Greek answers only).
    static func lower(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars { out += scalar.properties.lowercaseMapping }
        return out
    }

    /// `s.strip()`.
    static func strip(_ s: String) -> String {
        let scalars = Array(s.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return string(scalars[first...last])
    }

    /// `s.rstrip(chars)` for a set of single code points.
    static func rstrip(_ s: String, _ chars: Set<Unicode.Scalar>) -> String {
        var scalars = Array(s.unicodeScalars)
        while let last = scalars.last, chars.contains(last) { scalars.removeLast() }
        return string(scalars[...])
    }

    /// `s.split()`: runs of whitespace separate, no empty words.
    static func split(_ s: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if isSpace(u) {
                if !current.isEmpty { words.append(String(current)) }
                current = String.UnicodeScalarView()
            } else {
                current.append(u)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }

    /// `s.split(sep)` with an explicit separator (empty pieces kept).
    static func split(_ s: String, separator: String) -> [String] {
        let scalars = Array(s.unicodeScalars), sep = Array(separator.unicodeScalars)
        var pieces: [String] = []
        var start = 0, i = 0
        while i + sep.count <= scalars.count {
            if scalars[i..<(i + sep.count)].elementsEqual(sep) {
                pieces.append(string(scalars[start..<i]))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        pieces.append(string(scalars[start...]))
        return pieces
    }

    /// `s.replace(old, new)` (all non-overlapping occurrences, left to right).
    static func replace(_ s: String, _ old: String, _ new: String) -> String {
        let scalars = Array(s.unicodeScalars), target = Array(old.unicodeScalars)
        guard !target.isEmpty, scalars.count >= target.count else { return s }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if i + target.count <= scalars.count, scalars[i..<(i + target.count)].elementsEqual(target) {
                out.append(contentsOf: new.unicodeScalars)
                i += target.count
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }

    /// `needle in haystack` for strings (code-point substring).
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        let h = Array(haystack.unicodeScalars), n = Array(needle.unicodeScalars)
        if n.isEmpty { return true }
        guard h.count >= n.count else { return false }
        for i in 0...(h.count - n.count) where h[i..<(i + n.count)].elementsEqual(n) { return true }
        return false
    }

    /// `s[:n]` by code points.
    static func prefix(_ s: String, _ n: Int) -> String { string(Array(s.unicodeScalars.prefix(n))[...]) }

    /// `s.find(sub)` in code points, -1 when absent.
    static func find(_ s: String, _ sub: String) -> Int {
        let h = Array(s.unicodeScalars), n = Array(sub.unicodeScalars)
        guard h.count >= n.count else { return -1 }
        for i in 0...(h.count - n.count) where h[i..<(i + n.count)].elementsEqual(n) { return i }
        return -1
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
