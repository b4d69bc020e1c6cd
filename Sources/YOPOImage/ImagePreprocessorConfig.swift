/// The keys of a CLIPImageProcessor `preprocessor_config.json` that affect pixels, decoded with
/// transformers' rules (`CLIPImageProcessor` class defaults for missing keys; `size` and
/// `crop_size` accept both the legacy integer form and the dictionary form). Other keys
/// (`image_processor_type`, `processor_class`, `feature_extractor_type`, …) are ignored.
///
/// ```json
/// {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
///  "size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}, "resample": 3,
///  "do_resize": true, "do_center_crop": true, "do_rescale": true, "rescale_factor": 0.00392156862745098,
///  "do_normalize": true, "do_convert_rgb": true}
/// ```
public struct ImagePreprocessorConfig: Codable, Sendable, Equatable {
    /// The resize target (`size`).
    public enum Size: Sendable, Equatable {
        /// `{"shortest_edge": n}` or a bare integer: the short side becomes n, the long side
        /// `int(n · long / short)` (transformers' `get_resize_output_image_size`, truncating).
        case shortestEdge(Int)
        /// `{"height": h, "width": w}`: resize to exactly h × w, ignoring the aspect ratio.
        case exact(height: Int, width: Int)
    }

    /// Per-channel mean (R, G, B) subtracted after rescaling (`image_mean`).
    public var imageMean: [Double]
    /// Per-channel standard deviation (R, G, B) dividing after the mean (`image_std`).
    public var imageStd: [Double]
    /// Resize target (`size`).
    public var size: Size
    /// Centre-crop size in pixels (`crop_size`, height then width).
    public var cropHeight: Int
    public var cropWidth: Int
    /// `do_resize`.
    public var doResize: Bool
    /// `do_center_crop`.
    public var doCenterCrop: Bool
    /// `do_rescale`: multiply by `rescaleFactor`.
    public var doRescale: Bool
    /// `rescale_factor`, default 1/255.
    public var rescaleFactor: Double
    /// `do_normalize`: `(x − mean) / std`.
    public var doNormalize: Bool
    /// `do_convert_rgb`. Informational: `ImageDecoder` always yields RGB.
    public var doConvertRGB: Bool
    /// `resample` as a `PIL.Image.Resampling` number; 3 = BICUBIC.
    public var resample: ResampleFilter

    /// OpenAI CLIP normalisation constants (transformers' `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD`).
    public static let openAIClipMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIClipStd = [0.26862954, 0.26130258, 0.27577711]

    public init(imageMean: [Double] = openAIClipMean, imageStd: [Double] = openAIClipStd,
                size: Size = .shortestEdge(224), cropHeight: Int = 224, cropWidth: Int = 224,
                doResize: Bool = true, doCenterCrop: Bool = true, doRescale: Bool = true,
                rescaleFactor: Double = 1.0 / 255.0, doNormalize: Bool = true, doConvertRGB: Bool = true,
                resample: ResampleFilter = .bicubic) {
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.size = size
        self.cropHeight = cropHeight
        self.cropWidth = cropWidth
        self.doResize = doResize
        self.doCenterCrop = doCenterCrop
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.doConvertRGB = doConvertRGB
        self.resample = resample
    }

    /// `openai/clip-vit-large-patch14-336` as used by LLaVA-1.5 (original and llava-hf): CLIP
    /// mean/std, shortest edge 336, centre crop 336 × 336, BICUBIC, rescale 1/255.
    public static let clipViTLarge336 = ImagePreprocessorConfig(size: .shortestEdge(336), cropHeight: 336, cropWidth: 336)

    enum CodingKeys: String, CodingKey {
        case imageMean = "image_mean", imageStd = "image_std", size, cropSize = "crop_size"
        case doResize = "do_resize", doCenterCrop = "do_center_crop", doRescale = "do_rescale"
        case rescaleFactor = "rescale_factor", doNormalize = "do_normalize", doConvertRGB = "do_convert_rgb"
        case resample
    }

    private struct SizeKeys: Decodable {
        var shortestEdge: Int?
        var longestEdge: Int?
        var height: Int?
        var width: Int?
        enum CodingKeys: String, CodingKey {
            case shortestEdge = "shortest_edge", longestEdge = "longest_edge", height, width
        }
    }

    /// Decodes with CLIPImageProcessor defaults for absent keys.
    /// - Throws: `DecodingError.dataCorrupted` naming the key for values transformers would reject
    ///   or that this package does not implement (`longest_edge`, NEAREST resampling, a mean/std
    ///   without 3 entries, a zero std, sizes below 1).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ImagePreprocessorConfig()
        func channels(_ key: CodingKeys, _ fallback: [Double]) throws -> [Double] {
            guard c.contains(key) else { return fallback }
            if let scalar = try? c.decode(Double.self, forKey: key) { return [scalar, scalar, scalar] }
            let values = try c.decode([Double].self, forKey: key)
            guard values.count == 3 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c,
                    debugDescription: "\(key.rawValue) must have 3 entries (R, G, B), got \(values.count)")
            }
            return values
        }
        imageMean = try channels(.imageMean, d.imageMean)
        imageStd = try channels(.imageStd, d.imageStd)
        if imageStd.contains(0) {
            throw DecodingError.dataCorruptedError(forKey: .imageStd, in: c, debugDescription: "image_std contains 0")
        }

        size = d.size
        if c.contains(.size) {
            if let n = try? c.decode(Int.self, forKey: .size) {
                size = .shortestEdge(n)
            } else {
                let s = try c.decode(SizeKeys.self, forKey: .size)
                if s.longestEdge != nil {
                    throw DecodingError.dataCorruptedError(forKey: .size, in: c,
                        debugDescription: "size.longest_edge is not supported; use shortest_edge or height/width")
                }
                if let n = s.shortestEdge {
                    size = .shortestEdge(n)
                } else if let h = s.height, let w = s.width {
                    size = .exact(height: h, width: w)
                } else {
                    throw DecodingError.dataCorruptedError(forKey: .size, in: c,
                        debugDescription: "size needs shortest_edge, or height and width")
                }
            }
        }
        let sizeIsValid: Bool
        switch size {
        case .shortestEdge(let n): sizeIsValid = n >= 1
        case .exact(let h, let w): sizeIsValid = h >= 1 && w >= 1
        }
        if !sizeIsValid {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "size must be at least 1")
        }

        cropHeight = d.cropHeight
        cropWidth = d.cropWidth
        if c.contains(.cropSize) {
            if let n = try? c.decode(Int.self, forKey: .cropSize) {
                cropHeight = n
                cropWidth = n
            } else {
                let s = try c.decode(SizeKeys.self, forKey: .cropSize)
                guard let h = s.height, let w = s.width else {
                    throw DecodingError.dataCorruptedError(forKey: .cropSize, in: c,
                        debugDescription: "crop_size needs height and width")
                }
                cropHeight = h
                cropWidth = w
            }
        }
        if cropHeight < 1 || cropWidth < 1 {
            throw DecodingError.dataCorruptedError(forKey: .cropSize, in: c, debugDescription: "crop_size must be at least 1")
        }

        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? d.doResize
        doCenterCrop = try c.decodeIfPresent(Bool.self, forKey: .doCenterCrop) ?? d.doCenterCrop
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? d.doRescale
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? d.rescaleFactor
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? d.doNormalize
        doConvertRGB = try c.decodeIfPresent(Bool.self, forKey: .doConvertRGB) ?? d.doConvertRGB
        if let number = try c.decodeIfPresent(Int.self, forKey: .resample) {
            guard let filter = ResampleFilter(rawValue: number) else {
                throw DecodingError.dataCorruptedError(forKey: .resample, in: c,
                    debugDescription: "resample \(number) is not supported; supported: 1 (LANCZOS), 2 (BILINEAR), "
                        + "3 (BICUBIC), 4 (BOX), 5 (HAMMING)")
            }
            resample = filter
        } else {
            resample = d.resample
        }
    }

    /// Encodes in transformers 5's dictionary form (`size` and `crop_size` as objects).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(imageMean, forKey: .imageMean)
        try c.encode(imageStd, forKey: .imageStd)
        switch size {
        case .shortestEdge(let n): try c.encode(["shortest_edge": n], forKey: .size)
        case .exact(let h, let w): try c.encode(["height": h, "width": w], forKey: .size)
        }
        try c.encode(["height": cropHeight, "width": cropWidth], forKey: .cropSize)
        try c.encode(doResize, forKey: .doResize)
        try c.encode(doCenterCrop, forKey: .doCenterCrop)
        try c.encode(doRescale, forKey: .doRescale)
        try c.encode(rescaleFactor, forKey: .rescaleFactor)
        try c.encode(doNormalize, forKey: .doNormalize)
        try c.encode(doConvertRGB, forKey: .doConvertRGB)
        try c.encode(resample.rawValue, forKey: .resample)
    }
}
