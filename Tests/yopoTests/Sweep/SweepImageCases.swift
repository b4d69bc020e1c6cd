import Foundation
import TestSupport

/// Bad-input sweep: images and image-processor configs. Each row: area, unique name, the text the
/// one error line must contain, and the command line (see SweepHarness.swift). Messages start
/// right after the scratch path where the path is part of the line.
///
/// Hostile PNGs are built with `TestPNG` (the TestSupport target); JPEG variants patch the frame header of a fixture.
let sweepImageCases: [SweepCase] = {
    let hf = Paths.model("llava-hf-tiny"), original = Paths.model("llava-v1.5-tiny")
    let clip = Paths.model("clip-vit-tiny")
    var cases: [SweepCase] = []

    /// A row whose image is `bytes`, written to the scratch directory, for `generate` on llava-hf.
    func imageRow(
        _ name: String, _ message: String, _ bytes: @escaping @Sendable () -> [UInt8], file: String = "image.png",
        model: String = hf, _ extra: [String] = []
    ) {
        cases.append(
            SweepCase(.images, name, message: message) { s in
                sweepGenerate(model: model, image: try s.write(file, Data(bytes())), extra)
            })
    }
    @Sendable func fixture(_ name: String) -> [UInt8] { [UInt8](try! Data(contentsOf: URL(fileURLWithPath: Paths.image(name)))) }
    let allowedSizes = "allowed: whole numbers from 1 to 8192"
    let processorFixture =
        try! JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: hf).appendingPathComponent("processor_config.json"))) as! [String: Any]

    // MARK: Elongated images: the padded square (pad mode) or the resize (crop mode) above 65535 a side

    let padLimit = "more than the 65535×65535 allowed"
    for (w, h) in [(65536, 1), (1, 65536), (100_000, 3), (7, 90_000)] {
        let side = max(w, h)
        imageRow(
            "pad-\(w)x\(h)",
            "' (\(w)×\(h)): it is too elongated to pad to a square; the square would be "
                + "\(side)×\(side) pixels, \(padLimit)", { TestPNG.make(width: UInt32(w), height: UInt32(h), colorType: 0) },
            ["--image-aspect", "pad"])
    }
    // The original layout pads by default (image_aspect_ratio "pad").
    imageRow(
        "original-layout-pad-70000x2",
        "' (70000×2): it is too elongated to pad to a square; the square would be "
            + "70000×70000 pixels, \(padLimit)", { TestPNG.make(width: 70000, height: 2, colorType: 2) },
        model: original, ["--vision-tower", clip])

    // Crop mode computes only the crop window of the resize (200×1 → 67200×336 works), so only a
    // resized side above Pillow's C-int limit is refused: here with shortest_edge 8192.
    let resizeLimit = "more than 2147483647 pixels a side allowed"
    let edge8192: Data = {
        var json = processorFixture
        var inner = json["image_processor"] as! [String: Any]
        inner["size"] = ["shortest_edge": 8192]
        json["image_processor"] = inner
        return try! JSONSerialization.data(withJSONObject: json)
    }()
    for (w, h) in [(1_000_000, 1), (1, 262_144)] {
        let size = w > h ? "\(8192 * w)×8192" : "8192×\(8192 * h)"
        cases.append(
            SweepCase(
                .images, "crop-shortest-edge-8192-\(w)x\(h)",
                message: "' (\(w)×\(h)): it is too elongated "
                    + "to resize; the resized image would be \(size) pixels, \(resizeLimit)"
            ) { s in
                sweepGenerate(
                    model: try s.replaced("processor_config.json", in: "llava-hf-tiny", with: edge8192),
                    image: try s.write("image.png", Data(TestPNG.make(width: UInt32(w), height: UInt32(h), colorType: 0))))
            })
    }

    // MARK: Decompression bombs: refused from the header, before any pixel memory

    cases.append(
        SweepCase(
            .images, "png-header-30000x30000",
            message: "': it is 30000×30000 = 900000000 pixels, more than "
                + "the 67108864 (8192×8192) allowed", sweepGenerate(image: Paths.image("invalid/huge_header.png"))))
    imageRow(
        "png-header-8193x8192", "': it is 8193×8192 = 67117056 pixels, more than the 67108864 (8192×8192) allowed",
        { TestPNG.make(width: 8193, height: 8192, colorType: 0) })
    imageRow(
        "png-header-2147483647-square",
        "': it is 2147483647×2147483647 = 4611686014132420609 pixels, more than the "
            + "67108864 (8192×8192) allowed", { TestPNG.make(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF) })
    imageRow(
        "png-width-1000001", "': unsupported PNG variant (width 1000001 is more than the 1000000 pixels a side libpng reads)",
        { TestPNG.make(width: 1_000_001, height: 1, colorType: 0) })
    // Within the pixel budget, but the file cannot hold the pixels it announces (deflate ≤ 1032:1).
    for (name, depth, colorType, interlace) in [
        ("rgba16", UInt8(16), UInt8(6), UInt8(0)), ("grey-interlaced", 8, 0, 1),
        ("bilevel", 1, 0, 0)
    ] {
        let bytes = TestPNG.make(
            width: 8192, height: 8192, depth: depth, colorType: colorType, interlace: interlace,
            zlib: TestPNG.zlibZeros(count: 100))
        imageRow(
            "png-bomb-8192x8192-\(name)",
            "': truncated PNG data (the \(bytes.count)-byte file is too short to hold "
                + "a 8192×8192 image)", { bytes })
    }
    for name in ["gray", "progressive", "cmyk"] {
        let bytes = TestPNG.patchingJPEGFrame(fixture("synthetic/\(name).jpg"), width: 8192, height: 8192)
        imageRow(
            "jpeg-bomb-8192x8192-\(name)",
            "': truncated JPEG data (the \(bytes.count)-byte file is too short to hold "
                + "a 8192×8192 image)", { bytes }, file: "image.jpg")
    }
    // 64×64 with 2000 empty AC scans (20 KB): refused at scan 501, before the scans cost anything
    // (at 8192×8192, 2000 scans took 17 s; 20000 would pass the timeout).
    imageRow(
        "jpeg-progressive-2000-scans",
        "': unsupported JPEG variant (a progressive image with more than 500 scans; "
            + "allowed: at most 500)", { TestPNG.progressiveJPEG(width: 64, height: 64, acScans: 2000) }, file: "image.jpg")
    // 1×1 with 3 MB of compressed zeros (0.5 GB inflated; libpng inflates all of it after the row).
    let idatBomb = TestPNG.zlibZeros(count: 500_000_000 / 160 * 160)
    imageRow(
        "png-1x1-with-3mb-idat",
        "': corrupt PNG data (\(idatBomb.count) bytes of compressed image data, more than the "
            + "65538 a 1×1 image can need (its 2 bytes of pixel rows, plus deflate overhead))",
        { TestPNG.make(width: 1, height: 1, colorType: 0, zlib: idatBomb) })
    // A valid 2048×2048 grey image whose zlib stream goes on with ~700 MB of compressed zeros (4 MB of
    // file, inside what the header's size allows): libpng would inflate them all after the last row.
    imageRow(
        "png-2048x2048-zero-tail-after-the-rows",
        "': corrupt PNG data (the compressed image data goes on long after the last row)",
        { TestPNG.make(width: 2048, height: 2048, colorType: 0, zlib: TestPNG.zlibZeros(count: 700_000_000)) })
    imageRow(
        "jpeg-header-65535x65535", "': corrupt JPEG data (Maximum supported image dimension is 65500 pixels)",
        { TestPNG.patchingJPEGFrame(fixture("rocket.jpg"), width: 65535, height: 65535) }, file: "image.jpg")

    // MARK: Image processor configs (llava-hf: processor_config.json's image_processor)

    func processorRow(_ name: String, _ message: String, _ edit: @escaping @Sendable (inout [String: Any]) -> Void) {
        let json: [String: Any] = {
            var json = processorFixture
            var inner = json["image_processor"] as! [String: Any]
            edit(&inner)
            json["image_processor"] = inner
            return json
        }()
        let data = try! JSONSerialization.data(withJSONObject: json)
        cases.append(
            SweepCase(.images, "processor-\(name)", message: "processor_config.json: image_processor." + message) { s in
                sweepGenerate(model: try s.replaced("processor_config.json", in: "llava-hf-tiny", with: data))
            })
    }
    let sizeForms = #"allowed: a whole number, {"shortest_edge": n} or {"height": h, "width": w}"#
    processorRow("shortest-edge-100000", "size.shortest_edge is 100000; \(allowedSizes)") { $0["size"] = ["shortest_edge": 100_000] }
    processorRow("shortest-edge-0", "size.shortest_edge is 0; \(allowedSizes)") { $0["size"] = ["shortest_edge": 0] }
    processorRow("shortest-edge-negative", "size.shortest_edge is -5; \(allowedSizes)") { $0["size"] = ["shortest_edge": -5] }
    processorRow("shortest-edge-string", "size.shortest_edge is the string \"336\"; \(allowedSizes)") {
        $0["size"] = ["shortest_edge": "336"]
    }
    processorRow("size-empty-object", "size has neither shortest_edge nor height and width; \(sizeForms)") { $0["size"] = [String: Int]() }
    processorRow("size-height-only", "size has height but no width; \(sizeForms)") { $0["size"] = ["height": 336] }
    processorRow("size-list", "size is a list of 2 entries; \(sizeForms)") { $0["size"] = [336, 336] }
    processorRow("size-longest-edge", "size.longest_edge is not supported; allowed: shortest_edge, or height and width") {
        $0["size"] = ["longest_edge": 672]
    }
    processorRow("crop-size-100000", "crop_size is 100000; \(allowedSizes)") { $0["crop_size"] = 100_000 }
    processorRow("crop-size-0", "crop_size.height is 0; \(allowedSizes)") { $0["crop_size"] = ["height": 0, "width": 0] }
    processorRow("crop-size-negative-width", "crop_size.width is -336; \(allowedSizes)") {
        $0["crop_size"] = ["height": 336, "width": -336]
    }
    processorRow("image-mean-2-entries", "image_mean has 2 entries; allowed: a number or a list of 3 numbers (R, G, B)") {
        $0["image_mean"] = [0.5, 0.5]
    }
    processorRow("image-std-zero", "image_std entry 2 is 0; allowed: numbers greater than 0 and at most 255") {
        $0["image_std"] = [0.26, 0, 0.27]
    }
    processorRow("image-std-negative", "image_std entry 1 is -0.5; allowed: numbers greater than 0 and at most 255") {
        $0["image_std"] = -0.5
    }
    let filters = "allowed: 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)"
    processorRow("resample-nearest", "resample is 0 (NEAREST), which is not supported; \(filters)") { $0["resample"] = 0 }
    processorRow("resample-9", "resample is 9; \(filters)") { $0["resample"] = 9 }
    processorRow("do-resize-string", "do_resize is the string \"yes\"; allowed: true or false") { $0["do_resize"] = "yes" }
    processorRow(
        "rescale-factor-string",
        "rescale_factor is the string \"1/255\"; allowed: a number greater than 0 and at "
            + "most 1 (e.g. 1/255 = 0.00392156862745098)"
    ) { $0["rescale_factor"] = "1/255" }
    // The output size would follow each image (a 505×336 tensor for a 336×336 tower used to crash it).
    processorRow(
        "no-center-crop",
        "do_center_crop is false and size is not an exact {\"height\": h, \"width\": w}, so the "
            + "image size would follow each input"
    ) { $0["do_center_crop"] = false }
    let crop224: Data = {
        var json = processorFixture
        var inner = json["image_processor"] as! [String: Any]
        inner["crop_size"] = ["height": 224, "width": 224]
        json["image_processor"] = inner
        return try! JSONSerialization.data(withJSONObject: json)
    }()
    cases.append(
        SweepCase(
            .images, "processor-crop-size-224",
            message: "image processor crop size 224×224 does not match the "
                + "vision tower's image_size 336"
        ) { s in
            sweepGenerate(model: try s.replaced("processor_config.json", in: "llava-hf-tiny", with: crop224))
        })
    for (name, text, message) in [
        ("invalid-json", #"{"image_processor": {"size": "#, " is not valid JSON"),
        ("top-level-list", "[1, 2, 3]", " must hold a JSON object"),
        ("image-processor-list", #"{"image_processor": [336]}"#, ": image_processor is a list; allowed: a JSON object")
    ] {
        cases.append(
            SweepCase(.images, "processor-\(name)", message: "processor_config.json" + message) { s in
                sweepGenerate(model: try s.replaced("processor_config.json", in: "llava-hf-tiny", with: Data(text.utf8)))
            })
    }
    cases.append(
        SweepCase(.images, "processor-config-directory", message: "processor_config.json: it is a directory, not a file") { s in
            let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["processor_config.json"])
            try FileManager.default.createDirectory(atPath: dir + "/processor_config.json", withIntermediateDirectories: false)
            return sweepGenerate(model: dir)
        })
    cases.append(
        SweepCase(
            .images, "processor-config-dev-zero", message: "processor_config.json: it is not a regular file (a device, pipe or socket)"
        ) { s in
            let dir = try s.linkedCopy(of: "llava-hf-tiny", skip: ["processor_config.json"])
            try FileManager.default.createSymbolicLink(atPath: dir + "/processor_config.json", withDestinationPath: "/dev/zero")
            return sweepGenerate(model: dir)
        })

    // The original layout reads the vision tower's preprocessor_config.json (top-level keys).
    let preprocessorFixture =
        try! JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: clip).appendingPathComponent("preprocessor_config.json"))) as! [String: Any]
    for (name, message, key, value) in [
        ("shortest-edge-100000", "size.shortest_edge is 100000; \(allowedSizes)", "size", ["shortest_edge": 100_000] as Any),
        (
            "image-mean-string", "image_mean is the string \"imagenet\"; allowed: a number or a list of 3 numbers (R, G, B)",
            "image_mean", "imagenet" as Any
        ),
        // int(1e300 * 255) used to trap computing the pad colour.
        ("image-mean-huge", "image_mean entry 1 is 1e+300; allowed: numbers from 0 to 255", "image_mean", [1e300, 0.5, 0.5] as Any),
        ("do-center-crop-number", "do_center_crop is 1; allowed: true or false", "do_center_crop", 1 as Any)
    ] {
        var json = preprocessorFixture
        json[key] = value
        let data = try! JSONSerialization.data(withJSONObject: json)
        cases.append(
            SweepCase(.images, "vision-tower-preprocessor-\(name)", message: "preprocessor_config.json: " + message) { s in
                let tower = try s.replaced("preprocessor_config.json", in: "clip-vit-tiny", with: data, name: "clip")
                return sweepGenerate(model: original, ["--vision-tower", tower])
            })
    }

    // MARK: Image paths that are not image files

    cases.append(
        SweepCase(.images, "directory", message: "': it is a directory, not an image file") { s in
            try FileManager.default.createDirectory(atPath: s.path("photos.png"), withIntermediateDirectories: false)
            return sweepGenerate(image: s.path("photos.png"))
        })
    for device in ["/dev/zero", "/dev/null"] {
        cases.append(
            SweepCase(
                .images, "device-\(device.dropFirst(5))",
                message: "cannot read image '\(device)': it is a "
                    + "device, not an image file", sweepGenerate(image: device)))
    }
    cases.append(
        SweepCase(.images, "fifo-without-writer", message: "': it is a pipe and no data arrived on it") { s in
            guard mkfifo(s.path("pipe.png"), 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
            return sweepGenerate(image: s.path("pipe.png"))
        })
    cases.append(
        SweepCase(
            .images, "sparse-300-megabyte-file",
            message: "': the file is larger than the limit of "
                + "268435456 bytes (256 MiB)"
        ) { s in
            let path = try s.write("huge.png", Data(TestPNG.make(width: 4, height: 4)))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: 300_000_000)
            try handle.close()
            return sweepGenerate(image: path)
        })
    cases.append(SweepCase(.images, "empty-path", message: "--image is empty; expected image file (JPEG or PNG)", sweepGenerate(image: "")))
    cases.append(
        SweepCase(
            .images, "path-through-a-file", message: "chelsea.png/inside.png': no such file",
            sweepGenerate(image: Paths.image("chelsea.png") + "/inside.png")))
    cases.append(
        SweepCase(.images, "symlink-loop", message: "': Too many levels of symbolic links") { s in
            try FileManager.default.createSymbolicLink(atPath: s.path("loop.png"), withDestinationPath: s.path("loop.png"))
            return sweepGenerate(image: s.path("loop.png"))
        })

    // MARK: Truncated and corrupt PNG

    let png64 = TestPNG.make(width: 64, height: 64, rows: (0..<64).map { y in (0..<192).map { UInt8(($0 * 7 + y * 13) & 255) } })
    for cut in [8, 20, 33, png64.count * 2 / 5, png64.count - 20] {
        imageRow("png-truncated-at-\(cut)", "': truncated PNG data (premature end of data)", { Array(png64.prefix(cut)) })
    }
    let interlaced = TestPNG.make(
        width: 64, height: 64, interlace: 1,
        rows: (0..<64).map { y in (0..<192).map { UInt8(($0 + y) & 255) } })
    imageRow(
        "png-interlaced-truncated", "': truncated PNG data (premature end of data)", { Array(interlaced.prefix(interlaced.count / 2)) })
    for (name, header, message) in [
        (
            "bit-depth-7", TestPNG.be32(4) + TestPNG.be32(4) + [7, 2, 0, 0, 0],
            "IHDR: bit depth 7 is not allowed for RGB images; allowed: 8, 16"
        ),
        (
            "colour-type-5", TestPNG.be32(4) + TestPNG.be32(4) + [8, 5, 0, 0, 0],
            "IHDR: colour type 5 does not exist; allowed: 0 (greyscale), 2 (RGB), 3 (palette), 4 (greyscale with alpha), 6 (RGBA)"
        ),
        ("width-0", TestPNG.be32(0) + TestPNG.be32(4) + [8, 2, 0, 0, 0], "IHDR: width is 0; allowed: 1 to 2147483647"),
        ("height-0", TestPNG.be32(4) + TestPNG.be32(0) + [8, 2, 0, 0, 0], "IHDR: height is 0; allowed: 1 to 2147483647"),
        (
            "interlace-2", TestPNG.be32(4) + TestPNG.be32(4) + [8, 2, 0, 0, 2],
            "IHDR: interlace method 2 does not exist; allowed: 0 (none), 1 (Adam7)"
        ),
        ("ihdr-12-bytes", TestPNG.be32(4) + TestPNG.be32(4) + [8, 2, 0, 0], "IHDR: the header chunk is 12 bytes long; allowed: 13")
    ] {
        imageRow("png-ihdr-\(name)", "': corrupt PNG data (\(message))", { TestPNG.make(width: 4, height: 4, ihdr: header) })
    }
    imageRow(
        "png-no-idat", "': corrupt PNG data (IEND: out of place)",
        {
            let full = TestPNG.make(width: 4, height: 4)
            return Array(full.prefix(33)) + TestPNG.chunk("IEND", [])
        })
    imageRow(
        "png-palette-without-plte", "': corrupt PNG data (IDAT: Missing PLTE before IDAT)",
        { TestPNG.make(width: 4, height: 4, colorType: 3) })
    imageRow(
        "png-bad-zlib-header", "': corrupt PNG data (IDAT: incorrect header check)",
        { TestPNG.make(width: 4, height: 4, zlib: [0x12, 0x34, 0x56, 0x78, 0x9A]) })

    // MARK: Truncated and corrupt JPEG

    imageRow(
        "jpeg-cmyk-truncated", "': truncated JPEG data (premature end of data)",
        {
            let cmyk = fixture("synthetic/cmyk.jpg")
            return Array(cmyk.prefix(cmyk.count / 2))
        }, file: "image.jpg")
    imageRow(
        "jpeg-progressive-truncated", "': truncated JPEG data (premature end of data)",
        {
            let progressive = fixture("synthetic/progressive.jpg")
            return Array(progressive.prefix(progressive.count / 2))
        }, file: "image.jpg")
    imageRow("jpeg-soi-only", "': truncated JPEG data (JPEG datastream contains no image)", { [0xFF, 0xD8, 0xFF] }, file: "image.jpg")
    imageRow(
        "jpeg-frame-0x0", "': corrupt JPEG data (the header gives a width or height of 0)",
        { TestPNG.patchingJPEGFrame(fixture("rocket.jpg"), width: 0, height: 0) }, file: "image.jpg")
    imageRow(
        "jpeg-precision-12", "': corrupt JPEG data (Unsupported JPEG data precision 12)",
        { TestPNG.patchingJPEGFrame(fixture("rocket.jpg"), width: 640, height: 427, precision: 12) }, file: "image.jpg")

    // MARK: Other formats (WebP and text are in BadInputTests)

    for (name, bytes, detected) in [
        ("tiff", Array("II*\u{0}".utf8) + [UInt8](repeating: 0, count: 40), "TIFF"),
        ("heic", [0, 0, 0, 0x18] + Array("ftypheic".utf8) + [UInt8](repeating: 0, count: 20), "HEIF/HEIC"),
        ("svg", Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8), "SVG/XML"),
        ("pdf", Array("%PDF-1.4\n".utf8), "PDF")
    ] as [(String, [UInt8], String)] {
        imageRow("format-\(name)", "': unsupported image format (\(detected)); supported: JPEG, PNG", { bytes }, file: "image.\(name)")
    }
    for name in ["gif", "bmp"] {
        cases.append(
            SweepCase(
                .images, "format-\(name)-fixture",
                message: "unsupported image format (\(name.uppercased())); "
                    + "supported: JPEG, PNG", sweepGenerate(image: Paths.image("invalid/unsupported.\(name)"))))
    }
    return cases
}()
