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

    func assertSpecError(
        _ text: String, shape: DecoderShape? = nil, _ expected: PruningSpecError,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(
            try {
                let spec = try PruningSpec(parsing: text)
                if let shape { _ = try spec.resolve(for: shape) }
            }(), text, file: file, line: line
        ) {
            XCTAssertEqual($0 as? PruningSpecError, expected, file: file, line: line)
        }
    }

    // MARK: YOPO specs

    func testParsesAndResolves() throws {
        XCTAssertEqual(try PruningSpec(parsing: " none "), PruningSpec.none)
        XCTAssertNil(try PruningSpec(parsing: "none").resolve(for: .llava15_7B))
        XCTAssertEqual(try PruningSpec(parsing: "yopo-25"), .preset("yopo-25"))
        let spec = try PruningSpec(parsing: "yopo:window=5,layers=16,heads-keep=16,ffn=2")
        XCTAssertEqual(spec.description, "yopo:window=5,layers=16,heads-keep=16,ffn=2")
        let plan = try XCTUnwrap(try spec.resolve(for: .llava15_7B))
        XCTAssertEqual(plan.window, 5)
        XCTAssertEqual(plan.keptLayers, 16)
        XCTAssertEqual(plan.visualFFNWidth, 5504)
        XCTAssertEqual(
            (0..<32).map { plan.keptHeads(layer: $0).count },
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

    /// `heads-scope`: YOPO's pruning (visual, the default) or the ablation (all rows), as data the layer reads.
    func testHeadsScope() throws {
        let path = try writeMask([[true, true, true, true], [true, false, true, false], [false, false, false, true]], in: scratch)
        let visual = try XCTUnwrap(try PruningSpec(parsing: "yopo:heads=\(path)").resolve(for: tinyShape))
        XCTAssertEqual(visual.headsScope, .visual)
        XCTAssertEqual(visual.layerPlans.map(\.textHeads), [nil, nil, nil])
        let all = try PruningSpec(parsing: "yopo:heads=\(path),layers=2,heads-scope=all")
        XCTAssertEqual(all.description, "yopo:layers=2,heads=\(path),heads-scope=all")
        let plan = try XCTUnwrap(try all.resolve(for: tinyShape))
        XCTAssertEqual(plan.headsScope, .all)
        // The mask row in every layer, layers past K included (the mask is read afresh per layer).
        XCTAssertEqual(plan.layerPlans.map(\.textHeads), [[0, 1, 2, 3], [0, 2], [3]])
        XCTAssertEqual(plan.layerPlans.map(\.visualHeads), [[0, 1, 2, 3], [0, 2], [3]])
        XCTAssertEqual((0..<4).map { plan.layerPlans[1].headDoesTextWork($0) }, [true, false, true, false])
        XCTAssertTrue(LayerPlan.full.headDoesTextWork(3))
        // An explicit visual scope is the default one.
        XCTAssertEqual(try PruningSpec(parsing: "yopo:heads=\(path),heads-scope=visual"), try PruningSpec(parsing: "yopo:heads=\(path)"))
        assertSpecError(
            "yopo:heads=\(path),heads-scope=text",
            .invalidField(
                field: "heads-scope",
                reason:
                    "'text' is not a scope; allowed: visual (default: pruned heads do no visual work) or all (the ablation: no text work either)"
            ))
        assertSpecError(
            "yopo:layers=2,heads-scope=all",
            .invalidField(field: "heads-scope", reason: "needs a head mask (heads=PATH.npy or heads-keep=N)"))
    }

    func testWindowMustBeOddAndPositive() {
        let allowed = "allowed: an odd integer in [1, 999]"
        assertSpecError("yopo:window=4", .invalidField(field: "window", reason: "4 is even; \(allowed)"))
        assertSpecError("yopo:window=0", .invalidField(field: "window", reason: "0 is below 1; \(allowed)"))
        assertSpecError("yopo:window=-3", .invalidField(field: "window", reason: "-3 is below 1; \(allowed)"))
        assertSpecError("yopo:window=five", .invalidField(field: "window", reason: "'five' is not an integer; \(allowed)"))
        assertSpecError("yopo:window=1001", .invalidField(field: "window", reason: "1001 is above 999; \(allowed)"))
        assertSpecError(
            "yopo:window=9223372036854775807",
            .invalidField(field: "window", reason: "9223372036854775807 is above 999; \(allowed)"))
        assertSpecError(
            "yopo:window=99999999999999999999",
            .invalidField(field: "window", reason: "99999999999999999999 is too large; \(allowed)"))
        assertSpecError(
            "yopo:window=-99999999999999999999",
            .invalidField(field: "window", reason: "-99999999999999999999 is too small; \(allowed)"))
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo:window=999").resolve(for: tinyShape)).window, 999)
    }

    func testLayersOutsideRange() {
        assertSpecError(
            "yopo:layers=33", shape: .llava15_7B,
            .invalidField(field: "layers", reason: "33 is outside [0, 32] (this model has 32 layers)"))
        assertSpecError(
            "yopo:layers=-1", shape: .llava15_7B,
            .invalidField(field: "layers", reason: "-1 is outside [0, 32] (this model has 32 layers)"))
        assertSpecError(
            "yopo:layers=4", shape: tinyShape, .invalidField(field: "layers", reason: "4 is outside [0, 3] (this model has 3 layers)"))
        assertSpecError(
            "yopo:layers=9223372036854775807", shape: tinyShape,
            .invalidField(field: "layers", reason: "9223372036854775807 is outside [0, 3] (this model has 3 layers)"))
    }

    func testMaskShapeMismatch() throws {
        let wrong = try writeMask([[true, false], [false, true]], in: scratch, name: "2x2.npy")
        assertSpecError(
            "yopo:heads=\(wrong)", shape: tinyShape,
            .invalidField(field: "heads", reason: "mask shape [2, 2] does not match the model's [3, 4] (layers, heads)"))
        // An official 7B mask on the 13B model.
        assertSpecError(
            "yopo:heads-keep=16", shape: .llava15_13B,
            .invalidField(
                field: "heads-keep",
                reason: "no official mask keeps about 16 heads per layer of this 40 layers × 40 heads model; allowed: 5, 10, 20 or 30"))
        assertSpecError(
            "yopo:heads-keep=12", shape: .llava15_7B,
            .invalidField(
                field: "heads-keep",
                reason: "no official mask keeps about 12 heads per layer of this 32 layers × 32 heads model; allowed: 8, 16 or 24"))
        assertSpecError(
            "yopo:heads-keep=8", shape: tinyShape,
            .invalidField(
                field: "heads-keep",
                reason:
                    "official masks exist for LLaVA-1.5-7B (32 layers × 32 heads: heads-keep 8, 16 or 24) and LLaVA-1.5-13B (40 layers × 40 heads: 5, 10, 20 or 30), and this model has 3 layers × 4 heads; give heads=PATH.npy, a [3, 4] mask, instead"
            ))
        assertSpecError(
            "yopo:heads-keep=0",
            .invalidField(
                field: "heads-keep", reason: "0 is below 1; allowed: 8, 16 or 24 on LLaVA-1.5-7B, 5, 10, 20 or 30 on LLaVA-1.5-13B"))
        assertSpecError("yopo:heads=a.npy,heads-keep=16", .invalidField(field: "heads", reason: "give heads or heads-keep, not both"))
    }

    func testFFNBelowOne() {
        let allowed = "allowed: a number ≥ 1, at most the model's FFN width"
        assertSpecError("yopo:ffn=0.5", .invalidField(field: "ffn", reason: "0.5 is below 1; \(allowed)"))
        assertSpecError("yopo:ffn=0", .invalidField(field: "ffn", reason: "0 is below 1; \(allowed)"))
        assertSpecError("yopo:ffn=-2", .invalidField(field: "ffn", reason: "-2 is below 1; \(allowed)"))
        assertSpecError("yopo:ffn=x", .invalidField(field: "ffn", reason: "'x' is not a number; \(allowed)"))
        assertSpecError("yopo:ffn=nan", .invalidField(field: "ffn", reason: "'nan' is not a finite number; \(allowed)"))
        assertSpecError("yopo:ffn=inf", .invalidField(field: "ffn", reason: "'inf' is not a finite number; \(allowed)"))
        assertSpecError("yopo:ffn=1e400", .invalidField(field: "ffn", reason: "'1e400' is not a finite number; \(allowed)"))
        assertSpecError(
            "yopo:ffn=100", shape: tinyShape,
            .invalidField(field: "ffn", reason: "100 leaves no FFN channel of 64; allowed: a number in [1, 64]"))
        assertSpecError(
            "yopo:ffn=1e300", shape: tinyShape,
            .invalidField(field: "ffn", reason: "1e+300 leaves no FFN channel of 64; allowed: a number in [1, 64]"))
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo:ffn=64").resolve(for: tinyShape)).visualFFNWidth, 1)
    }

    func testUnknownFieldsAndSyntax() {
        assertSpecError(
            "yopo:stride=2", .invalidField(field: "stride", reason: "unknown field (window, layers, heads, heads-keep, ffn, heads-scope)"))
        assertSpecError("yopo:", .syntax("yopo: needs at least one of window, layers, heads, heads-keep, ffn, heads-scope"))
        assertSpecError(
            "yopo:window",
            .invalidField(
                field: "window", reason: "has no value; write window=VALUE (allowed: an odd integer in [1, 999])"))
        assertSpecError(
            "yopo:layers=",
            .invalidField(
                field: "layers", reason: "has no value; write layers=VALUE (allowed: an integer from 0 to the model's layer count)"))
        assertSpecError(
            "yopo:=5", .syntax("'=5' has no field name before = (fields of yopo: window, layers, heads, heads-keep, ffn, heads-scope)"))
        assertSpecError(
            "yopo:speed", .invalidField(field: "speed", reason: "unknown field (window, layers, heads, heads-keep, ffn, heads-scope)"))
        assertSpecError("magic:x=1", .syntax("unknown method 'magic' (yopo, fastv, pdrop, sparsevlm)"))
        assertSpecError("YOPO:window=5", .syntax("unknown method 'YOPO' (yopo, fastv, pdrop, sparsevlm; methods are lowercase)"))
        assertSpecError(
            "yopo-50",
            .syntax(
                "'yopo-50' is not none, a preset (yopo-25, yopo-12) or method:key=value (methods: yopo, fastv, pdrop, sparsevlm)"))
        assertSpecError(
            "yopo",
            .syntax(
                "yopo needs fields, e.g. yopo:window=5,layers=16,ffn=2 (fields: window, layers, heads, heads-keep, ffn, heads-scope), or a preset (yopo-25, yopo-12)"
            ))
        assertSpecError("none:window=5", .syntax("none takes no fields; write none"))
        assertSpecError(":window=5", .syntax("':window=5' has no method before ':' (methods: yopo, fastv, pdrop, sparsevlm)"))
    }

    func testPresetsOnTheWrongShape() {
        let fits = "the preset is defined for LLaVA-1.5-7B (32 layers × 32 heads) and LLaVA-1.5-13B (40 layers × 40 heads)"
        assertSpecError(
            "yopo-25", shape: tinyShape,
            .doesNotFit(
                spec: "yopo-25",
                reason:
                    "\(fits), and this model has 3 layers × 4 heads; the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=2,ffn=2"
            ))
        assertSpecError(
            "yopo-12", shape: DecoderShape(numHiddenLayers: 32, numAttentionHeads: 40, intermediateSize: 11008),
            .doesNotFit(
                spec: "yopo-12",
                reason:
                    "\(fits), and this model has 32 layers × 40 heads; the fields window, layers and ffn work on any model, e.g. yopo:window=5,layers=8,ffn=2"
            ))
        // The suggested fields do run on that model.
        XCTAssertEqual(try XCTUnwrap(try PruningSpec(parsing: "yopo:window=5,layers=2,ffn=2").resolve(for: tinyShape)).keptLayers, 2)
        XCTAssertEqual(
            PruningSpecError.doesNotFit(spec: "yopo-25", reason: "r").description, "prune spec yopo-25 does not fit this model: r")
    }

    // MARK: baselines

    func testBaselineSpecs() throws {
        XCTAssertNil(try BaselineSpec.parse("yopo-25"))
        XCTAssertNil(try BaselineSpec.parse("yopo:window=5"))
        XCTAssertEqual(try BaselineSpec.parse("fastv"), .fastV(FastVSettings(k: 2, removalRatio: 0.5)))
        XCTAssertEqual(try BaselineSpec.parse("fastv:k=3,r=0.75"), .fastV(FastVSettings(k: 3, removalRatio: 0.75)))
        XCTAssertEqual(try BaselineSpec.parse("fastv:k=2,keep=166"), .fastV(FastVSettings(k: 2, keep: 166)))
        XCTAssertEqual(try BaselineSpec.parse("pdrop"), .pyramidDrop(PyramidDropSettings(layers: [8, 16, 24], ratio: 0.5)))
        XCTAssertEqual(
            try BaselineSpec.parse("pdrop:layers=2/6/12,ratio=0.25"), .pyramidDrop(PyramidDropSettings(layers: [2, 6, 12], ratio: 0.25)))
        XCTAssertEqual(try BaselineSpec.parse("sparsevlm"), .sparseVLM(try SparseVLMSettings(tokens: 192)))
        XCTAssertEqual(try BaselineSpec.parse("sparsevlm:tokens=64"), .sparseVLM(SparseVLMSettings(layers: [2, 6, 15], keep: [66, 30, 17])))
        XCTAssertEqual(
            try BaselineSpec.parse("sparsevlm:layers=2/6/15,keep=309/204/113"),
            .sparseVLM(SparseVLMSettings(layers: [2, 6, 15], keep: [309, 204, 113])))
        // Descriptions round-trip.
        for text in ["fastv:k=2,r=0.5", "fastv:k=2,keep=166", "pdrop:layers=8/16/24,ratio=0.5", "sparsevlm:layers=2/6/15,keep=300/200/110"]
        {
            XCTAssertEqual(try BaselineSpec.parse(text)?.description, text)
        }
    }

    func testBaselineSpecErrors() {
        func fails(_ text: String, _ expected: PruningSpecError, line: UInt = #line) {
            XCTAssertThrowsError(try BaselineSpec.parse(text), text, line: line) {
                XCTAssertEqual($0 as? PruningSpecError, expected, line: line)
            }
        }
        let k = "allowed: an integer ≥ 1 below the model's layer count (default 2)"
        let r = "allowed: a number in [0, 1], the fraction of image tokens removed (default 0.5)"
        fails("fastv:k=-1", .invalidField(field: "k", reason: "-1 is negative; \(k)"))
        fails("fastv:k=99999999999999999999", .invalidField(field: "k", reason: "99999999999999999999 is too large; \(k)"))
        fails("fastv:k=2.5", .invalidField(field: "k", reason: "'2.5' is not an integer; \(k)"))
        fails("fastv:r=1.5", .invalidField(field: "r", reason: "1.5 is outside [0, 1]; \(r)"))
        fails("fastv:r=-0.25", .invalidField(field: "r", reason: "-0.25 is outside [0, 1]; \(r)"))
        fails("fastv:r=nan", .invalidField(field: "r", reason: "'nan' is not a finite number; \(r)"))
        fails("fastv:r=50%", .invalidField(field: "r", reason: "'50%' is not a number; \(r)"))
        fails("fastv:r=0.5,keep=100", .invalidField(field: "r", reason: "give r or keep, not both"))
        fails(
            "fastv:keep=-3",
            .invalidField(field: "keep", reason: "-3 is below 0; allowed: an integer ≥ 0, the image tokens kept (instead of r)"))
        fails("fastv:q=1", .invalidField(field: "q", reason: "unknown field (k, r, keep)"))
        fails("fastv:k=2,k=3", .invalidField(field: "k", reason: "given twice (k=2 and k=3); give each field once"))
        fails("fastv:k", .invalidField(field: "k", reason: "has no value; write k=VALUE (\(k))"))
        fails(
            "fastv:k=2,",
            .syntax(
                "'fastv:k=2,' has an empty field (a leading, trailing or doubled comma); write fastv:key=value,key=value (fields: k, r, keep)"
            ))
        fails(
            "fastv:k=2,,r=0.5",
            .syntax(
                "'fastv:k=2,,r=0.5' has an empty field (a leading, trailing or doubled comma); write fastv:key=value,key=value (fields: k, r, keep)"
            ))
        fails("fastv:", .syntax("'fastv:' has no fields; write fastv for its defaults or give fields (k, r, keep)"))
        fails("fastv:k= 2", .invalidField(field: "k", reason: "'k= 2' contains whitespace; write k=2 (a prune spec has no spaces)"))
        fails("fastv:r =0.5", .invalidField(field: "r", reason: "'r =0.5' contains whitespace; write r=0.5 (a prune spec has no spaces)"))
        let layers = "allowed: increasing integers ≥ 1 below the model's layer count, separated by / (default 8/16/24)"
        fails("pdrop:layers=16/8", .invalidField(field: "layers", reason: "16/8 does not increase; \(layers)"))
        fails("pdrop:layers=8/8", .invalidField(field: "layers", reason: "8/8 does not increase; \(layers)"))
        fails("pdrop:layers=0/8", .invalidField(field: "layers", reason: "0/8 starts below 1; \(layers)"))
        fails(
            "pdrop:layers=8/x",
            .invalidField(
                field: "layers", reason: "'8/x' is not a /-separated list of integers ('x' is not an integer); \(layers)"))
        fails("pdrop:layers=8/16/", .invalidField(field: "layers", reason: "'8/16/' has an empty entry; \(layers)"))
        fails(
            "pdrop:layers=8/99999999999999999999",
            .invalidField(field: "layers", reason: "entry 99999999999999999999 is too large; \(layers)"))
        let ratio = "allowed: a number in (0, 1], the fraction kept at each boundary (default 0.5)"
        fails("pdrop:ratio=0", .invalidField(field: "ratio", reason: "0 is outside (0, 1]; \(ratio)"))
        fails("pdrop:ratio=1.01", .invalidField(field: "ratio", reason: "1.01 is outside (0, 1]; \(ratio)"))
        fails("pdrop:ratio=-inf", .invalidField(field: "ratio", reason: "'-inf' is not a finite number; \(ratio)"))
        fails(
            "pdrop:layers=8/16,keep=288",
            .invalidField(
                field: "keep",
                reason: "1 count (288) for 2 boundaries (8/16); give one count ≥ 0 per boundary"))
        fails("pdrop:keep=288/144/72,ratio=0.5", .invalidField(field: "ratio", reason: "give ratio or keep, not both"))
        fails(
            "pdrop:layers=8,layers=16", .invalidField(field: "layers", reason: "given twice (layers=8 and layers=16); give each field once")
        )
        fails(
            "sparsevlm:tokens=100",
            .invalidField(field: "tokens", reason: "100 has no v1.5 schedule; allowed: 192, 128 or 64 (the v1.5 schedules)"))
        fails(
            "sparsevlm:layers=2/6",
            .invalidField(
                field: "keep",
                reason: "missing: layers= needs keep= with one count per pruning layer (e.g. sparsevlm:layers=2/6/15,keep=300/200/110)"))
        fails(
            "sparsevlm:keep=300/200",
            .invalidField(
                field: "layers",
                reason: "missing: keep= needs layers= with one pruning layer per count (e.g. sparsevlm:layers=2/6/15,keep=300/200/110)"))
        fails(
            "sparsevlm:layers=2/6,keep=300/200/110",
            .invalidField(
                field: "keep",
                reason: "3 counts (300/200/110) for 2 pruning layers (2/6); give one count ≥ 0 per layer"))
        fails(
            "sparsevlm:layers=6/2,keep=1/1",
            .invalidField(
                field: "layers",
                reason:
                    "6/2 does not increase; allowed: increasing integers ≥ 0 separated by /, at most the model's layer count − 2, with keep="
            ))
        fails("sparsevlm:tokens=192,keep=1", .invalidField(field: "tokens", reason: "give tokens or layers + keep, not both"))
        fails(
            "sparsevlm:tokens=192,tokens=64",
            .invalidField(field: "tokens", reason: "given twice (tokens=192 and tokens=64); give each field once"))
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

/// Issue 11: bad specs and head masks give one line naming the field (or the spec) and what is allowed.
extension PruningSpecTests {
    /// A `.npy` file of `descr` and `shape` holding `payload` as its data.
    func writeNPY(_ name: String, descr: String, shape: String, payload: Data) throws -> String {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data += Data(header.utf8) + payload
        let url = scratch.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    func float64(_ values: [Double]) -> Data {
        values.reduce(into: Data()) { $0 += withUnsafeBytes(of: $1.bitPattern.littleEndian) { Data($0) } }
    }

    var expectedMask: String { "expected a .npy mask of 0/1 or bool entries with shape [layers, heads] = [3, 4]" }

    func testEmptySpecIsAnError() {
        let message = PruningSpecError.syntax(
            "empty prune spec; use none, a preset (yopo-25, yopo-12) or method:key=value such as yopo:window=5,layers=16,ffn=2 (methods: yopo, fastv, pdrop, sparsevlm)"
        )
        assertSpecError("", message)
        assertSpecError("  ", message)
        assertSpecError("\n", message)
        XCTAssertEqual(try PruningSpec(parsing: "none\n"), PruningSpec.none)
    }

    /// Repeated fields are refused for yopo as for the baselines (no last-one-wins).
    func testDuplicateYOPOFields() {
        assertSpecError(
            "yopo:window=3,window=5", .invalidField(field: "window", reason: "given twice (window=3 and window=5); give each field once"))
        assertSpecError(
            "yopo:ffn=2,layers=1,ffn=2", .invalidField(field: "ffn", reason: "given twice (ffn=2 and ffn=2); give each field once"))
        assertSpecError(
            "yopo:heads=a.npy,heads=b.npy",
            .invalidField(field: "heads", reason: "given twice (heads=a.npy and heads=b.npy); give each field once"))
    }

    func testCommasSpacesAndControlCharacters() throws {
        assertSpecError(
            "yopo:window=5,",
            .syntax(
                "'yopo:window=5,' has an empty field (a leading, trailing or doubled comma); write yopo:key=value,key=value (fields: window, layers, heads, heads-keep, ffn, heads-scope)"
            ))
        assertSpecError(
            "yopo:,window=5",
            .syntax(
                "'yopo:,window=5' has an empty field (a leading, trailing or doubled comma); write yopo:key=value,key=value (fields: window, layers, heads, heads-keep, ffn, heads-scope)"
            ))
        assertSpecError(
            "yopo:window = 5",
            .invalidField(field: "window", reason: "'window = 5' contains whitespace; write window=5 (a prune spec has no spaces)"))
        // A heads path may contain spaces, not start or end with one.
        assertSpecError(
            "yopo:heads= m.npy",
            .invalidField(field: "heads", reason: "'heads= m.npy' contains whitespace; write heads=m.npy (a prune spec has no spaces)"))
        let spaced = try writeMask(
            [[true, true, true, true], [true, true, true, true], [true, true, true, false]], in: scratch, name: "my mask.npy")
        XCTAssertEqual(
            try XCTUnwrap(try PruningSpec(parsing: "yopo:heads=\(spaced)").resolve(for: tinyShape)).keptHeads(layer: 2), [0, 1, 2])
        // A line break typed into a spec is shown escaped: the message stays one line.
        XCTAssertThrowsError(try PruningSpec(parsing: "fastv:k=2\n3")) {
            XCTAssertEqual("\($0)", "invalid prune spec field k: 'k=2\\n3' contains whitespace; write k=23 (a prune spec has no spaces)")
        }
        XCTAssertThrowsError(try PruningSpec(parsing: "fa\u{1b}[31mstv:k=2")) {
            XCTAssertEqual("\($0)", "invalid prune spec: unknown method 'fa\\u{1b}[31mstv' (yopo, fastv, pdrop, sparsevlm)")
        }
        XCTAssertEqual(BudgetError.invalidBudget("'25%\n' is bad").description, "invalid budget: '25%\\n' is bad")
    }

    /// What `heads=` points to: missing (the path as written), a directory, a device, a pipe, a file too
    /// large for the model's mask, not a .npy.
    func testMaskFileKinds() throws {
        assertSpecError(
            "yopo:heads=\(scratch.path)/missing.npy", shape: tinyShape,
            .invalidField(field: "heads", reason: "no file '\(scratch.path)/missing.npy'; \(expectedMask)"))
        XCTAssertThrowsError(try PruningSpec(parsing: "yopo:heads=masks/m.npy", baseDirectory: scratch.path).resolve(for: tinyShape)) {
            XCTAssertEqual($0 as? PruningSpecError, .invalidField(field: "heads", reason: "no file 'masks/m.npy'; \(expectedMask)"))
        }
        assertSpecError(
            "yopo:heads=\(scratch.path)", shape: tinyShape,
            .invalidField(field: "heads", reason: "'\(scratch.path)' is a directory, not a file; \(expectedMask)"))
        assertSpecError(
            "yopo:heads=/dev/zero", shape: tinyShape,
            .invalidField(field: "heads", reason: "'/dev/zero' is a device, not a regular file; \(expectedMask)"))
        let fifo = scratch.appendingPathComponent("fifo.npy").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertSpecError(
            "yopo:heads=\(fifo)", shape: tinyShape,
            .invalidField(field: "heads", reason: "'\(fifo)' is a pipe, not a regular file; \(expectedMask)"))
        // A sparse 1 GiB file is refused by its size before anything is read.
        let huge = scratch.appendingPathComponent("huge.npy")
        XCTAssertTrue(FileManager.default.createFile(atPath: huge.path, contents: nil))
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        assertSpecError(
            "yopo:heads=\(huge.path)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(huge.path)' is 1073741824 bytes, more than a [3, 4] mask takes (at most 65644); \(expectedMask)"
            ))
        let text = scratch.appendingPathComponent("text.npy")
        try Data("0 1 1 1\n".utf8).write(to: text)
        assertSpecError(
            "yopo:heads=\(text.path)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(text.path)' cannot be read as .npy: not a .npy file (bad magic); \(expectedMask)"))
        XCTAssertEqual(YOPOSpec(headsPath: "x").headsPath, "x")
    }

    /// Only 0/1 (or bools) are a mask; the first other entry is named by layer and head.
    func testMaskEntriesMustBeZeroOrOne() throws {
        var values = [Double](repeating: 1, count: 12)
        values[6] = .nan
        let nan = try writeNPY("nan.npy", descr: "<f8", shape: "(3, 4)", payload: float64(values))
        assertSpecError(
            "yopo:heads=\(nan)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(nan)': entry [1, 2] (layer 1, head 2) is nan; a mask holds only 0/1 or true/false"))
        values[6] = 1
        values[11] = 0.5
        let half = try writeNPY("half.npy", descr: "<f8", shape: "(3, 4)", payload: float64(values))
        assertSpecError(
            "yopo:heads=\(half)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(half)': entry [2, 3] (layer 2, head 3) is 0.5; a mask holds only 0/1 or true/false"))
        let two = try writeNPY("two.npy", descr: "|u1", shape: "(3, 4)", payload: Data([1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))
        assertSpecError(
            "yopo:heads=\(two)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(two)': entry [0, 1] (layer 0, head 1) is 2; a mask holds only 0/1 or true/false"))
        // 0/1 floats are a mask.
        let ok = try writeNPY("ok.npy", descr: "<f8", shape: "(3, 4)", payload: float64([1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]))
        let plan = try XCTUnwrap(try PruningSpec(parsing: "yopo:heads=\(ok)").resolve(for: tinyShape))
        XCTAssertEqual((0..<3).map { plan.keptHeads(layer: $0) }, [[0, 2, 3], [0, 1, 2, 3], [3]])
    }

    func testMaskShapes() throws {
        let flat = try writeNPY("flat.npy", descr: "|b1", shape: "(12,)", payload: Data(repeating: 1, count: 12))
        assertSpecError(
            "yopo:heads=\(flat)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(flat)' has shape [12] (1 dimension), the model needs [3, 4] (layers, heads)"))
        let cube = try writeNPY("cube.npy", descr: "|b1", shape: "(3, 4, 1)", payload: Data(repeating: 1, count: 12))
        assertSpecError(
            "yopo:heads=\(cube)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "'\(cube)' has shape [3, 4, 1] (3 dimensions), the model needs [3, 4] (layers, heads)"))
        let transposed = try writeNPY("t.npy", descr: "|b1", shape: "(4, 3)", payload: Data(repeating: 1, count: 12))
        assertSpecError(
            "yopo:heads=\(transposed)", shape: tinyShape,
            .invalidField(
                field: "heads", reason: "mask shape [4, 3] does not match the model's [3, 4] (layers, heads)"))
    }

    /// Baselines that parse but do not fit the decoder: the message names the field the user gave, or,
    /// for a method's defaults, the spec and the fields to pass instead.
    func testBaselinesThatDoNotFitTheModel() throws {
        func unfit(_ text: String, layers: Int = 3, _ expected: PruningSpecError, line: UInt = #line) {
            XCTAssertThrowsError(
                try PruningSpec(parsing: text).makePruner(
                    for: DecoderShape(numHiddenLayers: layers, numAttentionHeads: 4, intermediateSize: 64)), text, line: line
            ) {
                XCTAssertEqual($0 as? PruningSpecError, expected, line: line)
            }
        }
        unfit(
            "sparsevlm",
            .doesNotFit(
                spec: "sparsevlm:tokens=192",
                reason:
                    "it prunes after layers 2/6/15 (the v1.5 schedule), which needs at least 17 layers, and this model has 3; pass layers= (increasing, within [0, 1]) and keep= (one count per layer) instead, e.g. sparsevlm:layers=0/1,keep=300/110"
            ))
        unfit(
            "sparsevlm:tokens=64", layers: 8,
            .doesNotFit(
                spec: "sparsevlm:tokens=64",
                reason:
                    "it prunes after layers 2/6/15 (the v1.5 schedule), which needs at least 17 layers, and this model has 8; pass layers= (increasing, within [0, 6]) and keep= (one count per layer) instead, e.g. sparsevlm:layers=1/2/4,keep=66/30/17"
            ))
        // The example: layers the user gave are blamed, not tokens.
        unfit(
            "sparsevlm:layers=0/5,keep=10/5",
            .invalidField(
                field: "layers", reason: "0/5 must increase within [0, 1] for a 3-layer model (a pruning layer needs a later layer)"))
        unfit(
            "pdrop",
            .doesNotFit(
                spec: "pdrop:layers=8/16/24,ratio=0.5",
                reason:
                    "its boundaries 8/16/24 (the default) need at least 25 layers, and this model has 3; pass layers= (increasing, within [1, 2]), e.g. pdrop:layers=1/2,ratio=0.5"
            ))
        unfit(
            "pdrop:layers=1/3",
            .invalidField(
                field: "layers", reason: "1/3 must increase within [1, 2] for a 3-layer model (a boundary needs a later layer to rank with)"
            ))
        unfit("fastv:k=3", .invalidField(field: "k", reason: "3 is outside [1, 2] for a 3-layer model"))
        unfit(
            "fastv:k=0",
            .invalidField(
                field: "k", reason: "0 is outside [1, 2] for a 3-layer model (k=0, dropping before the first layer, is not implemented)"))
        unfit(
            "fastv", layers: 1,
            .doesNotFit(
                spec: "fastv:k=2,r=0.5",
                reason: "FastV needs a model of at least 2 layers (it prunes after layer k and before the last), and this one has 1"))
        // The suggested replacements run.
        XCTAssertNotNil(try PruningSpec(parsing: "sparsevlm:layers=0/1,keep=300/110").makePruner(for: tinyShape))
        XCTAssertNotNil(try PruningSpec(parsing: "pdrop:layers=1/2,ratio=0.5").makePruner(for: tinyShape))
    }

    /// `PruningSpec.examples`, for `generate --help`: every method once, each example parses to that method
    /// (its description parses back to the same spec); all run on LLaVA-1.5-7B.
    func testExamplesParse() throws {
        XCTAssertEqual(PruningSpec.examples.map(\.method), ["none", "yopo", "yopo-25", "yopo-12", "fastv", "pdrop", "sparsevlm"])
        for example in PruningSpec.examples {
            let spec = try PruningSpec(parsing: example.example)
            XCTAssertEqual(try PruningSpec(parsing: spec.description), spec)
            XCTAssertTrue(spec.description.hasPrefix(example.method), example.example)
            XCTAssertFalse(example.description.isEmpty)
            _ = try spec.resolve(for: .llava15_7B)
            _ = try spec.makePruner(for: .llava15_7B)
        }
    }

    /// `--budget` text: each bad form names the value and what is allowed.
    func testBudgetParsing() throws {
        func bad(_ text: String, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try FLOPsBudget(parsing: text), line: line) { XCTAssertEqual("\($0)", message, line: line) }
        }
        bad("nan%", "invalid budget: 'nan%' is not a percentage (e.g. 25%)")
        bad("inf", "invalid budget: 'inf' is not a percentage (25%) or a fraction (0.25)")
        bad("1e400", "invalid budget: '1e400' is not a percentage (25%) or a fraction (0.25)")
        bad("0%", "invalid budget: '0%' is outside (0%, 100%]")
        bad("25", "invalid budget: '25' is outside (0, 1] (write 25% for a percentage)")
        bad("99999999999999999999", "invalid budget: '99999999999999999999' is outside (0, 1]")
        bad("", "invalid budget: '' is not a percentage (25%) or a fraction (0.25)")
        XCTAssertEqual(try FLOPsBudget(parsing: "12.5%").fraction, 0.125)
    }
}
