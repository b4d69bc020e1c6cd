/// Everything that can go wrong while reading, resizing or preprocessing an image.
///
/// Each case renders (via `description`) as one line in user terms that names the problem, the file
/// and what is allowed, e.g.
/// `cannot decode image 'photo.webp': unsupported image format (WebP); supported: JPEG, PNG`.
/// `source` is the path given by the caller, or the label passed to `ImageDecoder.decode(_:source:)`
/// for in-memory data; it is `nil` when an in-memory `RGBImage` is preprocessed without a label.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist.
    case fileNotFound(path: String)
    /// The path exists but could not be read (a directory, a device, no permission, I/O error);
    /// `reason` says which, in words.
    case unreadableFile(path: String, reason: String)
    /// The file is larger than the decoder's `maxFileSize` bytes (a regular file is refused from its
    /// size before reading; a pipe once that many bytes have arrived).
    case fileTooLarge(path: String, limit: Int)
    /// The path is the empty string.
    case emptyPath
    /// The file or buffer holds zero bytes.
    case emptyFile(source: String)
    /// The bytes are not JPEG or PNG. `detected` names what the magic bytes say (e.g. "WebP",
    /// "GIF"), or describes the first bytes when nothing is recognised.
    case unsupportedFormat(source: String, detected: String)
    /// The data ends before the image does (libjpeg's "premature end of data", libpng's read past
    /// the end of the buffer).
    case truncated(source: String, format: ImageFormat, detail: String)
    /// The decoder rejected the data (bad marker, CRC or zlib error, impossible header, …);
    /// `detail` is the library's message.
    case corrupt(source: String, format: ImageFormat, detail: String)
    /// A valid file using a feature this decoder does not handle (e.g. a 2-channel JPEG).
    case unsupportedFeature(source: String, format: ImageFormat, detail: String)
    /// The header announces more than `maxPixelCount` pixels (`width × height`, in pixels);
    /// nothing was allocated.
    case tooLarge(source: String, width: Int, height: Int, maxPixelCount: Int)
    /// `.pad` mode: the `side × side` square the `width × height` image would be padded to has a
    /// side above `limit` pixels.
    case paddedSquareTooLarge(source: String?, width: Int, height: Int, side: Int, limit: Int)
    /// The resize step would make the `width × height` input (the padded square in `.pad` mode)
    /// `resizedWidth × resizedHeight` pixels, a side above `limit`. A value of `Int.max` stands for
    /// a size too large to compute.
    case resizedImageTooLarge(
        source: String?, width: Int, height: Int, resizedWidth: Int, resizedHeight: Int,
        limit: Int)
    /// A buffer of `pixels` pixels (`Int.max`: too large to compute) would be needed while
    /// preprocessing the `width × height` image (`step` names the step), more than `limit` pixels.
    case workingBufferTooLarge(source: String?, width: Int, height: Int, step: String, pixels: Int, limit: Int)
    /// An image processor setting (`preprocessor_config.json` / `processor_config.json`) that
    /// cannot be used: `key` is its path inside the JSON object (e.g. `size.shortest_edge`),
    /// `problem` what is wrong and what is allowed.
    case invalidConfiguration(key: String, problem: String)
    /// A size, buffer length or configuration value that cannot be used.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "cannot read image '\(path)': no such file"
        case .unreadableFile(let path, let reason):
            return "cannot read image '\(path)': \(reason)"
        case .fileTooLarge(let path, let limit):
            return "cannot read image '\(path)': the file is larger than the limit of \(limit) bytes"
                + (limit % (1 << 20) == 0 ? " (\(limit >> 20) MiB)" : "")
        case .emptyPath:
            return "cannot read image: the image path is empty"
        case .emptyFile(let source):
            return "cannot decode image '\(source)': the file is empty (0 bytes)"
        case .unsupportedFormat(let source, let detected):
            return "cannot decode image '\(source)': unsupported image format (\(detected)); supported: "
                + ImageFormat.allCases.map(\.name).joined(separator: ", ")
        case .truncated(let source, let format, let detail):
            return "cannot decode image '\(source)': truncated \(format.name) data (\(detail))"
        case .corrupt(let source, let format, let detail):
            return "cannot decode image '\(source)': corrupt \(format.name) data (\(detail))"
        case .unsupportedFeature(let source, let format, let detail):
            return "cannot decode image '\(source)': unsupported \(format.name) variant (\(detail))"
        case .tooLarge(let source, let width, let height, let maxPixelCount):
            let (count, overflow) = width.multipliedReportingOverflow(by: height)
            return "cannot decode image '\(source)': it is \(width)×\(height) = "
                + "\(overflow ? "too many" : String(count)) pixels, more than the \(pixelLimit(maxPixelCount)) allowed"
        case .paddedSquareTooLarge(let source, let width, let height, let side, let limit):
            return "cannot preprocess \(imageName(source, width, height)): it is too elongated to pad to a square; "
                + "the square would be \(side)×\(side) pixels, more than the \(limit)×\(limit) allowed"
        case .resizedImageTooLarge(let source, let width, let height, let rw, let rh, let limit):
            let size = rw == Int.max || rh == Int.max ? "too large to compute" : "\(rw)×\(rh) pixels"
            return "cannot preprocess \(imageName(source, width, height)): it is too elongated to resize; "
                + "the resized image would be \(size), more than \(limit) pixels a side allowed"
        case .workingBufferTooLarge(let source, let width, let height, let step, let pixels, let limit):
            return "cannot preprocess \(imageName(source, width, height)): \(step) would need "
                + "\(pixels == Int.max ? "too many" : String(pixels)) pixels of working memory, more than the "
                + "\(pixelLimit(limit)) allowed"
        case .invalidConfiguration(let key, let problem):
            return key.isEmpty ? "image processor config \(problem)" : "image processor setting \(key) \(problem)"
        case .invalidArgument(let message):
            return message
        }
    }
}

/// "image 'path' (W×H)" or "image W×H" when there is no label.
private func imageName(_ source: String?, _ width: Int, _ height: Int) -> String {
    if let source { return "image '\(source)' (\(width)×\(height))" }
    return "image \(width)×\(height)"
}

/// "67108864 (8192×8192)" for a square limit, else the number.
private func pixelLimit(_ limit: Int) -> String {
    guard limit > 0 else { return String(limit) }
    let root = Int(Double(limit).squareRoot().rounded())
    return root * root == limit ? "\(limit) (\(root)×\(root))" : String(limit)
}
