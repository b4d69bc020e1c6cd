/// An 8-bit RGB image: `height` rows of `width` pixels, each pixel three bytes R, G, B
/// (interleaved, row-major, no padding), the layout of NumPy's `np.asarray(pil_image)` for a
/// Pillow "RGB" image.
public struct RGBImage: Equatable, Sendable {
    /// Width in pixels (≥ 1).
    public let width: Int
    /// Height in pixels (≥ 1).
    public let height: Int
    /// `width * height * 3` bytes; pixel (x, y) channel c is at `(y * width + x) * 3 + c`.
    public private(set) var pixels: [UInt8]

    /// Wraps existing bytes.
    /// - Throws: `ImageError.invalidArgument` when a dimension is < 1 or
    ///   `pixels.count != width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        guard width >= 1, height >= 1 else {
            throw .invalidArgument("image size must be at least 1x1, got \(width)x\(height)")
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height * 3)
        guard !overflow, pixels.count == count else {
            throw .invalidArgument("RGB image \(width)x\(height) needs \(width)x\(height)x3 bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of one colour, like Pillow's `Image.new("RGB", (width, height), color)`.
    /// Allocates `width × height × 3` bytes: callers bound the size (the throwing helpers below
    /// check `ImageDecoder.defaultMaxPixelCount` before calling this).
    /// - Precondition: `width >= 1`, `height >= 1` and `width × height × 3` does not overflow.
    public init(width: Int, height: Int, color: (r: UInt8, g: UInt8, b: UInt8)) {
        precondition(width >= 1 && height >= 1, "image size must be at least 1x1")
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        let (bytes, overflow3) = count.multipliedReportingOverflow(by: 3)
        precondition(!overflow && !overflow3, "image size \(width)x\(height) overflows")
        self.width = width
        self.height = height
        var pixels = [UInt8](repeating: 0, count: bytes)
        if color != (0, 0, 0) {
            for i in stride(from: 0, to: pixels.count, by: 3) {
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
            }
        }
        self.pixels = pixels
    }

    /// Internal initialiser for buffers whose size the caller has already established.
    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        assert(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y`. - Precondition: inside the image.
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Copies `image` into this one with its top-left corner at (`x`, `y`); parts falling outside
    /// are clipped. Pillow's `Image.paste(image, (x, y))` for two RGB images.
    public mutating func paste(_ image: RGBImage, x: Int, y: Int) {
        // Offsets entirely outside: nothing to copy (and no overflow in the arithmetic below).
        guard x < width, y < height, x > -image.width, y > -image.height else { return }
        let x0 = max(0, x), x1 = min(width, x + image.width)
        let y0 = max(0, y), y1 = min(height, y + image.height)
        guard x0 < x1, y0 < y1 else { return }
        let rowBytes = (x1 - x0) * 3
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for row in y0..<y1 {
                    let s = ((row - y) * image.width + (x0 - x)) * 3
                    let d = (row * width + x0) * 3
                    dst.baseAddress!.advanced(by: d).update(from: src.baseAddress!.advanced(by: s), count: rowBytes)
                }
            }
        }
    }

    /// The rectangle [`x`, `x + width`) × [`y`, `y + height`), which must lie inside the image
    /// (NumPy slicing `a[y:y+height, x:x+width]`).
    /// - Throws: `ImageError.invalidArgument` for an empty or out-of-bounds rectangle.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws(ImageError) -> RGBImage {
        guard w >= 1, h >= 1, x >= 0, y >= 0, x <= width - w, y <= height - h else {
            throw .invalidArgument("crop (\(x), \(y), \(w)x\(h)) is empty or outside the \(width)x\(height) image")
        }
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = RGBImage(width: w, height: h, color: (0, 0, 0))
        out.paste(self, x: -x, y: -y)
        return out
    }

    /// LLaVA's `expand2square`: returns the image itself when square, otherwise a
    /// `max(width, height)`² canvas filled with `fill` with the image pasted at
    /// `((side − width) / 2, (side − height) / 2)` (floor division).
    /// `ImagePreprocessor` never materialises this square (it resizes the padded picture without
    /// building it); this helper does, so it is bounded.
    /// - Throws: `ImageError.workingBufferTooLarge` when `side²` exceeds `maxPixelCount`.
    public func paddedToSquare(
        fill: (r: UInt8, g: UInt8, b: UInt8),
        maxPixelCount: Int = ImageDecoder.defaultMaxPixelCount
    ) throws(ImageError) -> RGBImage {
        if width == height { return self }
        let side = max(width, height)
        try checkWorkingBuffer(side, side, limit: maxPixelCount, image: self, step: "padding it to a square")
        var canvas = RGBImage(width: side, height: side, color: fill)
        canvas.paste(self, x: (side - width) / 2, y: (side - height) / 2)
        return canvas
    }

    /// transformers' `center_crop` (image_transforms.py) to `height` × `width`: top
    /// `⌊(H − height) / 2⌋`, left `⌊(W − width) / 2⌋`; when the image is smaller than the crop it
    /// is first centred on a zero canvas (offset `⌈(new − old) / 2⌉`), exactly as transformers does.
    /// - Throws: `ImageError.invalidArgument` when a crop dimension is < 1;
    ///   `.workingBufferTooLarge` when the (zero-padded) canvas would exceed `maxPixelCount` pixels.
    public func centerCropped(
        width cw: Int, height ch: Int,
        maxPixelCount: Int = ImageDecoder.defaultMaxPixelCount
    ) throws(ImageError) -> RGBImage {
        guard cw >= 1, ch >= 1 else { throw .invalidArgument("crop size must be at least 1x1, got \(cw)x\(ch)") }
        try checkWorkingBuffer(max(cw, width), max(ch, height), limit: maxPixelCount, image: self, step: "the centre crop")
        var top = floorDiv(height - ch, 2)
        var left = floorDiv(width - cw, 2)
        if top >= 0 && left >= 0 && top + ch <= height && left + cw <= width {
            return try cropped(x: left, y: top, width: cw, height: ch)
        }
        // Image smaller than the crop in some dimension: zero-pad first.
        let newH = max(ch, height), newW = max(cw, width)
        var canvas = RGBImage(width: newW, height: newH, color: (0, 0, 0))
        let topPad = (newH - height + 1) / 2, leftPad = (newW - width + 1) / 2
        canvas.paste(self, x: leftPad, y: topPad)
        top += topPad
        left += leftPad
        let y0 = max(0, top), y1 = min(newH, top + ch)
        let x0 = max(0, left), x1 = min(newW, left + cw)
        return try canvas.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
}

/// Throws `.workingBufferTooLarge` unless a `width × height` buffer fits in `limit` pixels.
func checkWorkingBuffer(
    _ width: Int, _ height: Int, limit: Int, image: RGBImage, source: String? = nil,
    step: String
) throws(ImageError) {
    let (count, overflow) = width.multipliedReportingOverflow(by: height)
    if overflow || count > limit {
        throw .workingBufferTooLarge(
            source: source, width: image.width, height: image.height, step: step,
            pixels: overflow ? Int.max : count, limit: limit)
    }
}

/// Python's `//` for integers (rounds toward negative infinity).
@inline(__always)
func floorDiv(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}
