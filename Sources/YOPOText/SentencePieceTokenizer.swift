import Foundation

/// LLaMA's slow tokenizer: a SentencePiece BPE model (`tokenizer.model`) with the special-token
/// handling of transformers' `LlamaTokenizer`, which the original LLaVA loads (`use_fast=False`).
///
/// Encoding a text: special tokens written in it (`<s>`, `</s>`, `<unk>`, configured added tokens)
/// are split out and map to their ids; every other chunk is encoded by SentencePiece. With
/// `legacy` true each chunk gets SentencePiece's dummy prefix `▁`; with `legacy` false only the
/// start of the text does, so text right after a special token starts without `▁`
/// (`"a</s>USER"` → `… 2 11889` instead of `… 2 3148 1001`).
///
/// SentencePiece itself (`sentencePieceEncode`) follows `SentencePieceProcessor.encode`: identity
/// normaliser, optional dummy prefix, spaces escaped as `▁` (U+2581), optional whitespace
/// collapsing, user-defined pieces matched first, then BPE merging of adjacent symbols by highest
/// piece score (leftmost on ties), unused pieces re-split, and characters without a piece written
/// as UTF-8 byte pieces `<0xXX>` (byte fallback) or one `<unk>` per run of unknown characters.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    public let model: SentencePieceModelProto
    public let configuration: TokenizerConfiguration
    /// transformers' `legacy` flag (`tokenizer_config.json`; true when absent, as transformers does).
    public let legacy: Bool

    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let unknownTokenID: Int?
    public let padTokenID: Int?
    public let addsBOSByDefault: Bool
    public let addsEOSByDefault: Bool
    public let addedTokens: [AddedToken]

    /// Pieces BPE may produce (normal, user-defined, unused): SentencePiece's `pieces_`.
    private let mergeable: ByteStringTable
    /// Every piece spelling → id (control, unknown and byte pieces included).
    private let allPieces: ByteStringTable
    private let byteIDs: [Int]
    private let userDefined: AddedTokenSplitter
    private let specialSplitter: AddedTokenSplitter
    private let specialIDs: Set<Int>
    private let addedByID: [Int: AddedToken]
    private let addedByContent: [[UInt8]: AddedToken]
    private let metaspacePieceID: Int?

    /// Loads `tokenizer.model` at `url`.
    /// Throws `TokenizerError.fileNotFound`, `.corrupt` (not a ModelProto) or `.unsupported`
    /// (not BPE, a non-identity normaliser, whitespace as suffix).
    public convenience init(contentsOf url: URL, configuration: TokenizerConfiguration = .init()) throws {
        try self.init(data: try readFile(url), configuration: configuration, path: url.path)
    }

    /// Parses the bytes of a `tokenizer.model`; `path` names the source in errors.
    public init(data: Data, configuration: TokenizerConfiguration = .init(), path: String = "<memory>") throws {
        let model = try SentencePieceModelProto(data: data, path: path)
        let spec = model.trainerSpec
        guard spec.modelType == .bpe else {
            throw TokenizerError.unsupported(path, feature: "model_type \(spec.modelType) (only BPE is implemented)")
        }
        guard model.normalizerSpec.precompiledCharsmapSize == 0 else {
            throw TokenizerError.unsupported(
                path, feature: "normalizer \(model.normalizerSpec.name) with a compiled rule table (only identity)")
        }
        guard !spec.treatWhitespaceAsSuffix else {
            throw TokenizerError.unsupported(path, feature: "treat_whitespace_as_suffix")
        }
        var mergeable = ByteStringTable(capacity: model.pieces.count)
        var all = ByteStringTable(capacity: model.pieces.count)
        var byteIDs = [Int](repeating: -1, count: 256)
        var userDefined: [AddedToken] = []
        for (id, p) in model.pieces.enumerated() {
            guard all.insert(p.piece, id) else {
                throw TokenizerError.corrupt(path, reason: "piece \(p.piece) appears twice")
            }
            switch p.type {
            case .normal, .unused: mergeable.insert(p.piece, id)
            case .userDefined:
                mergeable.insert(p.piece, id)
                userDefined.append(AddedToken(id: id, content: p.piece, special: false))
            case .byte:
                guard let b = byteOfPieceName(p.piece) else {
                    throw TokenizerError.corrupt(path, reason: "byte piece \(p.piece) is not spelled <0xXX>")
                }
                byteIDs[Int(b)] = id
            case .control, .unknown: break
            }
        }
        let n = model.pieces.count
        func checkedID(_ id: Int, _ name: String) throws -> Int? {
            guard id >= 0 else { return nil }
            guard id < n else { throw TokenizerError.corrupt(path, reason: "\(name) id \(id) is outside the vocabulary") }
            return id
        }
        guard let unk = try checkedID(spec.unknownID, "unk"), model.pieces[unk].type == .unknown else {
            throw TokenizerError.corrupt(path, reason: "unk id \(spec.unknownID) is not an unknown piece")
        }
        if spec.byteFallback, let missing = byteIDs.firstIndex(of: -1) {
            throw TokenizerError.corrupt(path, reason: "byte_fallback is on but piece \(bytePieceName(UInt8(missing))) is missing")
        }
        self.model = model
        self.configuration = configuration
        self.legacy = configuration.legacy ?? true
        self.mergeable = mergeable
        self.allPieces = all
        self.byteIDs = byteIDs
        self.userDefined = AddedTokenSplitter(userDefined)
        self.metaspacePieceID = mergeable["\u{2581}"]

        // Added tokens of tokenizer_config.json, then the special tokens the slow tokenizer splits out.
        var added: [Int: AddedToken] = [:]
        let idLimit = n + configuration.addedTokens.count
        for t in configuration.addedTokens {
            guard t.id >= 0, t.id < idLimit else {
                throw TokenizerError.corrupt(
                    path,
                    reason:
                        "added token \(printable(t.content)) of tokenizer_config.json has id \(t.id); ids must be from 0 to \(idLimit - 1), the number of tokens defined"
                )
            }
            added[t.id] = t
        }
        var specials = Set<Int>()
        func special(_ spelling: String?, fallback: Int?) -> Int? {
            guard let s = spelling ?? fallback.map({ model.pieces[$0].piece }) else { return nil }
            if let t = added.values.first(where: { $0.content.utf8.elementsEqual(s.utf8) }) {
                added[t.id]?.special = true
                specials.insert(t.id)
                return t.id
            }
            guard let id = all[s] else { return nil }
            if added[id] == nil { added[id] = AddedToken(id: id, content: s, special: true) }
            added[id]?.special = true
            specials.insert(id)
            return id
        }
        bosTokenID = special(configuration.bosToken, fallback: try checkedID(spec.bosID, "bos"))
        eosTokenID = special(configuration.eosToken, fallback: try checkedID(spec.eosID, "eos"))
        unknownTokenID = special(configuration.unknownToken, fallback: unk)
        padTokenID = special(configuration.padToken, fallback: try checkedID(spec.padID, "pad"))
        for s in configuration.additionalSpecialTokens { _ = special(s, fallback: nil) }
        for (id, p) in model.pieces.enumerated() where p.type == .control { specials.insert(id) }
        for t in added.values where t.special { specials.insert(t.id) }
        addedTokens = added.values.sorted { $0.id < $1.id }
        addedByID = added
        addedByContent = Dictionary(added.values.map { (Array($0.content.utf8), $0) }, uniquingKeysWith: { a, b in a.id < b.id ? a : b })
        specialIDs = specials
        specialSplitter = AddedTokenSplitter(addedTokens)
        vocabularySize = max(n, (addedTokens.map(\.id).max() ?? -1) + 1)
        addsBOSByDefault = configuration.addBOSToken ?? true
        addsEOSByDefault = configuration.addEOSToken ?? false
    }

    // MARK: Tokenizer

    public func tokenID(for piece: String) -> Int? {
        addedByContent[Array(piece.utf8)]?.id ?? allPieces[piece]
    }

    public func piece(for id: Int) -> String? {
        if let t = addedByID[id] { return t.content }
        return id >= 0 && id < model.pieces.count ? model.pieces[id].piece : nil
    }

    public func isSpecialToken(_ id: Int) -> Bool { specialIDs.contains(id) }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var ids: [Int] = []
        if addBOS, let bos = bosTokenID { ids.append(bos) }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return ids }
        if legacy {
            for segment in specialSplitter.split(bytes) {
                switch segment {
                case .token(let t, _): ids.append(t.id)
                case .text(let r): ids += sentencePieceIDs(bytes[r], addDummyPrefix: model.normalizerSpec.addDummyPrefix)
                }
            }
            return ids
        }
        // legacy = false: "▁" + text (with "▁" written as spaces), chunks encoded without the dummy
        // prefix; a chunk that starts with a space is encoded after the unknown piece's spelling
        // and the ids of that spelling are dropped, so SentencePiece keeps its leading "▁".
        var prefixed = metaspaceUTF8
        prefixed.reserveCapacity(bytes.count + 3)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
                prefixed.append(0x20)
                i += 3
            } else {
                prefixed.append(bytes[i])
                i += 1
            }
        }
        var body: [Int] = []
        for segment in specialSplitter.split(prefixed) {
            switch segment {
            case .token(let t, _): body.append(t.id)
            case .text(let r):
                let chunk = prefixed[r]
                let startsWithSpace = chunk.first == 0x20 || chunk.starts(with: metaspaceUTF8)
                if startsWithSpace, let unk = unknownTokenID, let spelling = piece(for: unk) {
                    let u = Array(spelling.utf8)
                    let skip = sentencePieceIDs(u[...], addDummyPrefix: false).count
                    let all = sentencePieceIDs((u + chunk)[...], addDummyPrefix: false)
                    body += all.count >= skip ? all[skip...] : all[...]
                } else {
                    body += sentencePieceIDs(chunk, addDummyPrefix: false)
                }
            }
        }
        if body.count > 1, body[0] == metaspacePieceID, specialIDs.contains(body[1]) {
            body.removeFirst()
        }
        return ids + body
    }

    /// Decodes as `SentencePieceProcessor.decode` does: byte pieces are joined into UTF-8 (each
    /// invalid byte becomes U+FFFD), `▁` becomes a space, the leading `▁` of the first piece is
    /// dropped (when the model adds a dummy prefix or collapses whitespace), `<unk>` reads " ⁇ ".
    /// Control pieces (`<s>`, `</s>`) and special added tokens are written as their spelling unless
    /// `skipSpecialTokens`; they never count as the first piece.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var out: [UInt8] = []
        var run: [UInt8] = []
        let stripEnabled = model.normalizerSpec.addDummyPrefix || model.normalizerSpec.removeExtraWhitespaces
        let collapse = model.normalizerSpec.removeExtraWhitespaces
        var atStart = stripEnabled
        func flush() {
            var k = 0
            while k < run.count {
                let n = utf8Length(leadByte: run[k])
                if k + n <= run.count, let s = validScalar(run[k..<(k + n)]) {
                    out += Array(String(s).utf8)
                    k += n
                } else {
                    out += replacementCharacterUTF8
                    k += 1
                }
            }
            run.removeAll()
        }
        for id in ids {
            guard id >= 0 && id < vocabularySize else { continue }
            if id >= model.pieces.count {
                guard let t = addedByID[id] else { continue }
                if t.special && skipSpecialTokens { continue }
                flush()
                out += Array(t.content.utf8)
                if !t.special { atStart = false }
                continue
            }
            let p = model.pieces[id]
            switch p.type {
            case .byte:
                run.append(byteOfPieceName(p.piece)!)
                atStart = false
            case .control:
                flush()
                if !skipSpecialTokens { out += Array(p.piece.utf8) }
            case .unknown:
                flush()
                out += Array(model.trainerSpec.unknownSurface.utf8)
                atStart = false
            case .normal, .userDefined, .unused:
                flush()
                var u = Array(p.piece.utf8)
                if atStart && u.starts(with: metaspaceUTF8) { u.removeFirst(3) }
                let surface = replacingMetaspace(u)
                out += surface
                atStart = collapse && atStart ? surface.isEmpty : false
            }
        }
        flush()
        return String(decoding: out, as: UTF8.self)
    }

    public func makeStreamingDetokenizer(skipSpecialTokens: Bool) -> StreamingDetokenizer {
        let stripEnabled = model.normalizerSpec.addDummyPrefix || model.normalizerSpec.removeExtraWhitespaces
        return StreamingDetokenizer(
            unit: { [self] in unit(for: $0, skipSpecialTokens: skipSpecialTokens) }, byteRuns: .perCharacter,
            leadingSpace: stripEnabled ? .sentencePiece(collapse: model.normalizerSpec.removeExtraWhitespaces) : .none)
    }

    private func unit(for id: Int, skipSpecialTokens: Bool) -> DetokenizerUnit {
        guard id >= 0 && id < vocabularySize else { return .skipped }
        if id >= model.pieces.count {
            guard let t = addedByID[id] else { return .skipped }
            if t.special { return skipSpecialTokens ? .skipped : .special(t.content) }
            return .text(t.content, atStart: t.content)
        }
        let p = model.pieces[id]
        switch p.type {
        case .byte: return .byte(byteOfPieceName(p.piece)!)
        case .control: return skipSpecialTokens ? .invisible : .special(p.piece)
        case .unknown: return .text(model.trainerSpec.unknownSurface, atStart: model.trainerSpec.unknownSurface)
        case .normal, .userDefined, .unused:
            let u = Array(p.piece.utf8)
            let surface = String(decoding: replacingMetaspace(u), as: UTF8.self)
            let first = u.starts(with: metaspaceUTF8) ? String(decoding: replacingMetaspace(Array(u.dropFirst(3))), as: UTF8.self) : surface
            return .text(surface, atStart: first)
        }
    }

    // MARK: SentencePiece

    /// `SentencePieceProcessor.encode(text)`: no special-token splitting, no BOS.
    /// `addDummyPrefix` overrides the model's `add_dummy_prefix`.
    public func sentencePieceEncode(_ text: String, addDummyPrefix: Bool? = nil) -> [Int] {
        let bytes = Array(text.utf8)
        return sentencePieceIDs(bytes[...], addDummyPrefix: addDummyPrefix ?? model.normalizerSpec.addDummyPrefix)
    }

    /// The normalised form SentencePiece segments: dummy prefix, spaces as `▁`, and with
    /// `remove_extra_whitespaces` leading, trailing and repeated spaces removed.
    func normalize(_ text: ArraySlice<UInt8>, addDummyPrefix: Bool) -> [UInt8] {
        let spec = model.normalizerSpec
        var input = text
        if spec.removeExtraWhitespaces {
            while input.first == 0x20 { input.removeFirst() }
        }
        guard !input.isEmpty else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 2 + 3)
        let space: [UInt8] = spec.escapeWhitespaces ? metaspaceUTF8 : [0x20]
        if addDummyPrefix { out += space }
        var previousWasSpace = spec.removeExtraWhitespaces
        for b in input {
            if b == 0x20 {
                if previousWasSpace && spec.removeExtraWhitespaces { continue }
                out += space
                previousWasSpace = true
            } else {
                out.append(b)
                previousWasSpace = false
            }
        }
        if spec.removeExtraWhitespaces {
            while out.count >= space.count && Array(out.suffix(space.count)) == space { out.removeLast(space.count) }
        }
        return out
    }

    private struct SymbolPair {
        var score: Float
        var left: Int
        var right: Int
        var size: Int
    }

    func sentencePieceIDs(_ text: ArraySlice<UInt8>, addDummyPrefix: Bool) -> [Int] {
        let s = normalize(text, addDummyPrefix: addDummyPrefix)
        guard !s.isEmpty else { return [] }

        // Initial symbols: user-defined pieces (frozen), else one character each.
        var start: [Int] = [], length: [Int] = [], prev: [Int] = [], next: [Int] = [], frozen: [Bool] = []
        start.reserveCapacity(s.count)
        var i = 0
        var userRanges: [Range<Int>] = []
        if !userDefined.isEmpty {
            for case .token(_, let r) in userDefined.split(s) { userRanges.append(r) }
        }
        var u = 0
        while i < s.count {
            var len: Int
            var isFrozen = false
            if u < userRanges.count && userRanges[u].lowerBound == i {
                len = userRanges[u].count
                isFrozen = true
                u += 1
            } else {
                len = min(utf8Length(leadByte: s[i]), s.count - i)
            }
            start.append(i)
            length.append(len)
            frozen.append(isFrozen)
            prev.append(start.count - 2)
            i += len
            next.append(i < s.count ? start.count : -1)
        }

        var heap = BinaryHeap<SymbolPair>(capacity: start.count) { a, b in
            a.score > b.score || (a.score == b.score && a.left < b.left)
        }
        // Unused pieces formed by a merge, with the byte ranges of their two halves.
        var reverseMerges: [ArraySlice<UInt8>: (Range<Int>, Range<Int>)] = [:]
        func addPair(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0, !frozen[l], !frozen[r] else { return }
            let size = length[l] + length[r]
            let piece = s[start[l]..<(start[l] + size)]
            guard let id = mergeable[piece] else { return }
            heap.push(SymbolPair(score: model.pieces[id].score, left: l, right: r, size: size))
            if model.pieces[id].type == .unused {
                reverseMerges[piece] = (start[l]..<(start[l] + length[l]), start[r]..<(start[r] + length[r]))
            }
        }
        for k in 1..<max(start.count, 1) { addPair(k - 1, k) }
        while let top = heap.pop() {
            let l = top.left, r = top.right
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == top.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            addPair(prev[l], l)
            addPair(l, next[l])
        }

        // Symbols → ids: unused pieces re-split, unknown ones to bytes or one <unk> per run.
        var ids: [Int] = []
        ids.reserveCapacity(start.count)
        let unk = model.trainerSpec.unknownID
        var previousUnknown = false
        func emit(_ range: Range<Int>) {
            let piece = s[range]
            let id = allPieces[piece] ?? unk
            if model.pieces[id].type == .unused, let (a, b) = reverseMerges[piece] {
                emit(a)
                emit(b)
                return
            }
            if id == unk {
                if model.trainerSpec.byteFallback {
                    for b in piece { ids.append(byteIDs[Int(b)]) }
                } else if !previousUnknown {
                    ids.append(unk)
                }
                previousUnknown = !model.trainerSpec.byteFallback
                return
            }
            ids.append(id)
            previousUnknown = false
        }
        var k = 0
        while k >= 0 && k < start.count {
            emit(start[k]..<(start[k] + length[k]))
            k = next[k]
        }
        return ids
    }
}

let replacementCharacterUTF8: [UInt8] = [0xEF, 0xBF, 0xBD]

/// `bytes` with every `▁` (E2 96 81) replaced by a space.
func replacingMetaspace(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
            out.append(0x20)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return out
}
