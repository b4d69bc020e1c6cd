import Foundation

/// What one decoder layer does with visual rows: the data a pruning method hands the engine
/// (METHOD.md §2–§3). The engine reads it; it knows no method. `LayerPlan.full` prunes nothing.
public struct LayerPlan: Sendable, Equatable {
    /// Whether visual rows take part in this layer (YOPO's layer drop: false from layer K on).
    public var visualAlive: Bool
    /// Heads doing visual work (ascending; nil = every head): the others neither attend to visual
    /// keys nor produce output at visual rows (YOPO's inactive-head pruning).
    public var visualHeads: [Int]?
    /// Chebyshev radius of the neighbourhood a visual query attends to inside its own image (nil =
    /// the whole image, causally in skip mode).
    public var neighbourRadius: Int?
    /// Intermediate channels visual rows use (nil = all; YOPO's sparse visual FFN keeps the first ones).
    public var visualFFNWidth: Int?
    /// Heads giving output at text rows (ascending; nil = every head): the others' attention output
    /// is zero at text rows, prefill and decode. An ablation (heads pruned for text as well as for
    /// visual tokens), not a saving: the work is done and counted.
    public var textHeads: [Int]?

    public init(
        visualAlive: Bool = true, visualHeads: [Int]? = nil, neighbourRadius: Int? = nil, visualFFNWidth: Int? = nil,
        textHeads: [Int]? = nil
    ) {
        self.visualAlive = visualAlive
        self.visualHeads = visualHeads
        self.neighbourRadius = neighbourRadius
        self.visualFFNWidth = visualFFNWidth
        self.textHeads = textHeads
    }

    /// Every visual row, head and channel; full attention.
    public static let full = LayerPlan()

    /// Whether `head` does visual work here (alive layer, head listed).
    @inline(__always)
    public func headDoesVisualWork(_ head: Int) -> Bool {
        guard visualAlive else { return false }
        guard let heads = visualHeads else { return true }
        return Self.lists(heads, head)
    }

    /// Whether `heads` holds `head` (an index loop: the decode step must not allocate, even unoptimised).
    @inline(__always)
    private static func lists(_ heads: [Int], _ head: Int) -> Bool {
        var i = 0
        while i < heads.count {
            if heads[i] == head { return true }
            i += 1
        }
        return false
    }

    /// Whether simulate execution zeroes `head`'s probabilities on visual key columns after softmax
    /// in layer `layer` (every query row, no renormalisation): under `.llava` a head without visual
    /// work (pruned, or any head of a dropped layer); under `.qwen2VL` a head the mask prunes, from
    /// layer `SimulatedSemantics.qwen2VLFirstMaskedLayer` on (a dropped layer cuts before softmax instead).
    @inline(__always)
    public func simulateZeroesVisualColumns(head: Int, layer: Int, _ semantics: SimulatedSemantics) -> Bool {
        switch semantics {
        case .llava: return !headDoesVisualWork(head)
        case .qwen2VL:
            guard layer >= SimulatedSemantics.qwen2VLFirstMaskedLayer, let heads = visualHeads else { return false }
            return !Self.lists(heads, head)
        }
    }

    /// Whether simulate execution gives visual key columns −∞ before softmax here (Qwen2-VL's layer
    /// drop: for query rows at absolute index ≥ the prompt's image-token count, and every decode row).
    @inline(__always)
    public func simulateCutsVisualKeys(_ semantics: SimulatedSemantics) -> Bool { semantics == .qwen2VL && !visualAlive }

    /// Whether `head` gives output at text rows (listed in `textHeads`, or no list).
    @inline(__always)
    public func headDoesTextWork(_ head: Int) -> Bool {
        guard let heads = textHeads else { return true }
        return Self.lists(heads, head)
    }

    /// The heads doing visual work among `0..<heads` (none in a dropped layer).
    public func visualHeadList(heads: Int) -> [Int] {
        guard visualAlive else { return [] }
        return visualHeads ?? Array(0..<heads)
    }
}

/// How a plan's pruned visual work is executed.
public enum PlanExecution: String, Sendable, Codable, CaseIterable {
    /// The work is not done: visual rows leave the computation, softmax is over the keys kept,
    /// visual keys/values are stored only for the heads that still read them.
    case skip
    /// The official release's numerics: dense computation with post-softmax masks, no
    /// renormalisation. With `LayerPlan.full` everywhere this is the dense model.
    case simulate
}

/// Which official release's numerics simulate execution reproduces (METHOD.md §2 and §7). Window and
/// FFN sparsity, which the Qwen2-VL code lacks, follow the LLaVA semantics under both.
public enum SimulatedSemantics: String, Sendable, Codable, CaseIterable {
    /// LLaVA's `modeling_llama_prune.py`: the head mask in every layer, post-softmax on visual key
    /// columns for every query and the pruned heads' outputs zeroed at visual rows; a dropped layer
    /// zeroes every head's visual columns after softmax.
    case llava
    /// Qwen2-VL's `modeling_qwen2_vl.py` (`headcut`, `layercut`): the head mask from layer 2 on,
    /// post-softmax on visual key columns for every query, outputs not zeroed; a dropped layer gives
    /// the visual key columns −∞ before softmax (so renormalised) for query rows whose absolute index
    /// is at least the prompt's image-token count (the official absolute index: it also hits the
    /// image's last rows when text precedes the image, upstream issue #9) and for every decode row.
    case qwen2VL

    /// The first layer Qwen2-VL's code applies its head mask in.
    public static let qwen2VLFirstMaskedLayer = 2
}

/// A decoder run's plan: one `LayerPlan` per layer, how it executes, and the row hooks of a token
/// pruning method. Dense is the plan that prunes nothing (`DecoderPlan.dense`).
public struct DecoderPlan {
    /// Per layer; layers past the end use `LayerPlan.full`.
    public var layers: [LayerPlan]
    public var execution: PlanExecution
    /// Token pruning between layers at prefill (FastV, PyramidDrop, SparseVLM), if any.
    public var hooks: RowHook?
    /// Whose official numerics `simulate` execution follows (the model family's; LLaVA's by default).
    public var simulated: SimulatedSemantics

    public init(layers: [LayerPlan], execution: PlanExecution, hooks: RowHook? = nil, simulated: SimulatedSemantics = .llava) {
        self.layers = layers
        self.execution = execution
        self.hooks = hooks
        self.simulated = simulated
    }

    /// Every row through every layer.
    public static var dense: DecoderPlan { DecoderPlan(layers: [], execution: .simulate) }

    /// Dense layers with token-pruning hooks.
    public static func rowHooks(_ hooks: RowHook) -> DecoderPlan { DecoderPlan(layers: [], execution: .simulate, hooks: hooks) }

    /// The plan of `layer`.
    @inline(__always)
    public func layer(_ index: Int) -> LayerPlan { index < layers.count ? layers[index] : .full }

    /// Whether any layer prunes visual work (a window, heads, a drop or a narrower FFN).
    public var prunesVisualWork: Bool { layers.contains { $0 != .full } }

    /// Skip execution with something to skip: visual rows are kept apart from the sequence store.
    var separatesVisualRows: Bool { execution == .skip && hooks == nil }
}
