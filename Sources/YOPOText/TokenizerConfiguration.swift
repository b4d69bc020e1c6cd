import Foundation

/// The keys of `tokenizer_config.json` (and `special_tokens_map.json`) that change how text is
/// tokenised. Every field is nil / empty when the checkpoint does not set it.
public struct TokenizerConfiguration: Sendable, Equatable {
    /// `add_bos_token` / `add_eos_token`.
    public var addBOSToken: Bool?
    public var addEOSToken: Bool?
    /// Spellings of the special tokens (`bos_token` …), given as a string or an `AddedToken` object.
    public var bosToken: String?
    public var eosToken: String?
    public var unknownToken: String?
    public var padToken: String?
    /// `legacy` of transformers' LlamaTokenizer: when false, text right after a special token gets
    /// no SentencePiece dummy prefix. transformers treats a missing value as true.
    public var legacy: Bool?
    /// `added_tokens_decoder` (id → token), plus `added_tokens.json` entries, in id order.
    public var addedTokens: [AddedToken] = []
    /// `additional_special_tokens` / `extra_special_tokens` spellings.
    public var additionalSpecialTokens: [String] = []
    /// `model_max_length`, when it is a real limit (transformers writes 1e30 for "none").
    public var modelMaxLength: Int?

    public init() {}

    /// Reads `tokenizer_config.json`, `special_tokens_map.json` and `added_tokens.json` from
    /// `directory`; missing files leave the fields unset.
    /// Throws `TokenizerError.corrupt` naming a file that is not a JSON object, an added token whose
    /// id is not a non-negative integer or that has no content, a `model_max_length` below 1;
    /// `.unreadable` for a file that is a directory, a device or over `maximumTokenizerFileSize`.
    public init(directory: URL) throws {
        let config = directory.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: config.path) {
            try apply(try Self.jsonObject(at: config), path: config.path)
        }
        let map = directory.appendingPathComponent("special_tokens_map.json")
        if FileManager.default.fileExists(atPath: map.path) {
            let m = try Self.jsonObject(at: map)
            bosToken = bosToken ?? Self.tokenString(m["bos_token"])
            eosToken = eosToken ?? Self.tokenString(m["eos_token"])
            unknownToken = unknownToken ?? Self.tokenString(m["unk_token"])
            padToken = padToken ?? Self.tokenString(m["pad_token"])
            if additionalSpecialTokens.isEmpty, let extra = m["additional_special_tokens"]?.array {
                additionalSpecialTokens = extra.compactMap(Self.tokenString)
            }
        }
        let added = directory.appendingPathComponent("added_tokens.json")
        if FileManager.default.fileExists(atPath: added.path) {
            let known = Set(addedTokens.map(\.id))
            for m in try Self.jsonObject(at: added).members ?? [] {
                let (content, value) = (m.key, m.value)
                guard let id = value.int, id >= 0 else {
                    throw TokenizerError.corrupt(
                        added.path, reason: "id of \(printable(content)) must be a non-negative integer, found \(value.summary)")
                }
                if !known.contains(id) {
                    addedTokens.append(AddedToken(id: id, content: content, special: additionalSpecialTokens.contains(content)))
                }
            }
            addedTokens.sort { $0.id < $1.id }
        }
    }

    /// Applies the keys of a parsed `tokenizer_config.json` object; `path` names it in errors.
    mutating func apply(_ json: JSONValue, path: String = "tokenizer_config.json") throws {
        addBOSToken = json["add_bos_token"]?.bool ?? addBOSToken
        addEOSToken = json["add_eos_token"]?.bool ?? addEOSToken
        bosToken = Self.tokenString(json["bos_token"]) ?? bosToken
        eosToken = Self.tokenString(json["eos_token"]) ?? eosToken
        unknownToken = Self.tokenString(json["unk_token"]) ?? unknownToken
        padToken = Self.tokenString(json["pad_token"]) ?? padToken
        legacy = json["legacy"]?.bool ?? legacy
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            if let list = json[key]?.array { additionalSpecialTokens += list.compactMap(Self.tokenString) }
        }
        if let value = json["model_max_length"], !value.isNull {
            // transformers writes 1e30 (or larger) for "no limit".
            guard let n = value.double, n >= 1 else {
                throw TokenizerError.corrupt(path, reason: "model_max_length must be a positive integer, found \(value.summary)")
            }
            if n < 1e15 { modelMaxLength = Int(n) }
        }
        if let decoder = json["added_tokens_decoder"]?.members {
            var tokens: [AddedToken] = []
            for m in decoder {
                let (key, t) = (m.key, m.value)
                guard let id = Int(key), id >= 0 else {
                    throw TokenizerError.corrupt(
                        path, reason: "added_tokens_decoder key \(printable(key)) is not a token id (a non-negative integer)")
                }
                guard let content = t["content"]?.string else {
                    throw TokenizerError.corrupt(path, reason: "added_tokens_decoder entry \(id) has no content string")
                }
                tokens.append(
                    AddedToken(
                        id: id, content: content, special: t["special"]?.bool ?? false,
                        singleWord: t["single_word"]?.bool ?? false, lstrip: t["lstrip"]?.bool ?? false,
                        rstrip: t["rstrip"]?.bool ?? false, normalized: t["normalized"]?.bool ?? false))
            }
            addedTokens = tokens.sorted { $0.id < $1.id }
        }
    }

    static func tokenString(_ value: JSONValue?) -> String? {
        value?.string ?? value?["content"]?.string
    }

    static func jsonObject(at url: URL) throws -> JSONValue {
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(try readFile(url))
        } catch let e as TokenizerError {
            throw e
        } catch {
            throw TokenizerError.corrupt(url.path, reason: "\(error)")
        }
        guard parsed.members != nil else {
            throw TokenizerError.corrupt(url.path, reason: "top level is not a JSON object")
        }
        return parsed
    }
}
