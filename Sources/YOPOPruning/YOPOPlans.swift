import Foundation
import YOPOEngine

// YOPO's plan as the engine reads it: one `LayerPlan` per layer (METHOD.md §2–§3).

extension YOPOPlan {
    /// The layer plans: visual rows alive in layers `0..<K`; the head mask's row as the heads doing
    /// visual work (every layer, so simulate execution zeroes the pruned heads' visual outputs even
    /// after K) and, under `heads-scope=all`, as the heads doing text work too; the window's
    /// radius; the visual FFN width.
    public var layerPlans: [LayerPlan] {
        (0..<shape.numHiddenLayers).map { layer in
            let heads = headMask.map { mask in (0..<shape.numAttentionHeads).filter { mask[layer][$0] } }
            return LayerPlan(
                visualAlive: visualAlive(layer: layer), visualHeads: heads, neighbourRadius: windowRadius,
                visualFFNWidth: visualFFNWidth < shape.intermediateSize ? visualFFNWidth : nil,
                textHeads: headsScope == .all ? heads : nil)
        }
    }
}

/// How a decoder run treats visual rows: the engine's `DecoderPlan`, built from a method.
public typealias DecoderExecution = DecoderPlan

extension DecoderPlan {
    /// YOPO, compute-skipping semantics (the work is not done).
    public static func skip(_ plan: YOPOPlan) -> DecoderPlan { DecoderPlan(layers: plan.layerPlans, execution: .skip) }

    /// YOPO, the official release's simulated semantics (dense work, post-softmax masks).
    public static func simulate(_ plan: YOPOPlan) -> DecoderPlan { DecoderPlan(layers: plan.layerPlans, execution: .simulate) }

    /// A token-pruning baseline (FastV, PyramidDrop, SparseVLM) dropping visual rows between layers.
    public static func tokenPruning(_ pruner: TokenPruner) -> DecoderPlan { .rowHooks(pruner) }

    /// Dense without a plan, else the plan in `mode`; `simulated` picks whose official numerics
    /// simulate mode reproduces (the model family's: `VisionLanguageModel.simulatedSemantics`).
    public init(plan: YOPOPlan?, mode: YOPOMode, simulated: SimulatedSemantics = .llava) {
        guard let plan else {
            self = .dense
            return
        }
        self = mode == .skip ? .skip(plan) : .simulate(plan)
        self.simulated = simulated
    }
}
