/// What one token id contributes to decoded text, as a streaming detokenizer sees it.
public enum DetokenizerUnit: Sendable, Equatable {
    /// Text of a piece; `atStart` is the spelling used where the leading-space rule applies
    /// (SentencePiece: without the leading `▁`; Metaspace decoder: without any `▁`).
    case text(String, atStart: String)
    /// One byte of a byte-fallback piece `<0xXX>`.
    case byte(UInt8)
    /// A special token written as its spelling; it ends a byte run but leaves the leading-space
    /// rule pending (SentencePiece control pieces when not skipped).
    case special(String)
    /// A control piece that produces nothing but ends a byte run (SentencePiece `<s>`, `</s>`).
    case invisible
    /// An id that is dropped before decoding (skipped special tokens, unknown ids).
    case skipped
}

/// Turns token ids into text one id at a time, returning only complete UTF-8 characters, so that
/// the concatenation of every `append` result and `finish()` equals the tokenizer's
/// `decode(ids, skipSpecialTokens:)`.
///
/// Byte-fallback pieces are held until they form a character (SentencePiece) or until the byte
/// run ends (HF `ByteFallback`, which turns a whole run into U+FFFD when any of it is invalid).
/// The leading-space rule — the first piece's `▁` is not a space — holds across calls.
public struct StreamingDetokenizer: Sendable {
    /// How runs of byte pieces become text.
    public enum ByteRunPolicy: Sendable {
        /// SentencePiece: each complete character as soon as it is complete; each invalid byte U+FFFD.
        case perCharacter
        /// HF `ByteFallback`: the whole run when it ends; U+FFFD per byte if the run is not valid UTF-8.
        case wholeRun
    }

    /// Where leading spaces are dropped.
    public enum LeadingSpaceRule: Sendable {
        case none
        /// SentencePiece: the first piece that is not a control piece uses its `atStart` spelling;
        /// with `collapse` (remove_extra_whitespaces) so do the following ones while they are empty.
        case sentencePiece(collapse: Bool)
        /// HF Metaspace decoder: the first decoded token uses its `atStart` spelling.
        case firstToken
        /// HF `Strip` after `Fuse`: up to `count` spaces at the start of the whole text are dropped.
        case outputStart(count: Int)
    }

    private enum Mode: Sendable {
        case units(@Sendable (Int) -> DetokenizerUnit, ByteRunPolicy, LeadingSpaceRule)
        /// Decoder chains the unit model does not cover: decode everything again after each id
        /// and return the new suffix once it extends what was returned and does not end in U+FFFD.
        case redecode(@Sendable ([Int]) -> String)
    }

    private let mode: Mode
    private var run: [UInt8] = []
    private var atStart = true
    private var stripBudget = 0
    private var ids: [Int] = []
    private var emitted = ""

    /// A detokenizer over a per-id table of units (`units[id]`; ids outside it are skipped).
    public init(units: [DetokenizerUnit], byteRuns: ByteRunPolicy, leadingSpace: LeadingSpaceRule) {
        self.init(unit: { id in id >= 0 && id < units.count ? units[id] : .skipped }, byteRuns: byteRuns, leadingSpace: leadingSpace)
    }

    /// A detokenizer that asks `unit` what each id contributes.
    public init(unit: @escaping @Sendable (Int) -> DetokenizerUnit, byteRuns: ByteRunPolicy, leadingSpace: LeadingSpaceRule) {
        mode = .units(unit, byteRuns, leadingSpace)
        if case .outputStart(let n) = leadingSpace { stripBudget = n }
        if case .none = leadingSpace { atStart = false }
    }

    /// A detokenizer that re-decodes the whole sequence after each id (quadratic; for decoders
    /// whose per-token behaviour is not described by units).
    public init(redecoding decode: @escaping @Sendable ([Int]) -> String) {
        mode = .redecode(decode)
    }

    /// Feeds one id; returns the text that became final (possibly empty).
    public mutating func append(_ id: Int) -> String {
        switch mode {
        case .redecode(let decode):
            ids.append(id)
            let text = decode(ids)
            guard text.utf8.starts(with: emitted.utf8), !text.utf8.reversed().starts(with: [0xBD, 0xBF, 0xEF]) else { return "" }
            let delta = String(decoding: text.utf8.dropFirst(emitted.utf8.count), as: UTF8.self)
            emitted = text
            return delta
        case .units(let units, let policy, let rule):
            let unit = units(id)
            var out = ""
            switch unit {
            case .skipped:
                return ""
            case .byte(let b):
                run.append(b)
                if case .sentencePiece = rule { atStart = false }
                if case .firstToken = rule { atStart = false }
                if case .perCharacter = policy { out += strip(takeCompleteCharacters(final: false)) }
            case .invisible:
                out += flushRun(policy)
            case .special(let s):
                out += flushRun(policy)
                if case .firstToken = rule { atStart = false }
                out += strip(s)
            case .text(let s, let first):
                out += flushRun(policy)
                switch rule {
                case .sentencePiece(let collapse):
                    if atStart {
                        out += first
                        atStart = collapse && first.isEmpty
                    } else {
                        out += s
                    }
                case .firstToken:
                    out += atStart ? first : s
                    atStart = false
                case .outputStart, .none:
                    out += strip(s)
                }
            }
            return out
        }
    }

    /// Ends the stream: returns whatever was held (an unfinished byte run as U+FFFD).
    public mutating func finish() -> String {
        switch mode {
        case .redecode(let decode):
            let text = decode(ids)
            guard text.utf8.starts(with: emitted.utf8) else { return "" }
            let delta = String(decoding: text.utf8.dropFirst(emitted.utf8.count), as: UTF8.self)
            emitted = text
            return delta
        case .units(_, let policy, _):
            return flushRun(policy)
        }
    }

    /// Drops spaces at the start of the whole text while the `outputStart` budget lasts.
    private mutating func strip(_ s: String) -> String {
        guard stripBudget > 0, !s.isEmpty else { return s }
        var t = Substring(s)
        while stripBudget > 0, t.first == " " {
            t = t.dropFirst()
            stripBudget -= 1
        }
        if !t.isEmpty { stripBudget = 0 }
        return String(t)
    }

    private mutating func flushRun(_ policy: ByteRunPolicy) -> String {
        guard !run.isEmpty else { return "" }
        switch policy {
        case .perCharacter:
            return strip(takeCompleteCharacters(final: true))
        case .wholeRun:
            defer { run.removeAll() }
            if let s = String(validating: run, as: UTF8.self) { return strip(s) }
            return strip(String(repeating: "\u{FFFD}", count: run.count))
        }
    }

    /// Removes and returns the characters at the front of the byte run that are decided: complete
    /// valid characters, and U+FFFD for each byte that cannot start one. With `final`, an
    /// incomplete tail is decided too (U+FFFD per byte).
    private mutating func takeCompleteCharacters(final: Bool) -> String {
        var out: [UInt8] = []
        var k = 0
        while k < run.count {
            let n = utf8Length(leadByte: run[k])
            if k + n > run.count {
                // Not enough bytes yet: undecided unless the present ones already fail.
                let present = run[k...]
                let broken = present.dropFirst().contains { $0 & 0xC0 != 0x80 } || n == 1
                if !final && !broken { break }
                out += replacementCharacterUTF8
                k += 1
                continue
            }
            if let s = validScalar(run[k..<(k + n)]) {
                out += Array(String(s).utf8)
                k += n
            } else {
                out += replacementCharacterUTF8
                k += 1
            }
        }
        run.removeFirst(k)
        return String(decoding: out, as: UTF8.self)
    }
}
