import Foundation
import XCTest
import YOPOCore
import YOPOFormats
import YOPOPruning
@testable import YOPOModels

/// Runs a golden case's prompt through the decoder with a given execution; returns first logits and greedy ids.
func runCase(
    _ caseName: String, checkpoint: String? = nil, execution: (LLaVAModel) throws -> DecoderExecution,
    steps: Int = 20, counter: FLOPCounter? = nil
) throws -> (logits: Tensor, ids: [Int], cache: KVCache) {
    let (golden, tensors) = try GoldenCase.load(caseName)
    let model = try LLaVAModel(directory: Fixtures.models(checkpoint ?? golden.checkpoint),
                               visionTower: golden.vision_tower.map { Fixtures.models($0) })
    let exec = try execution(model)
    let features = model.imageFeatures(try tensors.load("pixel_values"))
    let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
    let embeddings = try model.inputEmbeddings(ids: ids, images: [features])
    let start = ids.firstIndex(of: model.configuration.imageTokenIndex)!
    let image = ImageLayout(start: start, gridRows: 24, gridColumns: 24)
    let cache = model.decoder.makeCache(capacity: ids.count + steps)
    counter?.stage = .prefill
    let first = model.decoder.forward(embeddings, cache: cache, images: [image], execution: exec, counter: counter)
    var logits = first
    var generated: [Int] = []
    counter?.stage = .decode
    for _ in 0..<steps {
        let next = Sampler_argmax(logits)
        generated.append(next)
        logits = model.decoder.forward(model.decoder.embed([next]), cache: cache, execution: exec, counter: counter)
    }
    return (first, generated, cache)
}

func Sampler_argmax(_ t: Tensor) -> Int {
    var best = 0
    for i in 0..<t.count where t.data[i] > t.data[best] { best = i }
    return best
}

final class YOPOExecutionTests: XCTestCase {
    func plan(_ spec: String, _ model: LLaVAModel) throws -> YOPOPlan {
        let c = model.configuration.text
        return try XCTUnwrap(PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(
            for: DecoderShape(numHiddenLayers: c.numHiddenLayers, numAttentionHeads: c.numAttentionHeads,
                              intermediateSize: c.intermediateSize)))
    }

    /// A plan that prunes nothing (K = L) gives the dense numbers in both modes.
    func testNoOpPlanMatchesDense() throws {
        let dense = try runCase("hf_chelsea", execution: { _ in .dense }, steps: 5)
        for mode in YOPOMode.allCases {
            let pruned = try runCase("hf_chelsea", execution: { .init(plan: try self.plan("yopo:layers=3", $0), mode: mode) }, steps: 5)
            XCTAssertLessThan(maxAbsDifference(dense.logits, pruned.logits), 1e-4, "\(mode)")
            XCTAssertEqual(dense.ids, pruned.ids, "\(mode)")
        }
    }
}
