import Foundation

/// A `tokenizer.json` of HF `tokenizers` with a BPE model: LLaMA-style (SentencePiece BPE with byte
/// fallback, as llava-hf checkpoints ship) or byte-level (Qwen2, as Qwen2-VL / Qwen2.5-VL ship).
///
/// Pipeline, as `tokenizers` runs it: added tokens with `normalized: false` are split out of the raw
/// text; each remaining part is normalised (`Prepend`, `Replace`, `NFC`), added tokens with
/// `normalized: true` are split out of the result, then the pre-tokenizers run in order: `Metaspace`
/// writes spaces as `▁` and prepends one (`always`, or `first`: only on the part that starts the
/// text), optionally splitting before each `▁`; `Split` cuts the text into the matches of its regex
/// (`SplitPattern`: Qwen2's and LLaMA-3's); `ByteLevel` writes each byte as a character of GPT-2's
/// byte alphabet. Each word is encoded by the BPE model (merges applied by rank, characters without a
/// token written as `<0xXX>` byte tokens or `unk_token`). The `TemplateProcessing` post-processor's
/// leading special tokens are the BOS.
///
/// Supported components (anything else throws `TokenizerError.unsupported` at load):
/// normalizer null | Sequence | Prepend | Replace (string pattern) | NFC; pre_tokenizer null |
/// Metaspace | Split (a `SplitPattern` regex, `Isolated`, not inverted) | ByteLevel (`use_regex`
/// false) | Sequence of those; model BPE (no dropout, no subword prefix / suffix); post_processor
/// null | TemplateProcessing | ByteLevel | Sequence of those; decoder null | Sequence | Replace
/// (string pattern) | ByteFallback | Fuse | Strip | Metaspace | ByteLevel.
public final class HuggingFaceTokenizer: Tokenizer, @unchecked Sendable {
    /// The largest token id a `tokenizer.json` may use: 2²² − 1, far above every released vocabulary
    /// (Gemma's 262,144), so the id table stays below 64 MiB whatever the file says.
    public static let maxTokenID = (1 << 22) - 1
    public let configuration: TokenizerConfiguration
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let unknownTokenID: Int?
    public let padTokenID: Int?
    public let addsBOSByDefault: Bool
    public let addsEOSByDefault: Bool
    public let addedTokens: [AddedToken]

    enum NormalizerStep {
        case prepend([UInt8])
        case replace([UInt8], [UInt8])
        /// Unicode canonical composition (NFC).
        case nfc
    }

    enum PrependScheme: String {
        case always, first, never
    }

    struct Metaspace {
        var replacement: [UInt8]
        var prependScheme: PrependScheme
        var split: Bool
    }

    enum PreTokenizerStep {
        case metaspace(Metaspace)
        case split(SplitPattern)
        /// Bytes as GPT-2's byte alphabet; `addPrefixSpace` prepends a space to a word without one.
        case byteLevel(addPrefixSpace: Bool)
    }

    enum DecoderStep {
        case replace(String, String)
        case byteFallback
        case fuse
        case strip(Unicode.Scalar, start: Int, stop: Int)
        case metaspace(String, PrependScheme)
        case byteLevel
    }

    private let vocab: ByteStringTable
    private let tokens: [String?]
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let byteIDs: [Int]
    private let modelUnknownID: Int?
    private let fuseUnknown: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    private let normalizer: [NormalizerStep]
    private let preTokenizers: [PreTokenizerStep]
    private let decoder: [DecoderStep]?
    private let templatePrefix: [Int]
    private let templateSuffix: [Int]
    private let rawSplitter: AddedTokenSplitter
    private let normalizedSplitter: AddedTokenSplitter
    private let addedByID: [Int: AddedToken]
    private let addedByContent: [[UInt8]: AddedToken]

    /// Loads `tokenizer.json` at `url`.
    /// Throws `TokenizerError.fileNotFound`, `.corrupt` (invalid JSON, bad merges) or `.unsupported`.
    public convenience init(contentsOf url: URL, configuration: TokenizerConfiguration = .init()) throws {
        try self.init(data: try readFile(url), configuration: configuration, path: url.path)
    }

    /// Parses the bytes of a `tokenizer.json`; `path` names the source in errors.
    public init(data: Data, configuration: TokenizerConfiguration = .init(), path: String = "<memory>") throws {
        func corrupt(_ reason: String) -> TokenizerError { .corrupt(path, reason: reason) }
        func unsupported(_ feature: String) -> TokenizerError { .unsupported(path, feature: feature) }

        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw corrupt("\(error)")
        }
        guard root.members != nil else { throw corrupt("top level is not a JSON object") }
        guard let model = root["model"], model.members != nil else { throw corrupt("no model") }
        let type = model["type"]?.string ?? (model["merges"] != nil ? "BPE" : "?")
        guard type == "BPE" else { throw unsupported("model type \(type) (only BPE is implemented)") }
        if let dropout = model["dropout"]?.double, dropout > 0 { throw unsupported("BPE dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key]?.string, !s.isEmpty { throw unsupported("BPE \(key)") }
        }
        guard let vocabMembers = model["vocab"]?.members else { throw corrupt("model.vocab is not an object") }
        let addedList: [JSONValue]
        if let value = root["added_tokens"], !value.isNull {
            guard let list = value.array else { throw corrupt("added_tokens is not a list") }
            addedList = list
        } else {
            addedList = []
        }
        // Ids index a table of spellings (gaps allowed, as HF tokenizers allows them), so they are
        // bounded: an id of 10^9 would otherwise allocate gigabytes. The table grows to the largest id.
        let idLimit = HuggingFaceTokenizer.maxTokenID + 1
        let idRule = "ids must be from 0 to \(HuggingFaceTokenizer.maxTokenID)"
        var tokens: [String?] = []
        tokens.reserveCapacity(vocabMembers.count + addedList.count)
        func slot(_ id: Int) { if id >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: id + 1 - tokens.count)) } }
        var vocab = ByteStringTable(capacity: vocabMembers.count)
        for m in vocabMembers {
            let (token, value) = (m.key, m.value)
            guard let id = value.int else {
                throw corrupt("id of token \(printable(token)) in model.vocab must be an integer, found \(value.summary)")
            }
            guard id >= 0, id < idLimit else {
                throw corrupt("token \(printable(token)) in model.vocab has id \(id); \(idRule)")
            }
            slot(id)
            if let other = tokens[id] {
                throw corrupt("tokens \(printable(other)) and \(printable(token)) share id \(id) in model.vocab")
            }
            guard vocab.insert(token, id) else { throw corrupt("token \(printable(token)) appears twice in model.vocab") }
            tokens[id] = token
        }

        let mergeList: [JSONValue]
        if let value = model["merges"], !value.isNull {
            guard let list = value.array else { throw corrupt("model.merges is not a list") }
            mergeList = list
        } else {
            mergeList = []
        }
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, entry) in mergeList.enumerated() {
            var pair: [[UInt8]] = []
            if let s = entry.string {
                pair = Array(s.utf8).split(separator: 0x20, omittingEmptySubsequences: false).map(Array.init)
            } else if let a = entry.array {
                pair = a.compactMap { $0.string.map { Array($0.utf8) } }
            }
            guard pair.count == 2 else { throw corrupt("merge \(rank + 1) is not a pair of tokens") }
            guard let a = vocab[pair[0]], let b = vocab[pair[1]], let merged = vocab[pair[0] + pair[1]] else {
                let text = pair.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
                throw corrupt("merge \(rank + 1) (\(printable(text))) uses a token missing from the vocabulary")
            }
            merges[UInt64(a) << 32 | UInt64(b)] = (Int32(rank), Int32(merged))
        }

        var added: [AddedToken] = []
        var addedContent: [Int: String] = [:]
        for entry in addedList {
            guard let id = entry["id"]?.int, let content = entry["content"]?.string else {
                throw corrupt("added token without id or content")
            }
            guard id >= 0, id < idLimit else {
                throw corrupt("added token \(printable(content)) has id \(id); \(idRule)")
            }
            if let other = addedContent[id], other != content {
                throw corrupt("added tokens \(printable(other)) and \(printable(content)) share id \(id)")
            }
            addedContent[id] = content
            let special = entry["special"]?.bool ?? false
            added.append(
                AddedToken(
                    id: id, content: content, special: special,
                    singleWord: entry["single_word"]?.bool ?? false, lstrip: entry["lstrip"]?.bool ?? false,
                    rstrip: entry["rstrip"]?.bool ?? false, normalized: entry["normalized"]?.bool ?? !special))
        }
        // Added tokens known only to tokenizer_config.json (older checkpoints).
        let known = Set(added.map(\.id))
        for t in configuration.addedTokens where !known.contains(t.id) {
            guard t.id >= 0, t.id < idLimit else {
                throw corrupt("added token \(printable(t.content)) of tokenizer_config.json has id \(t.id); \(idRule)")
            }
            added.append(t)
        }
        added.sort { $0.id < $1.id }

        for t in added {
            slot(t.id)
            tokens[t.id] = t.content
        }

        self.configuration = configuration
        self.vocab = vocab
        self.tokens = tokens
        self.merges = merges
        self.vocabularySize = tokens.count
        self.addedTokens = added
        self.addedByID = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.addedByContent = Dictionary(added.map { (Array($0.content.utf8), $0) }, uniquingKeysWith: { a, _ in a })
        self.rawSplitter = AddedTokenSplitter(added.filter { !$0.normalized })
        self.normalizedSplitter = AddedTokenSplitter(added.filter { $0.normalized })
        self.byteFallback = model["byte_fallback"]?.bool ?? false
        self.fuseUnknown = model["fuse_unk"]?.bool ?? false
        self.ignoreMerges = model["ignore_merges"]?.bool ?? false
        self.byteIDs = (0..<256).map { vocab[bytePieceName(UInt8($0))] ?? -1 }
        let unknownSpelling = model["unk_token"]?.string
        self.modelUnknownID = unknownSpelling.flatMap { vocab[$0] }

        self.normalizer = try Self.parseNormalizer(root["normalizer"], unsupported)
        self.preTokenizers = try Self.parsePreTokenizer(root["pre_tokenizer"], unsupported)
        self.decoder = try Self.parseDecoder(root["decoder"], unsupported)
        (templatePrefix, templateSuffix) = try Self.parsePostProcessor(root["post_processor"], unsupported)
        let size = tokens.count
        if let bad = (templatePrefix + templateSuffix).first(where: { $0 < 0 || $0 >= size }) {
            throw corrupt("post_processor special token id \(bad) is outside the vocabulary (0 to \(size - 1))")
        }

        let byContent = addedByContent
        func id(_ spelling: String?) -> Int? {
            guard let s = spelling else { return nil }
            return byContent[Array(s.utf8)]?.id ?? vocab[s]
        }
        /// LLaMA's spellings as a last resort, except in a byte-level vocabulary, where `<s>` is text
        /// (Qwen2's vocabulary holds it as an ordinary token) unless it is an added token.
        let byteLevel = preTokenizers.contains { if case .byteLevel = $0 { return true } else { return false } }
        func addedID(_ spelling: String) -> Int? { byContent[Array(spelling.utf8)]?.id ?? (byteLevel ? nil : vocab[spelling]) }
        let (prefix, suffix) = (templatePrefix, templateSuffix)
        bosTokenID = id(configuration.bosToken) ?? prefix.first ?? addedID("<s>")
        eosTokenID = id(configuration.eosToken) ?? suffix.last ?? addedID("</s>")
        unknownTokenID = id(configuration.unknownToken) ?? id(unknownSpelling) ?? id("<unk>")
        padTokenID = id(configuration.padToken)
        addsBOSByDefault = configuration.addBOSToken ?? !prefix.isEmpty
        addsEOSByDefault = configuration.addEOSToken ?? !suffix.isEmpty
    }

    // MARK: Tokenizer

    public func tokenID(for piece: String) -> Int? { addedByContent[Array(piece.utf8)]?.id ?? vocab[piece] }

    public func piece(for id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    public func isSpecialToken(_ id: Int) -> Bool { addedByID[id]?.special ?? false }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var ids: [Int] = []
        if addBOS, let bos = bosTokenID { ids.append(bos) }
        let bytes = Array(text.utf8)
        for segment in rawSplitter.split(bytes) {
            switch segment {
            case .token(let t, _): ids.append(t.id)
            case .text(let r):
                let normalized = normalize(bytes[r])
                for part in normalizedSplitter.split(normalized) {
                    switch part {
                    case .token(let t, _): ids.append(t.id)
                    case .text(let r2):
                        let startsText = r.lowerBound == 0 && r2.lowerBound == 0
                        for word in preTokenize(normalized[r2], startsText: startsText) {
                            ids += bpe(word)
                        }
                    }
                }
            }
        }
        return ids
    }

    /// Decodes as `tokenizers`' `decode` does: ids → token spellings (special added tokens dropped
    /// when `skipSpecialTokens`, unknown ids dropped), then the decoder chain (without a decoder the
    /// spellings are joined with spaces).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var pieces: [String] = []
        pieces.reserveCapacity(ids.count)
        for id in ids {
            guard let t = piece(for: id) else { continue }
            if skipSpecialTokens, addedByID[id]?.special == true { continue }
            pieces.append(t)
        }
        guard let decoder else { return pieces.joined(separator: " ") }
        for step in decoder { pieces = Self.apply(step, to: pieces) }
        return pieces.joined()
    }

    public func makeStreamingDetokenizer(skipSpecialTokens: Bool) -> StreamingDetokenizer {
        // Fast path for the LLaMA shapes: [Replace…] [ByteFallback] [Fuse] [Strip(start: n, stop: 0)],
        // or a lone Metaspace decoder.
        var replaces: [(String, String)] = []
        var hasByteFallback = false, hasFuse = false
        var stripStart = 0
        var metaspace: (String, PrependScheme)?
        var fast = decoder != nil
        for step in decoder ?? [] {
            switch step {
            case .replace(let p, let c) where !hasByteFallback && !hasFuse && metaspace == nil: replaces.append((p, c))
            case .byteFallback where !hasByteFallback && !hasFuse && metaspace == nil: hasByteFallback = true
            case .fuse where !hasFuse: hasFuse = true
            case .strip(" ", let start, 0) where hasFuse && stripStart == 0: stripStart = start
            case .metaspace(let r, let s) where decoder!.count == 1: metaspace = (r, s)
            default: fast = false
            }
        }
        guard fast else {
            return StreamingDetokenizer(redecoding: { [self] in decode($0, skipSpecialTokens: skipSpecialTokens) })
        }
        let unit: @Sendable (Int) -> DetokenizerUnit = { [self, replaces, hasByteFallback, metaspace] id in
            guard var t = piece(for: id) else { return .skipped }
            if skipSpecialTokens, addedByID[id]?.special == true { return .skipped }
            if let (r, scheme) = metaspace {
                return .text(replacing(t, r, " "), atStart: replacing(t, r, scheme == .never ? " " : ""))
            }
            for (p, c) in replaces { t = replacing(t, p, c) }
            if hasByteFallback, let b = byteOfPieceName(t) { return .byte(b) }
            return .text(t, atStart: t)
        }
        let rule: StreamingDetokenizer.LeadingSpaceRule =
            metaspace.map { $0.1 == .never ? .none : .firstToken } ?? (stripStart > 0 ? .outputStart(count: stripStart) : .none)
        return StreamingDetokenizer(unit: unit, byteRuns: .wholeRun, leadingSpace: rule)
    }

    // MARK: Pipeline steps

    func normalize(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var s = Array(text)
        for step in normalizer {
            switch step {
            case .prepend(let p): if !s.isEmpty { s = p + s }
            case .replace(let pattern, let content): s = replaceAll(s, pattern, content)
            case .nfc: s = Array(String(decoding: s, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8)
            }
        }
        return s
    }

    /// The words of `text` after every pre-tokenizer; `startsText` when `text` begins the input.
    func preTokenize(_ text: ArraySlice<UInt8>, startsText: Bool) -> [ArraySlice<UInt8>] {
        var words = text.isEmpty ? [] : [text]
        for step in preTokenizers {
            var next: [ArraySlice<UInt8>] = []
            next.reserveCapacity(words.count)
            for (k, word) in words.enumerated() {
                switch step {
                case .metaspace(let m): next += metaspace(m, word, startsText: startsText && k == 0)
                case .split(let pattern): next += pattern.split(word)
                case .byteLevel(let addPrefixSpace):
                    let spaced = addPrefixSpace && word.first != 0x20 ? [0x20] + word : Array(word)
                    next.append(ByteLevel.encode(spaced[...])[...])
                }
            }
            words = next
        }
        return words
    }

    func metaspace(_ m: Metaspace, _ text: ArraySlice<UInt8>, startsText: Bool) -> [ArraySlice<UInt8>] {
        var s = replaceAll(Array(text), [0x20], m.replacement)
        if !s.isEmpty && !s.starts(with: m.replacement) {
            switch m.prependScheme {
            case .always: s = m.replacement + s
            case .first: if startsText { s = m.replacement + s }
            case .never: break
            }
        }
        guard m.split else { return s.isEmpty ? [] : [s[...]] }
        // Split before each replacement (the delimiter is merged with the following text).
        var words: [ArraySlice<UInt8>] = []
        var begin = 0
        var i = 0
        let r = m.replacement
        while i < s.count {
            if i > begin && s[i] == r[0] && i + r.count <= s.count && s[i..<(i + r.count)].elementsEqual(r) {
                words.append(s[begin..<i])
                begin = i
            }
            i += 1
        }
        if begin < s.count { words.append(s[begin..<s.count]) }
        return words
    }

    private struct Merge {
        var rank: Int32
        var pos: Int
        var id: Int32
    }

    /// The BPE model on one word.
    func bpe(_ word: ArraySlice<UInt8>) -> [Int] {
        if ignoreMerges, let id = vocab[word] { return [id] }
        // As `tokenizers` does: an unknown character becomes a pending `unk_token` that is written at
        // the next character found in the vocabulary (or at the end); byte-fallback tokens do not
        // flush it. With fuse_unk, consecutive unknown characters share one pending token.
        var ids: [Int32] = []
        var pendingUnknown = false
        var i = word.startIndex
        while i < word.endIndex {
            let n = min(utf8Length(leadByte: word[i]), word.endIndex - i)
            let ch = word[i..<(i + n)]
            i += n
            if let id = vocab[ch] {
                if pendingUnknown, let unk = modelUnknownID { ids.append(Int32(unk)) }
                pendingUnknown = false
                ids.append(Int32(id))
            } else if byteFallback, ch.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                for b in ch { ids.append(Int32(byteIDs[Int(b)])) }
            } else if let unk = modelUnknownID {
                if pendingUnknown && !fuseUnknown { ids.append(Int32(unk)) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unk = modelUnknownID { ids.append(Int32(unk)) }
        guard ids.count > 1, !merges.isEmpty else { return ids.map(Int.init) }

        var prev = (0..<ids.count).map { $0 - 1 }
        var next = (0..<ids.count).map { $0 + 1 < ids.count ? $0 + 1 : -1 }
        var alive = [Bool](repeating: true, count: ids.count)
        var heap = BinaryHeap<Merge>(capacity: ids.count) { a, b in
            a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
        }
        func lookup(_ a: Int32, _ b: Int32) -> (rank: Int32, id: Int32)? {
            merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))]
        }
        for k in 0..<(ids.count - 1) {
            if let m = lookup(ids[k], ids[k + 1]) { heap.push(Merge(rank: m.rank, pos: k, id: m.id)) }
        }
        while let top = heap.pop() {
            let p = top.pos
            guard alive[p], next[p] >= 0 else { continue }
            let q = next[p]
            guard let m = lookup(ids[p], ids[q]), m.id == top.id else { continue }
            ids[p] = top.id
            alive[q] = false
            next[p] = next[q]
            if next[q] >= 0 { prev[next[q]] = p }
            if prev[p] >= 0, let m = lookup(ids[prev[p]], ids[p]) {
                heap.push(Merge(rank: m.rank, pos: prev[p], id: m.id))
            }
            if next[p] >= 0, let m = lookup(ids[p], ids[next[p]]) {
                heap.push(Merge(rank: m.rank, pos: p, id: m.id))
            }
        }
        var out: [Int] = []
        var k = 0
        while k >= 0 {
            out.append(Int(ids[k]))
            k = next[k]
        }
        return out
    }

    static func apply(_ step: DecoderStep, to pieces: [String]) -> [String] {
        switch step {
        case .replace(let p, let c):
            return pieces.map { replacing($0, p, c) }
        case .fuse:
            return [pieces.joined()]
        case .strip(let c, let start, let stop):
            return pieces.map { t in
                let chars = Array(t.unicodeScalars)
                var a = 0
                while a < min(start, chars.count) && chars[a] == c { a += 1 }
                var b = chars.count
                var removed = 0
                while removed < stop && b > a && chars[b - 1] == c {
                    b -= 1
                    removed += 1
                }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: chars[a..<b])
                return String(out)
            }
        case .metaspace(let r, let scheme):
            return pieces.enumerated().map { i, t in
                replacing(t, r, i == 0 && scheme != .never ? "" : " ")
            }
        case .byteLevel:
            return [ByteLevel.decode(pieces)]
        case .byteFallback:
            var out: [String] = []
            var run: [UInt8] = []
            func flush() {
                guard !run.isEmpty else { return }
                if let s = String(validating: run, as: UTF8.self) {
                    out.append(s)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: run.count)
                }
                run.removeAll()
            }
            for t in pieces {
                if let b = byteOfPieceName(t) {
                    run.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        }
    }

    // MARK: Parsing

    private static func parseNormalizer(
        _ value: JSONValue?, _ unsupported: (String) -> TokenizerError
    ) throws -> [NormalizerStep] {
        guard let n = value, !n.isNull else { return [] }
        switch n["type"]?.string {
        case "Sequence":
            return try (n["normalizers"]?.array ?? []).flatMap { try parseNormalizer($0, unsupported) }
        case "Prepend":
            return [.prepend(Array((n["prepend"]?.string ?? "").utf8))]
        case "Replace":
            guard let pattern = n["pattern"]?["String"]?.string else {
                throw unsupported("normalizer Replace with a regex pattern")
            }
            return [.replace(Array(pattern.utf8), Array((n["content"]?.string ?? "").utf8))]
        case "NFC":
            return [.nfc]
        case let t:
            throw unsupported("normalizer \(t ?? "?")")
        }
    }

    private static func parsePrependScheme(_ p: JSONValue, _ unsupported: (String) -> TokenizerError) throws -> PrependScheme {
        if let s = p["prepend_scheme"]?.string {
            guard let v = PrependScheme(rawValue: s) else { throw unsupported("Metaspace prepend_scheme \(s)") }
            return v
        }
        if let add = p["add_prefix_space"]?.bool { return add ? .always : .never }
        return .always
    }

    private static func parsePreTokenizer(
        _ value: JSONValue?, _ unsupported: (String) -> TokenizerError
    ) throws -> [PreTokenizerStep] {
        guard let p = value, !p.isNull else { return [] }
        switch p["type"]?.string {
        case "Sequence":
            return try (p["pretokenizers"]?.array ?? []).flatMap { try parsePreTokenizer($0, unsupported) }
        case "Metaspace":
            return [
                .metaspace(
                    Metaspace(
                        replacement: Array((p["replacement"]?.string ?? "\u{2581}").utf8),
                        prependScheme: try parsePrependScheme(p, unsupported), split: p["split"]?.bool ?? true))
            ]
        case "Split":
            guard let regex = p["pattern"]?["Regex"]?.string else {
                throw unsupported("pre_tokenizer Split with a string pattern")
            }
            guard let pattern = SplitPattern(regex: regex) else {
                throw unsupported("pre_tokenizer Split regex \(printable(regex)) (supported: the Qwen2 and LLaMA-3 patterns)")
            }
            let behavior = p["behavior"]?.string ?? "Isolated"
            guard behavior == "Isolated", p["invert"]?.bool != true else {
                throw unsupported("pre_tokenizer Split with behavior \(behavior)\(p["invert"]?.bool == true ? ", inverted" : "")")
            }
            return [.split(pattern)]
        case "ByteLevel":
            guard p["use_regex"]?.bool == false else {
                throw unsupported("pre_tokenizer ByteLevel with use_regex (GPT-2's pattern)")
            }
            return [.byteLevel(addPrefixSpace: p["add_prefix_space"]?.bool ?? false)]
        case let t:
            throw unsupported("pre_tokenizer \(t ?? "?")")
        }
    }

    private static func parseDecoder(_ value: JSONValue?, _ unsupported: (String) -> TokenizerError) throws -> [DecoderStep]? {
        guard let d = value, !d.isNull else { return nil }
        switch d["type"]?.string {
        case "Sequence":
            return try (d["decoders"]?.array ?? []).flatMap { try parseDecoder($0, unsupported) ?? [] }
        case "Replace":
            guard let pattern = d["pattern"]?["String"]?.string else {
                throw unsupported("decoder Replace with a regex pattern")
            }
            return [.replace(pattern, d["content"]?.string ?? "")]
        case "ByteFallback": return [.byteFallback]
        case "Fuse": return [.fuse]
        case "Strip":
            let content = d["content"]?.string?.unicodeScalars.first ?? " "
            return [.strip(content, start: d["start"]?.int ?? 0, stop: d["stop"]?.int ?? 0)]
        case "Metaspace":
            return [.metaspace(d["replacement"]?.string ?? "\u{2581}", try parsePrependScheme(d, unsupported))]
        case "ByteLevel":
            return [.byteLevel]
        case let t:
            throw unsupported("decoder \(t ?? "?")")
        }
    }

    private static func parsePostProcessor(
        _ value: JSONValue?, _ unsupported: (String) -> TokenizerError
    ) throws -> ([Int], [Int]) {
        guard let p = value, !p.isNull else { return ([], []) }
        switch p["type"]?.string {
        case "Sequence":
            var prefix: [Int] = [], suffix: [Int] = []
            for item in p["processors"]?.array ?? [] {
                let (a, b) = try parsePostProcessor(item, unsupported)
                prefix += a
                suffix += b
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            var prefix: [Int] = [], suffix: [Int] = []
            var seenSequence = false
            for item in p["single"]?.array ?? [] {
                if item["Sequence"] != nil {
                    seenSequence = true
                } else if let name = item["SpecialToken"]?["id"]?.string {
                    let ids = (p["special_tokens"]?[name]?["ids"]?.array ?? []).compactMap(\.int)
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            }
            return (prefix, suffix)
        case "ByteLevel":
            return ([], [])  // offsets only
        case let t:
            throw unsupported("post_processor \(t ?? "?")")
        }
    }
}

/// `s` with every occurrence of `pattern` replaced (byte-wise, no Unicode equivalence).
func replacing(_ s: String, _ pattern: String, _ content: String) -> String {
    String(decoding: replaceAll(Array(s.utf8), Array(pattern.utf8), Array(content.utf8)), as: UTF8.self)
}

/// `s` with every non-overlapping occurrence of `pattern` (scanned left to right) replaced.
func replaceAll(_ s: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
    guard !pattern.isEmpty, s.count >= pattern.count else { return s }
    var out: [UInt8] = []
    out.reserveCapacity(s.count + s.count / 2)
    var i = 0
    let first = pattern[0]
    while i < s.count {
        if s[i] == first && i + pattern.count <= s.count && s[i..<(i + pattern.count)].elementsEqual(pattern) {
            out += content
            i += pattern.count
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}
