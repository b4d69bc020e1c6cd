import Foundation
import XCTest
import YOPOPruning

/// `--prune` grammar: YOPO specs and presets (validated against a decoder shape) and the token-pruning
/// baselines the FLOPs model counts. Every error names its field.
final class PruningSpecTests: XCTestCase {
    var scratch: URL!
    let tinyShape = DecoderShape(numHiddenLayers: 3, numAttentionHeads: 4, intermediateSize: 64)

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func assertSpecError(_ text: String, shape: DecoderShape? = nil, _ expected: PruningSpecError,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try {
            let spec = try PruningSpec(parsing: text)
            if let shape { _ = try spec.resolve(for: shape) }
        }(), text, file: file, line: line) {
            XCTAssertEqual($0 as? PruningSpecError, expected, file: file, line: line)
        }
    }

    // MARK: YOPO specs

    func testParsesAndResolves() throws {
        XCTAssertEqual(try PruningSpec(parsing: " none "), PruningSpec.none)
        XCTAssertEqual(try PruningSpec(parsing: ""), PruningSpec.none)
        XCTAssertNil(try PruningSpec(parsing: "none").resolve(for: .llava15_7B))
        XCTAssertEqual(try PruningSpec(parsing: "yopo-25"), .preset("yopo-25"))
        let spec = try PruningSpec(parsing: "yopo:window=5,layers=16,heads-keep=16,ffn=2")
        XCTAssertEqual(spec.description, "yopo:window=5,layers=16,heads-keep=16,ffn=2")
        let plan = try XCTUnwrap(try spec.resolve(for: .llava15_7B))
        XCTAssertEqual(plan.window, 5)
        XCTAssertEqual(plan.keptLayers, 16)
        XCTAssertEqual(plan.visualFFNWidth, 5504)
        XCTAssertEqual((0..<32).map { plan.keptHeads(layer: $0).count },
                       [32, 32, 9, 5, 10, 4, 5, 15, 18, 13, 15, 20, 23, 24, 27, 23] + Array(repeating: 0, count: 16))
        // Presets: yopo-25 = w 5, K = L/2, the half-heads mask, r 2; yopo-12 with K = L/4.
        let p25 = try XCTUnwrap(try PruningSpec(parsing: "yopo-25").resolve(for: .llava15_13B))
        XCTAssertEqual([p25.window, p25.keptLayers, p25.visualFFNWidth], [5, 20, 6912])
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo-12").resolve(for: .llava15_7B)).keptLayers, 8)
        // Layers 0 and L are the edges of the range.
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo:layers=0").resolve(for: tinyShape)).keptLayers, 0)
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo:layers=3").resolve(for: tinyShape)).keptLayers, 3)
        // An .npy mask of the right shape.
        let path = try writeMask([[true, true, true, true], [true, false, true, false], [false, false, false, true]], in: scratch)
        let masked = try XCTUnwrap(try PruningSpec(parsing: "yopo:heads=\(path)").resolve(for: tinyShape))
        XCTAssertEqual((0..<3).map { masked.keptHeads(layer: $0) }, [[0, 1, 2, 3], [0, 2], [3]])
        XCTAssertEqual(YOPOCostProfile(plan: masked).keptHeads, [4, 2, 1])
    }

    func testWindowMustBeOddAndPositive() {
        assertSpecError("yopo:window=4", .invalidField(field: "window", reason: "4 must be an odd number ≥ 1"))
        assertSpecError("yopo:window=0", .invalidField(field: "window", reason: "0 must be an odd number ≥ 1"))
        assertSpecError("yopo:window=-3", .invalidField(field: "window", reason: "-3 must be an odd number ≥ 1"))
        assertSpecError("yopo:window=five", .invalidField(field: "window", reason: "'five' is not an integer"))
    }

    func testLayersOutsideRange() {
        assertSpecError("yopo:layers=33", shape: .llava15_7B, .invalidField(field: "layers", reason: "33 is outside [0, 32]"))
        assertSpecError("yopo:layers=-1", shape: .llava15_7B, .invalidField(field: "layers", reason: "-1 is outside [0, 32]"))
        assertSpecError("yopo:layers=4", shape: tinyShape, .invalidField(field: "layers", reason: "4 is outside [0, 3]"))
    }

    func testMaskShapeMismatch() throws {
        let wrong = try writeMask([[true, false], [false, true]], in: scratch, name: "2x2.npy")
        assertSpecError("yopo:heads=\(wrong)", shape: tinyShape,
                        .invalidField(field: "heads", reason: "mask shape [2, 2] does not match the model's [3, 4] (layers, heads)"))
        // An official 7B mask on the 13B model.
        assertSpecError("yopo:heads-keep=16", shape: .llava15_13B, .invalidField(
            field: "heads-keep",
            reason: "no official mask keeps about 16 heads per layer for a 40-layer × 40-head model (available: headmask_13b_10, headmask_13b_20, headmask_13b_30, headmask_13b_5, headmask_7b_16, headmask_7b_24, headmask_7b_8)"))
        XCTAssertThrowsError(try PruningSpec(parsing: "yopo:heads=\(scratch.path)/missing.npy").resolve(for: tinyShape)) {
            guard case .invalidField(let field, _)? = $0 as? PruningSpecError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "heads")
        }
        assertSpecError("yopo:heads=a.npy,heads-keep=16", .invalidField(field: "heads", reason: "give heads or heads-keep, not both"))
    }

    func testFFNBelowOne() {
        assertSpecError("yopo:ffn=0.5", .invalidField(field: "ffn", reason: "0.5 must be ≥ 1"))
        assertSpecError("yopo:ffn=0", .invalidField(field: "ffn", reason: "0.0 must be ≥ 1"))
        assertSpecError("yopo:ffn=x", .invalidField(field: "ffn", reason: "'x' is not a number"))
        assertSpecError("yopo:ffn=100", shape: tinyShape, .invalidField(field: "ffn", reason: "leaves no FFN channel of 64"))
    }

    func testUnknownFieldsAndSyntax() {
        assertSpecError("yopo:stride=2", .invalidField(field: "stride", reason: "unknown field (window, layers, heads, heads-keep, ffn)"))
        assertSpecError("yopo:", .syntax("yopo: needs at least one of window, layers, heads, heads-keep, ffn"))
        assertSpecError("yopo:window", .syntax("'window' is not key=value"))
        assertSpecError("magic:x=1", .syntax("unknown method magic (yopo, fastv, pdrop, sparsevlm)"))
        assertSpecError("yopo-50", .syntax("'yopo-50' is not a method:key=value list or a preset (none, yopo-12, yopo-25)"))
    }

    func testPresetsOnTheWrongShape() {
        assertSpecError("yopo-25", shape: tinyShape, .invalidField(
            field: "yopo-25",
            reason: "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and 13B (40 × 40); this model has 3 × 4"))
        assertSpecError("yopo-12", shape: DecoderShape(numHiddenLayers: 32, numAttentionHeads: 40, intermediateSize: 11008),
                        .invalidField(field: "yopo-12", reason: "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and 13B (40 × 40); this model has 32 × 40"))
    }

    // MARK: baselines

    func testBaselineSpecs() throws {
        XCTAssertNil(try BaselineSpec.parse("yopo-25"))
        XCTAssertNil(try BaselineSpec.parse("yopo:window=5"))
        XCTAssertEqual(try BaselineSpec.parse("fastv"), .fastV(FastVSettings(k: 2, removalRatio: 0.5)))
        XCTAssertEqual(try BaselineSpec.parse("fastv:k=3,r=0.75"), .fastV(FastVSettings(k: 3, removalRatio: 0.75)))
        XCTAssertEqual(try BaselineSpec.parse("fastv:k=2,keep=166"), .fastV(FastVSettings(k: 2, keep: 166)))
        XCTAssertEqual(try BaselineSpec.parse("pdrop"), .pyramidDrop(PyramidDropSettings(layers: [8, 16, 24], ratio: 0.5)))
        XCTAssertEqual(try BaselineSpec.parse("pdrop:layers=2/6/12,ratio=0.25"), .pyramidDrop(PyramidDropSettings(layers: [2, 6, 12], ratio: 0.25)))
        XCTAssertEqual(try BaselineSpec.parse("sparsevlm"), .sparseVLM(try SparseVLMSettings(tokens: 192)))
        XCTAssertEqual(try BaselineSpec.parse("sparsevlm:tokens=64"), .sparseVLM(SparseVLMSettings(layers: [2, 6, 15], keep: [66, 30, 17])))
        XCTAssertEqual(try BaselineSpec.parse("sparsevlm:layers=2/6/15,keep=309/204/113"),
                       .sparseVLM(SparseVLMSettings(layers: [2, 6, 15], keep: [309, 204, 113])))
        // Descriptions round-trip.
        for text in ["fastv:k=2,r=0.5", "fastv:k=2,keep=166", "pdrop:layers=8/16/24,ratio=0.5", "sparsevlm:layers=2/6/15,keep=300/200/110"] {
            XCTAssertEqual(try BaselineSpec.parse(text)?.description, text)
        }
    }

    func testBaselineSpecErrors() {
        func fails(_ text: String, _ expected: PruningSpecError, line: UInt = #line) {
            XCTAssertThrowsError(try BaselineSpec.parse(text), text, line: line) {
                XCTAssertEqual($0 as? PruningSpecError, expected, line: line)
            }
        }
        fails("fastv:k=-1", .invalidField(field: "k", reason: "-1 must be ≥ 0"))
        fails("fastv:r=1.5", .invalidField(field: "r", reason: "1.5 must be in [0, 1]"))
        fails("fastv:r=0.5,keep=100", .invalidField(field: "r", reason: "give r or keep, not both"))
        fails("fastv:keep=-3", .invalidField(field: "keep", reason: "-3 must be ≥ 0"))
        fails("fastv:q=1", .invalidField(field: "q", reason: "unknown field (k, r, keep)"))
        fails("fastv:k=2,k=3", .invalidField(field: "k", reason: "given twice"))
        fails("fastv:k", .syntax("'k' is not key=value"))
        fails("pdrop:layers=16/8", .invalidField(field: "layers", reason: "[16, 8] must increase from ≥ 1"))
        fails("pdrop:layers=8/x", .invalidField(field: "layers", reason: "'8/x' is not a /-separated list of integers"))
        fails("pdrop:ratio=0", .invalidField(field: "ratio", reason: "0.0 must be in (0, 1]"))
        fails("sparsevlm:tokens=100", .invalidField(field: "tokens", reason: "100 has no v1.5 schedule (192, 128, 64)"))
        fails("sparsevlm:layers=2/6", .invalidField(field: "keep", reason: "give one keep count per pruning layer"))
        fails("sparsevlm:tokens=192,keep=1", .invalidField(field: "tokens", reason: "give tokens or layers + keep, not both"))
    }
}

extension PruningSpecTests {
    /// A plan cut to a layer slice keeps window and FFN width, clips K, and keeps the mask's first rows.
    func testPlanPrefix() throws {
        let full = try XCTUnwrap(try PruningSpec(parsing: "yopo-12").resolve(for: .llava15_7B))
        let sliced = full.prefix(layers: 4)
        XCTAssertEqual(sliced.shape.numHiddenLayers, 4)
        XCTAssertEqual(sliced.keptLayers, 4)  // K = 8 clipped
        XCTAssertEqual(sliced.window, full.window)
        XCTAssertEqual(sliced.visualFFNWidth, full.visualFFNWidth)
        XCTAssertEqual(sliced.headMask, full.headMask.map { Array($0.prefix(4)) })
        XCTAssertEqual(full.prefix(layers: 20).keptLayers, full.keptLayers)  // K = 8 < 20 stays
    }
}
