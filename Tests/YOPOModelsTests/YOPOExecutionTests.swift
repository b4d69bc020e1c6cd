import Foundation
import XCTest
import YOPOCore
import YOPOFormats
import YOPOImage
import YOPOPruning
@testable import YOPOModels

/// Runs a golden case's prompt through the decoder with a given execution; returns first logits and greedy ids.
func runCase(
    _ caseName: String, checkpoint: String? = nil, execution: (LLaVAModel) throws -> DecoderExecution,
    steps: Int = 20, counter: FLOPCounter? = nil, countVision: Bool = false
) throws -> (logits: Tensor, ids: [Int], cache: KVCache) {
    let (golden, tensors) = try GoldenCase.load(caseName)
    let model = try loadModel(checkpoint ?? golden.checkpoint, visionTower: golden.vision_tower)
    let exec = try execution(model)
    let features = model.imageFeatures(try tensors.load("pixel_values"), counter: countVision ? counter : nil)
    let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
    let embeddings = try model.inputEmbeddings(ids: ids, images: [features])
    let start = ids.firstIndex(of: model.configuration.imageTokenIndex)!
    let image = ImageLayout(start: start, gridRows: 24, gridColumns: 24)
    let cache = model.decoder.makeCache(capacity: ids.count + steps)
    counter?.stage = .prefill
    let first = model.decoder.forward(embeddings, cache: cache, images: [image], plan: exec, counter: counter)
    var logits = first
    var generated: [Int] = []
    counter?.stage = .decode
    for _ in 0..<steps {
        let next = Sampler_argmax(logits)
        generated.append(next)
        logits = model.decoder.forward(model.decoder.embed([next]), cache: cache, plan: exec, counter: counter)
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
        return try XCTUnwrap(
            PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(
                for: c.decoderSpec.shape))
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

    /// Only the rows whose logits are wanted attend and run the FFN in the last layer (and skip mode's
    /// visual rows stop after their keys and values in layer K − 1): asking for several rows gives each
    /// the logits of a prefill that ends at that row, in dense, skip and simulate execution.
    func testLogitRowsMatchPrefixPrefills() throws {
        let (golden, tensors) = try GoldenCase.load("hf_chelsea")
        let model = try loadModel(golden.checkpoint)
        let features = model.imageFeatures(try tensors.load("pixel_values"))
        let ids = golden.expandedIDs(imageTokenIndex: model.configuration.imageTokenIndex, visualTokens: 576)
        let embeddings = try model.inputEmbeddings(ids: ids, images: [features])
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        let n = ids.count
        let wanted = [2, image.range.upperBound + 3, n - 1]  // a system row, a text row, the last row
        XCTAssertLessThan(wanted[0], image.start)
        let executions: [(String, DecoderExecution)] = [
            ("dense", .dense), ("skip", .skip(try plan("yopo:window=3,layers=2,ffn=2", model))),
            ("simulate", .simulate(try plan("yopo:window=3,layers=2,ffn=2", model)))
        ]
        for (name, execution) in executions {
            let counter = FLOPCounter()
            let all = model.decoder.forward(
                embeddings, cache: model.decoder.makeCache(capacity: n), images: [image],
                plan: execution, counter: counter, logitRows: wanted)
            XCTAssertEqual(all.shape, [3, model.configuration.text.vocabSize], name)
            for (i, r) in wanted.enumerated() {
                let prefix = model.decoder.forward(
                    embeddings.rows(0, r + 1), cache: model.decoder.makeCache(capacity: n),
                    images: r >= image.range.upperBound ? [image] : [], plan: execution)
                XCTAssertLessThan(maxAbsDifference(all.rows(i, 1), prefix), 1e-4, "\(name) row \(r)")
            }
            // Last layer: the two extra rows add q and o (2·2·24·24), the FFN (2·24·64·3) and attention
            // in one block with the last row (4 heads · 2·keys·6·2; keys: every row, or in skip mode every
            // text row, as layer 2 holds no visual keys).
            let single = FLOPCounter()
            _ = model.decoder.forward(
                embeddings, cache: model.decoder.makeCache(capacity: n), images: [image],
                plan: execution, counter: single)
            let lastLayer = { (c: FLOPCounter) in c.counts.filter { $0.key.layer == 2 }.values.reduce(0, +) }
            let keys = name == "skip" ? n - 576 : n
            XCTAssertEqual(lastLayer(counter) - lastLayer(single), 2 * (2304 + 9216 + 96 * keys), name)
        }
    }
}

/// A pruning golden from Tools/reference/make_pruning_fixtures.py (independent Python implementation
/// of both semantics on transformers' LLaMA).
struct PruningGolden: Decodable {
    var checkpoint: String
    var image: String
    var prompt: String
    var plan: String
    var mode: String
    var input_ids: [Int]
    var image_span: [Int]
    var grid: [Int]
    var greedy_ids: [Int]

    static var names: [String] {
        let dir = Fixtures.root.appendingPathComponent("models/golden").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix("prune_") && $0.hasSuffix(".json") }
            .map { String($0.dropLast(".json".count)) }.sorted()
    }
}

final class YOPOGoldenTests: XCTestCase {
    /// Every golden plan in both modes: first-step logits within 1e-4, 20 greedy ids identical
    /// (KV-cached decoding).
    func testPruningGoldens() throws {
        let names = PruningGolden.names
        XCTAssertGreaterThanOrEqual(names.count, 18, "pruning goldens missing: \(names)")  // 14 on LLaVA, 4 on the fused family
        var models: [String: LLaVAModel] = [:]
        for name in names {
            let golden = try JSONDecoder().decode(
                PruningGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json"))))
            let expected = try SafetensorsFile(path: Fixtures.models("golden/\(name).safetensors")).load("logits")
            let model = try models[golden.checkpoint] ?? loadModel(golden.checkpoint)
            models[golden.checkpoint] = model
            let c = model.configuration.text
            let shape = c.decoderSpec.shape
            let plan = try PruningSpec(parsing: golden.plan, baseDirectory: Fixtures.root.path).resolve(for: shape)
            let mode = try XCTUnwrap(YOPOMode(rawValue: golden.mode == "none" ? "skip" : golden.mode))
            let execution = DecoderExecution(plan: plan, mode: mode)

            let pixels = try ImagePreprocessor(config: .clipViTLarge336).preprocess(
                contentsOf: Fixtures.root.appendingPathComponent("images/\(golden.image)").path, mode: .crop)
            let features = model.imageFeatures(Tensor(shape: pixels.shape, values: pixels.values))
            let embeddings = try model.inputEmbeddings(ids: golden.input_ids, images: [features])
            let image = ImageLayout(start: golden.image_span[0], gridRows: golden.grid[0], gridColumns: golden.grid[1])
            let cache = model.decoder.makeCache(capacity: golden.input_ids.count + 20)
            var logits = model.decoder.forward(embeddings, cache: cache, images: [image], plan: execution)
            XCTAssertLessThan(maxAbsDifference(logits, expected), 1e-4, name)
            var ids: [Int] = []
            for _ in 0..<golden.greedy_ids.count {
                let next = Sampler_argmax(logits)
                ids.append(next)
                logits = model.decoder.forward(model.decoder.embed([next]), cache: cache, plan: execution)
            }
            XCTAssertEqual(ids, golden.greedy_ids, name)
        }
    }
}

final class YOPOCacheTests: XCTestCase {
    func plan(_ spec: String, _ model: LLaVAModel) throws -> YOPOPlan {
        let c = model.configuration.text
        return try XCTUnwrap(
            PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(
                for: c.decoderSpec.shape))
    }

    let allPlan = "yopo:window=3,layers=2,heads=models/golden/headmask_tiny_3x4.npy,ffn=4"

    /// `prune none` is the unpruned engine, bit for bit.
    func testNoneIsBitIdenticalToDense() throws {
        let a = try runCase("hf_chelsea", execution: { _ in .dense }, steps: 3)
        let b = try runCase("hf_chelsea", execution: { _ in DecoderExecution(plan: nil, mode: .skip) }, steps: 3)
        XCTAssertEqual(a.logits.scalars, b.logits.scalars)
        XCTAssertEqual(a.ids, b.ids)
    }

    /// Skip mode stores visual K/V only for kept layers and the key/value heads kept heads use:
    /// here layers 0 and 1 (K = 2), both kv heads in each (kept heads {0,1,2,3} and {0,2}).
    /// Layer drop alone (K = 1) keeps one layer of three.
    func testSkipModeVisualCacheBytes() throws {
        let kvWidth = 2 * 6, bytesPerLayer = 2 * 576 * kvWidth * 4
        let all = try runCase("hf_chelsea", execution: { .skip(try self.plan(self.allPlan, $0)) }, steps: 1)
        XCTAssertEqual(all.cache.visualBytesUsed, 2 * bytesPerLayer)
        XCTAssertEqual(all.cache.denseVisualBytes, 3 * bytesPerLayer)
        let layers1 = try runCase("hf_chelsea", execution: { .skip(try self.plan("yopo:layers=1", $0)) }, steps: 1)
        XCTAssertEqual(layers1.cache.visualBytesUsed, bytesPerLayer)
        // Simulate mode keeps everything, like the official release.
        let simulate = try runCase("hf_chelsea", execution: { .simulate(try self.plan(self.allPlan, $0)) }, steps: 1)
        XCTAssertEqual(simulate.cache.visualBytesUsed, 3 * bytesPerLayer)
    }

    /// Multi-turn: a second turn fed through the KV cache gives the logits of recomputing the whole
    /// conversation in one prefill (both modes).
    func testSecondTurnThroughCacheEqualsRecompute() throws {
        let (golden, tensors) = try GoldenCase.load("hf_chelsea")
        let model = try loadModel("llava-hf-tiny")
        let features = model.imageFeatures(try tensors.load("pixel_values"))
        let ids = golden.input_ids
        let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
        let answer = Array(golden.greedy_ids.prefix(5))
        let turn2 = [2, 3148, 1001, 29901, 1724, 338, 372, 29973, 319, 1799, 9047, 13566, 29901]
        for mode in YOPOMode.allCases {
            let execution = DecoderExecution(plan: try plan(allPlan, model), mode: mode)
            let cache = model.decoder.makeCache()
            _ = model.decoder.forward(
                try model.inputEmbeddings(ids: ids, images: [features]), cache: cache,
                images: [image], plan: execution)
            for id in answer {
                _ = model.decoder.forward(model.decoder.embed([id]), cache: cache, plan: execution)
            }
            let cached = model.decoder.forward(model.decoder.embed(turn2), cache: cache, plan: execution)
            let full = model.decoder.forward(
                try model.inputEmbeddings(ids: ids + answer + turn2, images: [features]), cache: model.decoder.makeCache(),
                images: [image], plan: execution)
            XCTAssertLessThan(maxAbsDifference(cached, full), 1e-4, "\(mode)")
            XCTAssertEqual(cache.length, ids.count + answer.count + turn2.count)
        }
    }
}

/// Issue 4: the engine's executed-FLOPs counter equals the analytic `full` count (docs/FLOPS.md)
/// exactly, for the unpruned engine and every golden plan in skip mode; simulate mode executes the
/// dense count.
final class ExecutedFLOPsTests: XCTestCase {
    func testExecutedEqualsAnalyticFull() throws {
        let names = PruningGolden.names.filter { $0.contains("llava-hf-tiny_") && $0.hasSuffix("_skip") }
        XCTAssertEqual(names.count, 5)
        let model = try loadModel("llava-hf-tiny")
        let dims = try ModelDimensions(model.configuration, name: "llava-hf-tiny")
        let flops = try FLOPsModel(dims)
        let steps = 4
        let (golden, _) = try GoldenCase.load("hf_chelsea")
        let layout = PromptLayout(
            systemTokens: golden.image_span[0], grid: VisualGrid(rows: 24, columns: 24),
            textTokens: golden.input_ids.count - golden.image_span[0] - 576, decodeSteps: steps)
        // Unpruned engine.
        let denseCounter = FLOPCounter()
        _ = try runCase("hf_chelsea", execution: { _ in .dense }, steps: steps, counter: denseCounter, countVision: true)
        let dense = try flops.full(layout)
        XCTAssertEqual(denseCounter.counts, dense.counts)
        for name in names {
            let spec = try JSONDecoder().decode(
                PruningGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json")))
            ).plan
            let plan = try XCTUnwrap(PruningSpec(parsing: spec, baseDirectory: Fixtures.root.path).resolve(for: dims.decoderShape))
            let skipCounter = FLOPCounter(), simulateCounter = FLOPCounter()
            _ = try runCase("hf_chelsea", execution: { _ in .skip(plan) }, steps: steps, counter: skipCounter, countVision: true)
            _ = try runCase("hf_chelsea", execution: { _ in .simulate(plan) }, steps: steps, counter: simulateCounter, countVision: true)
            let expected = try flops.full(layout, plan: plan, mode: .skip)
            XCTAssertEqual(skipCounter.counts, expected.counts, name)
            XCTAssertLessThan(skipCounter.total, denseCounter.total, name)
            XCTAssertEqual(simulateCounter.counts, dense.counts, name)
            XCTAssertEqual(try flops.full(layout, plan: plan, mode: .simulate).counts, dense.counts, name)
        }
    }
}

extension ExecutedFLOPsTests {
    /// The golden plans built from the official 7B masks, on the 32-layer × 32-head fixture.
    func testExecutedEqualsAnalyticFullWithOfficialMasks() throws {
        let model = try loadModel("llava-hf-tiny-32x32")
        let dims = try ModelDimensions(model.configuration, name: "llava-hf-tiny-32x32")
        let flops = try FLOPsModel(dims)
        for name in ["prune_llava-hf-tiny-32x32_yopo25_skip", "prune_llava-hf-tiny-32x32_yopo12_skip"] {
            let golden = try JSONDecoder().decode(
                PruningGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(name).json"))))
            let plan = try XCTUnwrap(PruningSpec(parsing: golden.plan, baseDirectory: Fixtures.root.path).resolve(for: dims.decoderShape))
            let counter = FLOPCounter()
            let features = model.imageFeatures(
                try SafetensorsFile(path: Fixtures.models("golden/hf_chelsea.safetensors")).load("pixel_values"), counter: counter)
            let embeddings = try model.inputEmbeddings(ids: golden.input_ids, images: [features])
            let image = ImageLayout(start: golden.image_span[0], gridRows: 24, gridColumns: 24)
            let cache = model.decoder.makeCache()
            counter.stage = .prefill
            var logits = model.decoder.forward(embeddings, cache: cache, images: [image], plan: .skip(plan), counter: counter)
            counter.stage = .decode
            for _ in 0..<2 {
                logits = model.decoder.forward(
                    model.decoder.embed([Sampler_argmax(logits)]), cache: cache, plan: .skip(plan), counter: counter)
            }
            let layout = PromptLayout(
                systemTokens: golden.image_span[0], grid: VisualGrid(rows: 24, columns: 24),
                textTokens: golden.input_ids.count - golden.image_span[0] - 576, decodeSteps: 2)
            XCTAssertEqual(counter.counts, try flops.full(layout, plan: plan, mode: .skip).counts, name)
        }
    }
}
