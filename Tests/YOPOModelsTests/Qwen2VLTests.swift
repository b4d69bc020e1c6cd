import Foundation
import XCTest
import YOPOCore
import YOPOImage
import YOPOPruning
import YOPOText
@testable import YOPOEngine
@testable import YOPOModels

/// Qwen2-VL against transformers 5.24 on the tiny random-weight checkpoint
/// (Tests/Fixtures/models/qwen2-vl-tiny, goldens by Tools/reference/make_qwen2vl_fixtures.py):
/// processor grids, vision features, prompt ids, M-RoPE positions and delta, first-step logits and
/// 20 greedy steps, for a square, a wide and a tall image and a two-image prompt. `Qwen25VLTests`
/// runs the same tests on qwen2.5-vl-tiny (window attention: the 18×18, 11×16 and 7×4 merged grids
/// all end in partial windows).
class Qwen2VLTests: XCTestCase {
    struct Golden: Decodable {
        struct Image: Decodable {
            var grid_thw: [Int]
            var features: [[Float]]
        }
        struct Prompt: Decodable {
            var label: String
            var images: [String]
            var text: String
            var input_ids: [Int]
            var grid_thw: [[Int]]
            var position_ids: [[Int]]
            var rope_delta: Int
            var probe_logits: [Float]
            var top_ids: [Int]
            var greedy_ids: [Int]
            var greedy_top_logits: [Float]
        }
        struct Yopo: Decodable {
            var label: String
            var plan: String
            var mode: String
            var span: [Int]
            var grid: [Int]
            var probe_logits: [Float]
            var greedy_ids: [Int]
        }
        var probe_ids: [Int]
        var images: [String: Image]
        var prompts: [Prompt]
        var yopo: [Yopo]
        struct Baseline: Decodable {
            var spec: String
            var span: [Int]
            var kept: [[Int]]
            var recycled: [Int]
            var probe_logits: [Float]
            var greedy_ids: [Int]
        }
        var baselines: [Baseline]
        struct LargeGrid: Decodable {
            var grid_thw: [Int]
            var rows: [Int]
            var features: [[Float]]
            var column_sums: [Double]
        }
        var large_grid: LargeGrid
    }

    class var checkpoint: String { "qwen2-vl-tiny" }
    class var goldenName: String { "qwen2vl_tiny" }
    class var variant: Qwen2VLVisionConfiguration.Variant { .qwen2VL }

    nonisolated(unsafe) static var loaded: [String: (Qwen2VLModel, Golden)] = [:]
    var directory: String { Fixtures.models(Self.checkpoint) }
    var model: Qwen2VLModel { Self.load().0 }
    var golden: Golden { Self.load().1 }

    static func load() -> (Qwen2VLModel, Golden) {
        if let cached = loaded[checkpoint] { return cached }
        let golden = try! JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/\(goldenName).json"))))
        let value = (try! Qwen2VLModel(directory: Fixtures.models(checkpoint)), golden)
        loaded[checkpoint] = value
        return value
    }

    func image(_ name: String) -> String { Fixtures.root.appendingPathComponent("images/\(name)").path }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testConfiguration() throws {
        let c = model.configuration
        XCTAssertEqual(c.vision.variant, Self.variant)
        XCTAssertEqual(c.text.mropeSection, [2, 3, 3])
        XCTAssertEqual(model.decoder.spec.mropeSection, [2, 3, 3])
        XCTAssertTrue(c.text.tieWordEmbeddings)
        XCTAssertEqual(
            [c.vision.embedDim, c.vision.headDim, c.vision.intermediateSize, c.vision.patchDimension, c.vision.depth],
            Self.variant == .qwen2VL ? [32, 16, 64, 1176, 2] : [32, 16, 48, 1176, 4])
        if Self.variant == .qwen25VL {
            XCTAssertEqual([c.vision.windowTokens] + c.vision.fullAttentionBlocks, [4, 1, 3])
            XCTAssertEqual(c.vision.hiddenAct, .silu)
        }
        XCTAssertEqual([c.imageTokenID, c.visionStartTokenID, c.visionEndTokenID], [151655, 151652, 151653])
        XCTAssertEqual(model.processor.config, .qwen2VL7B)
        XCTAssertNotNil(model.decoder.layers[0].qBias)
    }

    /// `get_image_features` on three image shapes: grid and every value within 1e-4.
    func testVisionFeaturesEqualTransformers() throws {
        XCTAssertEqual(golden.images.count, 3)
        for (name, expected) in golden.images.sorted(by: { $0.key < $1.key }) {
            let pixels = try model.processor.preprocess(contentsOf: image(name))
            XCTAssertEqual(pixels.gridTHW, expected.grid_thw, name)
            let features = model.imageFeatures(pixels)
            XCTAssertEqual(features.shape, [expected.features.count, 32], name)
            XCTAssertLessThan(maxDifference(features.scalars, expected.features.flatMap { $0 }), 1e-4, name)
        }
    }

    /// FAMILIES.md bug 7 (mlx-swift-lm#238, vllm#15200: the 2.5-VL window mask wrong or ignored on
    /// large grids): the tower on a 1932×1092 image's 78×138 patch grid (39×69 = 2691 tokens; for
    /// 2.5-VL 10×18 windows, the last row and column partial), pixel values by formula
    /// float32(sin(0.37 i)) as the reference script makes them: sampled rows within 1e-4 and every
    /// column's sum within 2691 · 1e-4.
    func testVisionFeaturesOnA1080pGrid() throws {
        let g = golden.large_grid
        XCTAssertEqual(g.grid_thw, [1, 78, 138])
        let n = 78 * 138 * 1176
        let values = (0..<n).map { Float(sin(Double($0) * 0.37)) }
        let features = model.imageFeatures(QwenVLPixels(gridT: 1, gridH: 78, gridW: 138, patchDimension: 1176, values: values))
        XCTAssertEqual(features.shape, [2691, 32])
        let d = features.columns
        for (row, expected) in zip(g.rows, g.features) {
            let got = Array(UnsafeBufferPointer(start: features.data + row * d, count: d))
            XCTAssertLessThan(maxDifference(got, expected), 1e-4, "row \(row)")
        }
        for c in 0..<d {
            let sum = (0..<features.rows).reduce(0.0) { $0 + Double(features.data[$1 * d + c]) }
            XCTAssertEqual(sum, g.column_sums[c], accuracy: Double(features.rows) * 1e-4, "column \(c)")
        }
    }

    /// The `qwen2-vl` template renders the chat template's text (default system turn, images before
    /// the question), and `tokenizePrompt` with each image's merged-grid count gives the processor's
    /// ids and spans; the M-RoPE triples and delta equal `get_rope_index`.
    func testPromptIDsAndRopeIndex() throws {
        let tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: directory), preferSentencePiece: false)
        let pad = model.configuration.imageTokenID
        for p in golden.prompts {
            let grids = try p.images.map { try model.processor.mergedGrid(width: try size($0).width, height: try size($0).height) }
            XCTAssertEqual(grids.map { [1, $0.rows * 2, $0.columns * 2] }, p.grid_thw, p.label)
            let question = try XCTUnwrap(p.text.components(separatedBy: "<|vision_end|>").last?.components(separatedBy: "<|im_end|>").first)
            let text = PromptTemplate.qwen2VL.render([.user(question, images: p.images.count)])
            XCTAssertEqual(text, p.text, p.label)
            let tokens = try tokenizePrompt(
                text, tokenizer: tokenizer, imageTokenization: PromptTemplate.qwen2VL.imageTokenization,
                images: p.images.count, imageTokenCounts: grids.map { $0.rows * $0.columns })
            XCTAssertEqual(tokens.ids, p.input_ids, p.label)
            XCTAssertEqual(tokens.imageTokenID, pad)
            XCTAssertEqual(tokens.imageSpans.map(\.length), grids.map { $0.rows * $0.columns }, p.label)
            XCTAssertEqual(tokens.imageSpans.first?.start, p.input_ids.firstIndex(of: pad), p.label)
            let (positions, delta) = try Qwen2VLModel.ropeIndex(ids: p.input_ids, imageToken: pad, grids: grids)
            XCTAssertEqual(positions.map(\.t), p.position_ids[0], p.label)
            XCTAssertEqual(positions.map(\.h), p.position_ids[1], p.label)
            XCTAssertEqual(positions.map(\.w), p.position_ids[2], p.label)
            XCTAssertEqual(delta, p.rope_delta, p.label)
        }
    }

    func size(_ name: String) throws -> (width: Int, height: Int) {
        let decoded = try ImageDecoder().decode(contentsOf: image(name))
        return (decoded.width, decoded.height)
    }

    /// Prefill logits (256 probe ids and the top 10) within 1e-4, then 20 greedy decode steps with
    /// the same ids and each step's top logit within 1e-4 (decode positions at index + rope delta).
    func testLogitsAndGreedyDecodeEqualTransformers() throws {
        let model = model
        for p in golden.prompts {
            let pixels = try p.images.map { try model.processor.preprocess(contentsOf: image($0)) }
            let features = pixels.map { model.imageFeatures($0) }
            let grids = pixels.map { (rows: $0.gridH / 2, columns: $0.gridW / 2) }
            let (positions, delta) = try Qwen2VLModel.ropeIndex(
                ids: p.input_ids, imageToken: model.configuration.imageTokenID, grids: grids)
            let embeddings = try model.inputEmbeddings(ids: p.input_ids, images: features)
            let cache = model.decoder.makeCache(capacity: p.input_ids.count + 32)
            var logits = model.decoder.forward(embeddings, cache: cache, rotaryPositions: positions)
            XCTAssertEqual(cache.ropeDelta, delta, p.label)
            let row = logits.scalars
            XCTAssertLessThan(maxDifference(golden.probe_ids.map { row[$0] }, p.probe_logits), 1e-4, p.label)
            let top = row.indices.sorted { row[$0] > row[$1] }.prefix(10)
            XCTAssertEqual(Array(top), p.top_ids, p.label)
            var generated: [Int] = []
            var tops: [Float] = []
            for _ in 0..<20 {
                let scores = logits.scalars
                let best = scores.indices.max { scores[$0] < scores[$1] }!
                generated.append(best)
                tops.append(scores[best])
                logits = model.decoder.forward(model.decoder.embed([best]), cache: cache)
            }
            XCTAssertEqual(generated, p.greedy_ids, p.label)
            XCTAssertLessThan(maxDifference(tops, p.greedy_top_logits), 1e-4, p.label)
        }
    }

    /// YOPO on the merged grid (11×16, wide prompt), each strategy alone and combined, in skip mode
    /// against make_pruning_fixtures.py's independent reference on the Qwen2 layers, and in simulate
    /// mode (the family's `SimulatedSemantics.qwen2VL`) against the reference of the official
    /// Qwen2-VL code's numerics (head mask from layer 2 on, no output zeroing, the layer cut before
    /// softmax by absolute index): prefill logits within 1e-4 and 8 greedy ids (decode at index +
    /// rope delta under the plan). With GQA (2 query heads, 1 key/value head) the head mask prunes
    /// one head of the group.
    func testYOPOPlansEqualTheReference() throws {
        XCTAssertEqual(golden.yopo.count, 12)
        XCTAssertEqual(model.simulatedSemantics, .qwen2VL)
        let p = try XCTUnwrap(golden.prompts.first { $0.label == "wide" })
        let pixels = try model.processor.preprocess(contentsOf: image(p.images[0]))
        let features = model.imageFeatures(pixels)
        let grid = (rows: pixels.gridH / 2, columns: pixels.gridW / 2)
        let pad = model.configuration.imageTokenID
        let (positions, _) = try Qwen2VLModel.ropeIndex(ids: p.input_ids, imageToken: pad, grids: [grid])
        let embeddings = try model.inputEmbeddings(ids: p.input_ids, images: [features])
        var differ = 0
        for y in golden.yopo {
            let label = "\(y.label) \(y.mode)"
            XCTAssertEqual(y.grid, [grid.rows, grid.columns])
            XCTAssertEqual(y.span[0], p.input_ids.firstIndex(of: pad))
            let plan = try PruningSpec(parsing: y.plan, baseDirectory: Fixtures.root.path).resolve(for: model.decoder.spec.shape)
            let execution = DecoderExecution(
                plan: plan, mode: try XCTUnwrap(YOPOMode(rawValue: y.mode)), simulated: model.simulatedSemantics)
            let layout = ImageLayout(start: y.span[0], gridRows: grid.rows, gridColumns: grid.columns)
            let cache = model.decoder.makeCache(capacity: p.input_ids.count + 16)
            var logits = model.decoder.forward(embeddings, cache: cache, images: [layout], plan: execution, rotaryPositions: positions)
            let row = logits.scalars
            XCTAssertLessThan(maxDifference(golden.probe_ids.map { row[$0] }, y.probe_logits), 1e-4, label)
            if maxDifference(y.probe_logits, p.probe_logits) > 1e-3 { differ += 1 }
            var ids: [Int] = []
            for _ in 0..<y.greedy_ids.count {
                let s = logits.scalars
                let best = s.indices.max { s[$0] < s[$1] }!
                ids.append(best)
                logits = model.decoder.forward(model.decoder.embed([best]), cache: cache, plan: execution)
            }
            XCTAssertEqual(ids, y.greedy_ids, label)
            // The official Qwen2-VL numerics are not LLaVA's wherever heads or a layer drop are involved.
            if y.mode == "simulate" && (y.plan.contains("heads=") || y.plan.contains("layers=")) {
                let llava = DecoderExecution(plan: plan, mode: .simulate, simulated: .llava)
                let other = model.decoder.forward(
                    embeddings, cache: model.decoder.makeCache(capacity: p.input_ids.count), images: [layout], plan: llava,
                    rotaryPositions: positions
                ).scalars
                XCTAssertGreaterThan(maxDifference(golden.probe_ids.map { other[$0] }, y.probe_logits), 1e-3, label)
            }
        }
        XCTAssertGreaterThanOrEqual(differ, 8, "the plans must change the logits")
    }

    /// The wide golden prompt (chelsea, an 11×16 merged grid) ready for the decoder: its grid, M-RoPE
    /// positions and input embeddings.
    func widePrompt() throws -> (
        prompt: Golden.Prompt, grid: (rows: Int, columns: Int), positions: [RotaryPosition], embeddings: Tensor
    ) {
        let p = try XCTUnwrap(golden.prompts.first { $0.label == "wide" })
        let pixels = try model.processor.preprocess(contentsOf: image(p.images[0]))
        let grid = (rows: pixels.gridH / 2, columns: pixels.gridW / 2)
        let (positions, _) = try Qwen2VLModel.ropeIndex(ids: p.input_ids, imageToken: model.configuration.imageTokenID, grids: [grid])
        return (p, grid, positions, try model.inputEmbeddings(ids: p.input_ids, images: [model.imageFeatures(pixels)]))
    }

    /// Under the official Qwen2-VL numerics the head mask's rows 0 and 1 are never applied: a mask
    /// pruning heads only there simulates the dense model exactly; pruning a head in layer 2 does not.
    func testOfficialSimulateIgnoresTheFirstTwoLayersOfTheMask() throws {
        let (p, grid, positions, embeddings) = try widePrompt()
        let start = try XCTUnwrap(p.input_ids.firstIndex(of: model.configuration.imageTokenID))
        let layout = ImageLayout(start: start, gridRows: grid.rows, gridColumns: grid.columns)
        func logits(_ mask: [[Bool]]) -> [Float] {
            let layers = mask.map { row in LayerPlan(visualHeads: row.indices.filter { row[$0] }) }
            let execution = DecoderPlan(layers: layers, execution: .simulate, simulated: .qwen2VL)
            return model.decoder.forward(
                embeddings, cache: model.decoder.makeCache(capacity: p.input_ids.count), images: [layout], plan: execution,
                rotaryPositions: positions
            ).scalars
        }
        let dense = model.decoder.forward(
            embeddings, cache: model.decoder.makeCache(capacity: p.input_ids.count), images: [layout], rotaryPositions: positions
        ).scalars
        XCTAssertEqual(logits([[false, false], [false, true], [true, true]]), dense)
        XCTAssertGreaterThan(maxDifference(logits([[true, true], [true, true], [true, false]]), dense), 1e-3)
    }

    /// FastV, PyramidDrop and SparseVLM on the merged grid against make_baseline_fixtures.py's
    /// layer-loop reference run with M-RoPE positions: the same kept tokens (they keep their (t, h, w)
    /// positions: no 1-D re-indexing under M-RoPE; SparseVLM's recycled tokens take the last kept
    /// token's), prefill logits within 1e-4 and 8 greedy ids.
    func testBaselinesEqualTheReference() throws {
        XCTAssertEqual(golden.baselines.map { $0.spec.prefix(4) }, ["fast", "fast", "pdro", "pdro", "spar", "spar"])
        XCTAssertEqual(golden.baselines.map { $0.recycled.reduce(0, +) }.filter { $0 > 0 }.count, 2, "SparseVLM recycles")
        let (p, grid, positions, embeddings) = try widePrompt()
        for f in golden.baselines {
            let pruner = try XCTUnwrap(BaselineSpec.parse(f.spec)).makePruner(layers: model.decoder.spec.numHiddenLayers)
            let layout = ImageLayout(start: f.span[0], gridRows: grid.rows, gridColumns: grid.columns)
            XCTAssertEqual(layout.count, f.span[1])
            let cache = model.decoder.makeCache(capacity: p.input_ids.count + 16)
            var logits = model.decoder.forward(
                embeddings, cache: cache, images: [layout], plan: .tokenPruning(pruner), rotaryPositions: positions)
            XCTAssertEqual(pruner.keptIndices.map { $0.filter { $0 >= 0 } }, f.kept, f.spec)
            XCTAssertEqual(pruner.keptIndices.map { $0.filter { $0 < 0 }.count }, f.recycled, f.spec)
            let row = logits.scalars
            XCTAssertLessThan(maxDifference(golden.probe_ids.map { row[$0] }, f.probe_logits), 1e-4, f.spec)
            var ids: [Int] = []
            for _ in 0..<f.greedy_ids.count {
                let s = logits.scalars
                let best = s.indices.max { s[$0] < s[$1] }!
                ids.append(best)
                logits = model.decoder.forward(model.decoder.embed([best]), cache: cache, plan: .tokenPruning(pruner))
            }
            XCTAssertEqual(ids, f.greedy_ids, f.spec)
        }
    }

    /// Image tokens that do not match the grids are refused with the counts named.
    func testRopeIndexRefusesMismatchedImageTokens() {
        let pad = 151655
        XCTAssertThrowsError(try Qwen2VLModel.ropeIndex(ids: [1, pad, pad, 2], imageToken: pad, grids: [(1, 3)])) { error in
            XCTAssertEqual(error as? ModelError, .imageTokenMismatch(tokens: 2, features: 3))
        }
        XCTAssertThrowsError(try Qwen2VLModel.ropeIndex(ids: [1, pad, 2, pad], imageToken: pad, grids: [(1, 2)])) { error in
            XCTAssertTrue("\(error)".contains("image 1 needs 2 consecutive <|image_pad|> tokens at index 1"), "\(error)")
        }
        let (positions, delta) = try! Qwen2VLModel.ropeIndex(
            ids: [7] + Array(repeating: pad, count: 20) + [8, 9], imageToken: pad, grids: [(4, 5)])
        // FAMILIES.md's rule: text after a 4×5 grid at 1 resumes at 1 + max(4, 5) = 6.
        XCTAssertEqual(positions[1], RotaryPosition(t: 1, h: 1, w: 1))
        XCTAssertEqual(positions[20], RotaryPosition(t: 1, h: 4, w: 5))
        XCTAssertEqual(positions[21], RotaryPosition(6))
        XCTAssertEqual(delta, 8 - 23)
    }
}

final class Qwen25VLTests: Qwen2VLTests {
    override class var checkpoint: String { "qwen2.5-vl-tiny" }
    override class var goldenName: String { "qwen25vl_tiny" }
    override class var variant: Qwen2VLVisionConfiguration.Variant { .qwen25VL }

    /// `get_vision_window_index` on a 4×5 merged grid with 4×4 windows: the first window's 16 tokens,
    /// then the partial one (column 4 of rows 0–3), … (FAMILIES.md bug 7 is about exactly this).
    func testWindowOrder() {
        let pixels = QwenVLPixels(gridT: 1, gridH: 8, gridW: 10, patchDimension: 1176, values: [])
        let (order, windows) = model.vision.windowOrder(pixels)
        XCTAssertEqual(Array(order.prefix(20)), [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18, 4, 9, 14, 19])
        XCTAssertEqual(windows.map { $0.count }, [64, 16])
    }
}

/// FAMILIES.md's list of bugs other engines hit with M-RoPE, as tests on qwen2-vl-tiny.
final class Qwen2VLRopeBugTests: XCTestCase {
    nonisolated(unsafe) static let model = try! Qwen2VLModel(directory: Fixtures.models("qwen2-vl-tiny"))
    static let golden: Qwen2VLTests.Golden = try! JSONDecoder().decode(
        Qwen2VLTests.Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.models("golden/qwen2vl_tiny.json"))))

    /// Prefill + `steps` greedy ids of golden prompt `label` on `model`, optionally splitting the
    /// prefill at `split` (two calls with their rotary positions).
    func run(_ label: String, steps: Int, split: Int? = nil) throws -> (ids: [Int], logits: [Float]) {
        let model = Self.model
        let p = Self.golden.prompts.first { $0.label == label }!
        let pixels = try p.images.map {
            try model.processor.preprocess(contentsOf: Fixtures.root.appendingPathComponent("images/\($0)").path)
        }
        let grids = pixels.map { (rows: $0.gridH / 2, columns: $0.gridW / 2) }
        let (positions, _) = try Qwen2VLModel.ropeIndex(ids: p.input_ids, imageToken: model.configuration.imageTokenID, grids: grids)
        let embeddings = try model.inputEmbeddings(ids: p.input_ids, images: pixels.map { model.imageFeatures($0) })
        let cache = model.decoder.makeCache(capacity: p.input_ids.count + steps)
        var logits: Tensor
        if let split {
            _ = model.decoder.forward(
                embeddings.rows(0, split).copy(), cache: cache, rotaryPositions: Array(positions[..<split]))
            logits = model.decoder.forward(
                embeddings.rows(split, embeddings.rows - split).copy(), cache: cache, rotaryPositions: Array(positions[split...]))
        } else {
            logits = model.decoder.forward(embeddings, cache: cache, rotaryPositions: positions)
        }
        var ids: [Int] = []
        let first = logits.scalars
        for _ in 0..<steps {
            let s = logits.scalars
            let best = s.indices.max { s[$0] < s[$1] }!
            ids.append(best)
            logits = model.decoder.forward(model.decoder.embed([best]), cache: cache)
        }
        return (ids, first)
    }

    /// transformers#36013 / #43952: rope deltas reused across calls or generates. Image A then image B
    /// (another grid) on one model instance each give what a fresh run gives (the delta lives in the
    /// request's cache, not in the model).
    func testNoStaleRopeDeltaAcrossRequests() throws {
        let square = try run("square", steps: 8)
        let tall = try run("tall", steps: 8)
        let golden = Dictionary(uniqueKeysWithValues: Self.golden.prompts.map { ($0.label, $0) })
        XCTAssertEqual(square.ids, Array(golden["square"]!.greedy_ids.prefix(8)))
        XCTAssertEqual(tall.ids, Array(golden["tall"]!.greedy_ids.prefix(8)))
        XCTAssertEqual(try run("square", steps: 8).ids, square.ids)
    }

    /// mlx-vlm#1527 / #1619: a prefill split in two calls (here inside the text after the image, and
    /// right after the image) keeps the delta: the same logits and ids as one call.
    func testSplitPrefillKeepsTheDelta() throws {
        let p = Self.golden.prompts.first { $0.label == "wide" }!
        let whole = try run("wide", steps: 16)
        let lastImage = p.input_ids.lastIndex(of: Self.model.configuration.imageTokenID)!
        for split in [lastImage + 1, lastImage + 4] {
            let parts = try run("wide", steps: 16, split: split)
            XCTAssertEqual(parts.ids, whole.ids, "split at \(split)")
            XCTAssertLessThan(zip(parts.logits, whole.logits).map { abs($0 - $1) }.max()!, 1e-4)
        }
        XCTAssertEqual(whole.ids, Array(p.greedy_ids.prefix(16)))
    }
}
