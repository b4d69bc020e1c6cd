import Foundation

/// Bad-input sweep: checkpoints. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepCheckpointCases: [SweepCase] = [
]
