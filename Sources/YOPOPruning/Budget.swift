import Foundation

// The budget solver: one FLOPs target, every method's setting that meets it.
//
// Methods are compared at equal cost (BASELINES.md §5): given a target as a fraction of the dense
// count under one published convention, each method gets the setting whose count is as close to the
// target as possible without exceeding it. When no setting reaches the target the cheapest one is
// returned, flagged infeasible. What each method searches is in its own file (`yopoCandidates` in
// YOPO.swift, `fastVCandidates` in FastV.swift, `pyramidDropCandidates` in PyramidDrop.swift,
// `sparseVLMCandidates` in SparseVLM.swift):
//
//   YOPO       w 5, r 2, the official head mask keeping about half the heads when the model is one
//              the official release fits (heads-keep 16 on LLaVA-1.5-7B, 20 on 13B), else every
//              head; K = 0…L.
//   FastV      K = 2 (K = 1 for a 2-layer decoder); the image tokens kept after layer K, 0…n.
//   PyramidDrop boundaries [L/4, L/2, 3L/4] (rounded, de-duplicated, within [1, L−1]) and λ on a
//              0.001 grid. λ is limited to values that leave at least one image token in the last
//              stage: with none left the later stages withdraw the image (VTW), which is no longer a
//              pyramid. When those boundaries cannot reach the target, the derived sets of
//              BASELINES.md §2.2 ([3, 11, 19], [2, 4, 10], [2, 6, 12], scaled to L) are tried too.
//   SparseVLM  its v1.5 schedules "retain 192 / 128 / 64" (keep 300/200/110, 303/110/36, 66/30/17 at
//              layers 2/6/15, scaled to L as round(l·L/32), clamped to [0, L−2]; layers that collide
//              merge into one pruning point keeping the later, smaller count).

/// Errors of the budget solver. Each message names what is wrong.
public enum BudgetError: Error, CustomStringConvertible, Equatable {
    /// A budget that is not a fraction in (0, 1] (or a percentage in (0%, 100%]).
    case invalidBudget(String)
    /// A convention or method the solver cannot count (`full`, YOPO under a token convention, …).
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidBudget(let s): return oneLine("invalid budget: \(s)")
        case .unsupported(let s): return oneLine("not supported: \(s)")
        }
    }
}

/// A FLOPs target as a fraction of the dense count: `25%` or `0.25`.
public struct FLOPsBudget: Sendable, Equatable, CustomStringConvertible {
    /// The target over the dense count, in (0, 1].
    public let fraction: Double

    /// Throws `BudgetError.invalidBudget` unless `fraction` is in (0, 1].
    public init(fraction: Double) throws {
        guard fraction.isFinite, fraction > 0, fraction <= 1 else {
            throw BudgetError.invalidBudget("\(fraction) is outside (0, 1] (a fraction of the dense FLOPs)")
        }
        self.fraction = fraction
    }

    /// Parses `25%`, `12.5%` (percent of the dense count) or `0.25` (a fraction).
    /// Throws `BudgetError.invalidBudget` for anything else, and for values outside (0%, 100%].
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%") {
            let number = trimmed.dropLast().trimmingCharacters(in: .whitespaces)
            guard let percent = Double(number), percent.isFinite else {
                throw BudgetError.invalidBudget("'\(text)' is not a percentage (e.g. 25%)")
            }
            guard percent > 0, percent <= 100 else {
                throw BudgetError.invalidBudget("'\(text)' is outside (0%, 100%]")
            }
            self.fraction = percent / 100
        } else {
            guard let value = Double(trimmed), value.isFinite else {
                throw BudgetError.invalidBudget("'\(text)' is not a percentage (25%) or a fraction (0.25)")
            }
            guard value > 0, value <= 1 else {
                throw BudgetError.invalidBudget(
                    "'\(text)' is outside (0, 1]" + (value > 1 && value <= 100 ? " (write \(text)% for a percentage)" : ""))
            }
            self.fraction = value
        }
    }

    /// `25%`, `12.5%`.
    public var description: String {
        let percent = fraction * 100
        let rounded = (percent * 1e6).rounded() / 1e6
        return (rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)) + "%"
    }
}

/// The methods the solver sets up, in table order.
public enum BudgetMethod: String, Sendable, CaseIterable, Codable {
    case yopo, fastv, pdrop, sparsevlm

    /// Display name (`YOPO`, `FastV`, `PDrop`, `SparseVLM`).
    public var displayName: String {
        switch self {
        case .yopo: return "YOPO"
        case .fastv: return "FastV"
        case .pdrop: return "PDrop"
        case .sparsevlm: return "SparseVLM"
        }
    }
}

/// One method's setting at a budget.
public struct BudgetChoice: Sendable, Equatable {
    public var method: BudgetMethod
    /// The setting, as `--prune` takes it (`description` round-trips through `PruningSpec(parsing:)`).
    public var spec: PruningSpec
    /// What was searched to get it (`K 0…32`, `boundaries 8/16/24, λ grid 0.001`, `retain 128`).
    public var detail: String
    /// The setting's count under the solver's convention, in the convention's unit (FLOPs for yopo,
    /// MACs otherwise).
    public var flops: Double
    /// The dense count under the same convention and layout.
    public var dense: Double
    /// Whether `flops` is within the target. False: no setting reaches it and this is the cheapest.
    public var feasible: Bool

    /// `flops / dense`.
    public var fraction: Double { dense == 0 ? 0 : flops / dense }
}

/// Every method's setting at one budget.
public struct BudgetSolution: Sendable, Equatable {
    public var budget: FLOPsBudget
    public var convention: FLOPsConvention
    public var layout: PromptLayout
    /// The dense count (convention unit).
    public var dense: Double
    /// The target, `budget.fraction · dense`.
    public var target: Double { budget.fraction * dense }
    /// Settings for the methods the convention can count, in `BudgetMethod` order.
    public var choices: [BudgetChoice]
    /// Methods without a setting and why (YOPO under `fastv` / `sparsevlm`, a decoder too shallow for
    /// a baseline).
    public var unsupported: [BudgetMethod: String]

    /// The choice for `method`, if it has one.
    public func choice(_ method: BudgetMethod) -> BudgetChoice? { choices.first { $0.method == method } }
}

/// Picks each method's setting for a FLOPs target (see the file header for what is searched).
public struct BudgetSolver: Sendable {
    public let model: FLOPsModel
    public let layout: PromptLayout
    public let convention: FLOPsConvention

    /// Relative slack when comparing a count with the target (sums of equal layers differ from a
    /// scaled sum in the last bits).
    public static let tolerance = 1e-9

    /// - Parameters:
    ///   - dimensions: the model's shape.
    ///   - layout: the prompt the counts are for; it needs an image.
    ///   - convention: `yopo` (default), `fastv`, `pdrop` or `sparsevlm`.
    /// Throws `FLOPsError` for unusable dimensions or layouts, `BudgetError.unsupported` for `full`
    /// and for a prompt without an image.
    public init(dimensions: ModelDimensions, layout: PromptLayout, convention: FLOPsConvention = .yopo) throws {
        guard convention != .full else {
            throw BudgetError.unsupported("the budget solver works in the yopo, fastv, pdrop or sparsevlm convention, not full")
        }
        let model = try FLOPsModel(dimensions)
        try layout.validate(dimensions)
        guard layout.imageCount >= 1, layout.visualTokens(dimensions) > 0 else {
            throw BudgetError.unsupported("a FLOPs budget needs a prompt with an image")
        }
        self.model = model
        self.layout = layout
        self.convention = convention
    }

    /// The count of `spec` under the solver's convention (convention unit).
    /// Throws as `FLOPsModel.count(_:spec:layout:)`.
    public func cost(_ spec: PruningSpec) throws -> Double {
        try model.count(convention, spec: spec, layout: layout).total
    }

    /// The dense count under the solver's convention.
    public var dense: Double { get throws { try cost(.none) } }

    /// Every method's setting for `budget`. Methods the convention or decoder cannot count are listed
    /// in `unsupported`. Throws `FLOPsError` / `PruningSpecError` only for internal inconsistencies.
    public func solve(_ budget: FLOPsBudget) throws -> BudgetSolution {
        var choices: [BudgetChoice] = []
        var unsupported: [BudgetMethod: String] = [:]
        for method in BudgetMethod.allCases {
            do {
                choices.append(try solve(method, budget))
            } catch let error as BudgetError {
                if case .unsupported(let why) = error { unsupported[method] = why } else { throw error }
            }
        }
        return BudgetSolution(
            budget: budget, convention: convention, layout: layout, dense: try dense, choices: choices,
            unsupported: unsupported)
    }

    /// One method's setting for `budget`.
    /// Throws `BudgetError.unsupported` when the method has no count under this convention or does not
    /// fit the decoder (FastV, PyramidDrop and SparseVLM need ≥ 2 layers).
    public func solve(_ method: BudgetMethod, _ budget: FLOPsBudget) throws -> BudgetChoice {
        let dense = try self.dense
        let target = budget.fraction * dense
        let candidates: [(spec: PruningSpec, detail: String)]
        var preferred: Int?  // candidates[0..<preferred] are tried first (PyramidDrop's default boundaries)
        switch method {
        case .yopo: candidates = try yopoCandidates()
        case .fastv: candidates = try fastVCandidates()
        case .pdrop:
            let (defaults, derived) = try pyramidDropCandidates()
            candidates = defaults + derived
            preferred = defaults.count
        case .sparsevlm: candidates = try sparseVLMCandidates()
        }
        let costs = try candidates.map { try cost($0.spec) }
        let limit = target * (1 + Self.tolerance)
        func best(_ range: Range<Int>) -> Int? {
            // Largest count within the target; ties go to the first candidate (the smallest setting).
            var chosen: Int?
            for i in range where costs[i] <= limit {
                if chosen == nil || costs[i] > costs[chosen!] { chosen = i }
            }
            return chosen
        }
        let index: Int
        var feasible = true
        if let preferred, let i = best(0..<preferred) {
            index = i
        } else if let i = best(0..<candidates.count) {
            index = i
        } else {
            index = costs.indices.min { costs[$0] < costs[$1] }!
            feasible = false
        }
        return BudgetChoice(
            method: method, spec: candidates[index].spec, detail: candidates[index].detail, flops: costs[index],
            dense: dense, feasible: feasible)
    }

    /// The decoder's layers (what the candidates are searched over).
    var layers: Int { model.dimensions.text.numHiddenLayers }
}
