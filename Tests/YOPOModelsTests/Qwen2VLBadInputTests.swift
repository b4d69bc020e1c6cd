import Foundation
import XCTest
import YOPOImage
@testable import YOPOModels

/// A Qwen2-VL / Qwen2.5-VL checkpoint with a bad config or processor is refused at load with one
/// message naming the key and what is allowed.
final class Qwen2VLBadInputTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-qwen-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A copy of fixture `name` (files linked) whose JSON file `file` is rewritten by `edit`.
    func copy(_ name: String, editing file: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let source = URL(fileURLWithPath: Fixtures.models(name))
        let dir = scratch.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for entry in try FileManager.default.contentsOfDirectory(atPath: source.path) where entry != file {
            let target = source.appendingPathComponent(entry).resolvingSymlinksInPath()
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(entry), withDestinationURL: target)
        }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent(file))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent(file))
        return dir.path
    }

    func assertRefused(_ directory: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Qwen2VLModel(directory: directory), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(message), "\(error) does not contain \(message)", file: file, line: line)
        }
    }

    func editText(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var text = json["text_config"] as! [String: Any]
        edit(&text)
        json["text_config"] = text
    }

    func editVision(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var vision = json["vision_config"] as! [String: Any]
        edit(&vision)
        json["vision_config"] = vision
    }

    func testMergerWidthMustBeTheLLMs() throws {
        let dir = try copy("qwen2-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["hidden_size"] = 64 } }
        assertRefused(dir, "vision_config.hidden_size 64 must equal the LLM's hidden_size 32")
    }

    func testMRoPESections() throws {
        let none = try copy("qwen2-vl-tiny", editing: "config.json") { j in
            self.editText(&j) { $0["rope_parameters"] = ["rope_type": "default", "rope_theta": 1e6] }
        }
        assertRefused(none, "text_config.rope_parameters has no mrope_section (Qwen2-VL uses M-RoPE)")
        let wrong = try copy("qwen2-vl-tiny", editing: "config.json") { j in
            self.editText(&j) { $0["rope_parameters"] = ["type": "mrope", "mrope_section": [2, 3, 4], "rope_theta": 1e6] }
        }
        assertRefused(wrong, "rope mrope_section [2, 3, 4] must be three sizes ≥ 0 summing to head_dim / 2 = 8")
        let missing = try copy("qwen2-vl-tiny", editing: "config.json") { j in
            self.editText(&j) { $0["rope_parameters"] = ["type": "mrope", "rope_theta": 1e6] }
        }
        assertRefused(missing, "\"mrope\" needs mrope_section (three sizes)")
    }

    func testVisionRotaryAndSizes() throws {
        let yarn = try copy("qwen2-vl-tiny", editing: "config.json") { j in
            self.editVision(&j) { $0["rope_parameters"] = ["rope_type": "yarn"] }
        }
        assertRefused(yarn, "vision_config.rope_parameters.rope_type \"yarn\" is not supported (axial)")
        let heads = try copy("qwen2-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["num_heads"] = 3 } }
        assertRefused(heads, "vision_config.embed_dim 32 / num_heads 3 must give a head_dim that is a multiple of 4")
        let depth = try copy("qwen2-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["depth"] = 3 } }
        assertRefused(depth, "checkpoint is missing tensor visual.blocks.2.")
        let window = try copy("qwen2.5-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["window_size"] = 14 } }
        assertRefused(window, "vision_config.window_size 14 must be at least spatial_merge_size · patch_size = 28")
        let full = try copy("qwen2.5-vl-tiny", editing: "config.json") { j in
            self.editVision(&j) { $0["fullatt_block_indexes"] = [1, 9] }
        }
        assertRefused(full, "vision_config.fullatt_block_indexes")
    }

    /// Values that would overflow or trap if converted unchecked are refused with their key; Qwen2.5-VL's
    /// messages use its own key names.
    func testHugeValuesAndVariantKeyNames() throws {
        let ratio = try copy("qwen2-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["mlp_ratio"] = 1e30 } }
        assertRefused(ratio, "vision_config.mlp_ratio 1e+30 must give an MLP width from 1 to")
        let sections = try copy("qwen2-vl-tiny", editing: "config.json") { j in
            self.editText(&j) { $0["rope_parameters"] = ["type": "mrope", "mrope_section": [Int.max, 1, 0], "rope_theta": 1e6] }
        }
        assertRefused(sections, "rope mrope_section [9223372036854775807, 1, 0] must be three sizes ≥ 0 summing to head_dim / 2 = 8")
        let out = try copy("qwen2.5-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["out_hidden_size"] = 64 } }
        assertRefused(out, "vision_config.out_hidden_size 64 must equal the LLM's hidden_size 32")
        let heads = try copy("qwen2.5-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["num_heads"] = 3 } }
        assertRefused(heads, "vision_config.hidden_size 32 / num_heads 3 must give a head_dim")
        let mlp = try copy("qwen2.5-vl-tiny", editing: "config.json") { j in self.editVision(&j) { $0["intermediate_size"] = 0 } }
        assertRefused(mlp, "vision_config.intermediate_size")
    }

    func testSeparateVisionTowerIsRefused() {
        XCTAssertThrowsError(try ModelRegistry.load(directory: Fixtures.models("qwen2-vl-tiny"), visionTower: "/tmp/clip")) { error in
            XCTAssertEqual(
                "\(error)",
                "invalid model configuration: a separate vision tower (/tmp/clip) is for original LLaVA checkpoints; Qwen2-VL's is in its checkpoint"
            )
        }
    }

    func testProcessorMustMatchTheVisionTower() throws {
        let merge = try copy("qwen2-vl-tiny", editing: "preprocessor_config.json") { $0["merge_size"] = 4 }
        assertRefused(
            merge,
            "preprocessor_config.json patch_size / merge_size / temporal_patch_size (14, 4, 2) differ from vision_config's (14, 2, 2)")
        let budget = try copy("qwen2-vl-tiny", editing: "preprocessor_config.json") {
            $0["max_pixels"] = 10; $0["min_pixels"] = 20
        }
        assertRefused(budget, "min_pixels is 20, above max_pixels 10")
    }

    func testTensorNames() {
        XCTAssertEqual(try Qwen2VLModel.canonicalName("model.language_model.layers.0.mlp.up_proj.weight"), "layers.0.mlp.up_proj.weight")
        XCTAssertEqual(try Qwen2VLModel.canonicalName("model.visual.merger.ln_q.weight"), "visual.merger.ln_q.weight")
        XCTAssertEqual(try Qwen2VLModel.canonicalName("model.embed_tokens.weight"), "embed_tokens.weight")
        XCTAssertThrowsError(try Qwen2VLModel.canonicalName("vision_tower.blocks.0.weight")) { error in
            XCTAssertEqual(error as? ModelError, .unknownTensor("vision_tower.blocks.0.weight"))
        }
    }
}
