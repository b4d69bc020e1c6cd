import Foundation
import YOPOModels
import YOPOPruning

extension ModelDimensions {
    /// The dimensions of a loaded checkpoint configuration. The vision layers computed follow
    /// `vision_feature_layer` (−2: all but the last). Throws `ModelError.invalidConfiguration` for a
    /// feature layer outside the tower.
    public init(_ c: LLaVAConfiguration, name: String) throws {
        let total = c.vision.numHiddenLayers
        let computed = c.visionFeatureLayer < 0 ? total + 1 + c.visionFeatureLayer : c.visionFeatureLayer
        guard computed >= 0 && computed <= total else {
            throw ModelError.invalidConfiguration("vision_feature_layer \(c.visionFeatureLayer) is outside the \(total)-layer vision tower")
        }
        self.init(
            name: name,
            text: Text(
                hiddenSize: c.text.hiddenSize, numHiddenLayers: c.text.numHiddenLayers,
                numAttentionHeads: c.text.numAttentionHeads, numKeyValueHeads: c.text.numKeyValueHeads,
                headDim: c.text.headDim, intermediateSize: c.text.intermediateSize, vocabSize: c.text.vocabSize),
            vision: Vision(
                hiddenSize: c.vision.hiddenSize, intermediateSize: c.vision.intermediateSize,
                numHiddenLayers: total, layersComputed: computed, patchSize: c.vision.patchSize,
                imageSize: c.vision.imageSize, dropsCLS: c.dropsCLS))
    }
}
