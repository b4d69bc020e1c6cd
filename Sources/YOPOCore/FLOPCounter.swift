import Foundation

/// Where a counted product belongs (docs/FLOPS.md "Attribution").
public enum FLOPStage: String, Sendable, Codable, CaseIterable, Comparable {
    case vision, projector, prefill, decode
    public static func < (a: FLOPStage, b: FLOPStage) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Token group of the rows a product computes.
public enum TokenGroup: String, Sendable, Codable, CaseIterable, Comparable {
    case system, visual, text
    public static func < (a: TokenGroup, b: TokenGroup) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One cell of a FLOPs breakdown: stage × decoder layer (nil outside the decoder) × token group.
public struct FLOPKey: Hashable, Sendable, Codable, Comparable {
    public var stage: FLOPStage
    public var layer: Int?
    public var group: TokenGroup

    public init(_ stage: FLOPStage, layer: Int? = nil, _ group: TokenGroup) {
        self.stage = stage
        self.layer = layer
        self.group = group
    }

    public static func < (a: FLOPKey, b: FLOPKey) -> Bool {
        (a.stage, a.layer ?? -1, a.group) < (b.stage, b.layer ?? -1, b.group)
    }
}

/// Executed FLOPs (2 × multiply-adds of every matrix and attention product), accumulated by the
/// engine as it runs. Exact integers; compared against the analytic `full` count in tests.
public final class FLOPCounter: @unchecked Sendable {
    public private(set) var counts: [FLOPKey: Int] = [:]
    /// The stage products are attributed to (set by the caller around each phase).
    public var stage: FLOPStage = .prefill

    public init() {}

    /// Adds `flops` to (current stage, `layer`, `group`).
    @inline(__always)
    public func add(_ flops: Int, layer: Int? = nil, _ group: TokenGroup) {
        guard flops != 0 else { return }
        counts[FLOPKey(stage, layer: layer, group), default: 0] += flops
    }

    /// Adds a GEMM of `[rows, k] · [k, n]`: `2·rows·k·n`.
    @inline(__always)
    public func addProduct(rows: Int, k: Int, n: Int, layer: Int? = nil, _ group: TokenGroup) {
        add(2 * rows * k * n, layer: layer, group)
    }

    /// Adds every cell of `other` (work done once and shared, e.g. a reused prompt prefix).
    public func add(_ other: FLOPCounter) {
        for (key, flops) in other.counts { counts[key, default: 0] += flops }
    }

    /// Total over every cell.
    public var total: Int { counts.values.reduce(0, +) }

    /// Total of one stage.
    public func total(_ stage: FLOPStage) -> Int { counts.filter { $0.key.stage == stage }.values.reduce(0, +) }
}
