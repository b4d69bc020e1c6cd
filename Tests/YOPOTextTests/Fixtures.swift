import Foundation
import XCTest

@testable import YOPOText

/// Committed fixtures under Tests/Fixtures/tokenizer (made by Tools/reference/make_tokenizer_fixtures.py).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("tokenizer")

    static func url(_ relative: String) -> URL { directory.appendingPathComponent(relative) }

    /// The 46 llama.cpp test strings and their expected ids (no BOS).
    static let llamaCases: [(text: String, ids: [Int])] = {
        let inp = try! String(contentsOf: url("ggml-vocab-llama-spm.gguf.inp"), encoding: .utf8)
        let out = try! String(contentsOf: url("ggml-vocab-llama-spm.gguf.out"), encoding: .utf8)
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        precondition(texts.last == "")
        texts.removeLast()
        let lines = out.components(separatedBy: "\n")
        return texts.enumerated().map { i, t in (t, lines[i].split(separator: " ").map { Int($0)! }) }
    }()

    nonisolated(unsafe) static let goldens: [String: Any] = {
        let data = try! Data(contentsOf: url("goldens.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// `goldens[path…]` (dictionary keys separated by "/").
    static func golden(_ path: String) -> Any {
        var node: Any = goldens
        for key in path.split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(key)] else { fatalError("no golden \(path)") }
            node = next
        }
        return node
    }

    struct EncodeCase {
        var text: String
        var ids: [Int]
    }

    struct DecodeCase {
        var ids: [Int]
        var text: String
        var textSkipSpecial: String?
    }

    static func encodeCases(_ path: String) -> [EncodeCase] {
        (golden(path) as! [[String: Any]]).map { EncodeCase(text: $0["text"] as! String, ids: $0["ids"] as! [Int]) }
    }

    static func decodeCases(_ path: String) -> [DecodeCase] {
        (golden(path) as! [[String: Any]]).map {
            DecodeCase(ids: $0["ids"] as! [Int], text: $0["text"] as! String, textSkipSpecial: $0["text_skip_special"] as? String)
        }
    }

    // Loaded once: the tokenizer.json files are 1.2–1.4 MB.
    static let spm: SentencePieceTokenizer = try! SentencePieceTokenizer(
        contentsOf: url("tokenizer.model"), configuration: TokenizerConfiguration(directory: directory))
    static let spmLegacy: SentencePieceTokenizer = {
        var c = try! TokenizerConfiguration(directory: directory)
        c.legacy = true
        return try! SentencePieceTokenizer(contentsOf: url("tokenizer.model"), configuration: c)
    }()
    static let hfMetaspace: HuggingFaceTokenizer = try! HuggingFaceTokenizer(
        contentsOf: url("hf-metaspace/tokenizer.json"),
        configuration: TokenizerConfiguration(directory: url("hf-metaspace")))
    static let hfLegacy: HuggingFaceTokenizer = try! HuggingFaceTokenizer(
        contentsOf: url("hf-legacy/tokenizer.json"),
        configuration: TokenizerConfiguration(directory: url("hf-legacy")))
}

/// Readable form of a string in failure messages.
func show(_ s: String) -> String { s.debugDescription }
