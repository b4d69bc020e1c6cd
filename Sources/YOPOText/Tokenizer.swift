import Foundation
import YOPOFormats

/// Errors raised while loading tokenizer files. Each message is one line naming the file or directory.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// Neither `tokenizer.model` nor `tokenizer.json` exists in the directory.
    case noTokenizerFiles(directory: String)
    case fileNotFound(String)
    /// The file exists but cannot be parsed.
    case corrupt(String, reason: String)
    /// The path cannot be read as a file: a directory, a device, a file over `maximumTokenizerFileSize`.
    case unreadable(String, reason: String)
    /// The file is valid but uses a feature this package does not implement.
    case unsupported(String, feature: String)

    public var description: String {
        switch self {
        case .noTokenizerFiles(let d):
            return "no tokenizer in \(d): expected tokenizer.model (SentencePiece) or tokenizer.json (HF tokenizers)"
        case .fileNotFound(let p): return "tokenizer file not found: \(p)"
        case .corrupt(let p, let reason): return "corrupt tokenizer file \(p): \(reason)"
        case .unreadable(let p, let reason): return "cannot read tokenizer file \(p): \(reason)"
        case .unsupported(let p, let feature): return "unsupported tokenizer feature in \(p): \(feature)"
        }
    }
}

/// A token matched literally in the input text before normalisation and the vocabulary model run
/// (HF `AddedToken`): special tokens such as `<s>`, `</s>`, `<image>`, `<pad>`.
public struct AddedToken: Sendable, Equatable, Hashable {
    public var id: Int
    public var content: String
    /// Special tokens are dropped by `decode(_:skipSpecialTokens: true)`.
    public var special: Bool
    /// Matched only when not inside a word (neighbours are not letters, digits or `_`).
    public var singleWord: Bool
    /// Whitespace to the left (right) of a match is swallowed by the token.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Matched in the normalised text instead of the raw text (tokenizer.json only).
    public var normalized: Bool

    public init(
        id: Int, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
        rstrip: Bool = false, normalized: Bool = false
    ) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}

/// Text ↔ token ids for a LLaMA-family vocabulary. Implementations are immutable and thread-safe.
public protocol Tokenizer: Sendable {
    /// Number of ids: one past the largest id of the vocabulary and of the added tokens
    /// (32000 for LLaMA's `tokenizer.model`, 32002 for llava-hf with `<image>` and `<pad>`).
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    var unknownTokenID: Int? { get }
    var padTokenID: Int? { get }
    /// Whether the checkpoint asks for BOS / EOS around an encoded text (`add_bos_token`,
    /// `add_eos_token`, or the post-processor template).
    var addsBOSByDefault: Bool { get }
    var addsEOSByDefault: Bool { get }
    /// Tokens split out of the text before the vocabulary model runs, in id order.
    var addedTokens: [AddedToken] { get }

    /// The id of a vocabulary piece or added token, spelled as stored (`"▁Hello"`, `"<0x0A>"`,
    /// `"<image>"`), or nil.
    func tokenID(for piece: String) -> Int?
    /// The stored spelling of an id, or nil when out of range.
    func piece(for id: Int) -> String?
    /// Whether `id` is a control / special token (BOS, EOS, UNK, PAD, special added tokens).
    func isSpecialToken(_ id: Int) -> Bool

    /// Token ids of `text`, with BOS first when `addBOS`. Special tokens written in the text
    /// (`<s>`, `</s>`, added tokens) are matched literally and become their ids.
    func encode(_ text: String, addBOS: Bool) -> [Int]
    /// The text of `ids`. Ids outside the vocabulary are ignored. When `skipSpecialTokens`, special
    /// tokens produce no text.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// A detokenizer that takes ids one at a time and returns only complete UTF-8 text;
    /// the concatenation of its outputs plus `finish()` equals `decode(ids, skipSpecialTokens:)`.
    func makeStreamingDetokenizer(skipSpecialTokens: Bool) -> StreamingDetokenizer
}

extension Tokenizer {
    /// Token ids of `text` with BOS / EOS as the checkpoint configures them.
    public func encode(_ text: String) -> [Int] {
        encode(text, addBOS: addsBOSByDefault, addEOS: addsEOSByDefault)
    }

    /// Token ids of `text`, with BOS first when `addBOS` and EOS last when `addEOS` (and defined).
    public func encode(_ text: String, addBOS: Bool, addEOS: Bool) -> [Int] {
        var ids = encode(text, addBOS: addBOS)
        if addEOS, let eos = eosTokenID { ids.append(eos) }
        return ids
    }

    /// `decode(ids, skipSpecialTokens: false)`.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}

/// Which tokenizer file `loadTokenizer` read.
public enum TokenizerFileKind: String, Sendable {
    case sentencePiece = "tokenizer.model"
    case tokenizersJSON = "tokenizer.json"
}

/// Loads the tokenizer of a checkpoint directory.
///
/// Original LLaVA checkpoints are tokenised with the slow SentencePiece tokenizer
/// (`tokenizer.model`), llava-hf ones with `tokenizer.json`. `preferSentencePiece` picks the file when
/// both exist; otherwise whichever exists is used. `tokenizer_config.json` (and
/// `special_tokens_map.json`), when present, supply `add_bos_token`, `add_eos_token`, the
/// BOS/EOS/UNK/PAD spellings, `legacy` and added tokens.
///
/// - Throws: `TokenizerError.noTokenizerFiles` naming `directory` when neither file exists;
///   `.corrupt` / `.unsupported` naming the file when it cannot be used.
public func loadTokenizer(directory: URL, preferSentencePiece: Bool) throws -> any Tokenizer {
    let (kind, url) = try tokenizerFile(in: directory, preferSentencePiece: preferSentencePiece)
    let configuration = try TokenizerConfiguration(directory: directory)
    switch kind {
    case .sentencePiece: return try SentencePieceTokenizer(contentsOf: url, configuration: configuration)
    case .tokenizersJSON: return try HuggingFaceTokenizer(contentsOf: url, configuration: configuration)
    }
}

/// The tokenizer file `loadTokenizer` would read in `directory`, without reading it.
public func tokenizerFile(in directory: URL, preferSentencePiece: Bool) throws -> (TokenizerFileKind, URL) {
    let fm = FileManager.default
    let spm = directory.appendingPathComponent(TokenizerFileKind.sentencePiece.rawValue)
    let json = directory.appendingPathComponent(TokenizerFileKind.tokenizersJSON.rawValue)
    let hasSPM = fm.fileExists(atPath: spm.path)
    let hasJSON = fm.fileExists(atPath: json.path)
    switch (hasSPM, hasJSON) {
    case (true, true): return preferSentencePiece ? (.sentencePiece, spm) : (.tokenizersJSON, json)
    case (true, false): return (.sentencePiece, spm)
    case (false, true): return (.tokenizersJSON, json)
    case (false, false): throw TokenizerError.noTokenizerFiles(directory: directory.path)
    }
}

/// Largest tokenizer file read, in bytes (LLaMA's tokenizer.json is 1.8 MB, the largest vocabularies'
/// about 35 MB), so a huge or endless file cannot exhaust memory.
public let maximumTokenizerFileSize = 64 << 20

/// The bytes of a tokenizer file. Throws `TokenizerError.fileNotFound`, `.unreadable` (a directory,
/// a device, a file over `maximumTokenizerFileSize`) or `.corrupt` (empty).
func readFile(_ url: URL) throws -> Data {
    let data: Data
    do {
        data = try readSmallFile(url.path, limit: maximumTokenizerFileSize, kind: "tokenizer file")
    } catch FormatError.fileNotFound {
        throw TokenizerError.fileNotFound(url.path)
    } catch FormatError.unreadable(_, let reason) {
        throw TokenizerError.unreadable(url.path, reason: reason)
    }
    guard !data.isEmpty else { throw TokenizerError.corrupt(url.path, reason: "file is empty") }
    return data
}

/// `s` for a one-line message: control characters escaped, at most 40 characters.
func printable(_ s: String) -> String {
    var out = ""
    for scalar in s.unicodeScalars.prefix(40) {
        if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
            out += scalar.escaped(asASCII: true)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return s.unicodeScalars.count > 40 ? out + "…" : out
}
