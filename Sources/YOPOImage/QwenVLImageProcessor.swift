import Foundation

/// The keys of a Qwen2-VL / Qwen2.5-VL `preprocessor_config.json` that affect pixels, with
/// transformers 5.24 `Qwen2VLImageProcessorPil`'s class defaults for missing keys. The pixel budget
/// is `size: {"shortest_edge": min, "longest_edge": max}` (5.x) or the legacy top-level
/// `min_pixels` / `max_pixels`, which override `size` as transformers' constructor does.
public struct QwenVLImageProcessorConfig: Decodable, Sendable, Equatable {
    /// Smallest pixel count of the resized image (`size.shortest_edge`, `min_pixels`); default 56².
    public var minPixels: Int = 56 * 56
    /// Largest pixel count of the resized image (`size.longest_edge`, `max_pixels`); default 28²·1280.
    public var maxPixels: Int = 28 * 28 * 1280
    /// Side of one ViT patch in pixels (`patch_size`), 14.
    public var patchSize: Int = 14
    /// Frames per temporal patch (`temporal_patch_size`), 2: a still image is repeated.
    public var temporalPatchSize: Int = 2
    /// Patches per side merged into one LLM token (`merge_size`), 2.
    public var mergeSize: Int = 2
    public var imageMean: [Double] = ImagePreprocessorConfig.openAIClipMean
    public var imageStd: [Double] = ImagePreprocessorConfig.openAIClipStd
    public var rescaleFactor: Double = 1.0 / 255.0
    public var doResize = true
    public var doRescale = true
    public var doNormalize = true
    /// `resample` as a `PIL.Image.Resampling` number; 3 = BICUBIC.
    public var resample: ResampleFilter = .bicubic

    /// Allowed `min_pixels` / `max_pixels`: up to 8192², the decoder's pixel budget (Qwen2-VL-7B's
    /// `max_pixels` is 12,845,056 = 3584²).
    public static let pixelRange = 1...(8192 * 8192)

    /// The side every resized dimension is a multiple of: `patch_size · merge_size` (28).
    public var factor: Int { patchSize * mergeSize }
    /// Values per patch row of `pixel_values`: `3 · temporal_patch_size · patch_size²` (1176).
    public var patchDimension: Int { 3 * temporalPatchSize * patchSize * patchSize }

    public init() {}

    /// Qwen2-VL-7B-Instruct's processor: min 3136, max 12,845,056 pixels.
    public static let qwen2VL7B: QwenVLImageProcessorConfig = {
        var c = QwenVLImageProcessorConfig()
        c.maxPixels = 12_845_056
        return c
    }()

    private typealias Key = ImagePreprocessorConfig.AnyKey

    /// - Throws: `ImageError.invalidConfiguration` naming the key, what was found and what is
    ///   allowed: pixel counts outside `pixelRange` or `min_pixels` above `max_pixels`, patch sizes
    ///   outside 1…64 (`temporal_patch_size` 1…4, `merge_size` 1…8), mean / std not 3 finite
    ///   numbers (std > 0), `rescale_factor` outside (0, 1], `resample` not 1…5.
    public init(from decoder: Decoder) throws {
        guard let c = try? decoder.container(keyedBy: Key.self) else {
            throw ImageError.invalidConfiguration(key: "", problem: "is not a JSON object; allowed: a JSON object")
        }
        func present(_ key: String, in container: KeyedDecodingContainer<Key>) -> Bool {
            container.contains(Key(key)) && (try? container.decodeNil(forKey: Key(key))) != true
        }
        func int(
            _ key: String, _ range: ClosedRange<Int>, in container: KeyedDecodingContainer<Key>, name: String? = nil
        )
            throws -> Int?
        {
            guard present(key, in: container) else { return nil }
            guard let v = try? container.decode(Int.self, forKey: Key(key)), range.contains(v) else {
                throw ImageError.invalidConfiguration(
                    key: name ?? key, problem: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return v
        }
        func bool(_ key: String) throws -> Bool? {
            guard present(key, in: c) else { return nil }
            guard let v = try? c.decode(Bool.self, forKey: Key(key)) else {
                throw ImageError.invalidConfiguration(key: key, problem: "must be true or false")
            }
            return v
        }
        func channels(_ key: String, positive: Bool) throws -> [Double]? {
            guard present(key, in: c) else { return nil }
            let values =
                (try? c.decode([Double].self, forKey: Key(key))) ?? (try? c.decode(Double.self, forKey: Key(key))).map { [$0, $0, $0] }
            guard let values, values.count == 3, values.allSatisfy({ $0.isFinite && (!positive || $0 > 0) }) else {
                throw ImageError.invalidConfiguration(
                    key: key, problem: "must be 3 finite numbers\(positive ? " above 0" : "") (R, G, B)")
            }
            return values
        }
        let range = Self.pixelRange
        if present("size", in: c) {
            guard let size = try? c.nestedContainer(keyedBy: Key.self, forKey: Key("size")) else {
                throw ImageError.invalidConfiguration(
                    key: "size", problem: "must be an object with shortest_edge and longest_edge (pixel counts)")
            }
            if let v = try int("shortest_edge", range, in: size, name: "size.shortest_edge") { minPixels = v }
            if let v = try int("longest_edge", range, in: size, name: "size.longest_edge") { maxPixels = v }
        }
        if let v = try int("min_pixels", range, in: c) { minPixels = v }
        if let v = try int("max_pixels", range, in: c) { maxPixels = v }
        if let v = try int("patch_size", 1...64, in: c) { patchSize = v }
        if let v = try int("temporal_patch_size", 1...4, in: c) { temporalPatchSize = v }
        if let v = try int("merge_size", 1...8, in: c) { mergeSize = v }
        if let v = try int("resample", 1...5, in: c) { resample = ResampleFilter(rawValue: v)! }
        if let v = try channels("image_mean", positive: false) { imageMean = v }
        if let v = try channels("image_std", positive: true) { imageStd = v }
        if let v = try bool("do_resize") { doResize = v }
        if let v = try bool("do_rescale") { doRescale = v }
        if let v = try bool("do_normalize") { doNormalize = v }
        if present("rescale_factor", in: c) {
            guard let v = try? c.decode(Double.self, forKey: Key("rescale_factor")), v > 0, v <= 1 else {
                throw ImageError.invalidConfiguration(key: "rescale_factor", problem: "must be a number in (0, 1]")
            }
            rescaleFactor = v
        }
        try validate()
    }

    /// - Throws: `ImageError.invalidConfiguration` when `minPixels` exceeds `maxPixels` or a pixel
    ///   count is outside `pixelRange`.
    public func validate() throws(ImageError) {
        for (key, v) in [("min_pixels", minPixels), ("max_pixels", maxPixels)] where !Self.pixelRange.contains(v) {
            throw .invalidConfiguration(key: key, problem: "is \(v); allowed: 1 to \(Self.pixelRange.upperBound)")
        }
        guard minPixels <= maxPixels else {
            throw .invalidConfiguration(
                key: "min_pixels", problem: "is \(minPixels), above max_pixels \(maxPixels); allowed: at most max_pixels")
        }
    }
}

/// One image as the Qwen2-VL vision tower takes it (transformers' `pixel_values`, `image_grid_thw`).
public struct QwenVLPixels: Sendable, Equatable {
    /// Patches along time (1 for an image), height and width, in ViT patches.
    public let gridT: Int
    public let gridH: Int
    public let gridW: Int
    /// Values per patch (1176 for Qwen2-VL).
    public let patchDimension: Int
    /// `[gridT·gridH·gridW, patchDimension]` float32, rows in merge-block order: row
    /// `((bh·(gridW/m) + bw)·m + mh)·m + mw` is the patch at row `bh·m + mh`, column `bw·m + mw`;
    /// column `(c·T + t)·p² + y·p + x` is channel c, frame t, pixel (x, y) of the patch.
    public let values: [Float]

    /// `[gridT, gridH, gridW]`.
    public var gridTHW: [Int] { [gridT, gridH, gridW] }

    /// - Precondition: positive sizes and `values.count == gridT · gridH · gridW · patchDimension`.
    public init(gridT: Int, gridH: Int, gridW: Int, patchDimension: Int, values: [Float]) {
        precondition(gridT > 0 && gridH > 0 && gridW > 0 && patchDimension > 0, "patch grid sizes must be positive")
        precondition(
            values.isEmpty || values.count == gridT * gridH * gridW * patchDimension,
            "\(values.count) values for a \(gridT)x\(gridH)x\(gridW) grid of \(patchDimension)")
        self.gridT = gridT
        self.gridH = gridH
        self.gridW = gridW
        self.patchDimension = patchDimension
        self.values = values
    }
    /// Rows of `values`.
    public var patchCount: Int { gridT * gridH * gridW }
}

/// Qwen2-VL / Qwen2.5-VL image preprocessing, bit-identical to transformers 5.24's
/// `Qwen2VLImageProcessorPil`: `smart_resize` to multiples of 28 within the pixel budget, Pillow
/// resize (`resample`), rescale and normalise exactly as `ImagePreprocessor.normalize`, then
/// patchify in merge-block order with the frame repeated `temporal_patch_size` times.
public struct QwenVLImageProcessor: Sendable {
    public let config: QwenVLImageProcessorConfig

    /// The largest aspect ratio `smart_resize` accepts (long side / short side).
    public static let maxAspectRatio = 200.0

    /// - Throws: `ImageError.invalidConfiguration` from `config.validate()`.
    public init(config: QwenVLImageProcessorConfig = .qwen2VL7B) throws(ImageError) {
        try config.validate()
        self.config = config
    }

    /// transformers' `smart_resize`, in doubles with Python's rounding (`round` is half to even, so
    /// 70 × 70 → 56 × 56): both sides become multiples of `factor`, the area is brought within
    /// `[minPixels, maxPixels]` keeping the aspect ratio as closely as possible.
    /// - Returns: (height, width) in pixels.
    /// - Throws: `ImageError.invalidArgument` when the long side is more than 200 times the short
    ///   one (transformers raises the same), or a side is below 1.
    public static func smartResize(
        height: Int, width: Int, factor: Int = 28, minPixels: Int = 56 * 56, maxPixels: Int = 28 * 28 * 1280
    ) throws(ImageError) -> (height: Int, width: Int) {
        let sides = 1...Int(Int32.max)
        guard sides.contains(height), sides.contains(width), (1...4096).contains(factor),
            QwenVLImageProcessorConfig.pixelRange.contains(minPixels), QwenVLImageProcessorConfig.pixelRange.contains(maxPixels)
        else {
            throw .invalidArgument(
                "cannot resize \(width)x\(height) (factor \(factor), \(minPixels)...\(maxPixels) pixels); allowed: sides 1 to \(Int32.max), factor 1 to 4096, pixel counts 1 to \(QwenVLImageProcessorConfig.pixelRange.upperBound)"
            )
        }
        let h = Double(height), w = Double(width), f = Double(factor)
        let ratio = max(h, w) / min(h, w)
        guard ratio <= maxAspectRatio else {
            throw .invalidArgument(
                "image \(width)x\(height) has aspect ratio \(ratio); Qwen2-VL's processor allows at most \(Int(maxAspectRatio))")
        }
        var hBar = Int((h / f).rounded(.toNearestOrEven)) * factor
        var wBar = Int((w / f).rounded(.toNearestOrEven)) * factor
        if hBar * wBar > maxPixels {
            let beta = (Double(height * width) / Double(maxPixels)).squareRoot()
            hBar = max(factor, Int((h / beta / f).rounded(.down)) * factor)
            wBar = max(factor, Int((w / beta / f).rounded(.down)) * factor)
        } else if hBar * wBar < minPixels {
            let beta = (Double(minPixels) / Double(height * width)).squareRoot()
            hBar = Int((h * beta / f).rounded(.up)) * factor
            wBar = Int((w * beta / f).rounded(.up)) * factor
        }
        return (hBar, wBar)
    }

    /// The resized size of a `width` × `height` image under this config, as (height, width).
    public func resizedSize(width: Int, height: Int) throws(ImageError) -> (height: Int, width: Int) {
        guard config.doResize else { return (height, width) }
        return try Self.smartResize(
            height: height, width: width, factor: config.factor, minPixels: config.minPixels, maxPixels: config.maxPixels)
    }

    /// The image's merged grid (LLM tokens per column and row) without processing it:
    /// `(resized height / 28, resized width / 28)`; the prompt holds `rows · columns` image tokens.
    public func mergedGrid(width: Int, height: Int) throws(ImageError) -> (rows: Int, columns: Int) {
        let (h, w) = try resizedSize(width: width, height: height)
        return (h / config.factor, w / config.factor)
    }

    /// The full pipeline on a decoded image.
    /// - Parameter source: names the image in errors (e.g. its path).
    /// - Throws: as `smartResize`; `ImageError.invalidArgument` when `do_resize` is off and a side
    ///   is not a multiple of `factor`; `.workingBufferTooLarge` when the resized image exceeds
    ///   `maxPixels` (possible only when `minPixels` forces an upscale) and 8192².
    public func preprocess(_ image: RGBImage, source: String? = nil) throws(ImageError) -> QwenVLPixels {
        let (outH, outW): (Int, Int)
        do {
            (outH, outW) = try resizedSize(width: image.width, height: image.height)
        } catch ImageError.invalidArgument(let message) where source != nil {
            throw .invalidArgument("\(source!): \(message)")
        }
        let f = config.factor
        guard outH % f == 0, outW % f == 0 else {
            throw .invalidArgument(
                "\(source ?? "image") is \(image.width)x\(image.height); with do_resize off both sides must be multiples of \(f)")
        }
        let limit = max(config.maxPixels, ImageDecoder.defaultMaxPixelCount)
        let check = { (w: Int, h: Int, step: String) throws(ImageError) in
            try checkWorkingBuffer(w, h, limit: limit, image: image, source: source, step: step)
        }
        let resized: RGBImage
        if outW == image.width && outH == image.height {
            resized = image
        } else {
            resized = try PaddedCanvas(image).resampled(
                width: outW, height: outH, filter: config.resample, columns: 0..<outW, rows: 0..<outH, check: check)
        }
        let plain = ImagePreprocessorConfig(
            imageMean: config.imageMean, imageStd: config.imageStd, doResize: false, doCenterCrop: false,
            doRescale: config.doRescale, rescaleFactor: config.rescaleFactor, doNormalize: config.doNormalize)
        return patchify(try ImagePreprocessor(config: plain).normalize(resized))
    }

    /// Decodes the file at `path` with `decoder` and preprocesses it.
    public func preprocess(contentsOf path: String, decoder: ImageDecoder = ImageDecoder()) throws(ImageError) -> QwenVLPixels {
        try preprocess(try decoder.decode(contentsOf: path), source: path)
    }

    /// `[3, H, W]` → `[gridH·gridW, 3·T·p²]` in merge-block order (transformers' `patchify`).
    func patchify(_ chw: PixelValues) -> QwenVLPixels {
        let p = config.patchSize, m = config.mergeSize, t = config.temporalPatchSize
        let gh = chw.height / p, gw = chw.width / p
        let dim = config.patchDimension
        var out = [Float](repeating: 0, count: gh * gw * dim)
        let plane = chw.height * chw.width
        chw.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var row = 0
                for bh in 0..<(gh / m) {
                    for bw in 0..<(gw / m) {
                        for mh in 0..<m {
                            for mw in 0..<m {
                                let y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p
                                var col = row * dim
                                for c in 0..<3 {
                                    for _ in 0..<t {
                                        for y in 0..<p {
                                            let base = c * plane + (y0 + y) * chw.width + x0
                                            for x in 0..<p { dst[col + x] = src[base + x] }
                                            col += p
                                        }
                                    }
                                }
                                row += 1
                            }
                        }
                    }
                }
            }
        }
        return QwenVLPixels(gridT: 1, gridH: gh, gridW: gw, patchDimension: dim, values: out)
    }
}
