/// Everything that can go wrong while reading, resizing or preprocessing an image.
///
/// Each case renders (via `description`) as one line that names the problem and the file, e.g.
/// `cannot decode image 'photo.webp': unsupported image format (WebP); supported: JPEG, PNG`.
/// `source` is the path given by the caller, or the label passed to `ImageDecoder.decode(_:source:)`
/// for in-memory data.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist.
    case fileNotFound(path: String)
    /// The path exists but could not be read (a directory, no permission, I/O error).
    case unreadableFile(path: String, reason: String)
    /// The file is larger than the decoder's `maxFileSize` (checked before reading it whole).
    case fileTooLarge(path: String, limit: Int)
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
    /// The header announces more pixels than the decoder's `maxPixelCount`; nothing was allocated.
    case tooLarge(source: String, width: Int, height: Int, maxPixelCount: Int)
    /// A size, buffer length or configuration value that cannot be used.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "cannot read image '\(path)': no such file"
        case .unreadableFile(let path, let reason):
            return "cannot read image '\(path)': \(reason)"
        case .fileTooLarge(let path, let limit):
            return "cannot read image '\(path)': the file is larger than the limit of \(limit) bytes "
                + "(ImageDecoder.maxFileSize)"
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
            return "cannot decode image '\(source)': \(width)x\(height) = \(overflow ? "too many" : String(count)) "
                + "pixels exceeds the limit of \(maxPixelCount) pixels (ImageDecoder.maxPixelCount)"
        case .invalidArgument(let message):
            return message
        }
    }
}
