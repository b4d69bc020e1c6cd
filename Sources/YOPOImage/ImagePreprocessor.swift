/// How a non-square image becomes square before the vision tower.
public enum SquareMode: String, Sendable, Codable, CaseIterable {
    /// Original LLaVA (`image_aspect_ratio: "pad"`): `expand2square` onto a canvas of the mean
    /// colour, then resize and (no-op) centre crop. Nothing of the image is lost.
    case pad
    /// llava-hf / plain CLIPImageProcessor: shortest-edge resize, then the centre crop cuts the
    /// long side.
    case crop

    /// Maps a LLaVA `config.json` `image_aspect_ratio` to a mode: `"pad"` → `.pad`; absent,
    /// empty or `"square"` → `.crop` (LLaVA's `process_images` then calls the processor directly).
    /// - Throws: `ImageError.invalidArgument` for other values (e.g. `"anyres"`, LLaVA-1.6 tiling).
    public init(imageAspectRatio: String?) throws(ImageError) {
        switch imageAspectRatio {
        case "pad": self = .pad
        case nil, "", "square": self = .crop
        case let other?:
            throw .invalidArgument("image_aspect_ratio '\(other)' is not supported; supported: pad, square")
        }
    }
}

/// A preprocessed image: float32 values in CHW order, shape `[channels, height, width]`.
public struct PixelValues: Sendable, Equatable {
    /// Always 3 (R, G, B planes).
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `channels * height * width` values; channel c, row y, column x at `(c * height + y) * width + x`.
    public let values: [Float]

    /// `[channels, height, width]`.
    public var shape: [Int] { [channels, height, width] }
}

/// CLIP image preprocessing for LLaVA-1.5, bit-compatible with transformers 5.24's
/// `CLIPImageProcessorPil` (the PIL backend) and, in `.pad` mode, with the original LLaVA's
/// `expand2square` + CLIPImageProcessor path.
///
/// Steps, in transformers' order: [pad to square] → resize (Pillow-exact, `config.resample`) →
/// centre crop → rescale → normalise → CHW. Rescaling follows transformers' `rescale`
/// (`uint8 → float64 × rescale_factor → float32`) and normalisation its `normalize`
/// (`(x − mean) / std` in float32 with float32 mean and std), so the values are bit-identical to
/// transformers', not merely close.
public struct ImagePreprocessor: Sendable {
    public let config: ImagePreprocessorConfig

    /// Default `maxSide`: 65535 pixels, the largest side a JPEG can have.
    public static let defaultMaxSide = 65535

    /// Largest side, in pixels, of the padded square in `.pad` mode and of the resized image when
    /// it is built in full (`do_center_crop` off). An image that would exceed it is refused with
    /// `ImageError.paddedSquareTooLarge` or `.resizedImageTooLarge` ("too elongated") before any
    /// work is done. With the centre crop on, only the crop window of the resize is computed (its
    /// weight tables cover the window only), so the resized size is bounded by `maxResizedSide`
    /// instead: a 200 × 1 image, resized to 67200 × 336 and cropped, works.
    public var maxSide: Int = ImagePreprocessor.defaultMaxSide

    /// Largest side of the (virtual) resized image before the centre crop: 2^31 − 1, the largest
    /// side Pillow (whose sizes are C ints) can resize to, so the result stays Pillow's. Larger
    /// sides, and sides too large to compute, are refused with `.resizedImageTooLarge`.
    public static let maxResizedSide = Int(Int32.max)

    /// Largest buffer, in pixels, allocated on the way from decoded image to output (each resize
    /// pass, its weight tables, the output). Default `ImageDecoder.defaultMaxPixelCount`
    /// (8192 × 8192). Neither the padded square nor the full resized image is ever materialised:
    /// only the part of them the centre crop keeps is computed, so with a 336 crop the buffers stay
    /// at most 336 × the longer of the image's and the padded square's sides.
    public var maxWorkingPixels: Int = ImageDecoder.defaultMaxPixelCount

    /// - Throws: `ImageError.invalidConfiguration` when mean/std do not have 3 finite entries, a
    ///   std is not positive, or a size is outside `ImagePreprocessorConfig.sizeRange` (1…8192).
    public init(config: ImagePreprocessorConfig = .clipViTLarge336) throws(ImageError) {
        try config.validate()
        self.config = config
    }

    /// The `expand2square` background: `tuple(int(m * 255) for m in image_mean)`, i.e.
    /// (122, 116, 104) for CLIP's mean (truncation, not rounding; clamped to 0…255).
    public var padColor: (r: UInt8, g: UInt8, b: UInt8) {
        // validate() keeps the mean in 0…255, so the product fits an Int.
        let c = config.imageMean.map { UInt8(clamping: Int($0 * 255)) }
        return (c[0], c[1], c[2])
    }

    /// Output size of the resize step for a `width` × `height` input, as (width, height);
    /// transformers' `get_resize_output_image_size(…, default_to_square=False)`:
    /// short side → n, long side → `int(n · long / short)` computed in double and truncated.
    /// A side too large to represent is returned as `Int.max` (`resizeAndCrop` refuses it).
    /// - Precondition: `width`, `height` ≥ 1.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        precondition(width >= 1 && height >= 1, "image size must be at least 1x1")
        switch config.size {
        case .exact(let h, let w):
            return (w, h)
        case .shortestEdge(let n):
            let (short, long) = width <= height ? (width, height) : (height, width)
            let (product, overflow) = n.multipliedReportingOverflow(by: long)
            let quotient = Double(product) / Double(short)
            let newLong = overflow || !(quotient < Double(Int.max)) ? Int.max : Int(quotient)
            return width <= height ? (n, newLong) : (newLong, n)
        }
    }

    /// The geometric part of the pipeline: [pad] → resize → centre crop, in 8-bit RGB, byte for byte
    /// what transformers / original LLaVA get from Pillow. With `.clipViTLarge336` the result is
    /// 336 × 336.
    ///
    /// The padded square and the full resized image are not built: only the part of the resize
    /// the centre crop keeps is computed (bit-identical, see `PaddedCanvas`), so an elongated
    /// image costs no more memory than a square one.
    /// - Parameter source: names the image in errors (e.g. its path).
    /// - Throws: `ImageError.paddedSquareTooLarge` / `.resizedImageTooLarge` when the padded square
    ///   or the full resized image would have a side above `maxSide` (a resize that is centre-cropped:
    ///   above `maxResizedSide`); `.workingBufferTooLarge` when a
    ///   buffer would exceed `maxWorkingPixels`.
    public func resizeAndCrop(_ image: RGBImage, mode: SquareMode, source: String? = nil) throws(ImageError) -> RGBImage {
        var canvas = PaddedCanvas(image)
        if mode == .pad && image.width != image.height {
            let side = max(image.width, image.height)
            guard side <= maxSide else {
                throw .paddedSquareTooLarge(
                    source: source, width: image.width, height: image.height, side: side,
                    limit: maxSide)
            }
            canvas = PaddedCanvas(
                image, width: side, height: side, x: (side - image.width) / 2,
                y: (side - image.height) / 2, fill: padColor)
        }
        var outW = canvas.width, outH = canvas.height
        if config.doResize {
            (outW, outH) = resizedSize(width: canvas.width, height: canvas.height)
            // Only a resize that is built in full is held to maxSide; a cropped one costs its window.
            let limit = config.doCenterCrop ? Self.maxResizedSide : maxSide
            guard outW <= limit, outH <= limit else {
                throw .resizedImageTooLarge(
                    source: source, width: image.width, height: image.height,
                    resizedWidth: outW, resizedHeight: outH, limit: limit)
            }
        }
        let check = { (w: Int, h: Int, step: String) throws(ImageError) in
            try checkWorkingBuffer(w, h, limit: maxWorkingPixels, image: image, source: source, step: step)
        }
        guard config.doCenterCrop else {
            return try canvas.resampled(
                width: outW, height: outH, filter: config.resample, columns: 0..<outW,
                rows: 0..<outH, check: check)
        }
        // transformers' center_crop: offset ⌊(size − crop) / 2⌋ into a larger image; a smaller one
        // is centred on zeros at ⌈(crop − size) / 2⌉.
        func cropWindow(_ size: Int, _ crop: Int) -> (window: Range<Int>, at: Int) {
            let offset = size >= crop ? floorDiv(size - crop, 2) : -((crop - size + 1) / 2)
            let window = max(0, offset)..<min(size, offset + crop)
            return (window, window.lowerBound - offset)
        }
        let (xs, atX) = cropWindow(outW, config.cropWidth)
        let (ys, atY) = cropWindow(outH, config.cropHeight)
        try check(config.cropWidth, config.cropHeight, "the centre crop")
        let part = try canvas.resampled(
            width: outW, height: outH, filter: config.resample, columns: xs, rows: ys,
            check: check)
        if part.width == config.cropWidth && part.height == config.cropHeight { return part }
        var cropped = RGBImage(width: config.cropWidth, height: config.cropHeight, color: (0, 0, 0))
        cropped.paste(part, x: atX, y: atY)
        return cropped
    }

    /// Rescale and normalise an 8-bit image into CHW float32 (no geometry).
    /// Per channel c and byte v: `x = Float(Double(v) · rescale_factor)` when `do_rescale`, else
    /// `Float(v)`; then `(x − Float(mean[c])) / Float(std[c])` in float32 when `do_normalize`.
    public func normalize(_ image: RGBImage) -> PixelValues {
        // The map depends only on (channel, byte): build three 256-entry tables.
        var tables = [[Float]](repeating: [], count: 3)
        for c in 0..<3 {
            let mean = Float(config.imageMean[c]), std = Float(config.imageStd[c])
            tables[c] = (0..<256).map { v in
                var x = config.doRescale ? Float(Double(v) * config.rescaleFactor) : Float(v)
                if config.doNormalize { x = (x - mean) / std }
                return x
            }
        }
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    tables[c].withUnsafeBufferPointer { table in
                        let base = c * plane
                        for i in 0..<plane { dst[base + i] = table[Int(src[3 * i + c])] }
                    }
                }
            }
        }
        return PixelValues(channels: 3, height: image.height, width: image.width, values: out)
    }

    /// The full pipeline: `normalize(resizeAndCrop(image, mode:source:))`.
    /// - Returns: `[3, cropHeight, cropWidth]` float32 values (3 × 336 × 336 for LLaVA-1.5).
    /// - Throws: as `resizeAndCrop`.
    public func preprocess(_ image: RGBImage, mode: SquareMode, source: String? = nil) throws(ImageError) -> PixelValues {
        normalize(try resizeAndCrop(image, mode: mode, source: source))
    }

    /// Decodes the file at `path` with `decoder` and preprocesses it.
    /// - Throws: the decoder's `ImageError`s, then as `preprocess`.
    public func preprocess(
        contentsOf path: String, mode: SquareMode,
        decoder: ImageDecoder = ImageDecoder()
    ) throws(ImageError) -> PixelValues {
        try preprocess(try decoder.decode(contentsOf: path), mode: mode, source: path)
    }
}
