import CImageCodecs

/// libpng decode through the low-level API (the simplified API composites alpha onto a
/// background, which `convert("RGB")` does not do), then Pillow's `convert("RGB")` rules.
func decodePNG(_ bytes: [UInt8], source: String, maxPixelCount: Int) throws(ImageError) -> RGBImage {
    func failure(_ ctx: UnsafeMutablePointer<yopo_png>) -> ImageError {
        let message = withUnsafeBytes(of: ctx.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if ctx.pointee.hit_end_of_data != 0 {
            return .truncated(source: source, format: .png, detail: "premature end of data")
        }
        return .corrupt(source: source, format: .png, detail: message.isEmpty ? "unknown libpng error" : message)
    }

    try checkPNGHeader(bytes, source: source, maxPixelCount: maxPixelCount)
    return try bytes.withUnsafeBufferPointer { (buffer) throws(ImageError) -> RGBImage in
        guard let ctx = yopo_png_open(buffer.baseAddress, buffer.count) else {
            throw .invalidArgument("out of memory creating a PNG decoder for '\(source)'")
        }
        defer { yopo_png_close(ctx) }
        guard yopo_png_read_info(ctx) != 0 else { throw failure(ctx) }
        let png = ctx.pointee.png, info = ctx.pointee.info
        let width = Int(png_get_image_width(png, info)), height = Int(png_get_image_height(png, info))
        let sourceColorType = Int32(png_get_color_type(png, info))
        try checkPixelBudget(width: width, height: height, limit: maxPixelCount, source: source)

        guard yopo_png_prepare(ctx) != 0 else { throw failure(ctx) }
        let channels = Int(png_get_channels(png, info))
        let depth = Int(png_get_bit_depth(png, info))
        let rowBytes = Int(png_get_rowbytes(png, info))
        guard (1...4).contains(channels), depth == 8 || depth == 16, rowBytes == width * channels * depth / 8 else {
            throw .unsupportedFeature(
                source: source, format: .png,
                detail: "\(channels) channels of \(depth) bits after expansion")
        }

        // width × height passed the pixel budget, so these products are bounded; checked anyway.
        let (rawCount, rawOverflow) = rowBytes.multipliedReportingOverflow(by: height)
        guard !rawOverflow, rowBytes > 0 else {
            throw .tooLarge(source: source, width: width, height: height, maxPixelCount: maxPixelCount)
        }
        var raw = [UInt8](repeating: 0, count: rawCount)
        let read = raw.withUnsafeMutableBufferPointer { (buf) -> Int32 in
            var rows: [UnsafeMutablePointer<UInt8>?] = (0..<height).map { buf.baseAddress! + $0 * rowBytes }
            return rows.withUnsafeMutableBufferPointer { yopo_png_read_image(ctx, $0.baseAddress, rowBytes) }
        }
        guard read != 0 else { throw failure(ctx) }

        let isGreyOnly = sourceColorType == PNG_COLOR_TYPE_GRAY
        return RGBImage(
            unchecked: width, height,
            pngSamplesToRGB(
                raw, pixelCount: width * height, channels: channels, depth: depth,
                clampGrey16: isGreyOnly))
    }
}

/// Pillow's `convert("RGB")` for PNG samples (big-endian when 16-bit):
/// - grey and grey+alpha are replicated, colour is copied, alpha is dropped;
/// - 16-bit samples keep their high byte (`RGB;16B`, `RGBA;16B`, `LA;16B` unpackers), except
///   16-bit grey without alpha, which Pillow opens as `I;16` and converts by clamping to 255.
func pngSamplesToRGB(_ raw: [UInt8], pixelCount: Int, channels: Int, depth: Int, clampGrey16: Bool) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: pixelCount * 3)
    let bytesPerSample = depth / 8
    let stride = channels * bytesPerSample
    raw.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            if channels <= 2 {
                let grey16Clamp = depth == 16 && channels == 1 && clampGrey16
                for i in 0..<pixelCount {
                    let p = i * stride
                    let v: UInt8
                    if grey16Clamp {
                        let sample = Int(src[p]) << 8 | Int(src[p + 1])
                        v = UInt8(min(sample, 255))
                    } else {
                        v = src[p]  // 8-bit value, or the high byte of a 16-bit one
                    }
                    dst[3 * i] = v
                    dst[3 * i + 1] = v
                    dst[3 * i + 2] = v
                }
            } else {
                for i in 0..<pixelCount {
                    let p = i * stride
                    dst[3 * i] = src[p]
                    dst[3 * i + 1] = src[p + bytesPerSample]
                    dst[3 * i + 2] = src[p + 2 * bytesPerSample]
                }
            }
        }
    }
    return out
}

/// The largest width or height libpng reads by default (`PNG_USER_WIDTH_MAX`, `PNG_USER_HEIGHT_MAX`).
let pngMaxSide = 1_000_000

/// Deflate's largest expansion: a 258-byte match in 2 bits, 1032 output bytes per input byte.
let deflateMaxRatio = 1032

/// Checks the IHDR chunk before libpng sees the file, so that a bad header gets a message naming
/// the field, and a file that announces more pixels than it can hold fails before any allocation:
/// - each field against the PNG specification (libpng rejects the same values, with one message
///   for all: "Invalid IHDR data"), and each side against libpng's 1,000,000-pixel limit;
/// - `width × height` against `maxPixelCount` (`.tooLarge`);
/// - the pixel data against what the file's bytes can inflate to at most (`.truncated`): a
///   100-byte file announcing 8192 × 8192 pixels cannot be complete, and libpng would only notice
///   after allocating and inflating row by row.
/// A file too short to hold an IHDR, or whose first chunk is not one, is left to libpng.
func checkPNGHeader(_ bytes: [UInt8], source: String, maxPixelCount: Int) throws(ImageError) {
    guard bytes.count >= 33, Array(bytes[12..<16]) == Array("IHDR".utf8) else { return }
    func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
    func corrupt(_ detail: String) -> ImageError { .corrupt(source: source, format: .png, detail: "IHDR: " + detail) }
    let length = u32(8)
    guard length == 13 else { throw corrupt("the header chunk is \(length) bytes long; allowed: 13") }
    let width = u32(16), height = u32(20)
    let depth = Int(bytes[24]), colorType = Int(bytes[25])
    let compression = Int(bytes[26]), filter = Int(bytes[27]), interlace = Int(bytes[28])
    let limit = 0x7FFF_FFFF
    for (name, value) in [("width", width), ("height", height)] {
        if value == 0 { throw corrupt("\(name) is 0; allowed: 1 to \(limit)") }
        if value > limit { throw corrupt("\(name) is \(value); allowed: 1 to \(limit)") }
    }
    let depths: [Int: (name: String, depths: [Int], channels: Int)] = [
        0: ("greyscale", [1, 2, 4, 8, 16], 1), 2: ("RGB", [8, 16], 3), 3: ("palette", [1, 2, 4, 8], 1),
        4: ("greyscale with alpha", [8, 16], 2), 6: ("RGBA", [8, 16], 4)
    ]
    guard let kind = depths[colorType] else {
        throw corrupt(
            "colour type \(colorType) does not exist; allowed: 0 (greyscale), 2 (RGB), 3 (palette), "
                + "4 (greyscale with alpha), 6 (RGBA)")
    }
    guard kind.depths.contains(depth) else {
        throw corrupt(
            "bit depth \(depth) is not allowed for \(kind.name) images; allowed: "
                + kind.depths.map(String.init).joined(separator: ", "))
    }
    guard compression == 0 else { throw corrupt("compression method \(compression) does not exist; allowed: 0") }
    guard filter == 0 else { throw corrupt("filter method \(filter) does not exist; allowed: 0") }
    guard interlace <= 1 else { throw corrupt("interlace method \(interlace) does not exist; allowed: 0 (none), 1 (Adam7)") }
    try checkPixelBudget(width: width, height: height, limit: maxPixelCount, source: source)
    for (name, value) in [("width", width), ("height", height)] where value > pngMaxSide {
        throw .unsupportedFeature(
            source: source, format: .png,
            detail: "\(name) \(value) is more than the \(pngMaxSide) pixels a side libpng reads")
    }
    // width × height ≤ maxPixelCount here, so the products below are bounded.
    let pixelBytes = width * height * kind.channels * depth / 8
    let (most, overflow) = bytes.count.multipliedReportingOverflow(by: deflateMaxRatio)
    if !overflow && pixelBytes > most + 1024 {
        throw .truncated(
            source: source, format: .png,
            detail: "the \(bytes.count)-byte file is too short to hold a \(width)×\(height) image")
    }
    try checkPNGDataSize(
        bytes, source: source, width: width, height: height,
        bitsPerPixel: kind.channels * depth, interlaced: interlace == 1)
}

/// The most image data (IDAT) bytes a PNG of the given size may have: its filtered scanlines
/// (`filteredPNGSize`), plus a quarter of them and 64 KiB for the deflate and zlib framing. zlib
/// expands incompressible data by 5 bytes per 64 KiB stored block, but simple encoders (e.g.
/// stb_image_write) only write fixed-Huffman blocks, whose literals take up to 9 bits (+12.5%).
func pngMaxDataSize(filtered: Int) -> Int {
    let (sum, overflow) = filtered.addingReportingOverflow(filtered / 4 + 65536)
    return overflow ? Int.max : sum
}

/// Bytes of filtered scanlines (a filter byte and the packed pixels per row, per Adam7 pass when
/// interlaced) of a `width × height` PNG; `Int.max` if too large to compute.
func filteredPNGSize(width: Int, height: Int, bitsPerPixel: Int, interlaced: Bool) -> Int {
    // Adam7 passes: (x start, y start, x step, y step).
    let passes =
        interlaced
        ? [
            (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
            (0, 1, 1, 2)
        ]
        : [(0, 0, 1, 1)]
    var total = 0
    for (x0, y0, dx, dy) in passes where width > x0 && height > y0 {
        let passWidth = (width - x0 + dx - 1) / dx, passHeight = (height - y0 + dy - 1) / dy
        let (bits, o1) = passWidth.multipliedReportingOverflow(by: bitsPerPixel)
        let (rows, o2) = ((bits + 7) / 8 + 1).multipliedReportingOverflow(by: passHeight)
        let (sum, o3) = total.addingReportingOverflow(rows)
        if o1 || o2 || o3 { return Int.max }
        total = sum
    }
    return total
}

/// Refuses a PNG whose image data (the IDAT chunks together) is far larger than its pixels can
/// need (`pngMaxDataSize`). libpng inflates the whole zlib stream, also after the last row, so a
/// 1×1 image with 4 MB of compressed zeros costs the inflation of 4 GB (9 s; minutes at the file
/// size limit). Chunks are walked by their length fields only; a malformed or truncated chunk
/// list ends the walk and is left to libpng.
func checkPNGDataSize(
    _ bytes: [UInt8], source: String, width: Int, height: Int, bitsPerPixel: Int,
    interlaced: Bool
) throws(ImageError) {
    var position = 8, data = 0
    while position + 8 <= bytes.count {
        let length =
            Int(bytes[position]) << 24 | Int(bytes[position + 1]) << 16 | Int(bytes[position + 2]) << 8
            | Int(bytes[position + 3])
        let type = bytes[(position + 4)..<(position + 8)]
        if type.elementsEqual("IEND".utf8) { break }
        if type.elementsEqual("IDAT".utf8) { data += length }  // ≤ 2^32 per chunk, ≤ 256 MiB file: no overflow
        position += 12 + length
    }
    let filtered = filteredPNGSize(width: width, height: height, bitsPerPixel: bitsPerPixel, interlaced: interlaced)
    let most = pngMaxDataSize(filtered: filtered)
    if data > most {
        throw .corrupt(
            source: source, format: .png,
            detail: "\(data) bytes of compressed image data, more than the \(most) a \(width)×\(height) "
                + "image can need (its \(filtered) bytes of pixel rows, plus deflate overhead)")
    }
}
