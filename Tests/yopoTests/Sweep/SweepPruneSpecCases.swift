import Foundation

/// Bad-input sweep: prune specs (--prune). Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepPruneSpecCases: [SweepCase] = [
]
