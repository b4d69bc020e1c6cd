import Foundation

/// Where one image's tokens sit in a sequence and how they neighbour each other: a patch grid of
/// `gridRows × gridColumns` tokens in raster order from absolute position `start` (LLaVA's 24 × 24;
/// a family with other geometry answers `neighbourRuns` for its own layout).
public struct ImageLayout: Sendable, Equatable {
    /// First absolute position of the image's tokens.
    public var start: Int
    /// Patch grid (rows, columns); the image occupies `rows · columns` positions in raster order.
    public var gridRows: Int
    public var gridColumns: Int

    public init(start: Int, gridRows: Int, gridColumns: Int) {
        self.start = start
        self.gridRows = gridRows
        self.gridColumns = gridColumns
    }

    public var count: Int { gridRows * gridColumns }
    public var range: Range<Int> { start..<(start + count) }

    /// The visual rows neighbouring visual row `i` (image-relative raster index) within Chebyshev
    /// radius `radius` (|Δrow| ≤ r and |Δcolumn| ≤ r; nil = every row of the image), as inclusive
    /// (first, last) runs of image-relative indices in raster order, one per grid row reached,
    /// clipped at the border. Symmetric: j neighbours i iff i neighbours j.
    public func neighbourRuns(of i: Int, radius: Int?) -> [(Int, Int)] {
        guard let rho = radius else { return [(0, count - 1)] }
        let row = i / gridColumns, col = i % gridColumns
        let c0 = max(0, col - rho), c1 = min(gridColumns - 1, col + rho)
        return (max(0, row - rho)...min(gridRows - 1, row + rho)).map { r in (r * gridColumns + c0, r * gridColumns + c1) }
    }

    /// Whether every row's neighbourhood within `radius` is the whole image (a radius of at least
    /// the longer side − 1, or none).
    public func neighbourhoodCoversImage(radius: Int?) -> Bool {
        radius.map { $0 >= max(gridRows, gridColumns) - 1 } ?? true
    }
}
