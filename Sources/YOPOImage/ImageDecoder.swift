#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes JPEG and PNG files to 8-bit RGB with the semantics of Pillow's
/// `Image.open(f).convert("RGB")` (Pillow 13.0.0), through libjpeg-turbo and libpng.
///
/// Conversion rules (verified against Pillow goldens in Tests/Fixtures/images, except the EXIF
/// rule, which no fixture exercises):
/// - alpha (RGBA, LA, palette or colour-key tRNS) is **dropped, not composited**: transparent
///   pixels keep their stored colour;
/// - greyscale is replicated to three channels; 1-, 2- and 4-bit grey is scaled to 0…255
///   (`v · 255 / (2^bits − 1)`); palettes are expanded;
/// - 16-bit RGB, RGBA and grey+alpha keep the high byte of each sample (Pillow's `RGB;16B`,
///   `RGBA;16B`, `LA;16B` unpackers);
/// - 16-bit grey is **clamped**, not scaled: Pillow opens it as mode `I;16` and `convert("RGB")`
///   maps v to `min(v, 255)`;
/// - JPEG uses libjpeg's default islow IDCT and fancy upsampling, as Pillow does; CMYK/YCCK JPEGs
///   are read with Adobe (inverted) polarity and converted like Pillow's `cmyk2rgb`
///   (src/libImaging/Convert.c): `R = (255 − K) − (C·(255 − K)) / 255` with Pillow's rounding;
/// - EXIF orientation is ignored (Pillow's `open` + `convert` does not apply it);
/// - embedded ICC profiles (chelsea.png, hubble_deep_field.jpg) and gAMA are ignored, as Pillow
///   does without ImageCms.
///
/// Errors are `ImageError` values; libjpeg and libpng never terminate the process.
public struct ImageDecoder: Sendable {
    /// Default `maxPixelCount`: 8192 × 8192 = 67,108,864 pixels (192 MiB of RGB).
    public static let defaultMaxPixelCount = 8192 * 8192

    /// Largest `width × height` accepted. Checked against the header before any pixel memory is
    /// allocated, so a small file announcing a huge image fails fast with `ImageError.tooLarge`.
    public var maxPixelCount: Int

    /// Default `maxFileSize`: 256 MiB.
    public static let defaultMaxFileSize = 256 << 20

    /// Largest file `decode(contentsOf:)` reads, in bytes. Guards against huge files (refused from
    /// their size, before reading) and endless pipes with `ImageError.fileTooLarge`.
    public var maxFileSize: Int

    public init(
        maxPixelCount: Int = ImageDecoder.defaultMaxPixelCount,
        maxFileSize: Int = ImageDecoder.defaultMaxFileSize
    ) {
        self.maxPixelCount = maxPixelCount
        self.maxFileSize = maxFileSize
    }

    /// Reads and decodes the file at `path`. The format comes from the file's magic bytes; the
    /// extension is never consulted.
    /// - Returns: the image as interleaved 8-bit RGB.
    /// - Throws: `ImageError` (`.emptyPath`, `.fileNotFound`, `.unreadableFile` (also for a
    ///   directory, a device or a socket), `.fileTooLarge`, `.emptyFile`, `.unsupportedFormat`,
    ///   `.truncated`, `.corrupt`, `.unsupportedFeature`, `.tooLarge`), each naming `path`.
    public func decode(contentsOf path: String) throws(ImageError) -> RGBImage {
        let bytes = try readFile(path)
        return try decode(bytes, source: path)
    }

    /// Decodes an encoded image held in memory. `source` only labels error messages.
    /// - Throws: as `decode(contentsOf:)`.
    public func decode(_ bytes: [UInt8], source: String = "<memory>") throws(ImageError) -> RGBImage {
        guard !bytes.isEmpty else { throw .emptyFile(source: source) }
        switch ImageFormat.sniff(bytes) {
        case .supported(.jpeg):
            return try decodeJPEG(bytes, source: source, maxPixelCount: maxPixelCount)
        case .supported(.png):
            return try decodePNG(bytes, source: source, maxPixelCount: maxPixelCount)
        case .unsupported(let name), .unknown(let name):
            throw .unsupportedFormat(source: source, detected: name)
        }
    }

    /// Reads the whole file, refusing what cannot be an image file before reading any of it: an
    /// empty path, a directory, a character or block device (`/dev/zero`, a terminal), a socket, a
    /// regular file above `maxFileSize` bytes. Pipes (`/dev/stdin`, `<(…)`, named pipes) are read
    /// up to `maxFileSize` bytes; a named pipe nobody writes to reads as empty instead of blocking.
    private func readFile(_ path: String) throws(ImageError) -> [UInt8] {
        guard !path.isEmpty else { throw .emptyPath }
        func failure(_ code: Int32) -> ImageError {
            if code == ENOENT || code == ENOTDIR { return .fileNotFound(path: path) }
            return .unreadableFile(path: path, reason: String(cString: strerror(code)))
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure(errno) }
        let kind = info.st_mode & S_IFMT
        switch kind {
        case S_IFDIR: throw .unreadableFile(path: path, reason: "it is a directory, not an image file")
        case S_IFCHR, S_IFBLK: throw .unreadableFile(path: path, reason: "it is a device, not an image file")
        case S_IFSOCK: throw .unreadableFile(path: path, reason: "it is a socket, not an image file")
        case S_IFREG:
            if info.st_size > maxFileSize { throw .fileTooLarge(path: path, limit: maxFileSize) }
        default: break  // FIFO: read below, bounded
        }
        // O_NONBLOCK so that opening a named pipe without a writer does not wait for one; reads are
        // blocking again afterwards (a pipe without writers then reads as end of file).
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno) }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        // The type of what was opened (the path may have changed since stat).
        guard fstat(fd, &info) == 0 else { throw failure(errno) }
        let openedKind = info.st_mode & S_IFMT
        guard openedKind == S_IFREG || openedKind == S_IFIFO else {
            throw .unreadableFile(path: path, reason: "it is not a regular file or a pipe")
        }
        if openedKind == S_IFREG && info.st_size > maxFileSize { throw .fileTooLarge(path: path, limit: maxFileSize) }

        var bytes: [UInt8] = []
        if openedKind == S_IFREG { bytes.reserveCapacity(Int(info.st_size)) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            // Checked before appending: never holds more than maxFileSize + one chunk.
            let (total, overflow) = bytes.count.addingReportingOverflow(n)
            if overflow || total > maxFileSize { throw .fileTooLarge(path: path, limit: maxFileSize) }
            bytes.append(contentsOf: chunk[0..<n])
        }
        if bytes.isEmpty && openedKind == S_IFIFO {
            throw .unreadableFile(path: path, reason: "it is a pipe and no data arrived on it")
        }
        return bytes
    }
}

/// Throws `.tooLarge` when `width × height` exceeds `limit` (or overflows).
func checkPixelBudget(width: Int, height: Int, limit: Int, source: String) throws(ImageError) {
    let (count, overflow) = width.multipliedReportingOverflow(by: height)
    if overflow || count > limit {
        throw .tooLarge(source: source, width: width, height: height, maxPixelCount: limit)
    }
}
