import Foundation
import XCTest
import YOPO
import YOPOCore
import YOPOModels
import YOPOPruning

/// Sizes from options and configs become counts and allocations only through checked arithmetic:
/// the FLOPs model refuses sizes whose products would leave 64 bits, and `bench`'s memory estimates
/// match what the random-weight constructors allocate.
final class SizeBoundsTests: XCTestCase {
    func testGridParsingRefusesProductsBeyondTheLimit() throws {
        XCTAssertEqual(try VisualGrid(parsing: "4096x4096"), VisualGrid(rows: 4096, columns: 4096))
        XCTAssertThrowsError(try VisualGrid(parsing: "4097x4096")) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("grid '4097x4096' has more than 16777216 cells"))
        }
        // rows · columns overflows Int: refused, not trapped.
        XCTAssertThrowsError(try VisualGrid(parsing: "9999999999x9999999999")) {
            XCTAssertEqual($0 as? FLOPsError, .invalidLayout("grid '9999999999x9999999999' has more than 16777216 cells"))
        }
        XCTAssertThrowsError(try VisualGrid(parsing: "99999999999999999999x1")) {
            XCTAssertEqual(
                $0 as? FLOPsError, .invalidLayout("grid '99999999999999999999x1' is not ROWSxCOLUMNS with positive sizes (e.g. 24x24)"))
        }
    }

    func testDimensionsWhoseProductsLeave64BitsAreRefused() throws {
        var huge = ModelDimensions.llava15_7B
        huge.text.hiddenSize = 1 << 40
        XCTAssertThrowsError(try FLOPsModel(huge)) {
            XCTAssertEqual($0 as? FLOPsError, .invalidDimensions("hidden_size 1099511627776 is above 16777216"))
        }
        var layers = ModelDimensions.llava15_7B
        layers.text.numHiddenLayers = 1 << 20
        XCTAssertThrowsError(try FLOPsModel(layers)) {
            XCTAssertEqual($0 as? FLOPsError, .invalidDimensions("num_hidden_layers 1048576 is above 65536"))
        }
        var patch = ModelDimensions.llava15_7B
        patch.vision.imageSize = 1 << 30
        patch.vision.patchSize = 1 << 30
        XCTAssertThrowsError(try FLOPsModel(patch)) {
            XCTAssertEqual($0 as? FLOPsError, .invalidDimensions("vision image_size 1073741824 is above 16777216"))
        }
        // Each size within its bound, their product not: d · H · hd = 2²⁴ · 2¹⁶ · 2²⁴.
        var wide = ModelDimensions.llava15_7B
        wide.text.hiddenSize = 1 << 24
        wide.text.numAttentionHeads = 1 << 16
        wide.text.numKeyValueHeads = 1 << 16
        wide.text.headDim = 1 << 24
        XCTAssertThrowsError(try FLOPsModel(wide)) {
            XCTAssertEqual(
                $0 as? FLOPsError,
                .invalidDimensions(
                    "one token's FLOPs would exceed 10¹⁵ (hidden_size 16777216, attention width 65536 × 16777216, intermediate_size 11008, vocab_size 32000)"
                ))
        }
        // The published models are far inside every bound.
        XCTAssertNoThrow(try FLOPsModel(.llava15_13B))
    }

    /// The estimate of the decoder's weights is exactly what `TextDecoder(randomWeightsFor:)` holds:
    /// its matrices (`weightBytes`) plus the fp32 norms.
    func testWeightEstimateEqualsTheRandomDecoder() throws {
        let config = LlamaConfiguration(
            hiddenSize: 64, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2,
            intermediateSize: 96, vocabSize: 100)
        for (dtype, shared) in [(DType.bf16, false), (DType.f32, false), (DType.bf16, true)] {
            let decoder = try TextDecoder(randomWeightsFor: config, dtype: dtype, sharedLayers: shared)
            let layers = shared ? 1 : 3
            let norms: Int = layers * 2 * 64 * 4 + 64 * 4
            // `weightBytes` counts a shared set once per layer; it is stored once.
            let embeddings: Int = 2 * 100 * 64 * dtype.byteSize
            let perLayer: Int = (decoder.weightBytes - embeddings) / 3
            let expected: Int = embeddings + layers * perLayer + norms
            XCTAssertEqual(
                ModelBenchmark.estimatedWeightBytes(decoder: config, dtype: dtype, sharedLayers: shared, vision: nil),
                expected, "\(dtype) shared \(shared)")
        }
    }

    /// 7B bf16 with distinct layers and the CLIP tower: 32 × 404,783,104 bytes of layers, 524,288,000 of
    /// embeddings and head, 16,384 of final norm, and 608,927,744 of tower (24 layers counted, an upper
    /// bound of the 23 computed) = 14,086,291,456 bytes.
    func testSevenBillionEstimate() throws {
        let t = ModelDimensions.llava15_7B.text
        let config = LlamaConfiguration(
            hiddenSize: t.hiddenSize, numHiddenLayers: t.numHiddenLayers,
            numAttentionHeads: t.numAttentionHeads, numKeyValueHeads: t.numKeyValueHeads,
            intermediateSize: t.intermediateSize, vocabSize: t.vocabSize)
        XCTAssertEqual(
            ModelBenchmark.estimatedWeightBytes(decoder: config, dtype: .bf16, sharedLayers: false, vision: .llavaDefault),
            14_086_291_456)
        // Run memory of the default prompt (641 tokens, 16 decode steps, 2 threads): the two KV caches
        // 2·32·2·657·4096·4, activations 641·(7·4096 + 4·4096 + 3·11008)·4, scores 2·64·657·4,
        // captures 33·31·657·4, the 1 GiB probe and 256 MiB.
        let caches: Int = 2 * 32 * 2 * 657 * 4096 * 4
        let activations: Int = 641 * (11 * 4096 + 3 * 11008) * 4
        let scores: Int = 2 * 64 * 657 * 4, captures: Int = 33 * 31 * 657 * 4
        XCTAssertEqual(
            ModelBenchmark.estimatedRunBytes(
                decoder: config.decoderSpec, promptTokens: 641, textTokens: 30, decodeTokens: 16,
                threads: 2, bandwidthProbe: true),
            caches + activations + scores + captures + (1 << 30) + (256 << 20))
        // Sizes whose products leave 64 bits give nil, not a trap.
        XCTAssertNil(
            ModelBenchmark.estimatedRunBytes(
                decoder: config.decoderSpec, promptTokens: Int.max / 2, textTokens: 30, decodeTokens: 16,
                threads: 2, bandwidthProbe: false))
    }
}
