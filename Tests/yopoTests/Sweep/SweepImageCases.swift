import Foundation

/// Bad-input sweep: images. Each row: area, unique name, the text the one error line must contain,
/// and the command line (see SweepHarness.swift).
let sweepImageCases: [SweepCase] = [
]
