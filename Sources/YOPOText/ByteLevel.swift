import Foundation

/// GPT-2's byte-level alphabet, as HF `tokenizers`' `ByteLevel` pre-tokenizer and decoder use it:
/// every byte is written as one printable character (`bytes_to_unicode` of GPT-2's `encoder.py`:
/// `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for themselves, the other 68 bytes for U+0100…U+0143 in byte
/// order), so a byte-level BPE vocabulary holds only printable spellings (a space is `Ġ`).
enum ByteLevel {
    /// The UTF-8 spelling of each byte's character, indexed by byte.
    static let spelling: [[UInt8]] = {
        var table = [[UInt8]](repeating: [], count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            let scalar = Unicode.Scalar(printable ? UInt32(b) : next)!
            if !printable { next += 1 }
            table[b] = Array(String(Character(scalar)).utf8)
        }
        return table
    }()

    /// The byte a character of the alphabet stands for.
    static let byteOf: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for b in 0..<256 {
            let scalar = String(decoding: spelling[b], as: UTF8.self).unicodeScalars.first!
            map[scalar] = UInt8(b)
        }
        return map
    }()

    /// `bytes` written in the alphabet (the pre-tokenizer's output for one word).
    static func encode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out += spelling[Int(b)] }
        return out
    }

    /// The decoder: each token whose characters are all in the alphabet becomes their bytes, any
    /// other token (an added token such as `<|im_end|>` is in the alphabet; one with other
    /// characters is not) its own UTF-8; the concatenation is decoded with U+FFFD for invalid
    /// sequences (`tokenizers`' `ByteLevel.decode_chain`, `String::from_utf8_lossy`).
    static func decode(_ pieces: [String]) -> String {
        var bytes: [UInt8] = []
        for piece in pieces {
            var mapped: [UInt8] = []
            mapped.reserveCapacity(piece.unicodeScalars.count)
            var inAlphabet = true
            for scalar in piece.unicodeScalars {
                guard let b = byteOf[scalar] else {
                    inAlphabet = false
                    break
                }
                mapped.append(b)
            }
            bytes += inAlphabet ? mapped : Array(piece.utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A `Split` pre-tokenizer regex that `HuggingFaceTokenizer` recognises by its exact text and runs as
/// a hand-written matcher (the regex engines of `tokenizers` — Oniguruma — and of Swift differ in
/// Unicode details; a matcher per pattern keeps the semantics explicit and linear in time).
///
/// Both patterns are alternations tried in order at each position, leftmost first:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// with D = 1 (Qwen2, Qwen2-VL, Qwen2.5-VL: `\p{N}`) or 3 (LLaMA-3, cl100k: `\p{N}{1,3}`).
/// `\s` is Unicode White_Space, `\p{L}` / `\p{N}` the general categories L* / N*.
struct SplitPattern: Equatable {
    /// The longest run of numbers one match takes.
    var digitRun: Int

    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The matcher for `regex`, nil when it is not one of the recognised patterns.
    init?(regex: String) {
        switch regex {
        case Self.qwen2Regex: digitRun = 1
        case Self.llama3Regex: digitRun = 3
        default: return nil
        }
    }

    private static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    private static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    private static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
    private static func isNewline(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }

    /// Case-insensitive equality with an ASCII lowercase letter (Unicode simple case folding:
    /// `ſ` U+017F folds to `s`).
    private static func folds(_ c: Unicode.Scalar, to lower: Unicode.Scalar) -> Bool {
        if c == lower || (c.value < 0x80 && c.value | 0x20 == lower.value) { return true }
        return lower == "s" && c == "\u{017F}"
    }

    /// The length (in scalars, ≥ 1) of the match starting at `i`.
    private func matchLength(_ s: [Unicode.Scalar], at i: Int) -> Int {
        let n = s.count
        let c = s[i]
        // 's 't 're 've 'm 'll 'd
        if c == "'" && i + 1 < n {
            let a = s[i + 1]
            if Self.folds(a, to: "s") || Self.folds(a, to: "t") || Self.folds(a, to: "m") || Self.folds(a, to: "d") {
                return 2
            }
            if i + 2 < n {
                let b = s[i + 2]
                if (Self.folds(a, to: "r") && Self.folds(b, to: "e")) || (Self.folds(a, to: "v") && Self.folds(b, to: "e"))
                    || (Self.folds(a, to: "l") && Self.folds(b, to: "l"))
                {
                    return 3
                }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var lettersFrom: Int? = nil
        if Self.isLetter(c) {
            lettersFrom = i
        } else if !Self.isNewline(c) && !Self.isNumber(c) && i + 1 < n && Self.isLetter(s[i + 1]) {
            lettersFrom = i + 1
        }
        if var j = lettersFrom {
            while j < n && Self.isLetter(s[j]) { j += 1 }
            return j - i
        }
        // \p{N}{1,D}
        if Self.isNumber(c) {
            var j = i + 1
            while j < n && j - i < digitRun && Self.isNumber(s[j]) { j += 1 }
            return j - i
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        func isOther(_ x: Unicode.Scalar) -> Bool { !Self.isSpace(x) && !Self.isLetter(x) && !Self.isNumber(x) }
        let k = c == " " ? i + 1 : i
        if k < n && isOther(s[k]) {
            var j = k + 1
            while j < n && isOther(s[j]) { j += 1 }
            while j < n && Self.isNewline(s[j]) { j += 1 }
            return j - i
        }
        guard Self.isSpace(c) else { return 1 }
        var end = i + 1
        while end < n && Self.isSpace(s[end]) { end += 1 }
        // \s*[\r\n]+ : up to the last line break of the whitespace run.
        if let last = (i..<end).last(where: { Self.isNewline(s[$0]) }) { return last + 1 - i }
        // \s+(?!\S) : the run without its last character when text follows; \s+ : a lone space.
        if end == n || end - i == 1 { return end - i }
        return end - 1 - i
    }

    /// Splits `text` (UTF-8) into the pattern's consecutive matches (`Isolated`: nothing dropped).
    func split(_ text: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        let scalars = Array(String(decoding: text, as: UTF8.self).unicodeScalars)
        var words: [ArraySlice<UInt8>] = []
        var i = 0
        var offset = text.startIndex
        while i < scalars.count {
            let length = matchLength(scalars, at: i)
            var bytes = 0
            for c in scalars[i..<(i + length)] { bytes += UTF8.width(c) }
            words.append(text[offset..<(offset + bytes)])
            offset += bytes
            i += length
        }
        return words
    }
}
