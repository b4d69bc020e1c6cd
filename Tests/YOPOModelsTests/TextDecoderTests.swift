import XCTest
import YOPOCore
import YOPOEngine

/// The engine's own checks on weights a family hands it: a shape that does not fit the spec is
/// named, with both shapes.
final class TextDecoderTests: XCTestCase {
    func testWeightsThatDoNotFitTheSpecAreNamed() throws {
        let spec = DecoderSpec(
            hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1, headDim: 4, intermediateSize: 16,
            vocabSize: 10)
        let good = try TextDecoder(randomWeightsFor: spec)
        XCTAssertEqual(good.spec.queryWidth, 8)
        XCTAssertEqual(good.spec.keyValueWidth, 4)
        var layer = good.layers[0]
        layer.kProj = WeightMatrix(randomRows: 8, columns: 8, dtype: .f32, scale: 0.02, seed: 1)
        XCTAssertThrowsError(
            try TextDecoder(spec: spec, embedTokens: good.embedTokens, layers: [layer], norm: good.norm, lmHead: good.lmHead)
        ) { error in
            XCTAssertEqual("\(error)", "decoder weight layers.0.k_proj has shape [8, 8], expected [4, 8]")
        }
        XCTAssertThrowsError(
            try TextDecoder(spec: spec, embedTokens: good.embedTokens, layers: [], norm: good.norm, lmHead: good.lmHead)
        ) { error in
            XCTAssertEqual("\(error)", "decoder weight layers has shape [0], expected [1]")
        }
    }
}
