import Foundation

/// Bad-input sweep: option values of every subcommand. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepCLIValueCases: [SweepCase] = [
]
