import Foundation
import XCTest
import YOPOCore
import YOPOFormats
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
        let model = try LLaVAModel(directory: Fixtures.models("llava-hf-tiny"))
        let features = model.imageFeatures(try tensors.load("pixel_values"))
        let ids = golden.input_ids
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        for spec in specs {
            let first = try pruner(spec)
            let cache = model.decoder.makeCache()
            var logits = model.decoder.forward(try model.inputEmbeddings(ids: ids, images: [features]), cache: cache,
                                               images: [image], execution: .tokenPruning(first))
            var generated: [Int] = []
            for _ in 0..<6 {
                generated.append(Sampler_argmax(logits))
                logits = model.decoder.forward(model.decoder.embed([generated.last!]), cache: cache, execution: .tokenPruning(first))
            }
            // Recompute prompt + generated tokens in one prefill, deciding on the same query/raters.
            let second = try pruner(spec)
            (second as? FastV)?.queryPosition = ids.count - 1
            (second as? PyramidDrop)?.queryPosition = ids.count - 1
            if let s = second as? SparseVLM, let f = first as? SparseVLM { s.fixedRaterPositions = f.raterPositions }
            let recomputed = model.decoder.forward(
                try model.inputEmbeddings(ids: ids + generated, images: [features]), cache: model.decoder.makeCache(),
                images: [image], execution: .tokenPruning(second))
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
