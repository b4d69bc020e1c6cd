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

    public init(
        imageMean: [Double] = openAIClipMean, imageStd: [Double] = openAIClipStd,
        size: Size = .shortestEdge(224), cropHeight: Int = 224, cropWidth: Int = 224,
        doResize: Bool = true, doCenterCrop: Bool = true, doRescale: Bool = true,
        rescaleFactor: Double = 1.0 / 255.0, doNormalize: Bool = true, doConvertRGB: Bool = true,
        resample: ResampleFilter = .bicubic
    ) {
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

    /// Allowed `size` / `crop_size` values, in pixels. The vision tower's input is a few hundred
    /// pixels (336 for LLaVA-1.5); 8192 × 8192 is the decoder's pixel budget.
    public static let sizeRange = 1...8192
    /// Allowed `image_mean` entries (the mean is in rescaled units: 0…1 after `rescale_factor`
    /// 1/255, 0…255 without rescaling).
    public static let meanRange = 0.0...255.0
    /// Largest `image_std` entry; entries must also be greater than 0.
    public static let maxStd = 255.0

    /// Any string key (the decoders of processor configs read keys by name).
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes with CLIPImageProcessor defaults for absent keys (and for `null`, as transformers
    /// treats `None`). `size` and `crop_size` take an integer or an object; `image_mean` and
    /// `image_std` a number or a list of 3 numbers.
    /// - Throws: `ImageError.invalidConfiguration` naming the key (e.g. `size.shortest_edge`), the
    ///   value found and what is allowed, for a value of the wrong type, out of range
    ///   (sizes 1…8192, mean 0…255, std in (0, 255], `rescale_factor` in (0, 1], `resample` 1…5)
    ///   or not implemented (`size.longest_edge`, NEAREST resampling); also when the config is not
    ///   a JSON object (key: the empty string).
    public init(from decoder: Decoder) throws {
        guard let c = try? decoder.container(keyedBy: AnyKey.self) else {
            throw ImageError.invalidConfiguration(
                key: "", problem: "is \(Self.describe(try decoder.singleValueContainer())); allowed: a JSON object")
        }
        let d = ImagePreprocessorConfig()
        func present(_ key: String) -> Bool {
            c.contains(AnyKey(key)) && (try? c.decodeNil(forKey: AnyKey(key))) != true
        }
        func fail(
            _ key: String, _ container: KeyedDecodingContainer<AnyKey>, name: String? = nil,
            allowed: String
        ) -> ImageError {
            let what = Self.describe(container, AnyKey(key))
            return .invalidConfiguration(key: name ?? key, problem: "is \(what); allowed: \(allowed)")
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard present(key) else { return fallback }
            guard let value = try? c.decode(Bool.self, forKey: AnyKey(key)) else {
                throw fail(key, c, allowed: "true or false")
            }
            return value
        }
        func channels(_ key: String, _ fallback: [Double]) throws -> [Double] {
            guard present(key) else { return fallback }
            if let scalar = try? c.decode(Double.self, forKey: AnyKey(key)) { return [scalar, scalar, scalar] }
            guard let values = try? c.decode([Double].self, forKey: AnyKey(key)) else {
                if (try? c.nestedUnkeyedContainer(forKey: AnyKey(key))) != nil {
                    throw ImageError.invalidConfiguration(
                        key: key, problem: "has an entry that is not a number; allowed: a number or a list of 3 numbers (R, G, B)")
                }
                throw fail(key, c, allowed: "a number or a list of 3 numbers (R, G, B)")
            }
            guard values.count == 3 else {
                throw ImageError.invalidConfiguration(
                    key: key, problem: "has \(values.count) entries; allowed: a number or a list of 3 numbers (R, G, B)")
            }
            return values
        }
        /// A whole number in `sizeRange` at `key` of `container`; `name` is its full key path.
        func pixels(_ key: String, in container: KeyedDecodingContainer<AnyKey>, name: String) throws -> Int {
            let allowed = "whole numbers from \(Self.sizeRange.lowerBound) to \(Self.sizeRange.upperBound)"
            guard let value = try? container.decode(Double.self, forKey: AnyKey(key)),
                value.rounded() == value, value >= Double(Self.sizeRange.lowerBound),
                value <= Double(Self.sizeRange.upperBound)
            else {
                throw fail(key, container, name: name, allowed: allowed)
            }
            return Int(value)
        }
        /// `size` / `crop_size`: an integer, or an object with `height` and `width` (and, for `size`,
        /// `shortest_edge`).
        func sizeObject(_ key: String) throws -> (shortestEdge: Int?, height: Int?, width: Int?, longestEdge: Bool) {
            let isSize = key == "size"
            let forms =
                isSize
                ? "a whole number, {\"shortest_edge\": n} or {\"height\": h, \"width\": w}"
                : "a whole number or {\"height\": h, \"width\": w}"
            if (try? c.decode(Double.self, forKey: AnyKey(key))) != nil {
                let n = try pixels(key, in: c, name: key)
                return isSize ? (n, nil, nil, false) : (nil, n, n, false)
            }
            guard let object = try? c.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey(key)) else {
                throw fail(key, c, allowed: forms)
            }
            func field(_ name: String) throws -> Int? {
                guard object.contains(AnyKey(name)), (try? object.decodeNil(forKey: AnyKey(name))) != true else { return nil }
                return try pixels(name, in: object, name: "\(key).\(name)")
            }
            let longest = object.contains(AnyKey("longest_edge")) && (try? object.decodeNil(forKey: AnyKey("longest_edge"))) != true
            let result = (isSize ? try field("shortest_edge") : nil, try field("height"), try field("width"), longest)
            if isSize && result.0 != nil { return result }
            switch (result.1, result.2) {
            case (_?, _?): return result
            case (_?, nil): throw ImageError.invalidConfiguration(key: key, problem: "has height but no width; allowed: \(forms)")
            case (nil, _?): throw ImageError.invalidConfiguration(key: key, problem: "has width but no height; allowed: \(forms)")
            case (nil, nil):
                if isSize && longest { return result }
                throw ImageError.invalidConfiguration(
                    key: key,
                    problem: "has \(isSize ? "neither shortest_edge nor height and width" : "no height and width"); "
                        + "allowed: \(forms)")
            }
        }

        imageMean = try channels("image_mean", d.imageMean)
        imageStd = try channels("image_std", d.imageStd)

        size = d.size
        if present("size") {
            let s = try sizeObject("size")
            if s.longestEdge {
                throw ImageError.invalidConfiguration(
                    key: "size.longest_edge", problem: "is not supported; allowed: shortest_edge, or height and width")
            }
            if let n = s.shortestEdge {
                size = .shortestEdge(n)
            } else if let h = s.height, let w = s.width {
                size = .exact(height: h, width: w)
            }
        }
        cropHeight = d.cropHeight
        cropWidth = d.cropWidth
        if present("crop_size") {
            let s = try sizeObject("crop_size")
            cropHeight = s.height ?? d.cropHeight
            cropWidth = s.width ?? d.cropWidth
        }

        doResize = try bool("do_resize", d.doResize)
        doCenterCrop = try bool("do_center_crop", d.doCenterCrop)
        doRescale = try bool("do_rescale", d.doRescale)
        doNormalize = try bool("do_normalize", d.doNormalize)
        doConvertRGB = try bool("do_convert_rgb", d.doConvertRGB)
        rescaleFactor = d.rescaleFactor
        if present("rescale_factor") {
            guard let r = try? c.decode(Double.self, forKey: AnyKey("rescale_factor")) else {
                throw fail("rescale_factor", c, allowed: "a number greater than 0 and at most 1 (e.g. 1/255 = 0.00392156862745098)")
            }
            rescaleFactor = r
        }
        resample = d.resample
        if present("resample") {
            let allowed = "1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)"
            guard let number = try? c.decode(Double.self, forKey: AnyKey("resample")), number.rounded() == number,
                abs(number) < 1e9, let filter = ResampleFilter(rawValue: Int(number))
            else {
                if (try? c.decode(Double.self, forKey: AnyKey("resample"))) == 0 {
                    throw ImageError.invalidConfiguration(
                        key: "resample", problem: "is 0 (NEAREST), which is not supported; allowed: \(allowed)")
                }
                throw fail("resample", c, allowed: allowed)
            }
            resample = filter
        }
        try validate()
    }

    /// Checks every value against the ranges `init(from:)` enforces (for configs built in code).
    /// - Throws: `ImageError.invalidConfiguration` naming the first bad key.
    public func validate() throws(ImageError) {
        func number(_ v: Double) -> String { Self.format(v) }
        for (key, values) in [("image_mean", imageMean), ("image_std", imageStd)] where values.count != 3 {
            throw .invalidConfiguration(key: key, problem: "has \(values.count) entries; allowed: a list of 3 numbers (R, G, B)")
        }
        for (i, m) in imageMean.enumerated() where !Self.meanRange.contains(m) {
            throw .invalidConfiguration(
                key: "image_mean", problem: "entry \(i + 1) is \(number(m)); allowed: numbers from 0 to 255")
        }
        for (i, s) in imageStd.enumerated() where !(s > 0 && s <= Self.maxStd) {
            throw .invalidConfiguration(
                key: "image_std", problem: "entry \(i + 1) is \(number(s)); allowed: numbers greater than 0 and at most 255")
        }
        let range = Self.sizeRange
        let allowed = "whole numbers from \(range.lowerBound) to \(range.upperBound)"
        switch size {
        case .shortestEdge(let n) where !range.contains(n):
            throw .invalidConfiguration(key: "size.shortest_edge", problem: "is \(n); allowed: \(allowed)")
        case .exact(let h, _) where !range.contains(h):
            throw .invalidConfiguration(key: "size.height", problem: "is \(h); allowed: \(allowed)")
        case .exact(_, let w) where !range.contains(w):
            throw .invalidConfiguration(key: "size.width", problem: "is \(w); allowed: \(allowed)")
        default: break
        }
        if !range.contains(cropHeight) {
            throw .invalidConfiguration(key: "crop_size.height", problem: "is \(cropHeight); allowed: \(allowed)")
        }
        if !range.contains(cropWidth) {
            throw .invalidConfiguration(key: "crop_size.width", problem: "is \(cropWidth); allowed: \(allowed)")
        }
        if !(rescaleFactor > 0 && rescaleFactor <= 1) {
            throw .invalidConfiguration(
                key: "rescale_factor",
                problem: "is \(number(rescaleFactor)); allowed: a number greater than 0 and at most 1 (e.g. 1/255 = 0.00392156862745098)")
        }
    }

    /// The size of `resizeAndCrop`'s output when it does not depend on the image: the crop with
    /// `do_center_crop`, the exact `size` with `do_resize` alone; nil otherwise (the output would
    /// follow the input's shape).
    public var fixedOutputSize: (width: Int, height: Int)? {
        if doCenterCrop { return (cropWidth, cropHeight) }
        if doResize, case .exact(let h, let w) = size { return (w, h) }
        return nil
    }

    /// `100000`, `0.5`, `1e+300`.
    static func format(_ v: Double) -> String {
        if v.rounded() == v && abs(v) < 1e15 { return String(Int(v)) }
        return "\(v)"
    }

    /// The JSON value at `key`, in words: `the string "336"`, `the number 0.5`, `a list`, `null`, ….
    private static func describe(_ c: KeyedDecodingContainer<AnyKey>, _ key: AnyKey) -> String {
        if (try? c.decodeNil(forKey: key)) == true { return "null" }
        if let b = try? c.decode(Bool.self, forKey: key) { return b ? "true" : "false" }
        if let v = try? c.decode(Double.self, forKey: key) { return format(v) }
        if let s = try? c.decode(String.self, forKey: key) { return "the string \(quoted(s))" }
        if var list = try? c.nestedUnkeyedContainer(forKey: key) {
            var n = 0
            while !list.isAtEnd, (try? list.decode(Discard.self)) != nil { n += 1 }
            return n == 1 ? "a list of 1 entry" : "a list of \(n) entries"
        }
        if (try? c.nestedContainer(keyedBy: AnyKey.self, forKey: key)) != nil { return "an object" }
        return "a number out of range"
    }

    private static func describe(_ c: SingleValueDecodingContainer) -> String {
        if c.decodeNil() { return "null" }
        if let b = try? c.decode(Bool.self) { return b ? "true" : "false" }
        if let v = try? c.decode(Double.self) { return format(v) }
        if let s = try? c.decode(String.self) { return "the string \(quoted(s))" }
        return "a list"
    }

    private static func quoted(_ s: String) -> String {
        s.count > 40 ? "\"\(s.prefix(40))…\"" : "\"\(s)\""
    }

    /// Decodes (and drops) any JSON value.
    private struct Discard: Decodable {
        init(from decoder: Decoder) throws {}
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
