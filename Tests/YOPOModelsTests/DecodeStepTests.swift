import AllocationCounter
import XCTest

@testable import YOPOCore
@testable import YOPOModels
@testable import YOPOEngine
@testable import YOPOPruning

/// The decode step (`TextDecoder.decode`): no heap allocation once the cache has its workspace,
/// in every execution, on fp32 weights (OpenBLAS) and on bf16 weights under bf16 compute (own GEMV).
final class DecodeStepTests: XCTestCase {
    /// Prefills the golden prompt, then decodes `warmup` steps and `steps` counted steps (greedy).
    /// Returns the allocations counted and the tokens generated (all steps).
    func countedDecode(
        _ caseName: String, execution: (LLaVAModel) throws -> DecoderExecution, warmup: Int = 2, steps: Int = 4
    ) throws -> (allocations: Int, tokens: [Int], model: LLaVAModel) {
        let (golden, tensors) = try GoldenCase.load(caseName)
        let model = try loadModel(golden.checkpoint)
        let pixels = try GoldenCase.load("hf_chelsea").1.load("pixel_values")
        let exec = try execution(model)
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let embeddings = try model.inputEmbeddings(ids: ids, images: [model.imageFeatures(pixels)])
        _ = tensors
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        let cache = model.decoder.makeCache(capacity: ids.count + warmup + steps)
        var next = Sampler_argmax(model.decoder.forward(embeddings, cache: cache, images: [image], plan: exec))
        var tokens = [next]
        tokens.reserveCapacity(1 + warmup + steps)
        for _ in 0..<warmup {
            next = Sampler_argmax(model.decoder.decode(token: next, cache: cache, plan: exec))
            tokens.append(next)
        }
        let before = yopo_allocation_count()
        yopo_allocation_counting(1)
        for _ in 0..<steps {
            next = Sampler_argmax(model.decoder.decode(token: next, cache: cache, plan: exec))
            tokens.append(next)
        }
        yopo_allocation_counting(0)
        return (yopo_allocation_count() - before, tokens, model)
    }

    func testDecodeStepsAllocateNothing() throws {
        guard yopo_allocation_counting_supported() != 0 else { throw XCTSkip("allocation counting needs glibc") }
        // The counter sees allocations (so the zeros below can fail).
        let before = yopo_allocation_count()
        yopo_allocation_counting(1)
        let probe = Tensor(zeros: [16])
        yopo_allocation_counting(0)
        XCTAssertGreaterThan(yopo_allocation_count() - before, 0)
        XCTAssertEqual(probe.count, 16)

        let plan = { (model: LLaVAModel) throws -> YOPOPlan in
            let c = model.configuration.text
            return try XCTUnwrap(
                PruningSpec(parsing: "yopo:window=3,layers=2,ffn=2").resolve(
                    for: c.decoderSpec.shape))
        }
        let executions: [(String, (LLaVAModel) throws -> DecoderExecution)] = [
            ("dense", { _ in .dense }),
            ("skip", { .skip(try plan($0)) }),
            ("simulate", { .simulate(try plan($0)) }),
            ("fastv", { _ in .tokenPruning(try BaselineSpec.parse("fastv:k=1,r=0.5")!.makePruner(layers: 3)) })
        ]
        for (name, execution) in executions {
            let run = try countedDecode("hf_chelsea", execution: execution)
            XCTAssertEqual(run.allocations, 0, name)
            XCTAssertEqual(run.tokens.count, 7, name)
        }
        // bf16 weights, bf16 compute: the own GEMV path the 7B decode takes.
        let run = try ExecutionContext(precision: MatMul.bf16Available ? .bf16 : .fp32).run {
            try countedDecode("hf_bf16_chelsea", execution: { _ in .dense })
        }
        XCTAssertEqual(run.allocations, 0, "bf16")
    }

    /// The attention heads shared out over two threads (libgomp's pool): no allocation either, and the
    /// same logits to the bit as one thread (each head is computed alone, in the same order).
    func testThreadedAttentionAllocatesNothing() throws {
        guard yopo_allocation_counting_supported() != 0 else { throw XCTSkip("allocation counting needs glibc") }
        let serialContext = ExecutionContext(threads: 2, decodeAttentionParallelMinimum: 1 << 30)
        let threadedContext = ExecutionContext(threads: 2, decodeAttentionParallelMinimum: 0)
        let serial = try serialContext.run { try countedDecode("hf_chelsea", execution: { _ in .dense }) }
        let threaded = try threadedContext.run { try countedDecode("hf_chelsea", execution: { _ in .dense }) }
        XCTAssertEqual(threaded.allocations, 0)
        XCTAssertEqual(threaded.tokens, serial.tokens)

        let model = serial.model
        let (golden, _) = try GoldenCase.load("hf_chelsea")
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let embeddings = try model.inputEmbeddings(
            ids: ids, images: [model.imageFeatures(try GoldenCase.load("hf_chelsea").1.load("pixel_values"))])
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        var logits: [Tensor] = []
        for context in [serialContext, threadedContext] {
            context.run {
                let cache = model.decoder.makeCache(capacity: ids.count + 1)
                _ = model.decoder.forward(embeddings, cache: cache, images: [image])
                logits.append(model.decoder.decode(token: serial.tokens[0], cache: cache).copy())
            }
        }
        XCTAssertEqual(maxAbsDifference(logits[0], logits[1]), 0)
    }

    /// `decode(token:)` gives the logits a prefill of the prompt plus that token gives for its last row
    /// (the general multi-row path), and the golden's greedy tokens (KV-cached generation).
    func testDecodeMatchesPrefillAndGolden() throws {
        let (golden, _) = try GoldenCase.load("hf_chelsea")
        let run = try countedDecode("hf_chelsea", execution: { _ in .dense }, warmup: 0, steps: 6)
        XCTAssertEqual(run.tokens, Array(golden.greedy_ids.prefix(7)))

        let model = run.model
        let pixels = try GoldenCase.load("hf_chelsea").1.load("pixel_values")
        let features = model.imageFeatures(pixels)
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        let cache = model.decoder.makeCache(capacity: ids.count + 1)
        _ = model.decoder.forward(try model.inputEmbeddings(ids: ids, images: [features]), cache: cache, images: [image])
        let viaDecode = model.decoder.decode(token: run.tokens[0], cache: cache).copy()
        let viaPrefill = model.decoder.forward(
            try model.inputEmbeddings(ids: ids + [run.tokens[0]], images: [features]),
            cache: model.decoder.makeCache(capacity: ids.count + 1), images: [image])
        XCTAssertLessThan(maxAbsDifference(viaDecode, viaPrefill), 1e-4)
        XCTAssertEqual(cache.length, ids.count + 1)
        XCTAssertEqual((0..<3).map { cache.rows($0) }, Array(repeating: ids.count + 1, count: 3))
    }
}
