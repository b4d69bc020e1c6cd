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
            throw .unsupportedFeature(source: source, format: .png,
                                      detail: "\(channels) channels of \(depth) bits after expansion")
        }

        var raw = [UInt8](repeating: 0, count: rowBytes * height)
        let read = raw.withUnsafeMutableBufferPointer { (buf) -> Int32 in
            var rows: [UnsafeMutablePointer<UInt8>?] = (0..<height).map { buf.baseAddress! + $0 * rowBytes }
            return rows.withUnsafeMutableBufferPointer { yopo_png_read_image(ctx, $0.baseAddress) }
        }
        guard read != 0 else { throw failure(ctx) }

        let isGreyOnly = sourceColorType == PNG_COLOR_TYPE_GRAY
        return RGBImage(unchecked: width, height,
                        pngSamplesToRGB(raw, pixelCount: width * height, channels: channels, depth: depth,
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
