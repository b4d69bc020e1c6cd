import CImageCodecs

/// Most scans a JPEG may have: TurboJPEG's `TJFLAG_LIMITSCANS` limit. Real progressive files have
/// about 10; each scan, even an empty one, costs a pass over every block (6.5 ms at 8192 × 8192).
let jpegMaxScans = 500

/// libjpeg-turbo decode with Pillow's settings (JpegDecode.c: default islow IDCT, fancy
/// upsampling, output colour space chosen from the number of components).
func decodeJPEG(_ bytes: [UInt8], source: String, maxPixelCount: Int) throws(ImageError) -> RGBImage {
    func failure(_ ctx: UnsafeMutablePointer<yopo_jpeg>) -> ImageError {
        let message = withUnsafeBytes(of: ctx.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if ctx.pointee.too_many_scans != 0 {
            return .unsupportedFeature(
                source: source, format: .jpeg,
                detail: "a progressive image with more than \(jpegMaxScans) scans; allowed: "
                    + "at most \(jpegMaxScans)")
        }
        if ctx.pointee.hit_end_of_data != 0 {
            return .truncated(source: source, format: .jpeg, detail: message.isEmpty ? "premature end of data" : message)
        }
        return .corrupt(source: source, format: .jpeg, detail: message.isEmpty ? "unknown libjpeg error" : message)
    }
    let truncated = ImageError.truncated(source: source, format: .jpeg, detail: "premature end of data")

    return try bytes.withUnsafeBufferPointer { (buffer) throws(ImageError) -> RGBImage in
        var ok: Int32 = 0
        guard let ctx = yopo_jpeg_open(buffer.baseAddress, UInt(buffer.count), Int32(jpegMaxScans), &ok) else {
            throw .invalidArgument("out of memory creating a JPEG decoder for '\(source)'")
        }
        defer { yopo_jpeg_close(ctx) }
        guard ok != 0 else {
            if ctx.pointee.err.msg_code == Int32(JERR_EMPTY_IMAGE.rawValue) {
                throw .corrupt(source: source, format: .jpeg, detail: "the header gives a width or height of 0")
            }
            throw failure(ctx)
        }
        // Pillow refuses a header that needed the fake EOI libjpeg inserts at the end of data.
        if ctx.pointee.hit_end_of_data != 0 { throw truncated }

        let width = Int(ctx.pointee.cinfo.image_width), height = Int(ctx.pointee.cinfo.image_height)
        try checkPixelBudget(width: width, height: height, limit: maxPixelCount, source: source)

        let components = Int(ctx.pointee.cinfo.num_components)
        // A Huffman-coded file spends at least 2 bits on every 8×8 block (a DC code and an
        // end-of-block code), at least 1 in a progressive file's DC scans. A file too short for that
        // cannot hold the image: libjpeg would fill the rest with grey at the full decoding cost, so
        // it is refused before decoding. (Arithmetic coding has no such floor; the pixel budget
        // bounds those.)
        if ctx.pointee.cinfo.arith_code == 0, components >= 1, let info = ctx.pointee.cinfo.comp_info {
            var blocks = 0
            for i in 0..<components {
                blocks += Int(info[i].width_in_blocks) * Int(info[i].height_in_blocks)
            }
            let bitsPerBlock = ctx.pointee.cinfo.progressive_mode != 0 ? 1 : 2
            if blocks * bitsPerBlock > buffer.count * 8 {
                throw .truncated(
                    source: source, format: .jpeg,
                    detail: "the \(buffer.count)-byte file is too short to hold a \(width)×\(height) image")
            }
        }
        switch components {
        case 1: ctx.pointee.cinfo.out_color_space = JCS_GRAYSCALE
        case 3: ctx.pointee.cinfo.out_color_space = JCS_RGB
        case 4: ctx.pointee.cinfo.out_color_space = JCS_CMYK
        default:
            throw .unsupportedFeature(source: source, format: .jpeg, detail: "\(components)-component image")
        }
        guard yopo_jpeg_start(ctx) != 0 else { throw failure(ctx) }
        // Progressive files are fully buffered by jpeg_start_decompress: running out of data there
        // is a truncation even though libjpeg only warns.
        if ctx.pointee.hit_end_of_data != 0 { throw truncated }

        let outChannels = Int(ctx.pointee.cinfo.output_components)
        guard Int(ctx.pointee.cinfo.output_width) == width, Int(ctx.pointee.cinfo.output_height) == height,
            outChannels == components
        else {
            throw .corrupt(source: source, format: .jpeg, detail: "decoder output does not match the header")
        }
        // width × height passed the pixel budget, so this product is bounded; checked anyway.
        let (rowBytes, rowOverflow) = width.multipliedReportingOverflow(by: outChannels)
        let (rawCount, rawOverflow) = rowBytes.multipliedReportingOverflow(by: height)
        guard !rowOverflow, !rawOverflow else {
            throw .tooLarge(source: source, width: width, height: height, maxPixelCount: maxPixelCount)
        }
        var raw = [UInt8](repeating: 0, count: rawCount)
        let read = raw.withUnsafeMutableBufferPointer { yopo_jpeg_read_all(ctx, $0.baseAddress, rowBytes) }
        guard read != 0 else { throw failure(ctx) }
        // A baseline file cut short decodes with grey filler after libjpeg's warning; Pillow raises
        // "image file is truncated" in that case, and so do we.
        if ctx.pointee.hit_end_of_data != 0 { throw truncated }

        switch outChannels {
        case 1: return RGBImage(unchecked: width, height, expandGrey(raw))
        case 3: return RGBImage(unchecked: width, height, raw)
        default: return RGBImage(unchecked: width, height, adobeCMYKToRGB(raw))
        }
    }
}

/// Grey → RGB by replication (Pillow's `l2rgb`).
func expandGrey(_ grey: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: grey.count * 3)
    grey.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<src.count {
                let v = src[i]
                dst[3 * i] = v
                dst[3 * i + 1] = v
                dst[3 * i + 2] = v
            }
        }
    }
    return out
}

/// CMYK samples as libjpeg returns them for Adobe files (inverted) → RGB, as Pillow does it:
/// unpack with `CMYK;I` (c = 255 − raw) then `cmyk2rgb` from src/libImaging/Convert.c:
/// `nk = 255 − k; out = clip8(nk − MULDIV255(c, nk))` with `MULDIV255(a, b) = ((a·b + 128) >> 8 + a·b + 128) >> 8`.
func adobeCMYKToRGB(_ cmyk: [UInt8]) -> [UInt8] {
    let n = cmyk.count / 4
    var out = [UInt8](repeating: 0, count: n * 3)
    @inline(__always) func muldiv255(_ a: Int, _ b: Int) -> Int {
        let t = a * b + 128
        return ((t >> 8) + t) >> 8
    }
    cmyk.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<n {
                let nk = Int(src[4 * i + 3])  // 255 − (255 − raw k)
                for c in 0..<3 {
                    let value = nk - muldiv255(255 - Int(src[4 * i + c]), nk)
                    dst[3 * i + c] = UInt8(clamping: value)
                }
            }
        }
    }
    return out
}
