import Foundation
import XCTest
import YOPO

/// Every bad input gives one clear line on stderr naming the problem and a non-zero exit.
final class BadInputTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A checkpoint directory whose files link to the fixture's, except those listed in `skip`.
    func linkedCopy(of model: String, skip: Set<String> = [], name: String = "model") throws -> URL {
        URL(fileURLWithPath: try SweepScratch(directory: scratch).linkedCopy(of: model, skip: skip, name: name))
    }

    /// Writes `config.json` of `directory` (a linked copy without one) as the fixture's through `edit`.
    func editConfig(_ directory: URL, from model: String, _ edit: (inout [String: Any]) -> Void) throws {
        try SweepScratch(directory: directory.deletingLastPathComponent())
            .writeConfig(of: model, into: directory.path, edit)
    }

    func generateArguments(
        model: String, image: String = Paths.image("chelsea.png"), prompt: String = "What is shown?",
        extra: [String] = []
    ) -> [String] {
        ["generate", "--model", model, "--image", image, "--prompt", prompt, "--max-tokens", "2"] + extra
    }

    /// Asserts a failing run: non-zero exit, one stderr line, `error:` prefix, containing `message`.
    func assertFails(_ arguments: [String], with message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runYOPO(arguments)
        XCTAssertNotEqual(run.status, 0, "expected failure, got success", file: file, line: line)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("error: "), run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.contains(message), "\(run.stderr) does not contain \(message)", file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
    }

    var hf: String { Paths.model("llava-hf-tiny") }

    // MARK: images

    func testMissingImage() throws {
        try assertFails(
            generateArguments(model: hf, image: "/nonexistent/photo.jpg"),
            with: "cannot read image '/nonexistent/photo.jpg': no such file")
    }

    func testEmptyImage() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/empty.png")),
            with: "the file is empty (0 bytes)")
    }

    func testTruncatedJPEG() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/truncated.jpg")),
            with: "truncated JPEG data")
    }

    func testTruncatedPNG() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/truncated.png")),
            with: "truncated PNG data")
    }

    func testCorruptPNG() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/bad_crc.png")),
            with: "corrupt PNG data")
    }

    func testUnsupportedImageFormat() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/unsupported.webp")),
            with: "unsupported image format (WebP); supported: JPEG, PNG")
    }

    func testTextFileAsImage() throws {
        try assertFails(
            generateArguments(model: hf, image: Paths.image("invalid/not_an_image.png")),
            with: "unsupported image format")
    }

    // MARK: checkpoints

    func testMissingModelDirectory() throws {
        try assertFails(
            generateArguments(model: "/nonexistent/model"),
            with: "model directory /nonexistent/model does not exist")
    }

    func testMissingConfig() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["config.json"])
        try assertFails(generateArguments(model: dir.path), with: "no config.json in \(dir.path)")
    }

    func testMissingWeights() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        try assertFails(generateArguments(model: dir.path), with: "file not found: \(dir.path)/model.safetensors")
    }

    func testTruncatedWeights() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        let full = try Data(contentsOf: URL(fileURLWithPath: hf).appendingPathComponent("model.safetensors"))
        try full.prefix(full.count / 2).write(to: dir.appendingPathComponent("model.safetensors"))
        try assertFails(generateArguments(model: dir.path), with: "lies outside the file (truncated?)")
    }

    func testMissingShard() throws {
        let dir = try linkedCopy(of: "llava-v1.5-tiny", skip: ["model-00002-of-00002.safetensors"])
        try editConfig(dir, from: "llava-v1.5-tiny") { $0["mm_vision_tower"] = Paths.model("clip-vit-tiny") }
        try assertFails(generateArguments(model: dir.path), with: "shard model-00002-of-00002.safetensors is listed but missing")
    }

    func testShapeMismatchNamesTheTensor() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["config.json"])
        try editConfig(dir, from: "llava-hf-tiny") {
            var text = $0["text_config"] as! [String: Any]
            text["vocab_size"] = 32000
            $0["text_config"] = text
        }
        try assertFails(
            generateArguments(model: dir.path),
            with: "tensor language_model.model.embed_tokens.weight has shape [32064, 24], expected [32000, 24]")
    }

    func testUnsupportedDTypeNamesTheTensor() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["model.safetensors"])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: hf).appendingPathComponent("model.safetensors"))
        // Rewrite the header entry of one tensor from F32 to I32 (same length, same byte count).
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let key = "\"language_model.model.norm.weight\":{\"dtype\":\"F32\""
        XCTAssertTrue(header.contains(key), "fixture header layout changed")
        header = header.replacingOccurrences(of: key, with: key.replacingOccurrences(of: "F32", with: "I32"))
        bytes.replaceSubrange(8..<(8 + headerLength), with: Data(header.utf8))
        try bytes.write(to: dir.appendingPathComponent("model.safetensors"))
        try assertFails(
            generateArguments(model: dir.path),
            with: "tensor language_model.model.norm.weight has unsupported dtype I32")
    }

    func testUnknownArchitecture() throws {
        let dir = try linkedCopy(of: "llava-hf-tiny", skip: ["config.json"])
        try editConfig(dir, from: "llava-hf-tiny") {
            $0["architectures"] = ["MistralForCausalLM"]; $0["model_type"] = "mistral"
        }
        let message =
            "architecture MistralForCausalLM is not a model of a known family (LLaVA-1.5, Qwen2-VL); supported: LlavaForConditionalGeneration, LlavaLlamaForCausalLM, Qwen2VLForConditionalGeneration, Qwen2_5_VLForConditionalGeneration"
        try assertFails(generateArguments(model: dir.path), with: message)
        try assertFails(["flops", "--model", dir.path], with: message)  // the registry answers for every command
    }

    /// The chat template is read for its default system prompt (llava-hf layout): a template file
    /// that is not a JSON object, or a `.jinja` file that is not UTF-8, is named.
    func testUnreadableChatTemplate() throws {
        let json = try linkedCopy(of: "llava-demo", skip: ["chat_template.json"], name: "json")
        try Data("[\"not an object\"]".utf8).write(to: json.appendingPathComponent("chat_template.json"))
        try assertFails(
            generateArguments(model: json.path), with: "\(json.path)/chat_template.json must hold a JSON object")
        let jinja = try linkedCopy(of: "llava-demo", skip: ["chat_template.json", "chat_template.jinja"], name: "jinja")
        try Data([0x7B, 0x7B, 0xFF, 0xFE, 0x7D, 0x7D]).write(to: jinja.appendingPathComponent("chat_template.jinja"))
        try assertFails(generateArguments(model: jinja.path), with: "\(jinja.path)/chat_template.jinja is not UTF-8 text")
    }

    func testOriginalLayoutWithoutLocalVisionTower() throws {
        let dir = try linkedCopy(of: "llava-v1.5-tiny", skip: ["config.json"])
        try editConfig(dir, from: "llava-v1.5-tiny") { $0["mm_vision_tower"] = "openai/clip-vit-large-patch14-336" }
        try assertFails(
            generateArguments(model: dir.path),
            with: "vision tower openai/clip-vit-large-patch14-336 is not a local directory; pass --vision-tower DIR")
    }

    func testVisionTowerWithWrongWidth() throws {
        let dir = try linkedCopy(of: "llava-v1.5-tiny", skip: ["config.json"])
        try editConfig(dir, from: "llava-v1.5-tiny") {
            $0["mm_vision_tower"] = Paths.model("clip-vit-tiny")
            $0["mm_hidden_size"] = 1024
        }
        try assertFails(
            generateArguments(model: dir.path),
            with: "mm_hidden_size 1024 does not match the vision tower's hidden_size 32")
    }

    // MARK: prompts and parameters

    func testPromptLongerThanContext() throws {
        let prompt = String(repeating: "word ", count: 5000)
        try assertFails(generateArguments(model: hf, prompt: prompt), with: "but the context holds 4096")
    }

    func testTemplateWithoutImageTokenInVocabulary() throws {
        // llava-hf's template needs <image> as an added token; the original checkpoint's tokenizer has none.
        try assertFails(
            generateArguments(model: Paths.model("llava-v1.5-tiny"), extra: ["--template", "llava-hf"]),
            with: "the tokenizer has no added token <image> for images")
    }

    func testMorePlaceholdersThanImages() throws {
        try assertFails(
            generateArguments(model: hf, prompt: "<image>\nCompare with <image>"),
            with: "the prompt has 2 <image> placeholder(s) but only 1 image(s) were given")
    }

    func testInvalidSamplingParameters() throws {
        try assertFails(generateArguments(model: hf, extra: ["--temperature=-1"]), with: "temperature must be")
        try assertFails(generateArguments(model: hf, extra: ["--top-p", "0"]), with: "top-p must be in (0, 1]")
        // (generateArguments gives --max-tokens 2 already, and an option given twice is an error of its own.)
        try assertFails(
            ["generate", "--model", hf, "--image", Paths.image("chelsea.png"), "--prompt", "What is shown?", "--max-tokens", "0"],
            with: "max-tokens must be at least 1")
        try assertFails(
            generateArguments(model: hf, extra: ["--template", "chatml"]),
            with: "unknown --template chatml (choose from vicuna_v1, llava_v1, llava-hf, qwen2-vl)")
        try assertFails(
            generateArguments(model: hf, extra: ["--image-aspect", "stretch"]),
            with: "unknown --image-aspect stretch (choose from pad, crop)")
    }

    func testInvalidBenchOptions() throws {
        try assertFails(["bench", "--grid", "24by24"], with: "--grid '24by24' is not ROWSxCOLUMNS")
        try assertFails(["bench", "--visual-tokens", "0"], with: "visual-tokens must be at least 1")
        try assertFails(["bench", "--random-weights", "int8"], with: "unknown --random-weights int8 (choose from bf16, fp32)")
        try assertFails(["bench", "--compute", "fp8"], with: "unknown --compute fp8 (choose from auto, fp32, bf16)")
        try assertFails(
            ["bench", "--arch", "llava-1.5-70b"],
            with: "unknown --arch llava-1.5-70b (choose from llava-1.5-13b, llava-1.5-7b, qwen2-vl-7b, qwen2.5-vl-7b)")
        try assertFails(["bench", "--layers", "33"], with: "layers 33 exceeds llava-1.5-7b's 32")
        try assertFails(["bench", "--runs", "0"], with: "runs must be at least 1")
        try assertFails(["bench", "--warmup=-1"], with: "--warmup must be at least 0 (got -1)")
        try assertFails(["bench", "--threads", "0"], with: "threads must be at least 1")
        try assertFails(["bench", "--model", Paths.model("missing")], with: "does not exist")
        try assertFails(["bench", "--model", hf, "--layers", "4"], with: "layers 4 exceeds the checkpoint's 3")
        try assertFails(["bench-gemm", "--shape", "641x4096"], with: "shape 641x4096 is not MxKxN")
        try assertFails(
            generateArguments(model: hf, extra: ["--compute", "fp16"]), with: "unknown --compute fp16 (choose from auto, fp32, bf16)")
    }

    /// A failed request leaves the pipeline usable: the next good request gives the golden ids.
    func testPipelineSurvivesBadRequest() throws {
        let pipeline = try Session(modelDirectory: hf)
        XCTAssertThrowsError(
            try pipeline.generate(
                GenerationRequest(
                    prompt: "What is shown?", imagePaths: [Paths.image("invalid/truncated.jpg")])))
        let result = try pipeline.generate(
            GenerationRequest(
                prompt: "What is shown?", imagePaths: [Paths.image("chelsea.png")], parameters: .init(maxTokens: 20)))
        XCTAssertEqual(result.tokenIDs, try GoldenIDs.load("hf_chelsea").greedy_ids)
    }
}
