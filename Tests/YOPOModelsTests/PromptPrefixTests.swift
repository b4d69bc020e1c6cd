import Foundation
import XCTest
import YOPOCore
import YOPOFormats
import YOPOPruning
@testable import YOPOModels

/// A prompt prefix (everything up to the end of the image) run once and continued: the continuation
/// computes what one prefill of the whole prompt computes — the same pruning decisions and cache
/// rows, logits within float rounding (the attention's query blocks start at the split) — for dense,
/// YOPO in both executions and every token-pruning method, whose reused layers stop before their
/// first pruning layer. Continuing the same prefix again gives the same bits, so a session's
/// shared prefix (yopo eval's cache) answers as making each question's own prefix does.
final class PromptPrefixTests: XCTestCase {
    let yopoSpec = "yopo:window=3,layers=2,heads=models/golden/headmask_tiny_3x4.npy,ffn=4"
    let baselines = [
        "fastv:k=1,r=0.5", "fastv:k=2,keep=98", "pdrop:layers=1/2,ratio=0.5", "pdrop:layers=2,ratio=0.5",
        "sparsevlm:layers=0/1,keep=100/50", "sparsevlm:layers=1,keep=100"
    ]

    func testContinuationEqualsOnePrefill() throws {
        let (golden, tensors) = try GoldenCase.load("hf_chelsea")
        let model = try loadModel("llava-hf-tiny")
        let decoder = model.decoder
        let features = model.imageFeatures(try tensors.load("pixel_values"))
        let ids = golden.input_ids
        let embeddings = try model.inputEmbeddings(ids: ids, images: [features])
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        let split = image.range.upperBound, n = embeddings.rows
        let yopo = try XCTUnwrap(
            PruningSpec(parsing: yopoSpec, baseDirectory: Fixtures.root.path).resolve(for: model.configuration.text.decoderSpec.shape))
        // (name, a fresh plan, layers the prefix may reuse)
        var cases: [(String, () throws -> DecoderPlan, Int)] = [
            ("dense", { .dense }, 3), ("yopo skip", { .skip(yopo) }, 3), ("yopo simulate", { .simulate(yopo) }, 3)
        ]
        for spec in baselines {
            let reused = [
                "fastv:k=1,r=0.5": 0, "fastv:k=2,keep=98": 1, "pdrop:layers=1/2,ratio=0.5": 1, "pdrop:layers=2,ratio=0.5": 2,
                "sparsevlm:layers=0/1,keep=100/50": 0, "sparsevlm:layers=1,keep=100": 1
            ][spec]!
            cases.append((spec, { .tokenPruning(try XCTUnwrap(BaselineSpec.parse(spec)).makePruner(layers: 3)) }, reused))
        }
        for (name, makePlan, reused) in cases {
            let onePlan = try makePlan()
            let oneCache = decoder.makeCache(capacity: n + 4)
            let one = decoder.forward(embeddings, cache: oneCache, images: [image], plan: onePlan)

            let prefixCounter = FLOPCounter()
            let prefix = decoder.prefillPrefix(embeddings.rows(0, split), images: [image], plan: try makePlan(), counter: prefixCounter)
            XCTAssertEqual(prefix.layers, reused, name)
            XCTAssertEqual(prefix.rows, split, name)
            var first: (logits: [Float], counts: [FLOPKey: Int], decoded: [Float])?
            // Continued twice: a continuation leaves the prefix as it was.
            for round in 0..<2 {
                let plan = try makePlan(), counter = FLOPCounter()
                counter.add(prefixCounter)
                let (logits, cache) = decoder.forward(
                    continuing: prefix, embeddings.rows(split, n - split), plan: plan, capacity: n + 4, counter: counter)
                XCTAssertLessThan(maxAbsDifference(logits, one), 1e-4, name)
                XCTAssertEqual(plan.hooks?.keptIndices ?? [], onePlan.hooks?.keptIndices ?? [], name)
                XCTAssertEqual(cache.length, n, name)
                if round == 0 { XCTAssertEqual(cache.visualBytesUsed, oneCache.visualBytesUsed, name) }
                for l in 0..<3 where round == 0 && cache.layerPositions[l] != oneCache.layerPositions[l] {
                    XCTFail("\(name) layer \(l): \(cache.layerPositions[l].count) rows, one prefill \(oneCache.layerPositions[l].count)")
                }
                // Decode steps go on from the continuation's cache.
                let decoded = decoder.forward(decoder.embed([Sampler_argmax(logits)]), cache: cache, plan: plan).scalars
                if let first {
                    XCTAssertTrue(first.logits == logits.scalars, "\(name): a second continuation differs")
                    XCTAssertEqual(first.counts, counter.counts, name)
                    XCTAssertTrue(first.decoded == decoded, "\(name): a second continuation decodes differently")
                } else {
                    first = (logits.scalars, counter.counts, decoded)
                    let oneDecoded = decoder.forward(decoder.embed([Sampler_argmax(one)]), cache: oneCache, plan: onePlan)
                    XCTAssertLessThan(maxAbsDifference(Tensor(shape: oneDecoded.shape, values: decoded), oneDecoded), 1e-4, name)
                }
            }
        }
    }
}
