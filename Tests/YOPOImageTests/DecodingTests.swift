import Foundation
import XCTest
@testable import YOPOImage

/// Decoding parity with Pillow 13.0.0's `Image.open(f).convert("RGB")` and the error contract.
final class DecodingTests: XCTestCase {
    let decoder = ImageDecoder()

    func testManifestNamesThePinnedReferences() {
        XCTAssertEqual(Fixtures.manifest.pillow, "13.0.0")
        XCTAssertEqual(Fixtures.manifest.transformers, "5.24.0")
        XCTAssertEqual(Fixtures.manifest.images.count, 28)
    }

    /// Every decodable fixture (7 photos, 21 synthetic layouts) decodes to Pillow's bytes.
    func testEveryImageDecodesToPillowBytes() throws {
        for image in Fixtures.manifest.images {
            let decoded = try decoder.decode(contentsOf: Fixtures.path(image.file))
            XCTAssertEqual(decoded.width, image.width, image.file)
            XCTAssertEqual(decoded.height, image.height, image.file)
            if let golden = image.decoded {
                let expected = try Fixtures.goldenBytes(golden)
                XCTAssertEqual(expected.count, decoded.pixels.count, image.file)
                guard expected.count == decoded.pixels.count else { continue }
                let diff = byteDifferences(decoded.pixels, expected)
                XCTAssertEqual(diff.count, 0, "\(image.file) (\(image.pillow_mode)): \(diff.count) bytes differ, max \(diff.maxAbs)")
            }
            XCTAssertEqual(fnv1a64(decoded.pixels), image.decoded_fnv, "\(image.file) (\(image.pillow_mode))")
        }
    }

    /// The fixtures cover the layouts the decoder must handle.
    func testFixturesCoverEveryLayout() {
        let modes = Set(Fixtures.manifest.images.map { "\($0.format) \($0.pillow_mode)" })
        for needed in [
            "PNG RGB", "PNG L", "PNG RGBA", "PNG LA", "PNG P", "PNG 1", "PNG I;16",
            "JPEG RGB", "JPEG L", "JPEG CMYK"
        ] {
            XCTAssertTrue(modes.contains(needed), "no fixture for \(needed)")
        }
    }

    /// Alpha is dropped, not composited: fully transparent pixels keep their stored colour.
    func testAlphaIsDroppedNotComposited() throws {
        // rgba.png: columns 0..<40 have alpha 0 over a gradient with R ≈ 0, G ≈ 255·y/89,
        // B ≈ 4·(x + y) (± 12 noise). Compositing would give white (255) or black (0) there.
        let image = try decoder.decode(contentsOf: Fixtures.path("synthetic/rgba.png"))
        let p = image[0, 45]
        XCTAssertLessThanOrEqual(Int(p.r), 12)
        XCTAssertTrue((116...140).contains(Int(p.g)), "\(p)")
        XCTAssertTrue((168...192).contains(Int(p.b)), "\(p)")
        // la.png: column 0 has alpha 0 and keeps its grey value (replicated), not white.
        let la = try decoder.decode(contentsOf: Fixtures.path("synthetic/la.png"))
        XCTAssertNotEqual(la[0, 10].r, 255)
        XCTAssertEqual(la[0, 10].r, la[0, 10].b)
    }

    /// 16-bit semantics: colour keeps the high byte; grey is clamped (Pillow's I;16 → RGB).
    func testSixteenBitConversionsFollowPillow() throws {
        let grey = try decoder.decode(contentsOf: Fixtures.path("synthetic/gray16.png"))
        // Row 0 starts with the samples 0, 1, 254, 255, 256, 257, 65534, 65535.
        XCTAssertEqual((0..<8).map { grey[$0, 0].r }, [0, 1, 254, 255, 255, 255, 255, 255])
        XCTAssertEqual(grey[3, 0].g, 255)
        // rgb16.png pixel (0, 0) holds 0x12AB, 0x34CD, 0xFF01: the high bytes survive, unrounded.
        let rgb16 = try decoder.decode(contentsOf: Fixtures.path("synthetic/rgb16.png"))
        XCTAssertTrue(rgb16[0, 0] == (0x12, 0x34, 0xFF), "\(rgb16[0, 0])")
    }

    func testGreyIsReplicated() throws {
        let camera = try decoder.decode(contentsOf: Fixtures.path("camera.png"))
        for i in stride(from: 0, to: camera.pixels.count, by: 3 * 997) {
            XCTAssertEqual(camera.pixels[i], camera.pixels[i + 1])
            XCTAssertEqual(camera.pixels[i], camera.pixels[i + 2])
        }
    }

    func testInMemoryDecodeMatchesFileDecode() throws {
        let path = Fixtures.path("synthetic/progressive.jpg")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try decoder.decode(bytes, source: "upload"), try decoder.decode(contentsOf: path))
    }

    // MARK: - Format detection

    func testFormatIsDetectedByMagicBytesNotExtension() throws {
        // A JPEG named .png and a PNG named .jpg decode as what they are.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let jpegAsPNG = dir.appendingPathComponent("actually-a-jpeg.png")
        try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("synthetic/gray.jpg"))).write(to: jpegAsPNG)
        let decoded = try decoder.decode(contentsOf: jpegAsPNG.path)
        XCTAssertEqual(
            fnv1a64(decoded.pixels),
            Fixtures.manifest.images.first { $0.file == "synthetic/gray.jpg" }!.decoded_fnv)

        XCTAssertEqual(ImageFormat.sniff([0xFF, 0xD8, 0xFF, 0xE0]), .supported(.jpeg))
        XCTAssertEqual(ImageFormat.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), .supported(.png))
        XCTAssertEqual(ImageFormat.sniff(Array("GIF89a".utf8)), .unsupported("GIF"))
        XCTAssertEqual(ImageFormat.sniff(Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)), .unsupported("WebP"))
        XCTAssertEqual(ImageFormat.sniff([0, 0, 0, 0x18] + Array("ftypheic".utf8)), .unsupported("HEIF/HEIC"))
        XCTAssertEqual(ImageFormat.sniff([0, 0, 0, 0x1C] + Array("ftypavif".utf8)), .unsupported("AVIF"))
        XCTAssertEqual(ImageFormat.sniff(Array("  <svg xmlns".utf8)), .unsupported("SVG/XML"))
        XCTAssertEqual(ImageFormat.sniff([0x01, 0xAB]), .unknown("unrecognised data starting with 01 AB"))
    }

    // MARK: - Errors (one asserted message per bad input)

    func testMissingFile() {
        let path = Fixtures.path("invalid/does-not-exist.jpg")
        assertImageError("cannot read image '\(path)': no such file") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testDirectoryIsUnreadable() {
        let path = Fixtures.path("invalid")
        assertImageError("cannot read image '\(path)': it is a directory, not an image file") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testEmptyFile() {
        let path = Fixtures.path("invalid/empty.png")
        assertImageError("cannot decode image '\(path)': the file is empty (0 bytes)") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testTruncatedJPEG() {
        let path = Fixtures.path("invalid/truncated.jpg")
        assertImageError("cannot decode image '\(path)': truncated JPEG data (premature end of data)") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testTruncatedPNG() {
        let path = Fixtures.path("invalid/truncated.png")
        assertImageError("cannot decode image '\(path)': truncated PNG data (premature end of data)") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testPNGWithBadChecksum() {
        let path = Fixtures.path("invalid/bad_crc.png")
        assertImageError("cannot decode image '\(path)': corrupt PNG data (IHDR: CRC error)") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testPNGWithCorruptCompressedData() {
        let path = Fixtures.path("invalid/corrupt_idat.png")
        assertImageError("cannot decode image '\(path)': corrupt PNG data (IDAT: invalid code -- missing end-of-block)") {
            () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testWebPIsUnsupported() {
        let path = Fixtures.path("invalid/unsupported.webp")
        assertImageError("cannot decode image '\(path)': unsupported image format (WebP); supported: JPEG, PNG") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testGIFIsUnsupported() {
        let path = Fixtures.path("invalid/unsupported.gif")
        assertImageError("cannot decode image '\(path)': unsupported image format (GIF); supported: JPEG, PNG") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testBMPIsUnsupported() {
        let path = Fixtures.path("invalid/unsupported.bmp")
        assertImageError("cannot decode image '\(path)': unsupported image format (BMP); supported: JPEG, PNG") { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testTextFileWithPNGExtension() {
        let path = Fixtures.path("invalid/not_an_image.png")
        assertImageError(
            "cannot decode image '\(path)': unsupported image format (unrecognised data starting with "
                + "54 68 69 73 20 69 73 20); supported: JPEG, PNG"
        ) { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    // MARK: - Decompression bombs

    func testHugeHeaderIsRefusedBeforeAllocation() {
        let path = Fixtures.path("invalid/huge_header.png")
        assertImageError(
            "cannot decode image '\(path)': it is 30000×30000 = 900000000 pixels, more than the "
                + "67108864 (8192×8192) allowed"
        ) { () throws(ImageError) in
            try decoder.decode(contentsOf: path)
        }
    }

    func testPixelLimitIsConfigurable() throws {
        let small = ImageDecoder(maxPixelCount: 200 * 150 - 1)
        let jpeg = Fixtures.path("synthetic/baseline420.jpg")
        assertImageError("cannot decode image '\(jpeg)': it is 200×150 = 30000 pixels, more than the 29999 allowed") {
            () throws(ImageError) in
            try small.decode(contentsOf: jpeg)
        }
        let png = Fixtures.path("synthetic/portrait.png")
        assertImageError("cannot decode image '\(png)': it is 120×200 = 24000 pixels, more than the 20000 allowed") {
            () throws(ImageError) in
            try ImageDecoder(maxPixelCount: 20000).decode(contentsOf: png)
        }
        // Exactly at the limit is allowed.
        XCTAssertEqual(try ImageDecoder(maxPixelCount: 30000).decode(contentsOf: jpeg).width, 200)
    }

    func testFileSizeLimit() throws {
        let path = Fixtures.path("synthetic/baseline420.jpg")  // 8,658 bytes
        assertImageError("cannot read image '\(path)': the file is larger than the limit of 8000 bytes") {
            () throws(ImageError) in
            try ImageDecoder(maxFileSize: 8000).decode(contentsOf: path)
        }
        // The default limit is stated in MiB as well.
        XCTAssertEqual(
            ImageError.fileTooLarge(path: "a.png", limit: ImageDecoder.defaultMaxFileSize).description,
            "cannot read image 'a.png': the file is larger than the limit of 268435456 bytes (256 MiB)")
        // An endless device is refused without reading it.
        assertImageError("cannot read image '/dev/zero': it is a device, not an image file") { () throws(ImageError) in
            try ImageDecoder(maxFileSize: 100_000).decode(contentsOf: "/dev/zero")
        }
        XCTAssertEqual(try ImageDecoder(maxFileSize: 8658).decode(contentsOf: path).height, 150)
    }

    /// Every prefix of a small JPEG and PNG fails cleanly (no crash, no exit) or, for the few
    /// prefixes that already hold every scanline, decodes to the full image.
    func testEveryPrefixFailsCleanly() throws {
        for name in ["synthetic/odd_size.jpg", "synthetic/p_trns.png"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name))))
            let full = try decoder.decode(bytes)
            var failures = 0
            for n in stride(from: 1, to: bytes.count, by: 7) {
                do {
                    let partial = try decoder.decode(Array(bytes[0..<n]), source: name)
                    XCTAssertEqual(partial, full, "\(name) prefix \(n) decoded to different pixels")
                } catch {
                    failures += 1
                    switch error {
                    case .truncated, .corrupt, .unsupportedFormat: break
                    default: XCTFail("\(name) prefix \(n): unexpected \(error)")
                    }
                }
            }
            XCTAssertGreaterThan(failures, bytes.count / 7 - 3, name)
        }
    }
}
