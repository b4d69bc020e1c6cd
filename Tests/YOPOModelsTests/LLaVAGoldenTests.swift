import Foundation
import XCTest
import YOPOCore
import YOPOFormats
import YOPOImage
@testable import YOPOModels
@testable import YOPOEngine

/// Fixture paths (Tests/Fixtures, a sibling of this target's folder).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func models(_ name: String) -> String { root.appendingPathComponent("models/\(name)").path }
}

/// One golden case written by Tools/reference/make_model_fixtures.py (transformers 5.24 reference).
struct GoldenCase: Decodable {
    var checkpoint: String
    var vision_tower: String?
    var image: String
    var prompt: String
    var template: String
    var image_aspect_ratio: String
    var prompt_text: String
    var input_ids: [Int]
    var image_span: [Int]
    var greedy_ids: [Int]

    static func load(_ name: String) throws -> (GoldenCase, SafetensorsFile) {
        let json = try JSONDecoder().decode(
            GoldenCase.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json"))))
        return (json, try SafetensorsFile(path: Fixtures.models("golden/\(name).safetensors")))
    }

    /// Ids with every visual position set to the model's image token (original: −200 expanded).
    func expandedIDs(imageTokenIndex: Int, visualTokens: Int) -> [Int] {
        if input_ids.contains(-200) {
            return input_ids.flatMap { $0 == -200 ? Array(repeating: imageTokenIndex, count: visualTokens) : [$0] }
        }
        return input_ids
    }
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "\(a.shape) vs \(b.shape)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.data[i] - b.data[i])) }
    return m
}

extension XCTestCase {
    /// Runs vision → projector → prefill → 20 greedy steps with the KV cache and compares each stage.
    func check(_ caseName: String, tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) throws {
        let (golden, tensors) = try GoldenCase.load(caseName)
        let model = try loadModel(golden.checkpoint, visionTower: golden.vision_tower)

        // Cases without stored pixels take them from the image pipeline (bit-exact with transformers,
        // checked by YOPOImageTests).
        let pixels: Tensor
        if tensors.tensors["pixel_values"] != nil {
            pixels = try tensors.load("pixel_values")
        } else {
            let p = try ImagePreprocessor(config: .clipViTLarge336).preprocess(
                contentsOf: Fixtures.root.appendingPathComponent("images/\(golden.image)").path,
                mode: golden.image_aspect_ratio == "pad" ? .pad : .crop)
            pixels = Tensor(shape: p.shape, values: p.values)
        }
        let vision = model.visionFeatures(pixels)
        let goldenVision = try tensors.load("vision_features")
        XCTAssertEqual(vision.shape, goldenVision.shape, file: file, line: line)
        XCTAssertLessThan(maxAbsDifference(vision, goldenVision), tolerance, "vision features", file: file, line: line)

        let features = model.project(vision)
        let goldenFeatures = try tensors.load("image_features")
        // The projector output reaches |x| ≈ 80 on these random weights, where fp32 summation order
        // alone moves the last digits: compare relative to the largest magnitude.
        let scale = max(1, goldenFeatures.scalars.map(abs).max() ?? 1)
        XCTAssertLessThan(maxAbsDifference(features, goldenFeatures) / scale, tolerance, "projector output", file: file, line: line)

        let ids = golden.expandedIDs(
            imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: model.configuration.visualTokensPerImage)
        XCTAssertEqual(ids.filter { $0 == model.configuration.imageTokenIndex }.count, golden.image_span[1], file: file, line: line)
        XCTAssertEqual(ids.firstIndex(of: model.configuration.imageTokenIndex), golden.image_span[0], file: file, line: line)
        let embeddings = try model.inputEmbeddings(ids: ids, images: [features])
        let cache = model.decoder.makeCache(capacity: ids.count + 20)
        var logits = model.decoder.forward(embeddings, cache: cache)
        let goldenLogits = try tensors.load("logits")
        XCTAssertEqual(logits.count, goldenLogits.count, file: file, line: line)
        XCTAssertLessThan(maxAbsDifference(logits, goldenLogits), tolerance, "first-step logits", file: file, line: line)

        var generated: [Int] = []
        for _ in 0..<golden.greedy_ids.count {
            let next = logits.scalars.indices.max { logits.data[$0] < logits.data[$1] || (logits.data[$0] == logits.data[$1] && $0 > $1) }!
            generated.append(next)
            logits = model.decoder.forward(model.decoder.embed([next]), cache: cache)
        }
        XCTAssertEqual(generated, golden.greedy_ids, "greedy ids", file: file, line: line)
    }
}

final class LLaVAGoldenTests: XCTestCase {

    func testLlavaHFChelsea() throws { try check("hf_chelsea") }
    func testLlavaHFRocket() throws { try check("hf_rocket") }
    func testOriginalLayoutChelsea() throws { try check("orig_chelsea") }
    func testOriginalLayoutAstronaut() throws { try check("orig_astronaut") }
    func testFloat16Checkpoint() throws { try check("hf_f16_chelsea") }
    func testBFloat16Checkpoint() throws { try check("hf_bf16_chelsea") }
    /// The test-only second family (Qwen2 LLM, fused qkv / gate_up, q/k/v biases): same stages, same tolerances.
    func testFusedQKVFamilyChelsea() throws { try check("fused_chelsea") }
}

/// Half-precision checkpoints computed in fp32 against the fp32 model they were rounded from.
/// Documented tolerance (README "Precision"): first-step logits within 0.05 (F16) and 0.25 (BF16)
/// max-abs of the fp32 checkpoint's; the reference measured 0.030 and 0.176 on this fixture.
final class HalfPrecisionAgreementTests: XCTestCase {
    func logits(_ checkpoint: String, golden: GoldenCase, pixels: Tensor) throws -> Tensor {
        let model = try loadModel(checkpoint)
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let embeddings = try model.inputEmbeddings(ids: ids, images: [model.imageFeatures(pixels)])
        return model.decoder.forward(embeddings, cache: model.decoder.makeCache())
    }

    func testHalfPrecisionCheckpointsAgreeWithFloat32() throws {
        let (golden, tensors) = try GoldenCase.load("hf_chelsea")
        let pixels = try tensors.load("pixel_values")
        let reference = try tensors.load("logits")
        let f16 = try logits("llava-hf-tiny-f16", golden: golden, pixels: pixels)
        let bf16 = try logits("llava-hf-tiny-bf16", golden: golden, pixels: pixels)
        XCTAssertLessThan(maxAbsDifference(f16, reference), 0.05)
        XCTAssertLessThan(maxAbsDifference(bf16, reference), 0.25)
        // Rounding really happened: the half-precision logits are not the fp32 ones.
        XCTAssertGreaterThan(maxAbsDifference(f16, reference), 1e-3)
        XCTAssertGreaterThan(maxAbsDifference(bf16, reference), 1e-3)
    }
}

/// The fast paths against the same goldens: the portable C kernels forced (the dispatch fallback),
/// and bf16 compute (oneDNN) on the bf16 checkpoint within the documented bf16-compute tolerance.
final class KernelPathGoldenTests: XCTestCase {
    /// Decode of half checkpoints runs the own GEMV; forced portable, the goldens still hold to 1e-4.
    /// The forced level is the context's: this thread's, and the libgomp threads its products start.
    func testHalfCheckpointsWithPortableKernels() throws {
        try ExecutionContext(kernelLevel: .portable).run {
            XCTAssertEqual(MatMul.kernelLevel, .portable)
            try check("hf_bf16_chelsea")
            try check("hf_f16_chelsea")
            XCTAssertEqual(MatMul.kernelLevel, .portable)
        }
        XCTAssertEqual(MatMul.kernelLevel, MatMul.supportedKernelLevel)
    }

    func testBFloat16ComputeAgreesWithFP32Compute() throws {
        guard MatMul.bf16Available else { throw XCTSkip("oneDNN with native bf16 is not available here") }
        let (golden, tensors) = try GoldenCase.load("hf_bf16_chelsea")
        let model = try loadModel(golden.checkpoint)
        let pixels = try GoldenCase.load("hf_chelsea").1.load("pixel_values")  // same photo, stored pixels
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let logits = try ExecutionContext(precision: .bf16).run {
            let embeddings = try model.inputEmbeddings(ids: ids, images: [model.imageFeatures(pixels)])
            return model.decoder.forward(embeddings, cache: model.decoder.makeCache())
        }
        let reference = try tensors.load("logits")
        let difference = maxAbsDifference(logits, reference)
        print("bf16 compute vs fp32 compute, max |Δ logits| = \(difference)")
        XCTAssertLessThan(difference, 0.5)
        XCTAssertGreaterThan(difference, 1e-4)  // activations really were rounded
    }
}
