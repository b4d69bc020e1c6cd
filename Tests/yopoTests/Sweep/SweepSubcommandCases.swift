import Foundation

/// Bad-input sweep: subcommand words and command-line shape. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepSubcommandCases: [SweepCase] = [
]
