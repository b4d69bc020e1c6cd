import Foundation
import XCTest
import YOPOCore
import YOPOFormats
import YOPOImage
import YOPOPruning
@testable import YOPOModels

/// Token-pruning baselines in the engine: pruning really shortens the rows, decoding through the
/// KV cache equals recomputing everything with the same decisions.
final class BaselineEngineTests: XCTestCase {
    let specs = ["fastv:k=1,r=0.5", "fastv:k=2,keep=98", "pdrop:layers=1/2,ratio=0.5", "sparsevlm:layers=0/1,keep=100/50"]

    func pruner(_ spec: String) throws -> TokenPruner {
        try XCTUnwrap(BaselineSpec.parse(spec)).makePruner(layers: 3)
    }

    func testCachedDecodingEqualsRecomputation() throws {
        let (golden, tensors) = try GoldenCase.load("hf_chelsea")
        let model = try loadModel("llava-hf-tiny")
        let features = model.imageFeatures(try tensors.load("pixel_values"))
        let ids = golden.input_ids
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        for spec in specs {
            let first = try pruner(spec)
            let cache = model.decoder.makeCache()
            var logits = model.decoder.forward(
                try model.inputEmbeddings(ids: ids, images: [features]), cache: cache,
                images: [image], plan: .tokenPruning(first))
            var generated: [Int] = []
            for _ in 0..<6 {
                generated.append(Sampler_argmax(logits))
                logits = model.decoder.forward(model.decoder.embed([generated.last!]), cache: cache, plan: .tokenPruning(first))
            }
            // Recompute prompt + generated tokens in one prefill, deciding on the same query/raters.
            let second = try pruner(spec)
            (second as? FastV)?.queryPosition = ids.count - 1
            (second as? PyramidDrop)?.queryPosition = ids.count - 1
            if let s = second as? SparseVLM, let f = first as? SparseVLM { s.fixedRaterPositions = f.raterPositions }
            let recomputed = model.decoder.forward(
                try model.inputEmbeddings(ids: ids + generated, images: [features]), cache: model.decoder.makeCache(),
                images: [image], plan: .tokenPruning(second))
            XCTAssertEqual(first.keptIndices, second.keptIndices, spec)
            XCTAssertLessThan(maxAbsDifference(logits, recomputed), 1e-4, spec)
            // Later layers really hold fewer rows.
            XCTAssertLessThan(cache.rows(2), cache.rows(0), spec)
        }
    }

    func testKeptCountsAndRows() throws {
        let (_, _, cache) = try runCase("hf_chelsea", execution: { _ in .tokenPruning(try self.pruner("fastv:k=2,keep=98")) }, steps: 1)
        let prompt = 591
        XCTAssertEqual(cache.rows(0), prompt + 1)
        XCTAssertEqual(cache.rows(1), prompt + 1)
        XCTAssertEqual(cache.rows(2), prompt - 576 + 98 + 1)
        let pdrop = try pruner("pdrop:layers=1/2,ratio=0.5")
        _ = try runCase("hf_chelsea", execution: { _ in .tokenPruning(pdrop) }, steps: 1)
        XCTAssertEqual(pdrop.keptIndices.map(\.count), [288, 144])
        XCTAssertTrue(Set(pdrop.keptIndices[1]).isSubset(of: Set(pdrop.keptIndices[0])))
        // An explicit keep list instead of λ.
        let explicit = try pruner("pdrop:layers=1/2,keep=300/40")
        XCTAssertEqual(explicit.spec, "pdrop:layers=1/2,keep=300/40")
        _ = try runCase("hf_chelsea", execution: { _ in .tokenPruning(explicit) }, steps: 1)
        XCTAssertEqual(explicit.keptIndices.map(\.count), [300, 40])
        let sparse = try pruner("sparsevlm:layers=0/1,keep=100/50")
        _ = try runCase("hf_chelsea", execution: { _ in .tokenPruning(sparse) }, steps: 1)
        // 476 deleted → 142 recycled candidates → 15 clusters; then 65 deleted → 19 → 2.
        XCTAssertEqual(sparse.keptIndices.map(\.count), [115, 52])
        XCTAssertEqual((sparse as! SparseVLM).recycledCounts, [15, 2])
        // No-op settings reproduce the dense logits.
        let dense = try runCase("hf_chelsea", execution: { _ in .dense }, steps: 2)
        let keepAll = try runCase("hf_chelsea", execution: { _ in .tokenPruning(try self.pruner("fastv:k=1,r=0")) }, steps: 2)
        XCTAssertLessThan(maxAbsDifference(dense.logits, keepAll.logits), 1e-5)
        XCTAssertEqual(dense.ids, keepAll.ids)
    }
}

/// A baseline golden from Tools/reference/make_baseline_fixtures.py (independent Python
/// implementations of FastV, PyramidDrop and SparseVLM v1.5 on transformers' LLaMA).
struct BaselineGolden: Decodable {
    var checkpoint: String
    var image: String
    var spec: String
    var input_ids: [Int]
    var image_span: [Int]
    var kept_indices: [[Int]]
    var greedy_ids: [Int]

    static var names: [String] {
        let dir = Fixtures.root.appendingPathComponent("models/golden").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix("baseline_") && $0.hasSuffix(".json") }
            .map { String($0.dropLast(".json".count)) }.sorted()
    }
}

final class BaselineGoldenTests: XCTestCase {
    /// Each method at three settings: kept-token indices identical, first-step logits within 1e-4,
    /// 20 greedy ids identical (KV-cached decoding).
    func testBaselineGoldens() throws {
        let names = BaselineGolden.names
        XCTAssertEqual(names.count, 12, "baseline goldens: \(names)")  // 9 on LLaVA, one per method on the fused family
        var models: [String: LLaVAModel] = [:]
        for name in names {
            let golden = try JSONDecoder().decode(
                BaselineGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json"))))
            let expected = try SafetensorsFile(path: Fixtures.models("golden/\(name).safetensors")).load("logits")
            let model = try models[golden.checkpoint] ?? loadModel(golden.checkpoint)
            models[golden.checkpoint] = model
            let pruner = try XCTUnwrap(BaselineSpec.parse(golden.spec)).makePruner(layers: model.configuration.text.numHiddenLayers)
            let pixels = try ImagePreprocessor(config: .clipViTLarge336).preprocess(
                contentsOf: Fixtures.root.appendingPathComponent("images/\(golden.image)").path, mode: .crop)
            let features = model.imageFeatures(Tensor(shape: pixels.shape, values: pixels.values))
            let embeddings = try model.inputEmbeddings(ids: golden.input_ids, images: [features])
            let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
            let cache = model.decoder.makeCache(capacity: golden.input_ids.count + 20)
            var logits = model.decoder.forward(embeddings, cache: cache, images: [image], plan: .tokenPruning(pruner))
            XCTAssertEqual(pruner.keptIndices, golden.kept_indices, name)
            XCTAssertLessThan(maxAbsDifference(logits, expected), 1e-4, name)
            var ids: [Int] = []
            for _ in 0..<golden.greedy_ids.count {
                ids.append(Sampler_argmax(logits))
                logits = model.decoder.forward(model.decoder.embed([ids.last!]), cache: cache, plan: .tokenPruning(pruner))
            }
            XCTAssertEqual(ids, golden.greedy_ids, name)
        }
    }
}
